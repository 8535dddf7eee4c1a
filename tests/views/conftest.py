"""The view tests run on SQLite + whoosh and PostgreSQL + PostgreSQL search, like search's."""

from tests.search.conftest import search_backend

__all__ = ["search_backend"]
