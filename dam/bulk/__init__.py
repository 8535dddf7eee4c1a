"""Bulk actions on a selection of assets: each asset judged and changed on its own, through the
same service functions as the single-asset routes, with a result per asset."""
