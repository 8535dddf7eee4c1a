"""The fast path of metric rows (pydantic's own constraints, dates checked once per value)
builds exactly the rows `MetricRowIn` builds, and leaves every batch it does not accept whole
to `MetricRowIn`, which names the problems; on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from dam.bounds import MAX_METRIC_COUNT, MAX_METRIC_MONEY
from dam.campaigns import metrics
from dam.context import Context
from dam.models import Campaign
from tests.campaigns.support import new_asset, new_campaign, published_asset

pytestmark = pytest.mark.usefixtures("db_backend")


def _shown(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with their Decimals as text, so 1.5 and 1.50 differ."""
    return [{k: str(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in rows]


def _both(
    ctx: Context, campaign_id: str, raw: list[Any], monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Any, bool]:
    """(fast result, model result, whether the fast path took the batch)."""
    taken: list[bool] = []
    fast_parse = metrics._fast_parse

    def spy(rows: list[Any]) -> Any:
        parsed = fast_parse(rows)
        taken.append(parsed is not None)
        return parsed

    with Session(ctx.engine) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        with monkeypatch.context() as patch:
            patch.setattr(metrics, "_fast_parse", spy)
            fast = metrics.check_rows(
                session, ctx=ctx, campaign=campaign, raw_rows=copy.deepcopy(raw)
            )
        with monkeypatch.context() as patch:
            patch.setattr(metrics, "_fast_parse", lambda rows: None)
            slow = metrics.check_rows(
                session, ctx=ctx, campaign=campaign, raw_rows=copy.deepcopy(raw)
            )
    return fast, slow, taken == [True]


def test_fast_path_builds_the_rows_the_model_builds(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    marketer: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    new_campaign(client, marketer, "FAST1", channel="email")
    a = published_asset(client, ctx, designer, seed=1, campaign_ids=["FAST1"])
    b = published_asset(client, ctx, designer, seed=2, campaign_ids=["FAST1"])
    never = new_asset(client, designer, seed=3, campaign_ids=["FAST1"])  # never approved
    raw: list[Any] = [
        {"asset_id": a, "date": "2026-09-03", "spend": "12.345", "revenue": "0.005"},
        {
            "asset_id": a.upper(),
            "date": "2026-09-04",
            "channel": "instagram",
            "impressions": "42",
            "clicks": 7.0,
            "conversions": 1.5,
            "spend": 3,
            "revenue": Decimal("2.675"),
            "currency": "usd",
            "version": 1,
        },
        {
            "asset_id": uuid.UUID(b),
            "date": date(2026, 9, 3),
            "impressions": MAX_METRIC_COUNT,
            "conversions": str(MAX_METRIC_COUNT),
            "spend": str(MAX_METRIC_MONEY),
            "revenue": "999999999.994",
            "sends": 10,
            "deliveries": 9,
            "opens": 5,
            "unique_opens": 4,
            "unsubscribes": 1,
            "bounces": 1,
            "currency": None,
            "channel": None,
        },
        {"asset_id": never, "date": "2026-09-03", "conversions": "0.125"},
    ]
    (fast, fast_bad), (slow, slow_bad), taken = _both(ctx, "FAST1", raw, monkeypatch)
    assert taken
    assert fast_bad == slow_bad == {}
    assert _shown(fast) == _shown(slow)
    assert [list(r) for r in fast] == [list(r) for r in slow]
    first, second, third, fourth = fast
    assert (first["spend"], first["revenue"], first["channel"]) == (
        Decimal("12.35"),
        Decimal("0.01"),
        "email",
    )
    assert (first["version"], first["attributed"]) == (1, True)
    assert (second["impressions"], second["clicks"], second["conversions"]) == (
        42,
        7,
        Decimal("1.50"),
    )
    assert (second["revenue"], second["currency"], second["attributed"]) == (
        Decimal("2.68"),
        "USD",
        False,
    )
    assert third["revenue"] == Decimal("999999999.99")
    assert (fourth["version"], fourth["conversions"]) == (None, Decimal("0.13"))


@pytest.mark.parametrize(
    "bad",
    [
        {"spend": str(MAX_METRIC_MONEY + Decimal("0.001"))},
        {"impressions": MAX_METRIC_COUNT + 1},
        {"conversions": "NaN"},
        {"revenue": "-0.01"},
        {"date": "1700000000"},
        {"date": 20260903},
        {"date": "1899-12-31"},
        {"date": ["2026-09-03"]},
        {"currency": "US"},
        {"channel": "x" * 65},
        {"version": 0},
        {"colour": "red"},
    ],
)
def test_a_row_the_fast_path_refuses_goes_to_the_model(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    marketer: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    bad: dict[str, Any],
) -> None:
    new_campaign(client, marketer, "FAST2", channel="email")
    a = published_asset(client, ctx, designer, seed=4, campaign_ids=["FAST2"])
    raw = [
        {"asset_id": a, "date": "2026-09-02", "spend": "1.00"},
        {"asset_id": a, "date": "2026-09-03", "spend": "1.00", **bad},
    ]
    (fast, fast_bad), (slow, slow_bad), taken = _both(ctx, "FAST2", raw, monkeypatch)
    assert not taken
    assert fast_bad == slow_bad
    assert list(fast_bad) == [1]
    assert _shown(fast) == _shown(slow)
    assert [r["_index"] for r in fast] == [0]
