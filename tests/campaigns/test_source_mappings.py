"""User-defined source mappings (issue 16): a platform the service has no built-in for,
declared in the governance pack (`sources/<name>.yaml`) or sent with the upload (`mapping`),
validated with file and line like the rest of the pack, and an export ingested through it end
to end on SQLite and PostgreSQL.

Sources of the fixture layouts (rebuilt from these descriptions; no network here):
- LinkedIn Campaign Manager "Creative performance" report (Campaign Manager > Analyze >
  Export, time breakdown Daily, LinkedIn Help "Export reporting data from Campaign Manager"):
  report-title and date lines before the header, then `Start Date (in UTC),End Date (in UTC),
  Account Name,Currency,Campaign Group Name,Campaign Name,Campaign Type,Creative Name,
  Creative ID,Total Spent,Impressions,Clicks,…,Conversions,…`, dates as `11/20/2026`.
- A Google Ads ad report downloaded from an account whose language is German (the column names
  and numbers follow the UI language: `Tag,Anzeigen-ID,Anzeigenname,Währungscode,Impr.,Klicks,
  Kosten,Conversions,Conv.-Wert,Kampagnentyp`, `1.234,50`; Google Ads Help, "Change your
  language preference").
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dam.context import Context
from dam.governance import load_pack
from dam.governance.holder import GovernanceHolder
from dam.governance.metric_sources import parse_source_text
from dam.governance.pack import PackInvalid
from dam.models import CampaignMetric
from tests.campaigns.support import new_campaign, post_csv, published_asset
from tests.conftest import count_rows

pytestmark = pytest.mark.usefixtures("db_backend")

ROOT = Path(__file__).resolve().parents[2]
METRICS = "/api/v1/campaigns/LI26/metrics"
PLACEMENTS = "/api/v1/campaigns/LI26/placements"

LINKEDIN_YAML = """\
# LinkedIn Campaign Manager > Analyze > Export: Creative performance, time breakdown Daily.
title: LinkedIn creative performance report
platform: linkedin
placement:
  id: Creative ID
  name: Creative Name
date:
  column: Start Date (in UTC)
  end_column: End Date (in UTC)
  format: "%m/%d/%Y"
locale: en
currency:
  column: Currency
columns:
  Impressions: impressions
  Clicks: clicks
  Total Spent: spend
  Conversions: conversions
skip:
  header_line: 6
  totals: [Total]
campaign_types:
  column: Campaign Type
  channels:
    Sponsored Content: social
    Text Ads: paid search        # a synonym: stored as the term id
    Sponsored Messaging: null
channel: linkedin
daily_hint: choose Time breakdown > Daily before exporting
"""

LINKEDIN = (
    "Creative Performance Report (in UTC)\n"
    "Report Start: 11/20/2026\n"
    "Report End: 11/21/2026\n"
    "Date Generated: 11/22/2026 09:00\n"
    "\n"
    "Start Date (in UTC),End Date (in UTC),Account Name,Currency,Campaign Group Name,"
    "Campaign Name,Campaign Type,Creative Name,Creative ID,Total Spent,Impressions,Clicks,"
    "Average CTR,Conversions\n"
    '11/20/2026,11/20/2026,Halden,EUR,Spring,Spring SC,Sponsored Content,Hero,88001,"1,204.10",'
    '"23,500",410,1.74%,6.5\n'
    "11/20/2026,11/20/2026,Halden,EUR,Spring,Spring Text,Text Ads,Hero text,88002,12.00,900,9,"
    "1.00%,0\n"
    "11/21/2026,11/21/2026,Halden,EUR,Spring,Spring Msg,Sponsored Messaging,Hero msg,88001,"
    "3.00,100,1,1.00%,0\n"
    "11/20/2026,11/22/2026,Halden,EUR,Spring,Spring SC,Sponsored Content,Hero,88001,1.00,10,1,"
    "10%,0\n"
    "Total,,,,,,,,,1220.10,24510,421,,6.5\n"
)

GOOGLE_DE_YAML = """\
title: Google Ads Anzeigenbericht (Deutsch)
platform: google_ads
placement: {id: Anzeigen-ID, name: Anzeigenname}
date: {column: Tag, format: "%d.%m.%Y"}
locale: de
currency: {column: Währungscode}
columns:
  Impr.: impressions
  Klicks: clicks
  Kosten: spend
  Conversions: conversions
  Conv.-Wert: revenue
skip: {totals: [Gesamt]}
campaign_types:
  column: Kampagnentyp
  channels: {Suche: paid-search, Display: display, Video: video}
