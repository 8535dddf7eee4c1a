"""Metrics ingestion, the campaign performance report, creative insights and the asset's
lifetime summary, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dam.context import Context
from dam.models import CampaignMetric, Role
from tests.campaigns.support import new_asset, new_campaign, new_version, publish, published_asset
from tests.conftest import Keys, count_rows

pytestmark = pytest.mark.usefixtures("db_backend")

METRICS = "/api/v1/campaigns/PERF26/metrics"


def _row(asset_id: str, day: str = "2026-11-20", **figures: Any) -> dict[str, Any]:
    return {"asset_id": asset_id, "date": day, "channel": "instagram", **figures}


@pytest.fixture
def two_assets(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> tuple[str, str]:
    new_campaign(client, marketer, "PERF26", channel="email")
    first = published_asset(
        client, ctx, designer, seed=1, campaign_ids=["PERF26"], visual_style=["lifestyle"]
    )
    second = published_asset(
        client, ctx, designer, seed=2, campaign_ids=["PERF26"], visual_style=["product-shot"]
    )
    return first, second


def _stored(ctx: Context) -> list[tuple[str, str, int, int, str]]:
    with Session(ctx.engine) as session:
        rows = session.exec(select(CampaignMetric)).all()
    return sorted(
        (str(r.asset_id), r.date.isoformat(), r.impressions, r.clicks, str(r.spend)) for r in rows
    )


def test_upsert_replaces_a_resent_day(
    client: TestClient, ctx: Context, automation: dict[str, str], two_assets: tuple[str, str]
) -> None:
    first, second = two_assets
    batch = [
        _row(first, impressions=1000, clicks=50, spend="10.005"),
        _row(second, impressions=200, clicks=4, spend=3),
    ]
    response = client.post(METRICS, headers=automation, json=batch)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "campaign_id": "PERF26",
        "rows": 2,
        "rejected": [],
        "rejects_csv": None,
    }
    restated = client.post(
        METRICS, headers=automation, json={"rows": [_row(first, impressions=1200, clicks=60)]}
    )
    assert restated.status_code == 200
    assert _stored(ctx) == sorted(
        [(first, "2026-11-20", 1200, 60, "0.00"), (second, "2026-11-20", 200, 4, "3.00")]
    )
    # Channel by synonym, default channel from the campaign, version from the published one.
    client.post(METRICS, headers=automation, json=[_row(first, channel="IG", clicks=61)])
    client.post(METRICS, headers=automation, json=[{"asset_id": first, "date": "2026-11-21"}])
    with Session(ctx.engine) as session:
        rows = session.exec(select(CampaignMetric)).all()
    assert sorted((r.date.isoformat(), r.channel, r.clicks, r.version) for r in rows) == [
        ("2026-11-20", "instagram", 4, 1),
        ("2026-11-20", "instagram", 61, 1),
        ("2026-11-21", "email", 0, 1),
    ]


def test_bad_rows_are_listed_by_index_and_nothing_is_applied(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    marketer: dict[str, str],
    two_assets: tuple[str, str],
) -> None:
    first, _ = two_assets
    outsider = new_asset(client, designer, seed=9)
    batch = [
        _row(first, impressions=10),
        _row(first, day="2026-11-21", clicks=-1),
        _row(outsider),
        _row(first, impressions=5),  # duplicates row 0
        _row(first, day="not-a-date"),
        _row(first, day="2026-11-22", channel="fax"),
        _row(first, day="2026-11-23", spend="-0.01", click=3),
    ]
    response = client.post(METRICS, headers=marketer, json=batch)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_metric_rows"
    assert body["bad_row_count"] == 6
    by_index = {row["index"]: {p["field"] for p in row["problems"]} for row in body["rows"]}
    assert by_index == {
        1: {"clicks"},
        2: {"asset_id"},
        3: {""},
        4: {"date"},
        5: {"channel"},
        6: {"spend", "click"},
    }
    assert count_rows(ctx.engine, "campaign_metrics") == 0
    empty = client.post(METRICS, headers=marketer, json=[])
    assert empty.status_code == 422


def test_csv_body_and_multipart_file(
    client: TestClient, ctx: Context, automation: dict[str, str], two_assets: tuple[str, str]
) -> None:
    first, second = two_assets
    text = (
        "\ufeffAsset_ID,date,channel,impressions,clicks,conversions,spend,revenue\n"
        f"{first},2026-11-20,instagram,1000,50,5,25.00,100.00\n"
        f"{second},2026-11-20,instagram,500,,,,\n"
    )
    response = client.post(
        METRICS, headers={**automation, "Content-Type": "text/csv"}, content=text.encode()
    )
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == 2
    restated = text.replace("1000,50", "2000,70")
    multipart = client.post(
        METRICS, headers=automation, files={"file": ("metrics.csv", restated, "text/csv")}
    )
    assert multipart.status_code == 200, multipart.text
    assert _stored(ctx) == sorted(
        [(first, "2026-11-20", 2000, 70, "25.00"), (second, "2026-11-20", 500, 0, "0.00")]
    )
    bad = f"asset_id,date,clicks\n{first},2026-11-20,-4\n{first},2026-11-21,1\n"
    refused = client.post(
        METRICS, headers={**automation, "Content-Type": "text/csv"}, content=bad.encode()
    )
    assert refused.status_code == 422
    assert [r["index"] for r in refused.json()["rows"]] == [0]
    header = client.post(
        METRICS, headers={**automation, "Content-Type": "text/csv"}, content=b"asset,day\n"
    )
    assert header.status_code == 422
    assert header.json()["error"] == "invalid_csv"


def test_who_may_post_metrics(
    client: TestClient,
    keys: Keys,
    designer: dict[str, str],
    marketer: dict[str, str],
    two_assets: tuple[str, str],
) -> None:
    first, _ = two_assets
    new_campaign(client, marketer, "ELSEWHERE")
    batch = [_row(first)]
    assert client.post(METRICS, headers=designer, json=batch).status_code == 403
    scoped = keys.headers(Role.automation, campaigns=["PERF26"])
    assert client.post(METRICS, headers=scoped, json=batch).status_code == 200
    outside = keys.headers(Role.automation, campaigns=["ELSEWHERE"])
    assert client.post(METRICS, headers=outside, json=batch).status_code == 404


def test_performance_math_per_asset_and_version_with_deliveries(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
    two_assets: tuple[str, str],
) -> None:
    first, second = two_assets
    new_version(client, designer, first, seed=21)
    publish(ctx, first, version=2)
    batch = [
        _row(
            first,
            version=1,
            impressions=1000,
            clicks=50,
            conversions=5,
            spend="25.00",
            revenue="100.00",
        ),
        _row(
            first,
            day="2026-11-21",
            impressions=3000,
            clicks=30,
            conversions=0,
            spend="9.99",
            revenue="0",
        ),
        _row(second, impressions=0, clicks=0),
    ]
    assert client.post(METRICS, headers=automation, json=batch).status_code == 200
    url = client.get("/api/v1/campaigns/PERF26/assets", headers=automation).json()["items"]
    for item in url:
        if item["id"] == first:
            path = item["download_url"].split("testserver", 1)[1]
            assert client.get(path).status_code == 200
            # One delivery per link and client address: a second client makes the second.
            with TestClient(client.app, client=("198.51.100.30", 5000)) as elsewhere:
                assert elsewhere.get(path).status_code == 200

    response = client.get(
        "/api/v1/campaigns/PERF26/performance", headers=marketer, params={"sort": "ctr"}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    rows = [(r["asset_id"], r["version"]) for r in report["items"]]
    assert rows == [(first, 1), (first, 2), (second, 1)]  # ctr 0.05, 0.01, then none last
    v1, v2, other = report["items"]
    assert (v1["ctr"], v1["conversion_rate"], v1["cost_per_conversion"], v1["roas"]) == (
        0.05,
        0.1,
        "5.00",
        4.0,
    )
    assert (v1["spend"], v1["revenue"], v1["deliveries"]) == ("25.00", "100.00", 0)
    assert (v2["ctr"], v2["conversion_rate"], v2["cost_per_conversion"], v2["roas"]) == (
        0.01,
        0.0,
        None,
        0.0,
    )
    assert v2["deliveries"] == 2
    assert (other["ctr"], other["roas"], other["impressions"]) == (None, None, 0)
    totals = report["totals"]
    assert (totals["impressions"], totals["clicks"], totals["spend"]) == (4000, 80, "34.99")
    assert totals["ctr"] == 0.02
    assert report["deliveries"] == 2

    ascending = client.get(
        "/api/v1/campaigns/PERF26/performance",
        headers=marketer,
        params={"sort": "impressions", "order": "asc", "from": "2026-11-21"},
    ).json()
    assert [(r["asset_id"], r["impressions"]) for r in ascending["items"]] == [
        (second, 0),
        (first, 3000),
    ]
    assert (
        client.get(
            "/api/v1/campaigns/PERF26/performance", headers=marketer, params={"sort": "nope"}
        ).status_code
        == 422
    )

    asset = client.get(f"/api/v1/assets/{first}", headers=marketer).json()
    assert asset["performance"]["impressions"] == 4000
    assert asset["performance"]["campaigns"] == 1
    assert asset["performance"]["deliveries"] == 2
    assert asset["performance"]["roas"] == pytest.approx(100 / 34.99)


def test_creative_insights_grouped_by_facet_terms(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
    two_assets: tuple[str, str],
) -> None:
    lifestyle, product = two_assets
    new_campaign(client, marketer, "WINTER26")
    both = published_asset(
        client,
        ctx,
        designer,
        seed=3,
        campaign_ids=["WINTER26", "PERF26"],
        visual_style=["lifestyle", "product-shot"],
    )
    client.post(
        METRICS,
        headers=automation,
        json=[
            _row(lifestyle, impressions=1000, clicks=20, spend="10", revenue="40"),
            _row(product, impressions=1000, clicks=10, spend="10", revenue="10"),
            _row(both, day="2026-10-01", impressions=100, clicks=10, spend="5", revenue="5"),
        ],
    )
    winter = client.post(
        "/api/v1/campaigns/WINTER26/metrics",
        headers=automation,
        json=[{"asset_id": both, "date": "2026-11-20", "channel": "email", "impressions": 100}],
    )
    assert winter.status_code == 200, winter.text

    response = client.get(
        "/api/v1/reports/creative-insights", headers=marketer, params={"facet": "visual_style"}
    )
    assert response.status_code == 200, response.text
    items = {i["term"]: i for i in response.json()["items"]}
    assert set(items) == {"lifestyle", "product-shot"}
    assert items["lifestyle"]["label"] == "Lifestyle"
    assert (items["lifestyle"]["assets"], items["lifestyle"]["campaigns"]) == (2, 2)
    assert (items["lifestyle"]["impressions"], items["lifestyle"]["spend"]) == (1200, "15.00")
    assert items["lifestyle"]["roas"] == 3.0
    assert (items["product-shot"]["impressions"], items["product-shot"]["roas"]) == (1200, 1.0)
    assert [i["term"] for i in response.json()["items"]] == ["lifestyle", "product-shot"]

    social = client.get(
        "/api/v1/reports/creative-insights",
        headers=marketer,
        params={"facet": "visual_style", "channel": "social", "from": "2026-11-01"},
    ).json()
    figures = {i["term"]: (i["impressions"], i["assets"], i["campaigns"]) for i in social["items"]}
    assert figures == {"lifestyle": (1000, 1, 1), "product-shot": (1000, 1, 1)}

    unknown = client.get(
        "/api/v1/reports/creative-insights", headers=marketer, params={"facet": "visual_styel"}
    )
    assert unknown.status_code == 422
    assert "visual_style" in unknown.json()["detail"]
    assert client.get("/api/v1/reports/creative-insights", headers=automation).status_code == 403
