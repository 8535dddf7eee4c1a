"""PostgreSQL phrases: each field's neighbouring word pairs are lexemes of the tsvector, written
by the backend and, for rows indexed before, by migration 0019 (the same lexemes); a phrase
matches within a field, never across title and body."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dam.db import create_db_engine
from dam.search.base import SearchRequest
from dam.search.document import SearchDocument
from dam.search.postgres_backend import PostgresBackend
from dam.search.query import parse_query
from tests.conftest import PG_URL
from tests.search.test_postgres_migration import _migrate

SCHEMA = f"dam_pairs_{os.getpid()}"
DOCS = [
    ("Trail runner in the rain", "Größe café on the ridge\ntrail shoes"),
    ("Kayak on the lake", "runner up photo in deep snow"),
]


@pytest.fixture
def pairs_engine(db_backend: str) -> Iterator[Engine]:
    if db_backend != "postgres" or not PG_URL:
        pytest.skip("PostgreSQL search")
    admin = create_db_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {SCHEMA}")
    sep = "&" if "?" in PG_URL else "?"
    eng = create_db_engine(f"{PG_URL}{sep}options=-csearch_path%3D{SCHEMA}")
    _migrate(eng, "head")
    backend = PostgresBackend()
    with Session(eng) as session:
        backend.upsert(
            session,
            [
                SearchDocument(
                    doc_id=uuid.UUID(int=n + 1),
                    asset_id=uuid.UUID(int=n + 1),
                    title=title,
                    body=body,
                    keys=("visible:1",),
                    created_at=datetime(2026, 1, 1, n, tzinfo=UTC),
                    title_sort=title.lower(),
                    revision=1,
                )
                for n, (title, body) in enumerate(DOCS)
            ],
        )
        session.commit()
    yield eng
    eng.dispose()
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    admin.dispose()


def found(engine: Engine, q: str) -> set[int]:
    with Session(engine) as session:
        result = PostgresBackend().search(session, SearchRequest(query=parse_query(q)))
    return {i.int for i in result.ids}


def tsvectors(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(sa.text("SELECT tsv::text FROM search_documents ORDER BY asset_id"))
            .scalars()
            .all()
        )


def pair_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM search_documents d, unnest(d.tsv) AS u "
                    "WHERE position(' ' in u.lexeme) > 0"
                )
            ).scalar_one()
        )


def test_phrases_match_within_a_field(pairs_engine: Engine) -> None:
    engine = pairs_engine
    assert found(engine, '"in the rain"') == {1}
    assert found(engine, '"trail runner in"') == {1}
    assert found(engine, '"on the"') == {1, 2}
    assert found(engine, '"größe café"') == {1}
    assert found(engine, '"runner up"') == {2}
    assert found(engine, '"rain trail"') == set()
    # "…in the rain" ends the title and "Größe…" starts the body: not a phrase.
    assert found(engine, '"rain größe"') == set()
    assert found(engine, 'runner -"in the rain"') == {2}


def test_migration_writes_the_pairs_the_backend_writes(pairs_engine: Engine) -> None:
    engine = pairs_engine
    written = tsvectors(engine)
    assert "'in the'" in written[0] and "'in the':" not in written[0]  # no positions
    assert pair_count(engine) == 18  # 4 + 6 in the first document, 3 + 5 in the second

    _migrate(engine, "0014", down=True)
    assert pair_count(engine) == 0
    assert found(engine, '"in the rain"') == set()  # what an index without pairs gave

    _migrate(engine, "head")

    assert tsvectors(engine) == written
    assert found(engine, '"in the rain"') == {1}
