"""Collections (named, ordered sets of assets), zip downloads, share links for people outside,
and saved searches. Built on assets (visibility, delivered copies) and search (saved searches
run the same search as `GET /api/v1/search`)."""
