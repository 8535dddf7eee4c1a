"""The Campaign Manager 360 and Iterable built-in sources (issue 16), end to end on SQLite and
PostgreSQL. No network here, so the fixtures are rebuilt from the layouts as I know them; they
were not checked against a live download:

- Campaign Manager 360 standard report downloaded as CSV (CM360 Help, "Create a standard
  report" / "Download a report"): report metadata lines (report name, `Report Time:`, `Date
  Range:`, `Account ID:`), a `Report Fields` line, then the header with the chosen dimensions
  and metrics — here `Date,Advertiser,Advertiser ID,Campaign,Placement,Placement ID,Creative,
  Creative ID,Impressions,Clicks,Click Rate,Media Cost,Total Conversions,Total Revenue` —
  the rows with unformatted numbers, and a closing `Grand Total:` line.
- Iterable campaign metrics (Iterable API, `GET /api/campaigns/metrics?campaignId=…&
  startDateTime=…&endDateTime=…`, a CSV with one row per campaign over the range): `id`,
  `Average Order Value`, `Revenue`, `Total Email Sends`, `Total Emails Bounced`, `Total Emails
  Clicked`, `Total Emails Delivered`, `Total Emails Opened`, `Total Purchases`, `Total
  Unsubscribes`, `Unique Email Clicks`, `Unique Emails Opened`. It has no date column, so a
  daily series is one export per day, sent with `date=`.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dam.context import Context
from dam.models import CampaignMetric
from tests.campaigns.support import new_campaign, post_csv, published_asset
from tests.conftest import count_rows

pytestmark = pytest.mark.usefixtures("db_backend")

METRICS = "/api/v1/campaigns/SRC26/metrics"
PLACEMENTS = "/api/v1/campaigns/SRC26/placements"

CM360 = (
    "Spring display delivery\n"
    "\n"
    "Report Time:,2026-11-22 06:00:00 UTC\n"
    "Date Range:,2026-11-20 - 2026-11-21\n"
    "Account ID:,123456\n"
    "\n"
    "Report Fields\n"
    "Date,Advertiser,Advertiser ID,Campaign,Placement,Placement ID,Creative,Creative ID,"
    "Impressions,Clicks,Click Rate,Media Cost,Total Conversions,Total Revenue\n"
    "2026-11-20,Halden,5550001,Spring,Site A 300x250,301,Hero 300x250,88001,12010,34,0.28%,"
    "124.5,3.5,1234.5\n"
    "2026-11-20,Halden,5550001,Spring,Site B 728x90,302,Banner 728x90,88002,800,2,0.25%,"
    "8.25,0,0\n"
    "2026-11-21,Halden,5550001,Spring,Site A 300x250,301,Hero 300x250,88001,1000,10,1.00%,"
    "5,0.33,10\n"
    "Grand Total:,,,,,,,,13810,46,0.33%,137.75,3.83,1244.5\n"
)

ITERABLE = (
    "id,Average Order Value,Revenue,Total Email Sends,Total Emails Bounced,"
    "Total Emails Clicked,Total Emails Delivered,Total Emails Opened,Total Purchases,"
    "Total Unsubscribes,Unique Email Clicks,Unique Emails Opened\n"
    "4101,49.5,990.00,10000,150,420,9850,4100,20,12,380,3000\n"
    "4102,0,0,5000,20,40,4980,900,0,3,35,700\n"
)


@pytest.fixture
def creatives(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> tuple[str, str]:
    new_campaign(client, marketer, "SRC26")
    hero = published_asset(client, ctx, designer, seed=71, campaign_ids=["SRC26"])
    banner = published_asset(client, ctx, designer, seed=72, campaign_ids=["SRC26"])
    return hero, banner


def _register(
    client: TestClient, headers: dict[str, str], platform: str, ext: str, asset: str
) -> None:
    body = {"platform": platform, "external_id": ext, "asset_id": asset}
    response = client.post(PLACEMENTS, headers=headers, json=body)
    assert response.status_code == 201, response.text


def test_cm360_standard_report_end_to_end(
    client: TestClient, ctx: Context, automation: dict[str, str], creatives: tuple[str, str]
) -> None:
    hero, banner = creatives
    _register(client, automation, "cm360", "88001", hero)
    _register(client, automation, "cm360", "88002", banner)
    preview = post_csv(client, METRICS, automation, CM360, source="cm360", dry_run="true").json()
    assert preview["skipped_lines"] == [1, 2, 3, 4, 5, 6, 7, 12]  # metadata and Grand Total
    assert (preview["rows"], preview["unmatched"], preview["rejected"]) == (3, [], [])
    assert preview["totals"]["impressions"] == 13810
    assert preview["totals"]["spend"] == pytest.approx(137.75)
    stored = post_csv(client, METRICS, automation, CM360, source="cm360")
    assert stored.status_code == 200, stored.text
    with Session(ctx.engine) as session:
        rows = session.exec(select(CampaignMetric)).all()
    assert sorted(
        (str(r.asset_id), r.date.isoformat(), r.channel, r.impressions, str(r.conversions))
        for r in rows
    ) == sorted(
        [
            (hero, "2026-11-20", "display", 12010, "3.50"),
            (banner, "2026-11-20", "display", 800, "0.00"),
            (hero, "2026-11-21", "display", 1000, "0.33"),
        ]
    )
    weekly = CM360.replace("Date,Advertiser", "Week,Advertiser")
    refused = post_csv(client, METRICS, automation, weekly, source="cm360")
    assert refused.status_code == 422
    assert "add the dimension Date" in refused.json()["detail"]


def test_iterable_one_day_export_with_date(
    client: TestClient,
    ctx: Context,
    marketer: dict[str, str],
    automation: dict[str, str],
    creatives: tuple[str, str],
) -> None:
    hero, banner = creatives
    _register(client, automation, "iterable", "4101", hero)
    _register(client, automation, "iterable", "4102", banner)
    undated = post_csv(client, METRICS, automation, ITERABLE, source="iterable")
    assert undated.status_code == 422
    assert "date=" in undated.json()["detail"]
    assert count_rows(ctx.engine, "campaign_metrics") == 0
    stored = post_csv(
        client, METRICS, automation, ITERABLE, source="iterable", date="2026-11-20", currency="USD"
    )
    assert stored.status_code == 200, stored.text
    with Session(ctx.engine) as session:
        rows = session.exec(select(CampaignMetric)).all()
    assert sorted(
        (
            str(r.asset_id),
            r.date.isoformat(),
            r.channel,
            r.sends,
            r.deliveries,
            r.opens,
            r.unique_opens,
            r.clicks,
            r.unsubscribes,
            r.bounces,
            str(r.conversions),
            str(r.revenue),
            r.currency,
        )
        for r in rows
    ) == sorted(
        [
            (
                hero,
                "2026-11-20",
                "email",
                10000,
                9850,
                4100,
                3000,
                420,
                12,
                150,
                "20.00",
                "990.00",
                "USD",
            ),
            (banner, "2026-11-20", "email", 5000, 4980, 900, 700, 40, 3, 20, "0.00", "0.00", "USD"),
        ]
    )
    # A file with its own date column takes no `date=`; rows per asset take none either.
    dated = post_csv(client, METRICS, automation, CM360, source="cm360", date="2026-11-20")
    assert dated.status_code == 422
    plain = client.post(METRICS, headers=automation, json=[], params={"date": "2026-11-20"})
    assert plain.status_code == 422
