"""Attribution by date (issue 16), on SQLite and PostgreSQL: a row sent per asset without a
version goes to the version published for that asset on the row's date, from the publication
history (approvals through the review API), not to the one published at ingest; the reporting
date is a day in the campaign's timezone, for rows per asset and for placements alike."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dam.campaigns.attribution import day_span
from dam.context import Context
from dam.models import CampaignMetric
from tests.campaigns.support import new_asset, new_campaign, new_version
from tests.conftest import Clock

pytestmark = pytest.mark.usefixtures("db_backend")


def _approve(
    client: TestClient, asset_id: str, designer: dict[str, str], reviewer: dict[str, str]
) -> None:
    submitted = client.post(f"/api/v1/assets/{asset_id}/submit", headers=designer)
    assert submitted.status_code == 200, submitted.text
    approved = client.post(f"/api/v1/assets/{asset_id}/approve", headers=reviewer)
    assert approved.status_code == 200, approved.text


def _versions(ctx: Context, campaign_id: str) -> dict[str, int | None]:
    with Session(ctx.engine) as session:
        rows = session.exec(
            select(CampaignMetric).where(CampaignMetric.campaign_id == campaign_id)
        ).all()
    return {r.date.isoformat(): r.version for r in rows}


def _send(
    client: TestClient, headers: dict[str, str], campaign_id: str, asset_id: str, *days: str
) -> None:
    rows: list[dict[str, Any]] = [
        {"asset_id": asset_id, "date": day, "impressions": 1000 + n} for n, day in enumerate(days)
    ]
    response = client.post(f"/api/v1/campaigns/{campaign_id}/metrics", headers=headers, json=rows)
    assert response.status_code == 200, response.text


def test_rows_per_asset_follow_the_publication_history_not_the_ingest_time(
    client: TestClient,
    ctx: Context,
    clock: Clock,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> None:
    new_campaign(client, marketer, "HIST26", channel="email")
    hero = new_asset(client, designer, seed=51, campaign_ids=["HIST26"])
    # Reported before any approval: no version to attribute to.
    _send(client, automation, "HIST26", hero, "2026-11-19")
    clock.now = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    _approve(client, hero, designer, brand_manager)  # v1 live from Nov 20, 08:00 UTC
    _send(client, automation, "HIST26", hero, "2026-11-19", "2026-11-20", "2026-11-26")

    new_version(client, designer, hero, seed=52)
    clock.now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    _approve(client, hero, designer, brand_manager)  # v2 live from Nov 27, 10:00 UTC
    clock.advance(days=1)
    # Issue 16's case: the old day re-sent a day after v2 went live stays on v1.
    _send(client, automation, "HIST26", hero, "2026-11-26", "2026-11-27", "2026-11-28")
    assert _versions(ctx, "HIST26") == {
        "2026-11-19": 1,  # before the first approval: the first published version
        "2026-11-20": 1,
        "2026-11-26": 1,
        "2026-11-27": 2,  # v2 live 14 of the day's 24 hours
        "2026-11-28": 2,
    }
    # An explicit version is kept as sent.
    explicit = [{"asset_id": hero, "date": "2026-11-26", "version": 2, "impressions": 5}]
    resent = client.post("/api/v1/campaigns/HIST26/metrics", headers=automation, json=explicit)
    assert resent.status_code == 200, resent.text
    assert _versions(ctx, "HIST26")["2026-11-26"] == 2
    report = client.get("/api/v1/campaigns/HIST26/performance", headers=marketer).json()
    by_version = {i["version"]: i["impressions"] for i in report["items"]}
    assert by_version == {1: 1000 + 1001, 2: 5 + 1001 + 1002}


def test_the_campaign_timezone_decides_the_reporting_day(
    client: TestClient,
    ctx: Context,
    clock: Clock,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> None:
    utc = new_campaign(client, marketer, "TZUTC26", channel="email")
    assert utc["timezone"] == "UTC"
    tokyo = new_campaign(client, marketer, "TZJP26", channel="email", timezone="Asia/Tokyo")
    assert tokyo["timezone"] == "Asia/Tokyo"
    hero = new_asset(client, designer, seed=53, campaign_ids=["TZUTC26", "TZJP26"])
    clock.now = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    _approve(client, hero, designer, brand_manager)
    body = {"platform": "google_ads", "external_id": "8001", "asset_id": hero}
    placements = "/api/v1/campaigns/TZJP26/placements"
    assert client.post(placements, headers=automation, json=body).status_code == 201
    new_version(client, designer, hero, seed=54)
    # v2 at Nov 27, 10:00 UTC = 19:00 in Tokyo: most of Tokyo's Nov 27 was still v1.
    clock.now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    _approve(client, hero, designer, brand_manager)
    repoint = {**body, "version": 2}
    assert client.post(placements, headers=automation, json=repoint).status_code == 201
    clock.advance(days=3)

    _send(client, automation, "TZUTC26", hero, "2026-11-27")
    _send(client, automation, "TZJP26", hero, "2026-11-27", "2026-11-28")
    assert _versions(ctx, "TZUTC26") == {"2026-11-27": 2}
    assert _versions(ctx, "TZJP26") == {"2026-11-27": 1, "2026-11-28": 2}
    export = (
        "Day,Ad ID,Impr.,Clicks,Cost,Campaign type\n"
        "2026-11-27,8001,10,1,1.00,Search\n"
        "2026-11-28,8001,20,2,2.00,Search\n"
    )
    preview = client.post(
        "/api/v1/campaigns/TZJP26/metrics",
        headers={**automation, "Content-Type": "text/csv"},
        params={"source": "google_ads", "dry_run": "true"},
        content=export.encode(),
    ).json()
    assert [(a["version"], a["rows"]) for a in preview["attributed"]] == [(1, 1), (2, 1)]

    # Settable on update, validated, never cleared.
    patched = client.patch(
        "/api/v1/campaigns/TZUTC26", headers=marketer, json={"timezone": "America/New_York"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["timezone"] == "America/New_York"
    for bad in ("Mars/Olympus", "../etc/passwd", "/etc/localtime", "localtime", "", None):
        refused = client.patch(
            "/api/v1/campaigns/TZUTC26", headers=marketer, json={"timezone": bad}
        )
        assert refused.status_code == 422, (bad, refused.text)
    created = client.post(
        "/api/v1/campaigns",
        headers=marketer,
        json={"id": "TZBAD26", "name": "x", "timezone": "Europe/Nowhere"},
    )
    assert created.status_code == 422
    assert created.json()["error"] == "invalid_timezone"
    assert client.get("/api/v1/campaigns/TZUTC26", headers=marketer).json()["timezone"] == (
        "America/New_York"
    )


def test_a_daylight_saving_day_has_23_hours() -> None:
    start, end = day_span(date(2026, 3, 29), ZoneInfo("Europe/Berlin"))
    assert (start, end - start) == (datetime(2026, 3, 28, 23, 0, tzinfo=UTC), timedelta(hours=23))
