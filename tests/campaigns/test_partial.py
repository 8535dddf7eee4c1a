"""Partial acceptance (`?on_error=skip`, issue 16): the good rows are stored, the others come
back in the answer and as a CSV report; without it a batch stays all-or-nothing. On SQLite and
PostgreSQL, for rows sent per asset and for a platform export (the Google Ads "Ad report"
layout of tests/campaigns/test_sources.py)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dam.context import Context
from dam.models import CampaignMetric
from tests.campaigns.support import new_asset, new_campaign, published_asset
from tests.conftest import count_rows

pytestmark = pytest.mark.usefixtures("db_backend")

METRICS = "/api/v1/campaigns/PART26/metrics"
PLACEMENTS = "/api/v1/campaigns/PART26/placements"
GOOGLE_HEADER = (
    "Day,Campaign,Ad group,Ad ID,Ad name,Currency code,Impr.,Clicks,CTR,Avg. CPC,Cost,"
    "Conversions,Conv. value,Campaign type\n"
)


@pytest.fixture
def hero(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> str:
    new_campaign(client, marketer, "PART26", channel="instagram")
    return published_asset(client, ctx, designer, seed=41, campaign_ids=["PART26"])


def _impressions(ctx: Context) -> list[tuple[str, int]]:
    with Session(ctx.engine) as session:
        rows = session.exec(select(CampaignMetric)).all()
    return sorted((r.date.isoformat(), r.impressions) for r in rows)


def _report(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_skip_stores_good_rows_and_reports_the_rejects(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    automation: dict[str, str],
    hero: str,
) -> None:
    outsider = new_asset(client, designer, seed=42)
    batch: list[dict[str, Any]] = [
        {"asset_id": hero, "date": "2026-11-20", "impressions": 100},
        {"asset_id": hero, "date": "2026-11-21", "clicks": -1},
        {"asset_id": outsider, "date": "2026-11-20"},
        {"asset_id": hero, "date": "2026-11-20", "impressions": 7},  # same key as row 0
        {"asset_id": hero, "date": "2026-11-22", "impressions": 5, "version": 9},
        {"asset_id": hero, "date": "2026-11-23", "impressions": 30},
    ]
    refused = client.post(METRICS, headers=automation, json=batch)
    assert refused.status_code == 422
    assert count_rows(ctx.engine, "campaign_metrics") == 0

    response = client.post(METRICS, headers=automation, json=batch, params={"on_error": "skip"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rows"] == 2
    assert [(r["index"], [p["field"] for p in r["problems"]]) for r in body["rejected"]] == [
        (1, ["clicks"]),
        (2, ["asset_id"]),
        (3, [""]),
        (4, ["version"]),
    ]
    assert _impressions(ctx) == [("2026-11-20", 100), ("2026-11-23", 30)]
    report = _report(body["rejects_csv"])
    assert [(r["index"], r["column"]) for r in report] == [
        ("1", "clicks"),
        ("2", "asset_id"),
        ("3", ""),
        ("4", "version"),
    ]
    assert "not in campaign PART26" in report[1]["reason"]
    assert "same asset, date and channel as row 0" in report[2]["reason"]

    # Re-sending the same batch with skip changes nothing: the stored rows are replaced by
    # themselves and the rejects are the same.
    again = client.post(METRICS, headers=automation, json=batch, params={"on_error": "skip"})
    assert again.json()["rejects_csv"] == body["rejects_csv"]
    assert _impressions(ctx) == [("2026-11-20", 100), ("2026-11-23", 30)]

    clean = client.post(
        METRICS, headers=automation, json=batch[:1], params={"on_error": "skip"}
    ).json()
    assert (clean["rows"], clean["rejected"], clean["rejects_csv"]) == (1, [], None)
    unknown = client.post(METRICS, headers=automation, json=batch, params={"on_error": "ignore"})
    assert unknown.status_code == 422


def test_skip_on_a_platform_export_reports_lines_columns_and_unmatched_ids(
    client: TestClient, ctx: Context, automation: dict[str, str], hero: str
) -> None:
    body = {"platform": "google_ads", "external_id": "7001", "asset_id": hero}
    assert client.post(PLACEMENTS, headers=automation, json=body).status_code == 201
    export = GOOGLE_HEADER + (
        "2026-11-20,S,T,7001,Hero,USD,100,5,,,1.00,0,0,Search\n"
        "2026-11-21,S,T,7001,Hero,USD,12.000,5,,,1.00,0,0,Search\n"
        "2026-11-21,S,T,9999,Unknown,USD,50,1,,,1.00,0,0,Search\n"
        "2026-11-22,S,T,7001,Hero,USD,300,5,,,abc,0,0,Search\n"
        "2026-11-23,S,T,7001,Hero,USD,400,5,,,2.00,0,0,Search\n"
    )

    def send(**params: str) -> Any:
        return client.post(
            METRICS,
            headers={**automation, "Content-Type": "text/csv"},
            params={"source": "google_ads", **params},
            content=export.encode(),
        )

    assert send().status_code == 422
    assert count_rows(ctx.engine, "campaign_metrics") == 0
    response = send(on_error="skip")
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["rows"], result["dry_run"]) == (2, False)
    assert [r["line"] for r in result["rejected"]] == [3, 5]
    assert [(u["line"], u["external_id"]) for u in result["unmatched"]] == [(4, "9999")]
    assert _impressions(ctx) == [("2026-11-20", 100), ("2026-11-23", 400)]
    report = _report(result["rejects_csv"])
    assert [(r["line"], r["external_id"], r["column"]) for r in report] == [
        ("3", "", "Impr."),
        ("4", "9999", ""),
        ("5", "", "Cost"),
    ]
    assert "ambiguous" in report[0]["reason"]
    assert "no placement" in report[1]["reason"]
    # A dry run carries the same report and stores nothing more.
    preview = send(on_error="skip", dry_run="true").json()
    assert preview["rejects_csv"] == result["rejects_csv"]
    assert count_rows(ctx.engine, "campaign_metrics") == 2
