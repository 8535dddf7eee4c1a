"""A delivery link fetched for a placement (`?placement=`, issue 16): the delivery is recorded
with the placement, and a placement still showing an older version is re-pointed to the
fetched one, so the days after it are attributed to what actually ran; on SQLite and
PostgreSQL."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dam.context import Context
from dam.models import DeliveryEvent
from tests.campaigns.support import new_campaign, new_version, post_csv, publish, published_asset
from tests.conftest import Clock

pytestmark = pytest.mark.usefixtures("db_backend")

FEED = "/api/v1/campaigns/DLV26/assets"
PLACEMENTS = "/api/v1/campaigns/DLV26/placements"
METRICS = "/api/v1/campaigns/DLV26/metrics"
HEADER = "Day,Ad ID,Currency code,Impr.,Clicks,Cost,Conversions,Conv. value,Campaign type\n"


def _link(client: TestClient, headers: dict[str, str], asset_id: str) -> str:
    items = client.get(FEED, headers=headers).json()["items"]
    url = next(i["download_url"] for i in items if i["id"] == asset_id)
    return urlsplit(url).path


def _events(ctx: Context) -> list[tuple[str, int, str | None]]:
    with Session(ctx.engine) as session:
        rows = session.exec(select(DeliveryEvent)).all()
    return sorted(
        (str(r.asset_id), r.version, r.placement_id.hex if r.placement_id else None) for r in rows
    )


def _register(client: TestClient, headers: dict[str, str], **body: str) -> dict[str, str]:
    response = client.post(PLACEMENTS, headers=headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_fetch_for_a_placement_records_it_and_repoints_it_to_the_fetched_version(
    client: TestClient,
    ctx: Context,
    clock: Clock,
    designer: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> None:
    new_campaign(client, marketer, "DLV26", channel="paid-search")
    hero = published_asset(client, ctx, designer, seed=81, campaign_ids=["DLV26"])
    ad = _register(client, automation, platform="google_ads", external_id="6001", asset_id=hero)
    assert ad["version"] == 1
    day_one = ctx.now().date().isoformat()
    # v2 is approved; the ad server fetches the feed's link (now v2) for ad 6001 a day later.
    new_version(client, designer, hero, seed=82)
    publish(ctx, hero, version=2)
    clock.advance(days=1)
    link = _link(client, automation, hero)
    fetched = client.get(link, params={"placement": "6001"})
    assert fetched.status_code == 200, fetched.text
    assert _events(ctx) == [(hero, 2, ad["id"].replace("-", ""))]
    (placement,) = client.get(PLACEMENTS, headers=marketer).json()["items"]
    assert placement["version"] == 2
    assert [(p["version"], p["valid_to"] is None) for p in placement["history"]] == [
        (1, False),
        (2, True),
    ]
    # The day before the fetch stays on v1, the day after goes to v2.
    day_two = ctx.now().date().isoformat()
    rows = (
        HEADER
        + f"{day_one},6001,USD,100,1,1.00,0,0,Search\n"
        + f"{day_two},6001,USD,300,3,3.00,0,0,Search\n"
    )
    stored = post_csv(client, METRICS, automation, rows, source="google_ads")
    assert stored.status_code == 200, stored.text
    assert sorted((a["version"], a["rows"]) for a in stored.json()["attributed"]) == [
        (1, 1),
        (2, 1),
    ]

    # Fetched again for the same placement: the same delivery; for the placement's id too.
    assert client.get(link, params={"placement": "6001"}).status_code == 200
    assert client.get(link, params={"placement": ad["id"]}).status_code == 200
    assert len(_events(ctx)) == 1
    # The same link fetched for another ad is another delivery.
    other = _register(client, automation, platform="meta", external_id="m-1", asset_id=hero)
    assert client.get(link, params={"placement": "m-1"}).status_code == 200
    assert _events(ctx) == sorted(
        [(hero, 2, ad["id"].replace("-", "")), (hero, 2, other["id"].replace("-", ""))]
    )


def test_a_fetch_for_a_wrong_placement_is_refused_and_not_counted(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> None:
    new_campaign(client, marketer, "DLV26", channel="paid-search")
    hero = published_asset(client, ctx, designer, seed=83, campaign_ids=["DLV26"])
    banner = published_asset(client, ctx, designer, seed=84, campaign_ids=["DLV26"])
    _register(client, automation, platform="google_ads", external_id="7001", asset_id=banner)
    _register(client, automation, platform="google_ads", external_id="7002", asset_id=hero)
    _register(client, automation, platform="meta", external_id="7002", asset_id=hero)
    link = _link(client, automation, hero)

    unknown = client.get(link, params={"placement": "9999"})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_placement")
    mismatch = client.get(link, params={"placement": "7001"})
    assert (mismatch.status_code, mismatch.json()["error"]) == (409, "placement_mismatch")
    ambiguous = client.get(link, params={"placement": "7002"})
    assert (ambiguous.status_code, ambiguous.json()["error"]) == (409, "ambiguous_placement")
    assert _events(ctx) == []
    (banner_ad,) = [
        p
        for p in client.get(PLACEMENTS, headers=marketer).json()["items"]
        if p["asset_id"] == banner
    ]
    assert banner_ad["version"] == 1 and len(banner_ad["history"]) == 1
