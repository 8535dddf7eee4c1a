"""Issue 13 item 1: metric values are held to documented bounds where rows enter, every sum over
them is exact and cannot overflow, and no metric row can make an asset unreadable; on SQLite and
PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from dam.bounds import MAX_METRIC_COUNT, MAX_METRIC_MONEY
from dam.campaigns.sums import exact_sum, money_of, sum_of
from dam.context import Context
from dam.db import alembic_config, create_db_engine
from tests.campaigns.support import new_campaign, published_asset
from tests.conftest import count_rows

pytestmark = pytest.mark.usefixtures("db_backend")

METRICS = "/api/v1/campaigns/BIG26/metrics"
HUGE = 2**63 - 1


def _row(asset_id: str, day: str, channel: str = "instagram", **figures: Any) -> dict[str, Any]:
    return {"asset_id": asset_id, "date": day, "channel": channel, **figures}


@pytest.fixture
def asset_id(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> str:
    new_campaign(client, marketer, "BIG26", channel="email")
    return published_asset(
        client, ctx, designer, seed=5, campaign_ids=["BIG26"], visual_style=["lifestyle"]
    )


def _asset_paths_work(client: TestClient, asset_id: str, headers: dict[str, str]) -> None:
    """GET, PATCH and archive of the asset answer 200."""
    path = f"/api/v1/assets/{asset_id}"
    got = client.get(path, headers=headers)
    assert got.status_code == 200, got.text
    patched = client.patch(path, headers=headers, json={"title": "Still readable"})
    assert patched.status_code == 200, patched.text
    archived = client.delete(path, headers=headers)
    assert archived.status_code == 200, archived.text
    assert client.get(path, headers=headers).json()["status"] == "archived"


def test_values_past_the_bounds_are_refused_naming_row_and_field(
    client: TestClient,
    ctx: Context,
    automation: dict[str, str],
    designer: dict[str, str],
    asset_id: str,
) -> None:
    # The attack: 2^63 - 1 in two months (SQLite's SUM overflowed on the asset) and two in one
    # month (PostgreSQL's rollup overflowed at ingest).
    batch = [
        _row(asset_id, "2026-10-01", impressions=HUGE),
        _row(asset_id, "2026-11-01", impressions=HUGE),
        _row(asset_id, "2026-11-02", clicks=HUGE, conversions=HUGE),
        _row(asset_id, "2026-11-03", impressions=MAX_METRIC_COUNT + 1),
        _row(asset_id, "2026-11-04", spend="1000000000.01"),
        _row(asset_id, "2026-11-05", revenue="1e400", impressions=1e30),
        _row(asset_id, "2026-11-06", clicks=-1, spend="-0.01"),
        _row(asset_id, "2026-11-07", impressions=MAX_METRIC_COUNT, spend=str(MAX_METRIC_MONEY)),
    ]
    response = client.post(METRICS, headers=automation, json=batch)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_metric_rows"
    assert body["bad_row_count"] == 7
    by_index = {row["index"]: {p["field"] for p in row["problems"]} for row in body["rows"]}
    assert by_index == {
        0: {"impressions"},
        1: {"impressions"},
        2: {"clicks", "conversions"},
        3: {"impressions"},
        4: {"spend"},
        5: {"revenue", "impressions"},
        6: {"clicks", "spend"},
    }
    message = body["rows"][0]["problems"][0]["message"]
    assert "10_000_000_000" in message
    assert count_rows(ctx.engine, "campaign_metrics") == 0

    # The same through CSV, the other way rows enter.
    csv = f"asset_id,date,impressions\n{asset_id},2026-10-01,{HUGE}\n{asset_id},2026-11-01,{HUGE}\n"
    refused = client.post(
        METRICS, headers={**automation, "Content-Type": "text/csv"}, content=csv.encode()
    )
    assert refused.status_code == 422, refused.text
    assert [(r["index"], r["problems"][0]["field"]) for r in refused.json()["rows"]] == [
        (0, "impressions"),
        (1, "impressions"),
    ]
    assert count_rows(ctx.engine, "campaign_metrics") == 0
    _asset_paths_work(client, asset_id, designer)


def test_values_at_the_bounds_in_many_rows_keep_every_read_exact(
    client: TestClient,
    automation: dict[str, str],
    designer: dict[str, str],
    marketer: dict[str, str],
    asset_id: str,
) -> None:
    days = [f"2026-{m:02d}-{d:02d}" for m in (9, 10, 11, 12) for d in range(1, 29)]
    channels = ["instagram", "email", "facebook"]
    top = str(MAX_METRIC_MONEY)
    batch = [
        _row(
            asset_id,
            day,
            channel,
            impressions=MAX_METRIC_COUNT,
            clicks=MAX_METRIC_COUNT,
            conversions=MAX_METRIC_COUNT,
            spend=top,
            revenue=top,
        )
        for day in days
        for channel in channels
    ]
    n = len(batch)
    response = client.post(METRICS, headers=automation, json=batch)
    assert response.status_code == 200, response.text
    # Re-sending the whole batch replaces it: still n rows.
    assert client.post(METRICS, headers=automation, json=batch).status_code == 200

    asset = client.get(f"/api/v1/assets/{asset_id}", headers=marketer)
    assert asset.status_code == 200, asset.text
    performance = asset.json()["performance"]
    assert performance["impressions"] == n * MAX_METRIC_COUNT
    assert performance["conversions"] == n * MAX_METRIC_COUNT
    assert Decimal(performance["spend"]) == n * MAX_METRIC_MONEY
    assert performance["cost_per_conversion"] == "0.10"
    assert performance["roas"] == 1.0

    report = client.get("/api/v1/campaigns/BIG26/performance", headers=marketer)
    assert report.status_code == 200, report.text
    assert report.json()["totals"]["clicks"] == n * MAX_METRIC_COUNT
    assert Decimal(report.json()["totals"]["revenue"]) == n * MAX_METRIC_MONEY

    # A range cutting through months reads the rollup and the daily rows together.
    insights = client.get(
        "/api/v1/reports/creative-insights",
        headers=marketer,
        params={"facet": "visual_style", "from": "2026-09-15", "to": "2026-12-10"},
    )
    assert insights.status_code == 200, insights.text
    (lifestyle,) = insights.json()["items"]
    in_range = sum(1 for day in days if "2026-09-15" <= day <= "2026-12-10") * len(channels)
    assert lifestyle["impressions"] == in_range * MAX_METRIC_COUNT
    assert Decimal(lifestyle["spend"]) == in_range * MAX_METRIC_MONEY
    _asset_paths_work(client, asset_id, designer)


def test_exact_sum_is_exact_past_64_bits(engine: Engine) -> None:
    """Four values of 2^62 sum to 2^64: SQLite's own SUM raises "integer overflow" there."""
    values = sa.union_all(
        *(sa.select(sa.cast(sa.literal(2**62), sa.BigInteger).label("x")) for _ in range(4))
    ).subquery()
    cents = sa.union_all(
        *(sa.select(sa.cast(sa.literal(2**62 + 1), sa.BigInteger).label("c")) for _ in range(4))
    ).subquery()
    dialect = engine.dialect.name
    with engine.connect() as conn:
        row = conn.execute(sa.select(*exact_sum(values.c.x, "x", dialect))).one()
        money = conn.execute(sa.select(*exact_sum(cents.c.c, "m", dialect))).one()
        empty = conn.execute(
            sa.select(*exact_sum(values.c.x, "x", dialect)).where(values.c.x < 0)
        ).one()
    assert sum_of(row, "x") == 2**64
    assert money_of(money, "m") == Decimal(2**64 + 4).scaleb(-2)
    assert sum_of(empty, "x") == 0


