"""Currency per metric row (issue 16), on SQLite and PostgreSQL: stored from the source's
currency column (Google Ads `Currency code`), from a column header (Meta's `Amount spent
(EUR)`), from `?currency=` for an export without one (Braze) and from a row's `currency` sent per
asset; the campaign performance report groups money by currency and never converts. Layouts as
in tests/campaigns/test_sources.py (Google Ads "Ad report", Meta Ads Manager export, Braze data
series)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dam.context import Context
from dam.models import CampaignMetric
from tests.campaigns.support import new_campaign, published_asset
from tests.conftest import count_rows

pytestmark = pytest.mark.usefixtures("db_backend")

METRICS = "/api/v1/campaigns/CUR26/metrics"
PLACEMENTS = "/api/v1/campaigns/CUR26/placements"


def _export(client: TestClient, headers: dict[str, str], text: str, **params: str) -> Any:
    return client.post(
        METRICS,
        headers={**headers, "Content-Type": "text/csv"},
        params=params,
        content=text.encode(),
    )


def test_currency_is_stored_per_row_and_the_report_groups_money_by_it(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> None:
    new_campaign(client, marketer, "CUR26", channel="instagram")
    hero = published_asset(client, ctx, designer, seed=61, campaign_ids=["CUR26"])
    banner = published_asset(client, ctx, designer, seed=62, campaign_ids=["CUR26"])
    for platform, ad, asset in (
        ("google_ads", "9001", hero),
        ("google_ads", "9002", hero),
        ("meta", "120200000000009", banner),
        ("braze", "braze-9", banner),
    ):
        body = {"platform": platform, "external_id": ad, "asset_id": asset}
        assert client.post(PLACEMENTS, headers=automation, json=body).status_code == 201

    google = (
        "Day,Ad ID,Currency code,Impr.,Clicks,Cost,Conversions,Conv. value,Campaign type\n"
        "2026-11-20,9001,USD,1000,10,10.50,2,100.00,Search\n"
        "2026-11-20,9002,EUR,500,5,4.25,1,30.00,Search\n"
    )
    assert _export(client, automation, google, source="google_ads").status_code == 200
    bad = google.replace("2026-11-20,9002,EUR", "2026-11-21,9002,US$")
    refused = _export(client, automation, bad, source="google_ads")
    assert refused.status_code == 422
    assert refused.json()["rows"][0]["problems"][0]["field"] == "Currency code"

    meta = (
        "Reporting starts,Reporting ends,Ad ID,Impressions,Link clicks,Amount spent (EUR),"
        "Purchases,Purchases conversion value\n"
        "2026-11-20,2026-11-20,120200000000009,800,8,8.00,1,40.00\n"
    )
    stored = _export(client, automation, meta, source="meta")
    assert stored.status_code == 200, stored.text
    assert stored.json()["currencies"] == ["EUR"]
    braze = "time,sent,delivered,opens,clicks,conversions,revenue\n2026-11-20,100,90,40,4,1,9.99\n"
    stored = _export(
        client, automation, braze, source="braze", external_id="braze-9", currency="usd"
    )
    assert stored.status_code == 200, stored.text
    rows = [
        {"asset_id": hero, "date": "2026-11-22", "spend": "3.00", "currency": "gbp"},
        {"asset_id": hero, "date": "2026-11-23", "spend": "1.00"},
    ]
    assert client.post(METRICS, headers=automation, json=rows).status_code == 200
    wrong = client.post(
        METRICS, headers=automation, json=[{**rows[0], "date": "2026-11-24", "currency": "€"}]
    )
    assert wrong.status_code == 422
    assert wrong.json()["rows"][0]["problems"][0]["field"] == "currency"
    misplaced = client.post(METRICS, headers=automation, json=rows, params={"currency": "USD"})
    assert misplaced.status_code == 422
    plain_csv = client.post(
        METRICS,
        headers={**automation, "Content-Type": "text/csv"},
        content=f"asset_id,date,spend,currency\n{hero},2026-11-22,3.00,gbp\n".encode(),
    )
    assert plain_csv.status_code == 200, plain_csv.text  # the same row again, from CSV

    with Session(ctx.engine) as session:
        stored_rows = session.exec(select(CampaignMetric)).all()
    assert sorted((r.date.isoformat(), str(r.spend), r.currency) for r in stored_rows) == [
        ("2026-11-20", "0.00", "USD"),  # Braze: revenue only
        ("2026-11-20", "10.50", "USD"),
        ("2026-11-20", "4.25", "EUR"),
        ("2026-11-20", "8.00", "EUR"),
        ("2026-11-22", "3.00", "GBP"),
        ("2026-11-23", "1.00", ""),
    ]
    assert count_rows(ctx.engine, "campaign_metrics") == 6

    report = client.get("/api/v1/campaigns/CUR26/performance", headers=marketer).json()
    assert report["currencies"] == ["EUR", "GBP", "USD", None]
    assert [
        (m["currency"], m["spend"], m["revenue"], m["roas"]) for m in report["by_currency"]
    ] == [
        ("EUR", "12.25", "70.00", pytest.approx(70 / 12.25)),
        ("GBP", "3.00", "0.00", 0.0),
        # ROAS is the paid family's: Braze's email revenue (9.99) is not bought by ad spend.
        ("USD", "10.50", "109.99", pytest.approx(100 / 10.5)),
        (None, "1.00", "0.00", 0.0),
    ]
    items = {i["asset_id"]: i for i in report["items"]}
    assert [(m["currency"], m["spend"]) for m in items[hero]["by_currency"]] == [
        ("EUR", "4.25"),
        ("GBP", "3.00"),
        ("USD", "10.50"),
        (None, "1.00"),
    ]
    assert [
        (m["currency"], m["revenue"], m["cost_per_conversion"])
        for m in items[banner]["by_currency"]
    ] == [("EUR", "40.00", "8.00"), ("USD", "9.99", None)]
