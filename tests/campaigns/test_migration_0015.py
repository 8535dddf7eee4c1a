"""Migration 0015 rebuilds the monthly rollup per currency with the email sums, marks rows
from platform exports as attributed, and goes back down (SQLite file of its own; the shared
per-worker schemas stay at head)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from dam.db import alembic_config

ROWS = [
    # channel, placement, currency, impressions, spend, sends, opens
    ("paid-search", "ab" * 16, "USD", 100, "1.50", 0, 0),
    ("paid-search", "", "EUR", 50, "2.25", 0, 0),
    ("email", "cd" * 16, "USD", 0, "0.00", 900, 300),
]


def _migrate(url: str, revision: str, *, down: bool = False) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
    engine.dispose()


def test_migration_0015_rebuilds_the_rollup_by_currency_and_back(
    tmp_path: Path, db_backend: str
) -> None:
    if db_backend != "sqlite":
        pytest.skip("the same SQL on both; run once on a fresh SQLite file")
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    _migrate(url, "0014")
    loader = sa.create_engine(url)
    with loader.begin() as conn:
        for channel, placement, currency, impressions, spend, sends, opens in ROWS:
            conn.execute(
                sa.text(
                    "INSERT INTO campaign_metrics (campaign_id, asset_id, date, channel,"
                    " placement, version, impressions, clicks, conversions, spend, revenue,"
                    " sends, deliveries, opens, unique_opens, unsubscribes, bounces, currency,"
                    " updated_at) VALUES ('C', 'a1', '2026-11-03', :ch, :p, 1, :i, 0, 0, :s, 0,"
                    " :sends, 0, :opens, 0, 0, 0, :cur, '2026-11-04 00:00:00')"
                ),
                {
                    "ch": channel,
                    "p": placement,
                    "i": impressions,
                    "s": spend,
                    "sends": sends,
                    "opens": opens,
                    "cur": currency,
                },
            )
    _migrate(url, "head")
    with loader.connect() as conn:
        months = conn.exec_driver_sql(
            "SELECT channel, currency, impressions, spend_cents, sends, opens"
            " FROM campaign_metric_months ORDER BY channel, currency"
        ).all()
        attributed = conn.exec_driver_sql(
            "SELECT placement, attributed FROM campaign_metrics ORDER BY placement"
        ).all()
        columns = {c["name"] for c in sa.inspect(conn).get_columns("delivery_events")}
    assert [tuple(r) for r in months] == [
        ("email", "USD", 0, 0, 900, 300),
        ("paid-search", "EUR", 50, 225, 0, 0),
        ("paid-search", "USD", 100, 150, 0, 0),
    ]
    assert [(p, bool(a)) for p, a in attributed] == [
        ("", False),
        ("ab" * 16, True),
        ("cd" * 16, True),
    ]
    assert "placement_id" in columns

    _migrate(url, "0014", down=True)
    with loader.connect() as conn:
        months = conn.exec_driver_sql(
            "SELECT channel, impressions, spend_cents FROM campaign_metric_months ORDER BY channel"
        ).all()
    assert [tuple(r) for r in months] == [("email", 0, 0), ("paid-search", 150, 375)]
    _migrate(url, "head")
    loader.dispose()
