"""Reports show what each metric family supports (issue 16): email rates (delivery, open,
click, click-to-open, unsubscribe, bounce) from rows on email channels, CTR and ROAS from the
paid family only; and the asset performance summary and creative insights keep money apart
by currency like the campaign report (never converted), on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dam.context import Context
from dam.models import Role
from tests.campaigns.support import new_campaign, post_csv, published_asset
from tests.web.support import Users, sign_in

pytestmark = pytest.mark.usefixtures("db_backend")

METRICS = "/api/v1/campaigns/FAM26/metrics"
PLACEMENTS = "/api/v1/campaigns/FAM26/placements"
BRAZE = (
    "time,sent,delivered,opens,unique_opens,clicks,unsubscribes,bounces,conversions,revenue\n"
    "2026-11-20,1000,950,400,300,60,5,50,3,120.00\n"
)
GOOGLE = (
    "Day,Ad ID,Currency code,Impr.,Clicks,Cost,Conversions,Conv. value,Campaign type\n"
    "2026-11-20,7001,USD,10000,200,100.00,4,400.00,Search\n"
)


@pytest.fixture
def hero(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> str:
    new_campaign(client, marketer, "FAM26", channel="instagram")
    asset = published_asset(
        client, ctx, designer, seed=71, campaign_ids=["FAM26"], visual_style=["lifestyle"]
    )
    for platform, ad in (("braze", "braze-fam"), ("google_ads", "7001")):
        body = {"platform": platform, "external_id": ad, "asset_id": asset}
        assert client.post(PLACEMENTS, headers=automation, json=body).status_code == 201
    braze = post_csv(
        client, METRICS, automation, BRAZE, source="braze", external_id="braze-fam", currency="EUR"
    )
    assert braze.status_code == 200, braze.text
    google = post_csv(client, METRICS, automation, GOOGLE, source="google_ads")
    assert google.status_code == 200, google.text
    return asset


def _email(figures: dict[str, Any]) -> dict[str, Any]:
    email = figures["email"]
    assert email is not None
    return dict(email)


EXPECTED_EMAIL = {
    "sends": 1000,
    "deliveries": 950,
    "opens": 400,
    "unique_opens": 300,
    "clicks": 60,
    "unsubscribes": 5,
    "bounces": 50,
    "conversions": 3.0,
    "revenue": "120.00",
    "delivery_rate": pytest.approx(0.95),
    "open_rate": pytest.approx(300 / 950),
    "click_rate": pytest.approx(60 / 950),
    "click_to_open_rate": pytest.approx(60 / 300),
    "unsubscribe_rate": pytest.approx(5 / 950),
    "bounce_rate": pytest.approx(0.05),
}


def _money(figures: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (m["currency"], m["spend"], m["revenue"], m["roas"], m["cost_per_conversion"])
        for m in figures["by_currency"]
    ]


# Email revenue in EUR with no spend: no ROAS or cost per conversion; paid USD: ROAS 4.
MONEY = [("EUR", "0.00", "120.00", None, None), ("USD", "100.00", "400.00", 4.0, "25.00")]


def test_campaign_report_has_email_rates_and_paid_ratios(
    client: TestClient, marketer: dict[str, str], hero: str
) -> None:
    report = client.get("/api/v1/campaigns/FAM26/performance", headers=marketer).json()
    totals = report["totals"]
    assert totals["families"] == ["paid", "email"]
    # Sums of every row; CTR and ROAS from the paid rows only (the email clicks would make
    # the CTR 260/10000).
    assert (totals["impressions"], totals["clicks"], totals["revenue"]) == (10000, 260, "520.00")
    assert totals["ctr"] == pytest.approx(200 / 10000)
    assert totals["conversion_rate"] == pytest.approx(4 / 200)
    assert totals["roas"] == pytest.approx(4.0)
    assert _email(totals) == EXPECTED_EMAIL
    (item,) = report["items"]
    assert _email(item) == EXPECTED_EMAIL
    assert _money(item) == MONEY
    assert report["currencies"] == ["EUR", "USD"]

    paid_only = client.get(
        "/api/v1/campaigns/FAM26/performance", headers=marketer, params={"channel": "paid-search"}
    ).json()
    assert (paid_only["totals"]["families"], paid_only["totals"]["email"]) == (["paid"], None)
    sorted_by_rate = client.get(
        "/api/v1/campaigns/FAM26/performance", headers=marketer, params={"sort": "open_rate"}
    )
    assert sorted_by_rate.status_code == 200


def test_asset_performance_summary_groups_money_by_currency(
    client: TestClient, marketer: dict[str, str], hero: str
) -> None:
    asset = client.get(f"/api/v1/assets/{hero}", headers=marketer).json()
    performance = asset["performance"]
    assert performance["campaigns"] == 1
    assert performance["currencies"] == ["EUR", "USD"]
    assert _money(performance) == MONEY
    assert performance["families"] == ["paid", "email"]
    assert _email(performance) == EXPECTED_EMAIL


@pytest.mark.parametrize(
    "params",
    [{}, {"from": "2026-11-01", "to": "2026-11-30"}, {"from": "2026-11-15", "to": "2026-11-25"}],
    ids=["all", "whole-month-from-rollup", "days-from-daily-rows"],
)
def test_creative_insights_group_money_by_currency(
    client: TestClient, marketer: dict[str, str], hero: str, params: dict[str, str]
) -> None:
    response = client.get(
        "/api/v1/reports/creative-insights",
        headers=marketer,
        params={"facet": "visual_style", **params},
    )
    assert response.status_code == 200, response.text
    (item,) = response.json()["items"]
    assert (item["term"], item["assets"], item["campaigns"]) == ("lifestyle", 1, 1)
    assert item["currencies"] == ["EUR", "USD"]
    assert _money(item) == MONEY
    assert _email(item) == EXPECTED_EMAIL
    assert item["ctr"] == pytest.approx(200 / 10000)


@pytest.fixture
def users(ctx: Context) -> Users:
    return Users(ctx)


def test_campaign_page_shows_email_rates_and_money_by_currency(
    client: TestClient, users: Users, hero: str
) -> None:
    sign_in(client, users.create(Role.marketer))
    page = client.get("/campaigns/FAM26")
    assert page.status_code == 200
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())
    assert "Emails sent 1,000" in text
    assert "Open rate 31.6%" in text  # 300 unique opens of 950 delivered
    assert "Bounce rate 5.0%" in text
    assert "Money was reported in EUR, USD" in text
    assert "USD spend" in text and "ROAS 4.00" in text