def test_migration_removes_rows_stored_past_the_bounds(tmp_path: Path, db_backend: str) -> None:
    if db_backend != "sqlite":
        pytest.skip("the data repair is the same SQL on both; run once on a fresh SQLite file")
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_db_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0011")
    # Rows as an old bulk load could have left them; pysqlite's own engine leaves foreign keys
    # unchecked, so no campaign or asset rows are needed (also while 0012 copies the table).
    loader = sa.create_engine(url)
    with loader.begin() as conn:
        for day, impressions, spend in [
            ("2026-10-01", HUGE, 1),
            ("2026-10-02", 7, 2),
            ("2026-11-01", 5, 3),
            ("2026-11-02", HUGE, 4),
        ]:
            conn.execute(
                sa.text(
                    "INSERT INTO campaign_metrics (campaign_id, asset_id, date, channel, version,"
                    " impressions, clicks, conversions, spend, revenue, updated_at) VALUES"
                    " ('C', 'a1', :d, 'email', 1, :i, 0, 0, :s, 0, '2026-11-01 00:00:00')"
                ),
                {"d": day, "i": impressions, "s": spend},
            )
        conn.exec_driver_sql(
            "INSERT INTO campaign_metric_months VALUES ('C', 'a1', '2026-10-01', 'email',"
            f" {HUGE}, 0, 0, 300, 0)"
        )
    with loader.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with loader.connect() as conn:
        kept = conn.exec_driver_sql(
            "SELECT date, impressions FROM campaign_metrics ORDER BY date"
        ).all()
        months = conn.exec_driver_sql(
            "SELECT month, impressions, spend_cents FROM campaign_metric_months ORDER BY month"
        ).all()
    engine.dispose()
    loader.dispose()
    assert [tuple(r) for r in kept] == [("2026-10-02", 7), ("2026-11-01", 5)]
    assert [tuple(r) for r in months] == [("2026-10-01", 7, 200), ("2026-11-01", 5, 300)]
