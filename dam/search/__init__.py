"""Full-text search with facets over a whoosh index (embedded) or PostgreSQL full text."""

from dam.search.base import SearchBackend, SearchRequest, SearchResult
from dam.search.service import get_search

__all__ = ["SearchBackend", "SearchRequest", "SearchResult", "get_search"]
