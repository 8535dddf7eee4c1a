"""Platform exports ingested end to end through the built-in source mappings (issue 16), on
SQLite and PostgreSQL: placements matched by the platform's ids, numbers read by the declared
locale (ambiguous ones refused with line and column), rows attributed to the version live for
the placement on the row's date, dry runs.

Sources of the fixture layouts (no network here, so they are rebuilt from these descriptions):
- Google Ads "Ad report" download (Reports > Predefined reports > Basic > Ad, segmented by Day):
  the layout quoted in issue 16 — a title line, a date-range line, then
  `Day,Campaign,Ad group,Ad ID,Ad name,Currency code,Impr.,Clicks,CTR,Avg. CPC,Cost,Conversions,
  Conv. value,…`, thousands quoted as `"1,234.50"`, `--` for no data, fractional conversions and
  `Total: …` lines at the end (Google Ads Help, "Download a report"; "Segment your data").
- Meta Ads Manager "Export table data" (.csv, breakdown by day, ad level): issue 16's
  `Reporting starts,Reporting ends,Campaign name,Ad set name,Ad name,Ad ID,…,Impressions,Link
  clicks,Amount spent (USD),Purchases,Purchases conversion value,…`, with a UTF-8 BOM (Meta
  Business Help Center, "Export your ad reports").
- Braze campaign data series (the CSV of `GET /campaigns/data_series`, Braze docs "Export
  campaign analytics"): issue 16's `time,sent,delivered,opens,unique_opens,clicks,…,conversions,
  revenue`, one Braze campaign per file.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dam.campaigns.sources import CellError, parse_number
from dam.context import Context
from dam.models import CampaignMetric
from tests.campaigns.support import new_campaign, new_version, post_csv, publish, published_asset
from tests.conftest import Clock, count_rows

pytestmark = pytest.mark.usefixtures("db_backend")

METRICS = "/api/v1/campaigns/ADS26/metrics"
PLACEMENTS = "/api/v1/campaigns/ADS26/placements"

GOOGLE_HEADER = (
    "Day,Campaign,Ad group,Ad ID,Ad name,Currency code,Impr.,Clicks,CTR,Avg. CPC,Cost,"
    "Conversions,Conv. value,Campaign type\n"
)
GOOGLE = (
    "Ad report\n"
    '"November 20, 2026 - November 21, 2026"\n'
    + GOOGLE_HEADER
    + '2026-11-20,Spring Search,Tents,6001,Hero A,USD,"12,010",345,2.87%,0.36,124.50,3.50,'
    '"1,234.50",Search\n'
    "2026-11-20,Spring Search,Tents,6002,Hero A copy,USD,800,--,--,--,--,0.00,--,Search\n"
    "2026-11-20,Spring Display,Banners,6003,Hero B,USD,500,5,1.00%,0.20,1.00,0.33,0.00,Display\n"
    '2026-11-21,Spring Search,Tents,6001,Hero A,USD,"1,000",10,1.00%,0.50,5.00,0.33,10.00,Search\n'
    'Total: Account,,,,,USD,"14,310",360,2.52%,0.36,130.50,4.16,"1,244.50",\n'
    'Total: Search,,,,,USD,"13,810",355,2.57%,0.36,129.50,3.83,"1,244.50",\n'
)


@pytest.fixture
def ads(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> tuple[str, str]:
    new_campaign(client, marketer, "ADS26", channel="instagram")
    hero = published_asset(client, ctx, designer, seed=31, campaign_ids=["ADS26"])
    banner = published_asset(client, ctx, designer, seed=32, campaign_ids=["ADS26"])
    for ad, asset in (("6001", hero), ("6002", hero), ("6003", banner)):
        body = {"platform": "google_ads", "external_id": ad, "asset_id": asset}
        assert client.post(PLACEMENTS, headers=automation, json=body).status_code == 201
    return hero, banner


def _stored(ctx: Context) -> list[tuple[str, str, str, int | None, int, str]]:
    with Session(ctx.engine) as session:
        rows = session.exec(select(CampaignMetric)).all()
    return sorted(
        (
            str(r.asset_id),
            r.date.isoformat(),
            r.channel,
            r.version,
            r.impressions,
            str(r.conversions),
        )
        for r in rows
    )


def _by_version(client: TestClient, headers: dict[str, str]) -> dict[tuple[str, int], Any]:
    report = client.get("/api/v1/campaigns/ADS26/performance", headers=headers).json()
    return {(i["asset_id"], i["version"]): i for i in report["items"]}


def test_google_ads_report_end_to_end_with_attribution_by_date(
    client: TestClient,
    ctx: Context,
    clock: Clock,
    designer: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
    ads: tuple[str, str],
) -> None:
    hero, banner = ads
    preview = post_csv(
        client, METRICS, automation, GOOGLE, source="google_ads", locale="en", dry_run="true"
    )
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert (body["dry_run"], body["rows"], body["unmatched"], body["rejected"]) == (True, 4, [], [])
    assert body["skipped_lines"] == [1, 2, 8, 9]  # title, date range, two totals
    assert body["totals"]["impressions"] == 14310
    assert body["totals"]["conversions"] == pytest.approx(4.16)
    assert body["totals"]["revenue"] == pytest.approx(1244.50)
    assert body["currencies"] == ["USD"]
    assert [(a["asset_id"], a["version"], a["rows"]) for a in body["attributed"]] == sorted(
        [(hero, 1, 3), (banner, 1, 1)]
    )
    assert count_rows(ctx.engine, "campaign_metrics") == 0

    # Google Ads writes numbers in the account's language: without a declared locale the
    # grouped "12,010" impressions are refused, not guessed.
    undeclared = post_csv(client, METRICS, automation, GOOGLE, source="google_ads")
    assert undeclared.status_code == 422
    assert [(r["line"], r["problems"][0]["field"]) for r in undeclared.json()["rows"]] == [
        (4, "Impr."),
        (7, "Impr."),
    ]
    stored = post_csv(client, METRICS, automation, GOOGLE, source="google_ads", locale="en")
    assert stored.status_code == 200, stored.text
    # Two ads running one creative on one day are two rows; campaign types map to channels.
    assert _stored(ctx) == sorted(
        [
            (hero, "2026-11-20", "paid-search", 1, 12010, "3.50"),
            (hero, "2026-11-20", "paid-search", 1, 800, "0.00"),
            (banner, "2026-11-20", "display", 1, 500, "0.33"),
            (hero, "2026-11-21", "paid-search", 1, 1000, "0.33"),
        ]
    )
    before = _by_version(client, marketer)
    assert before[(hero, 1)]["impressions"] == 13810
    assert before[(hero, 1)]["conversions"] == pytest.approx(3.83)

    # v2 goes live and ad 6001 is re-pointed to it; a new day goes to v2, and re-sending the
    # old days (restated) keeps them on v1.
    new_version(client, designer, hero, seed=33)
    publish(ctx, hero, version=2)
    clock.advance(days=1)
    repoint = {"platform": "google_ads", "external_id": "6001", "asset_id": hero, "version": 2}
    assert client.post(PLACEMENTS, headers=automation, json=repoint).status_code == 201
    later = (
        GOOGLE_HEADER
        + "2026-11-27,Spring Search,Tents,6001,Hero A,USD,700,7,,,7.00,1.25,9.00,Search\n"
    )
    assert (
        post_csv(client, METRICS, automation, later, source="google_ads", locale="en").status_code
        == 200
    )
    assert (
        post_csv(client, METRICS, automation, GOOGLE, source="google_ads", locale="en").status_code
        == 200
    )
    after = _by_version(client, marketer)
    assert after[(hero, 1)]["impressions"] == 13810
    assert after[(hero, 2)]["impressions"] == 700
    assert after[(hero, 2)]["conversions"] == pytest.approx(1.25)
    assert count_rows(ctx.engine, "campaign_metrics") == 5
    placement = client.get(PLACEMENTS, headers=marketer).json()["items"][0]
    assert (placement["external_id"], placement["first_seen"], placement["last_seen"]) == (
        "6001",
        "2026-11-20",
        "2026-11-27",
    )


def test_german_numbers_are_refused_or_read_by_the_declared_locale(
    client: TestClient, ctx: Context, automation: dict[str, str], ads: tuple[str, str]
) -> None:
    # Issue 16's row `12.000,2.000,3,"1.234",250.000` in a Google Ads report from a German
    # account: never 12 impressions.
    german = (
        GOOGLE_HEADER + '2026-11-20,S,T,6001,Hero A,EUR,12.000,2.000,,,"1.234",3,250.000,Search\n'
    )
    refused = post_csv(client, METRICS, automation, german, source="google_ads")
    assert refused.status_code == 422, refused.text
    (row,) = refused.json()["rows"]
    assert row["line"] == 2
    assert {p["field"] for p in row["problems"]} == {"Impr.", "Clicks", "Cost", "Conv. value"}
    assert count_rows(ctx.engine, "campaign_metrics") == 0
    # Declared as English it is still refused: a count cannot have a decimal point.
    english = post_csv(client, METRICS, automation, german, source="google_ads", locale="en")
    assert english.status_code == 422
    assert "Impr." in {p["field"] for p in english.json()["rows"][0]["problems"]}
    read = post_csv(
        client, METRICS, automation, german, source="google_ads", locale="de-DE", dry_run="true"
    )
    assert read.status_code == 200, read.text
    totals = read.json()["totals"]
    assert (totals["impressions"], totals["clicks"], totals["conversions"]) == (12000, 2000, 3)
    assert (totals["spend"], totals["revenue"]) == (1234, 250000)


def test_unmatched_ids_refuse_the_file_and_are_listed_in_a_dry_run(
    client: TestClient, ctx: Context, automation: dict[str, str], ads: tuple[str, str]
) -> None:
    text = GOOGLE_HEADER + (
        "2026-11-20,S,T,6001,Hero A,USD,10,1,,,1.00,0,0,Search\n"
        "2026-11-20,S,T,9999,Unknown ad,USD,10,1,,,1.00,0,0,Search\n"
    )
    refused = post_csv(client, METRICS, automation, text, source="google_ads")
    assert refused.status_code == 422
    assert [(u["line"], u["external_id"]) for u in refused.json()["unmatched"]] == [(3, "9999")]
    assert count_rows(ctx.engine, "campaign_metrics") == 0
    preview = post_csv(
        client, METRICS, automation, text, source="google_ads", dry_run="true"
    ).json()
    assert preview["rows"] == 1
    assert preview["unmatched"][0]["external_name"] == "Unknown ad"
    assert "no placement" in preview["unmatched"][0]["reason"]
    weekly = "Week,Ad ID,Impr.\n2026-11-16,6001,10\n"
    no_day = post_csv(client, METRICS, automation, weekly, source="google_ads")
    assert no_day.status_code == 422
    assert "daily" in no_day.json()["detail"]
    unknown = post_csv(client, METRICS, automation, text, source="tiktok")
    assert unknown.status_code == 422
    assert unknown.json()["error"] == "unknown_source"


def test_meta_export_with_bom_and_a_multi_day_row(
    client: TestClient, ctx: Context, automation: dict[str, str], ads: tuple[str, str]
) -> None:
    hero, _ = ads
    body = {"platform": "meta", "external_id": "120210000000001", "asset_id": hero}
    assert client.post(PLACEMENTS, headers=automation, json=body).status_code == 201
    header = (
        "\ufeffReporting starts,Reporting ends,Campaign name,Ad set name,Ad name,Ad ID,"
        "Delivery status,Impressions,Reach,Link clicks,Amount spent (USD),Purchases,"
        "Purchases conversion value,Results,Result indicator\n"
    )
    good = header + (
        "2026-11-20,2026-11-20,Spring,Broad,Hero A,120210000000001,active,"
        '"4,200",3900,61,38.12,2,119.90,2,actions:offsite_conversion.fb_pixel_purchase\n'
    )
    stored = post_csv(client, METRICS, automation, good, source="meta", locale="en")
    assert stored.status_code == 200, stored.text
    assert stored.json()["currencies"] == ["USD"]
    assert _stored(ctx) == [(hero, "2026-11-20", "social", 1, 4200, "2.00")]
    spanning = header + (
        "2026-11-01,2026-11-30,Spring,Broad,Hero A,120210000000001,active,"
        "90000,50000,900,700.00,20,2000.00,20,x\n"
    )
    refused = post_csv(client, METRICS, automation, spanning, source="meta", locale="en")
    assert refused.status_code == 422
    (row,) = refused.json()["rows"]
    assert row["line"] == 2
    assert "daily" in row["problems"][0]["message"]


def test_braze_data_series_stores_the_email_family(
    client: TestClient,
    ctx: Context,
    marketer: dict[str, str],
    automation: dict[str, str],
    ads: tuple[str, str],
) -> None:
    hero, _ = ads
    body = {
        "platform": "braze",
        "external_id": "braze-campaign-1",
        "asset_id": hero,
        "channel": "email",
    }
    assert client.post(PLACEMENTS, headers=automation, json=body).status_code == 201
    series = (
        "time,sent,delivered,opens,unique_opens,clicks,unique_clicks,unsubscribes,bounces,"
        "conversions,revenue\n"
        "2026-11-20,10000,9800,4100,3000,420,380,12,200,31,1540.25\n"
        "2026-11-21,0,0,600,450,40,35,1,0,2,99.00\n"
    )
    missing = post_csv(client, METRICS, automation, series, source="braze")
    assert missing.status_code == 422
    assert "external_id" in missing.json()["detail"]
    stored = post_csv(
        client, METRICS, automation, series, source="braze", external_id="braze-campaign-1"
    )
    assert stored.status_code == 200, stored.text
    with Session(ctx.engine) as session:
        rows = session.exec(select(CampaignMetric).order_by(CampaignMetric.date)).all()
    assert [
        (r.channel, r.sends, r.deliveries, r.opens, r.unique_opens, r.bounces) for r in rows
    ] == [
        ("email", 10000, 9800, 4100, 3000, 200),
        ("email", 0, 0, 600, 450, 0),
    ]
    report = _by_version(client, marketer)[(hero, 1)]
    assert (report["clicks"], report["conversions"], report["revenue"]) == (460, 33.0, "1639.25")


@pytest.mark.parametrize(
    ("text", "locale", "kind", "expected"),
    [
        ("1,234.50", None, "money", Decimal("1234.50")),
        ("1.234,50", None, "money", Decimal("1234.50")),
        ("$1,234.50", "en", "money", Decimal("1234.50")),
        ("1 234,50 €", "fr", "money", Decimal("1234.50")),
        ("2.5", None, "fractional", Decimal("2.5")),
        ("12.000", "de", "whole", Decimal(12000)),
        ("--", None, "whole", None),
        ("", "en", "money", None),
        ("345", None, "whole", Decimal(345)),
    ],
)
def test_numbers_by_locale(
    text: str, locale: str | None, kind: str, expected: Decimal | None
) -> None:
    assert parse_number(text, locale=locale, kind=kind) == expected


@pytest.mark.parametrize(
    ("text", "locale", "kind"),
    [
        ("12.000", None, "whole"),
        ("1,234", None, "whole"),
        ("1.234", None, "money"),
        ("12.000", "en", "whole"),
        ("1,23,4", "en", "whole"),
        ("abc", None, "money"),
        ("1.234.567,8.9", "de", "money"),
    ],
)
def test_ambiguous_or_malformed_numbers_are_refused(
    text: str, locale: str | None, kind: str
) -> None:
    with pytest.raises(CellError):
        parse_number(text, locale=locale, kind=kind)
