"""Changing a campaign's timezone re-attributes its stored rows (issue 16): rows whose version
the service worked out (placements, publication history) follow the new day boundaries, rows
sent with a version keep it, the rollup stays exact, and re-sending attributes the same way;
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dam.context import Context
from dam.models import AuditEvent, CampaignMetric, CampaignMetricMonth
from tests.campaigns.support import new_campaign, new_version, post_csv, publish, published_asset
from tests.conftest import Clock

pytestmark = pytest.mark.usefixtures("db_backend")

METRICS = "/api/v1/campaigns/TZ26/metrics"
PLACEMENTS = "/api/v1/campaigns/TZ26/placements"
EXPORT = (
    "Day,Ad ID,Currency code,Impr.,Clicks,Cost,Conversions,Conv. value,Campaign type\n"
    "2026-11-25,5001,USD,100,1,1.00,0,0,Search\n"
    "2026-11-25,5002,USD,200,2,2.00,0,0,Search\n"
)


def _stored(ctx: Context, names: dict[str, str]) -> list[tuple[str, str, str, int | None, int]]:
    with Session(ctx.engine) as session:
        rows = session.exec(select(CampaignMetric)).all()
    return sorted(
        (names[str(r.asset_id)], r.channel, r.placement and "ad", r.version, r.impressions)
        for r in rows
    )


def _rollup_matches_rows(ctx: Context) -> None:
    with Session(ctx.engine) as session:
        rollup = {
            (str(r.asset_id), r.channel, r.currency): r.impressions
            for r in session.exec(select(CampaignMetricMonth)).all()
        }
        recount: dict[tuple[str, str, str], int] = {}
        for r in session.exec(select(CampaignMetric)).all():
            key = (str(r.asset_id), r.channel, r.currency)
            recount[key] = recount.get(key, 0) + r.impressions
    assert rollup == recount


def test_changing_the_timezone_reattributes_worked_out_rows(
    client: TestClient,
    ctx: Context,
    clock: Clock,
    designer: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> None:
    clock.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    new_campaign(client, marketer, "TZ26", channel="paid-search")
    hero = published_asset(client, ctx, designer, seed=91, campaign_ids=["TZ26"])
    banner = published_asset(client, ctx, designer, seed=92, campaign_ids=["TZ26"])
    names = {hero: "hero", banner: "banner"}
    for ad, asset in (("5001", banner), ("5002", hero)):
        body = {"platform": "google_ads", "external_id": ad, "asset_id": asset}
        assert client.post(PLACEMENTS, headers=automation, json=body).status_code == 201
    # Hero v2 goes live at 10:00 UTC on the 25th; both ads show it from then on.
    new_version(client, designer, hero, seed=93)
    clock.now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    publish(ctx, hero, version=2)
    for ad in ("5001", "5002"):
        body = {"platform": "google_ads", "external_id": ad, "asset_id": hero, "version": 2}
        assert client.post(PLACEMENTS, headers=automation, json=body).status_code == 201
    clock.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    assert post_csv(client, METRICS, automation, EXPORT, source="google_ads").status_code == 200
    per_asset = [
        {"asset_id": hero, "date": "2026-11-25", "impressions": 30},  # version worked out
        {
            "asset_id": hero,
            "date": "2026-11-25",
            "channel": "display",
            "version": 2,
            "impressions": 40,
        },  # version sent: kept
    ]
    assert client.post(METRICS, headers=automation, json=per_asset).status_code == 200
    # In UTC the 25th is 14 hours of v2.
    assert _stored(ctx, names) == [
        ("hero", "display", "", 2, 40),
        ("hero", "paid-search", "", 2, 30),
        ("hero", "paid-search", "ad", 2, 100),
        ("hero", "paid-search", "ad", 2, 200),
    ]
    _rollup_matches_rows(ctx)

    # The ad account reports in Tokyo time: its 25th ran from 15:00 UTC on the 24th to 15:00
    # on the 25th, 19 hours of what ran before 10:00 UTC.
    patched = client.patch(
        "/api/v1/campaigns/TZ26", headers=marketer, json={"timezone": "Asia/Tokyo"}
    )
    assert patched.status_code == 200, patched.text
    expected = [
        ("banner", "paid-search", "ad", 1, 100),  # ad 5001 showed the banner then
        ("hero", "display", "", 2, 40),
        ("hero", "paid-search", "", 1, 30),
        ("hero", "paid-search", "ad", 1, 200),
    ]
    assert _stored(ctx, names) == expected
    _rollup_matches_rows(ctx)
    with Session(ctx.engine) as session:
        (event,) = session.exec(
            select(AuditEvent).where(AuditEvent.action == "campaign.metrics_reattributed")
        ).all()
    assert event.changes == {"timezone": ["UTC", "Asia/Tokyo"], "rows": 3, "changed": 3}
    report = client.get("/api/v1/campaigns/TZ26/performance", headers=marketer).json()
    by_version = {(i["asset_id"], i["version"]): i["impressions"] for i in report["items"]}
    assert by_version == {(banner, 1): 100, (hero, 1): 230, (hero, 2): 40}
    assert Decimal(report["totals"]["spend"]) == Decimal("3.00")

    # Re-sending the day attributes it the same way; the same zone again changes nothing.
    assert post_csv(client, METRICS, automation, EXPORT, source="google_ads").status_code == 200
    assert client.post(METRICS, headers=automation, json=per_asset[:1]).status_code == 200
    assert _stored(ctx, names) == expected
    same = client.patch("/api/v1/campaigns/TZ26", headers=marketer, json={"timezone": "Asia/Tokyo"})
    assert same.status_code == 200
    _rollup_matches_rows(ctx)
