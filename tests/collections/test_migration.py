"""Migration 0020 creates the collections tables and its downgrade removes them, on SQLite and
PostgreSQL, in a database of its own (the shared per-worker schema is never touched)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from dam.db import alembic_config, create_db_engine
from tests.conftest import PG_URL

TABLES = {
    "collections",
    "collection_grants",
    "collection_items",
    "share_links",
    "share_link_events",
    "saved_searches",
    "saved_search_matches",
}
SCHEMA = f"dam_migration_0020_{os.getpid()}"


@pytest.fixture
def own_engine(db_backend: str, tmp_path: Path) -> Iterator[Engine]:
    if db_backend == "sqlite":
        engine = create_db_engine(f"sqlite:///{tmp_path / 'migration.sqlite3'}")
        yield engine
        engine.dispose()
        return
    if not PG_URL:
        pytest.skip("PostgreSQL variant: set DAM_TEST_DATABASE_URL to run it")
    admin = create_db_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {SCHEMA}")
    sep = "&" if "?" in PG_URL else "?"
    engine = create_db_engine(f"{PG_URL}{sep}options=-csearch_path%3D{SCHEMA}")
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    admin.dispose()


def _migrate(engine: Engine, action: str, target: str) -> None:
    with engine.begin() as conn:
        cfg = alembic_config(str(engine.url.render_as_string(hide_password=False)))
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, target)


def _tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_upgrade_creates_and_downgrade_removes_the_tables(own_engine: Engine) -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    below = script.get_revision("0020").down_revision
    assert isinstance(below, str)
    _migrate(own_engine, "upgrade", "0020")
    assert _tables(own_engine) >= TABLES
    _migrate(own_engine, "downgrade", below)
    assert not TABLES & _tables(own_engine)
    assert "assets" in _tables(own_engine)
    _migrate(own_engine, "upgrade", "head")
    assert _tables(own_engine) >= TABLES
