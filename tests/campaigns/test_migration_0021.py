"""Migration 0021 fills the term rollups from the existing monthly rollup and installs the
`asset_terms` triggers; its downgrade removes both. On SQLite and PostgreSQL, in a database of
its own (the shared per-worker schema is never touched)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from dam.db import alembic_config, create_db_engine
from tests.conftest import PG_URL

SCHEMA = f"dam_migration_0021_{os.getpid()}"
TABLES = {"campaign_term_months", "campaign_asset_cells", "campaign_term_cells"}
A1 = "0" * 31 + "1"
A2 = "0" * 31 + "2"


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


def _uuid(engine: Engine, hex_: str) -> str:
    if engine.dialect.name == "postgresql":
        return f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}"
    return hex_


def _seed(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO campaigns (id, name, channel, timezone, created_at, updated_at)"
                " VALUES ('C1', 'C1', 'instagram', 'UTC', '2026-11-01', '2026-11-01')"
            )
        )
        for hex_, terms in (
            (A1, '{"visual_style": ["lifestyle", "flat-lay"]}'),
            (A2, '{"visual_style": ["lifestyle"]}'),
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO assets (id, title, description, tags, terms, status,"
                    " current_version, published_version, extra, revision, created_at,"
                    " updated_at) VALUES (:id, 't', '', '[]', :terms, 'active', 1, 1, '{}', 1,"
                    " '2026-11-01', '2026-11-01')"
                ),
                {"id": _uuid(engine, hex_), "terms": terms},
            )
        for hex_, month, channel, impressions in (
            (A1, "2026-10-01", "instagram", 100),
            (A1, "2026-11-01", "email", 7),
            (A2, "2026-10-01", "instagram", 40),
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO campaign_metric_months (campaign_id, asset_id, month, channel,"
                    " currency, impressions, clicks, conversion_hundredths, spend_cents,"
                    " revenue_cents, sends, deliveries, opens, unique_opens, unsubscribes,"
                    " bounces) VALUES ('C1', :a, :m, :ch, 'USD', :i, 1, 0, 250, 0, 0, 0, 0, 0,"
                    " 0, 0)"
                ),
                {"a": _uuid(engine, hex_), "m": month, "ch": channel, "i": impressions},
            )


def _term_months(engine: Engine) -> list[tuple[str, str, str, int, int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT term, CAST(month AS VARCHAR(10)), channel, assets, impressions,"
                " spend_cents FROM campaign_term_months ORDER BY term, month, channel"
            )
        ).all()
    return [(r[0], str(r[1])[:10], r[2], int(r[3]), int(r[4]), int(r[5])) for r in rows]


def _term_cells(engine: Engine) -> list[tuple[str, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT term, cells, assets FROM campaign_term_cells ORDER BY term, cells")
        ).all()
    return [(r[0], r[1], int(r[2])) for r in rows]


def test_upgrade_fills_the_term_rollups_triggers_keep_them_downgrade_removes(
    own_engine: Engine,
) -> None:
    _migrate(own_engine, "upgrade", "0020")
    _seed(own_engine)
    _migrate(own_engine, "upgrade", "0021")
    assert _term_months(own_engine) == [
        ("flat-lay", "2026-10-01", "instagram", 1, 100, 250),
        ("flat-lay", "2026-11-01", "email", 1, 7, 250),
        ("lifestyle", "2026-10-01", "instagram", 2, 140, 500),
        ("lifestyle", "2026-11-01", "email", 1, 7, 250),
    ]
    both = '[["2026-10-01","instagram"],["2026-11-01","email"]]'
    october = '[["2026-10-01","instagram"]]'
    assert _term_cells(own_engine) == [
        ("flat-lay", both, 1),
        ("lifestyle", both, 1),
        ("lifestyle", october, 1),
    ]
    # The triggers: A1 loses flat-lay and gains on-model, in one update of its terms.
    with own_engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE assets SET terms = :t WHERE id = :id"),
            {
                "t": '{"visual_style": ["lifestyle", "on-model"]}',
                "id": _uuid(own_engine, A1),
            },
        )
    assert _term_months(own_engine) == [
        ("lifestyle", "2026-10-01", "instagram", 2, 140, 500),
        ("lifestyle", "2026-11-01", "email", 1, 7, 250),
        ("on-model", "2026-10-01", "instagram", 1, 100, 250),
        ("on-model", "2026-11-01", "email", 1, 7, 250),
    ]
    assert _term_cells(own_engine) == [
        ("lifestyle", both, 1),
        ("lifestyle", october, 1),
        ("on-model", both, 1),
    ]
    _migrate(own_engine, "downgrade", "0020")
    assert not TABLES & set(sa.inspect(own_engine).get_table_names())
    # asset_terms still works without the triggers.
    with own_engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE assets SET terms = :t WHERE id = :id"),
            {"t": '{"visual_style": ["flat-lay"]}', "id": _uuid(own_engine, A2)},
        )
    _migrate(own_engine, "upgrade", "head")
    assert ("flat-lay", "2026-10-01", "instagram", 1, 40, 250) in _term_months(own_engine)
    assert ("lifestyle", "2026-10-01", "instagram", 1, 100, 250) in _term_months(own_engine)