"""

GOOGLE_DE = (
    "Anzeigenbericht\n"
    "20. November 2026\n"
    "Tag,Kampagne,Anzeigen-ID,Anzeigenname,Währungscode,Impr.,Klicks,Kosten,Conversions,"
    "Conv.-Wert,Kampagnentyp\n"
    '20.11.2026,Frühling,6001,Hero A,EUR,12.000,2.000,"1.234,50","3,5","250,00",Suche\n'
    'Gesamt: Konto,,,,EUR,12.000,2.000,"1.234,50","3,5","250,00",\n'
)


def _pack(tmp_path: Path, **files: str) -> Path:
    pack_dir = tmp_path / "pack"
    shutil.copytree(ROOT / "taxonomy", pack_dir)
    (pack_dir / "sources").mkdir()
    for name, text in files.items():
        (pack_dir / "sources" / f"{name}.yaml").write_text(text, encoding="utf-8")
    return pack_dir


@pytest.fixture
def linkedin(
    tmp_path: Path,
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> str:
    ctx.governance = GovernanceHolder(
        _pack(tmp_path, linkedin=LINKEDIN_YAML, google_ads_de=GOOGLE_DE_YAML)
    )
    new_campaign(client, marketer, "LI26")
    hero = published_asset(client, ctx, designer, seed=61, campaign_ids=["LI26"])
    for platform, ad in (("linkedin", "88001"), ("linkedin", "88002"), ("google_ads", "6001")):
        body = {"platform": platform, "external_id": ad, "asset_id": hero}
        assert client.post(PLACEMENTS, headers=automation, json=body).status_code == 201
    return hero


def _stored(ctx: Context) -> list[tuple[str, str, int, int, str, str, str]]:
    with Session(ctx.engine) as session:
        rows = session.exec(select(CampaignMetric)).all()
    return sorted(
        (
            r.date.isoformat(),
            r.channel,
            r.impressions,
            r.clicks,
            str(r.spend),
            str(r.conversions),
            r.currency,
        )
        for r in rows
    )


def test_pack_source_ingests_a_linkedin_export_end_to_end(
    client: TestClient, ctx: Context, automation: dict[str, str], linkedin: str
) -> None:
    preview = post_csv(client, METRICS, automation, LINKEDIN, source="linkedin", dry_run="true")
    assert preview.status_code == 200, preview.text
    body = preview.json()
    # Lines 1-5 precede the declared header line 6; line 11 is the total.
    assert body["skipped_lines"] == [1, 2, 3, 4, 5, 11]
    assert (body["rows"], body["unmatched"]) == (3, [])
    # The row spanning three days is refused with its line and the mapping's daily hint.
    (refused,) = body["rejected"]
    assert refused["line"] == 10
    assert "choose Time breakdown > Daily" in refused["problems"][0]["message"]

    all_or_nothing = post_csv(client, METRICS, automation, LINKEDIN, source="linkedin")
    assert all_or_nothing.status_code == 422
    assert count_rows(ctx.engine, "campaign_metrics") == 0

    stored = post_csv(client, METRICS, automation, LINKEDIN, source="linkedin", on_error="skip")
    assert stored.status_code == 200, stored.text
    assert stored.json()["rejects_csv"].splitlines()[1].startswith("10,,date,")
    # Campaign types → channels (a synonym resolved to its term; "Sponsored Messaging": null
    # falls back to the mapping's default channel), US dates, en numbers, the row's currency.
    assert _stored(ctx) == [
        ("2026-11-20", "paid-search", 900, 9, "12.00", "0.00", "EUR"),
        ("2026-11-20", "social", 23500, 410, "1204.10", "6.50", "EUR"),
        ("2026-11-21", "linkedin", 100, 1, "3.00", "0.00", "EUR"),
    ]


def test_pack_source_for_a_known_platform_in_another_language(
    client: TestClient, ctx: Context, automation: dict[str, str], linkedin: str
) -> None:
    result = post_csv(client, METRICS, automation, GOOGLE_DE, source="google_ads_de")
    assert result.status_code == 200, result.text
    assert result.json()["skipped_lines"] == [1, 2, 5]
    # `platform: google_ads`: matched to the Google Ads placement 6001; German numbers read by
    # the mapping's locale, not as 12 impressions.
    assert _stored(ctx) == [("2026-11-20", "paid-search", 12000, 2000, "1234.50", "3.50", "EUR")]


def test_metric_sources_lists_built_ins_and_the_packs_own(
    client: TestClient, marketer: dict[str, str], linkedin: str, tmp_path: Path
) -> None:
    response = client.get("/api/v1/metric-sources", headers=marketer)
    assert response.status_code == 200
    items = {item["name"]: item for item in response.json()["items"]}
    assert set(items) == {
        "braze",
        "cm360",
        "google_ads",
        "google_ads_de",
        "iterable",
        "linkedin",
        "meta",
    }
    assert items["google_ads"]["origin"] == "built-in"
    linked = items["linkedin"]
    assert linked["origin"] == str(tmp_path / "pack" / "sources" / "linkedin.yaml")
    assert linked["placement"] == {"id": ["Creative ID"], "name": ["Creative Name"]}
    assert linked["date"] == {
        "column": ["Start Date (in UTC)"],
        "end_column": ["End Date (in UTC)"],
        "formats": ["%m/%d/%Y"],
    }
    assert linked["skip"] == {"header_line": 6, "totals": ["Total"]}
    assert linked["campaign_types"]["channels"] == {
        "sponsored content": "social",
        "text ads": "paid-search",
        "sponsored messaging": None,
    }


def test_a_mapping_sent_with_the_upload_previews_an_export(
    client: TestClient, ctx: Context, automation: dict[str, str], linkedin: str
) -> None:
    files: dict[str, Any] = {
        "file": ("report.csv", LINKEDIN.encode(), "text/csv"),
        "mapping": ("linkedin.yaml", LINKEDIN_YAML.encode(), "application/yaml"),
    }
    preview = client.post(METRICS, headers=automation, params={"dry_run": "true"}, files=files)
    assert preview.status_code == 200, preview.text
    assert (preview.json()["source"], preview.json()["rows"]) == ("inline", 3)
    assert count_rows(ctx.engine, "campaign_metrics") == 0

    broken = LINKEDIN_YAML.replace("Clicks: clicks", "Clicks: clickz")
    files["mapping"] = ("linkedin.yaml", broken.encode(), "application/yaml")
    refused = client.post(METRICS, headers=automation, params={"dry_run": "true"}, files=files)
    assert refused.status_code == 422
    assert refused.json()["error"] == "invalid_mapping"
    assert refused.json()["problems"] == [
        "mapping:16: source 'inline': unknown field 'clickz' (did you mean 'clicks'?); metric "
        "fields are impressions, clicks, sends, deliveries, opens, unique_opens, unsubscribes, "
        "bounces, conversions, spend, revenue (ids, dates and currency have their own "
        "sections: placement, date, currency)"
    ]
    both = client.post(METRICS, headers=automation, params={"source": "linkedin"}, files=files)
    assert both.status_code == 422
    assert both.json()["error"] == "invalid_request"


def test_a_broken_source_mapping_refuses_the_pack_naming_file_and_line(tmp_path: Path) -> None:
    broken = """\
