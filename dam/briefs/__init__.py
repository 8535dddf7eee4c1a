"""Briefs (creative requests): what is wanted, for which campaign and terms, by when; the
assets uploaded against them and the state of their deliverables."""
