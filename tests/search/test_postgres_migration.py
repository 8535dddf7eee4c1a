"""Migration 0005 converts an existing PostgreSQL index (text keys) in place: the converted
documents search and count exactly as before, with bitmaps equal to a rebuild."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dam.db import alembic_config, create_db_engine
from dam.search.base import SearchRequest, SortOrder
from dam.search.document import COUNTED_PREFIXES
from dam.search.postgres_backend import PostgresBackend
from dam.search.query import parse_query
from tests.conftest import PG_URL

SCHEMA = f"dam_migration_{os.getpid()}"
OLD_DOCS = [
    ("Glacier tent at dawn", ["status:active", "type:image", "f:region:emea", "visible:1"]),
    ("Summit boots", ["status:active", "type:image", "f:region:de", "campaign:C1", "tag:x"]),
    ("Lake kayak", ["status:archived", "type:video", "campaign:C1", "campaign:C2"]),
]


@pytest.fixture
def old_index(db_backend: str) -> Iterator[Engine]:
    if db_backend != "postgres" or not PG_URL:
        pytest.skip("the migration converts a PostgreSQL index")
    admin = create_db_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {SCHEMA}")
    sep = "&" if "?" in PG_URL else "?"
    engine = create_db_engine(f"{PG_URL}{sep}options=-csearch_path%3D{SCHEMA}")
    _migrate(engine, "0004")
    with engine.begin() as conn:
        for n, (title, keys) in enumerate(OLD_DOCS):
            conn.execute(
                sa.text(
                    "INSERT INTO search_documents (asset_id, revision, fingerprint, tsv, keys, "
                    "created_at, title_sort) VALUES (:id, 1, 'f', "
                    "to_tsvector('simple', :title), :keys, :at, :title)"
                ),
                {
                    "id": uuid.uuid4(),
                    "title": title,
                    "keys": keys,
                    "at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n),
                },
            )
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    admin.dispose()


def _migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as conn:
        cfg = alembic_config(str(engine.url.render_as_string(hide_password=False)))
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _search(engine: Engine, **kw: object) -> tuple[int, dict[str, int], list[uuid.UUID]]:
    request = SearchRequest(
        query=parse_query(str(kw.pop("q", ""))),
        sort=SortOrder.newest,
        count_prefixes=COUNTED_PREFIXES,
        **kw,  # type: ignore[arg-type]
    )
    with Session(engine) as session:
        result = PostgresBackend().search(session, request)
    return result.total, result.counts, result.ids


def test_upgrade_converts_the_index_in_place(old_index: Engine) -> None:
    _migrate(old_index, "head")
    total, counts, ids = _search(old_index)
    assert total == 3
    assert counts == {
        "status:active": 2,
        "status:archived": 1,
        "type:image": 2,
        "type:video": 1,
        "f:region:emea": 1,
        "f:region:de": 1,
        "campaign:C1": 2,
        "campaign:C2": 1,
    }
    assert len(ids) == 3
    assert _search(old_index, q="summit")[:2] == (
        1,
        {"status:active": 1, "type:image": 1, "f:region:de": 1, "campaign:C1": 1},
    )
    assert _search(old_index, filters=(("tag:x",),))[0] == 1
    assert _search(old_index, filters=(("visible:1",),))[0] == 1
    with old_index.begin() as conn:
        before = conn.execute(sa.text("SELECT key_id, seg, bits FROM search_postings")).all()
        conn.execute(sa.text("SELECT search_rebuild_postings()"))
        after = conn.execute(sa.text("SELECT key_id, seg, bits FROM search_postings")).all()
    assert sorted(before) == sorted(after)


def test_downgrade_and_upgrade_again(old_index: Engine) -> None:
    _migrate(old_index, "head")
    _migrate(old_index, "0004", down=True)
    _migrate(old_index, "head")
    assert _search(old_index)[0] == 0  # the downgraded index is empty until a reindex