title: Broken
platform: Not-A-Name
placement: {id: Ad ID}
date: {column: Day, format: "%Y-%m"}
locale: xx
columns:
  Impressions: impressions
  Impressions: clicks
  Spend: money
campaign_types:
  column: Type
  channels: {Search: paid searching}
skip: {header_line: zero}
"""
    pack_dir = _pack(tmp_path, broken=broken, google_ads=LINKEDIN_YAML)
    with pytest.raises(PackInvalid) as caught:
        load_pack(pack_dir)
    sources = pack_dir / "sources"
    assert [str(e) for e in caught.value.errors] == [
        f"{sources / 'broken.yaml'}:2: source 'broken': platform 'Not-A-Name' must be "
        "lowercase letters, digits and _",
        f"{sources / 'broken.yaml'}:4: source 'broken': date.format '%Y-%m' has no day (%d)",
        f"{sources / 'broken.yaml'}:5: source 'broken': unknown locale 'xx'; known: da, de, en, "
        "es, fr, it, nl, pt",
        f"{sources / 'broken.yaml'}:8: source 'broken': column 'Impressions' is mapped twice "
        "(first at line 7)",
        f"{sources / 'broken.yaml'}:9: source 'broken': unknown field 'money'; metric fields "
        "are impressions, clicks, sends, deliveries, opens, unique_opens, unsubscribes, "
        "bounces, conversions, spend, revenue (ids, dates and currency have their own "
        "sections: placement, date, currency)",
        f"{sources / 'broken.yaml'}:12: source 'broken': campaign_types.channels.Search: "
        "'paid searching' is not a channel of the taxonomy (did you mean 'paid-search'?)",
        f"{sources / 'broken.yaml'}:13: source 'broken': skip.header_line must be a line "
        "number from 1 to 1000",
        f"{sources / 'google_ads.yaml'}: 'google_ads' is a built-in source; name the file "
        "otherwise (the placements' platform stays `platform: google_ads`)",
    ]


def test_the_shipped_pack_has_the_built_in_sources() -> None:
    pack = load_pack(ROOT / "taxonomy")
    assert sorted(pack.metric_sources) == ["braze", "cm360", "google_ads", "iterable", "meta"]
    google = pack.metric_sources["google_ads"]
    assert google.campaign_types["search"] == "paid-search"
    assert google.campaign_types["performance max"] is None
    assert google.date_formats == ("%b %d, %Y", "%B %d, %Y")


@pytest.mark.parametrize(
    ("fmt", "problem"),
    [
        ("%Y-%m", "has no day (%d)"),
        ("%d %d %m %Y", "is not a date format"),
        ("%d.%m", "does not read back the date it writes"),
    ],
)
def test_a_date_format_that_cannot_read_dates_is_refused(fmt: str, problem: str) -> None:
    text = LINKEDIN_YAML.replace('format: "%m/%d/%Y"', f'format: "{fmt}"').encode()
    mapping, errors = parse_source_text(text, name="inline", channels=None)
    assert mapping is None
    assert [(e.line, problem in e.message) for e in errors] == [(10, True)]
