"""Shared fixtures: a fresh database per test on SQLite and PostgreSQL, fs and S3 blob stores,
a controllable clock, the app and keys for each role."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from dam.app import create_app
from dam.auth import service as auth_service
from dam.config import Settings, StorageKind
from dam.context import Context, build_context
from dam.db import create_db_engine, session_scope, upgrade
from dam.models import Role
from dam.principal import SYSTEM
from tests.support.s3 import S3Endpoint, fresh_bucket_name, s3_endpoint

PG_URL = os.environ.get("DAM_TEST_DATABASE_URL")
PG_SCHEMA = f"dam_test_{os.getpid()}"
ROOT = Path(__file__).resolve().parent.parent


class Clock:
    """A clock tests move by hand; every service reads time through the context."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


# --- databases -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; each test gets a copy of the migrated file."""
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    if not PG_URL:
        pytest.skip("PostgreSQL variant: set DAM_TEST_DATABASE_URL to run it")
    admin = create_db_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {PG_SCHEMA}")
    admin.dispose()
    sep = "&" if "?" in PG_URL else "?"
    engine = create_db_engine(f"{PG_URL}{sep}options=-csearch_path%3D{PG_SCHEMA}")
    upgrade(engine)
    yield engine
    engine.dispose()
    admin = create_db_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
    admin.dispose()


# The model tables and every table that references them, as `TRUNCATE … CASCADE` would reach.
_REACHED = """
WITH RECURSIVE reached(oid) AS (
    SELECT c.oid FROM pg_class c
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(:names)
    UNION
    SELECT con.conrelid FROM pg_constraint con JOIN reached r ON con.confrelid = r.oid
    WHERE con.contype = 'f'
)
SELECT relname FROM pg_class WHERE oid IN (SELECT oid FROM reached) ORDER BY relname
"""
_emptied: dict[int, list[str]] = {}
_emptied_count = [0]


def _truncate_all(engine: Engine) -> None:
    """Empties what `TRUNCATE <model tables> CASCADE` would, mostly with DELETE: TRUNCATE makes
    new files for each of 40-odd tables, 0.2-0.9 s per test on this machine, where DELETE of the
    few rows a test leaves takes ~10 ms. Triggers and foreign-key checks are off meanwhile
    (`session_replication_role`, so the order does not matter and nothing is maintained for rows
    that are going anyway). Every 100th time, and for a role that may not set the replication
    role, it is the TRUNCATE: DELETE leaves dead rows, and autovacuum may be off."""
    from sqlmodel import SQLModel

    models = [t.name for t in SQLModel.metadata.sorted_tables]
    tables = _emptied.get(id(engine))
    if tables is None:
        with engine.connect() as conn:
            tables = list(conn.execute(sa.text(_REACHED), {"names": models}).scalars())
        _emptied[id(engine)] = tables
    _emptied_count[0] += 1
    if _emptied_count[0] % 100:
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                conn.exec_driver_sql("; ".join(f'DELETE FROM "{name}"' for name in tables))
            return
        except sa.exc.ProgrammingError:  # not allowed to set the role
            pass
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {', '.join(models)} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def engine(
    db_backend: str, tmp_path: Path, sqlite_template: Path, request: pytest.FixtureRequest
) -> Iterator[Engine]:
    if db_backend == "postgres":
        pg: Engine = request.getfixturevalue("pg_engine")
        _truncate_all(pg)
        yield pg
        return
    path = tmp_path / "dam.sqlite3"
    shutil.copy(sqlite_template, path)
    eng = create_db_engine(f"sqlite:///{path}")
    yield eng
    eng.dispose()


# --- storage -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Endpoint]:
    with s3_endpoint() as endpoint:
        yield endpoint


@pytest.fixture(params=["fs"])
def storage_backend(request: pytest.FixtureRequest) -> str:
    """API tests run on fs by default; tests that must cover S3 parametrise this fixture."""
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, storage_backend: str, request: pytest.FixtureRequest) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "taxonomy_dir": ROOT / "taxonomy",
        "run_worker": False,
        "max_upload_mib": 8,
        "max_image_pixels": 50_000_000,
    }
    if storage_backend == "s3":
        endpoint: S3Endpoint = request.getfixturevalue("s3")
        values.update(
            storage=StorageKind.s3, s3_endpoint_url=endpoint.url, s3_bucket=fresh_bucket_name()
        )
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ctx(settings: Settings, engine: Engine, clock: Clock) -> Context:
    context = build_context(settings, engine=engine)
    context.clock = clock
    context.store.init()
    return context


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    app = create_app(ctx=ctx, run_worker=False)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


# --- keys ----------------------------------------------------------------------------------


@dataclass
class Keys:
    ctx: Context

    def create(
        self, role: Role, *, name: str | None = None, campaigns: list[str] | None = None
    ) -> str:
        with session_scope(self.ctx.engine) as session:
            _, plaintext = auth_service.create_key(
                session,
                role=role,
                name=name or f"{role.value} key",
                actor=SYSTEM,
                now=self.ctx.now(),
                campaign_scope=campaigns,
            )
        return plaintext

    def headers(self, role: Role, **kw: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.create(role, **kw)}"}  # type: ignore[arg-type]


@pytest.fixture
def keys(ctx: Context) -> Keys:
    return Keys(ctx)


@pytest.fixture
def admin(keys: Keys) -> dict[str, str]:
    return keys.headers(Role.admin)


@pytest.fixture
def designer(keys: Keys) -> dict[str, str]:
    return keys.headers(Role.designer)


@pytest.fixture
def brand_manager(keys: Keys) -> dict[str, str]:
    return keys.headers(Role.brand_manager)


@pytest.fixture
def marketer(keys: Keys) -> dict[str, str]:
    return keys.headers(Role.marketer)


@pytest.fixture
def automation(keys: Keys) -> dict[str, str]:
    return keys.headers(Role.automation)


def count_rows(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


# --- the run's summary -----------------------------------------------------------------------


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Skipped tests as one line by reason (the PostgreSQL variants when DAM_TEST_DATABASE_URL
    is unset, ...), not a line per test ahead of the result."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    reasons: Counter[str] = Counter()
    for report in skipped:
        longrepr = getattr(report, "longrepr", None)
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr or "")
        reasons[reason.removeprefix("Skipped: ")] += 1
    parts = "; ".join(f"{reason} ({n})" for reason, n in reasons.most_common())
    terminalreporter.write_line(f"skipped {len(skipped)}: {parts}")
