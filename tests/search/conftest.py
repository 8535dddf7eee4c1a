"""Every search test runs twice: whoosh on SQLite and PostgreSQL full text on PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dam.config import SearchKind
from dam.context import Context


@pytest.fixture(autouse=True)
def search_backend(ctx: Context, db_backend: str) -> str:
    if db_backend == "postgres":
        ctx.settings.search = SearchKind.postgres
        with ctx.engine.begin() as conn:
            conn.execute(
                sa.text("TRUNCATE search_documents, search_postings, search_campaign_pairs")
            )
    else:
        ctx.settings.search = SearchKind.whoosh
    ctx.extras.pop("search", None)
    return ctx.settings.search.value
