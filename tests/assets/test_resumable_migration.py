"""Migration 0017 (resumable uploads) goes down and up again on SQLite and PostgreSQL, in a
database of its own (the session's shared schema is never touched)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from dam.db import alembic_config, create_db_engine
from dam.models import ResumableUpload
from tests.conftest import PG_URL

SCHEMA = f"dam_migration_0017_{os.getpid()}"


@pytest.fixture
def own_engine(db_backend: str, tmp_path: Path) -> Iterator[Engine]:
    if db_backend == "sqlite":
        engine = create_db_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
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


def _migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as conn:
        cfg = alembic_config(str(engine.url.render_as_string(hide_password=False)))
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_0017_creates_the_uploads_table_and_goes_down_and_up_again(own_engine: Engine) -> None:
    _migrate(own_engine, "0017")
    assert "resumable_uploads" in _tables(own_engine)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    with own_engine.begin() as conn:
        # Written through the model's table: the migration's columns must fit what it sends.
        conn.execute(
            ResumableUpload.__table__.insert().values(  # type: ignore[attr-defined]
                id=uuid.uuid4(),
                created_by=uuid.uuid4(),
                state="receiving",
                length=5_000_000_000,
                offset=0,
                upload_metadata={"filename": "cut.mp4"},
                created_at=now,
                updated_at=now,
                expires_at=now,
            )
        )
        # More than 4 GiB fits: the lengths are 64-bit.
        assert conn.execute(sa.text("SELECT length FROM resumable_uploads")).scalar() == 5000000000
    _migrate(own_engine, "0016", down=True)
    assert "resumable_uploads" not in _tables(own_engine)
    _migrate(own_engine, "0017")
    assert "resumable_uploads" in _tables(own_engine)
