"""The placements registry (issue 16): where an asset version runs, unique per (platform,
account, external id), re-pointed with its history kept; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dam.context import Context
from dam.models import Role
from tests.campaigns.support import new_asset, new_campaign, new_version, publish, published_asset
from tests.conftest import Clock, Keys, count_rows

pytestmark = pytest.mark.usefixtures("db_backend")

PLACEMENTS = "/api/v1/campaigns/ADS26/placements"


@pytest.fixture
def creative(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> str:
    new_campaign(client, marketer, "ADS26", channel="instagram")
    return published_asset(client, ctx, designer, seed=11, campaign_ids=["ADS26"])


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _body(asset_id: str, **fields: Any) -> dict[str, Any]:
    return {"platform": "google_ads", "account": "123-456-7890", "external_id": "6123", **fields}


def test_register_then_same_body_is_idempotent(
    client: TestClient, ctx: Context, automation: dict[str, str], creative: str
) -> None:
    body = {**_body(creative), "asset_id": creative, "external_name": "Spring hero"}
    created = client.post(PLACEMENTS, headers=automation, json=body)
    assert created.status_code == 201, created.text
    placement = created.json()
    assert (placement["asset_id"], placement["version"], placement["campaign_id"]) == (
        creative,
        1,
        "ADS26",
    )
    assert placement["external_name"] == "Spring hero"
    assert [(p["version"], p["valid_to"]) for p in placement["history"]] == [(1, None)]
    again = client.post(PLACEMENTS, headers=automation, json=body)
    assert again.status_code == 200, again.text
    assert again.json() == placement
    assert count_rows(ctx.engine, "placements") == 1
    assert count_rows(ctx.engine, "placement_periods") == 1
    # Another account is another placement, even with the same external id.
    other = client.post(PLACEMENTS, headers=automation, json={**body, "account": "999-000-1111"})
    assert other.status_code == 201
    assert other.json()["id"] != placement["id"]


def test_repoint_keeps_history(
    client: TestClient,
    ctx: Context,
    clock: Clock,
    designer: dict[str, str],
    automation: dict[str, str],
    marketer: dict[str, str],
    creative: str,
) -> None:
    body = {**_body(creative), "asset_id": creative}
    first = client.post(PLACEMENTS, headers=automation, json=body).json()
    new_version(client, designer, creative, seed=12)
    publish(ctx, creative, version=2)
    registered_at = clock.now
    moved_at = clock.advance(days=3)
    repointed = client.post(PLACEMENTS, headers=automation, json={**body, "version": 2})
    assert repointed.status_code == 201, repointed.text
    state = repointed.json()
    assert (state["id"], state["version"]) == (first["id"], 2)
    history = [
        (p["version"], _at(p["valid_from"]), p["valid_to"] and _at(p["valid_to"]))
        for p in state["history"]
    ]
    assert history == [(1, registered_at, moved_at), (2, moved_at, None)]
    # Sending the new state again changes nothing; pinning back to v1 is one more period.
    assert (
        client.post(PLACEMENTS, headers=automation, json={**body, "version": 2}).status_code == 200
    )
    clock.advance(hours=1)
    back = client.post(PLACEMENTS, headers=automation, json={**body, "version": 1})
    assert back.status_code == 201
    assert [p["version"] for p in back.json()["history"]] == [1, 2, 1]

    listed = client.get(PLACEMENTS, headers=marketer)
    assert listed.status_code == 200
    assert [(p["id"], p["version"]) for p in listed.json()["items"]] == [(first["id"], 1)]
    by_asset = client.get(PLACEMENTS, headers=marketer, params={"asset_id": creative})
    assert [p["id"] for p in by_asset.json()["items"]] == [first["id"]]
    other = client.get(PLACEMENTS, headers=marketer, params={"asset_id": first["id"]})
    assert other.json()["items"] == []


def test_bad_placements_are_refused(
    client: TestClient,
    ctx: Context,
    keys: Keys,
    designer: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
    creative: str,
) -> None:
    outsider = new_asset(client, designer, seed=13)
    draft = new_asset(client, designer, seed=14, campaign_ids=["ADS26"])
    cases = [
        ({"asset_id": outsider}, "not in campaign ADS26"),
        ({"asset_id": draft}, "no published version"),
        ({"asset_id": creative, "version": 5}, "no version 5"),
    ]
    for fields, message in cases:
        response = client.post(PLACEMENTS, headers=automation, json={**_body(creative), **fields})
        assert response.status_code == 422, response.text
        assert message in response.json()["detail"]
    bad_platform = client.post(
        PLACEMENTS,
        headers=automation,
        json={**_body(creative), "asset_id": creative, "platform": "Google Ads"},
    )
    assert bad_platform.status_code == 422
    # A draft can be placed with its version pinned.
    pinned = client.post(
        PLACEMENTS,
        headers=automation,
        json={**_body(draft), "external_id": "7", "asset_id": draft, "version": 1},
    )
    assert pinned.status_code == 201, pinned.text

    new_campaign(client, marketer, "OTHER26")
    publish(ctx, creative)
    tagged = client.post(
        f"/api/v1/assets/{creative}/campaigns", headers=marketer, json={"campaign_ids": ["OTHER26"]}
    )
    assert tagged.status_code in (200, 201), tagged.text
    taken = client.post(
        "/api/v1/campaigns/OTHER26/placements",
        headers=automation,
        json={**_body(creative), "asset_id": creative},
    )
    assert taken.status_code == 201  # registered first in OTHER26
    clash = client.post(
        PLACEMENTS, headers=automation, json={**_body(creative), "asset_id": creative}
    )
    assert clash.status_code == 409
    assert clash.json()["error"] == "placement_in_other_campaign"

    scoped = keys.headers(Role.automation, campaigns=["OTHER26"])
    assert client.get(PLACEMENTS, headers=scoped).status_code == 404
    assert (
        client.post(
            PLACEMENTS, headers=designer, json={**_body(creative), "asset_id": creative}
        ).status_code
        == 403
    )


def test_placements_per_asset_are_bounded(
    client: TestClient, automation: dict[str, str], creative: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound that keeps a month's metric sum inside 64 bits (dam/bounds.py), lowered here
    so the test need not register 10,000 placements."""
    monkeypatch.setattr("dam.campaigns.placements.MAX_PLACEMENTS_PER_ASSET", 2)
    for n in ("1", "2"):
        body = {**_body(creative), "external_id": n, "asset_id": creative}
        assert client.post(PLACEMENTS, headers=automation, json=body).status_code == 201
    third = client.post(
        PLACEMENTS,
        headers=automation,
        json={**_body(creative), "external_id": "3", "asset_id": creative},
    )
    assert third.status_code == 422
    assert third.json()["error"] == "too_many_placements"
    again = {**_body(creative), "external_id": "2", "asset_id": creative}
    assert client.post(PLACEMENTS, headers=automation, json=again).status_code == 200


def test_control_characters_in_ids_are_refused(
    client: TestClient, automation: dict[str, str], creative: str
) -> None:
    body = {**_body(creative), "asset_id": creative, "external_id": "61\x0023"}
    assert client.post(PLACEMENTS, headers=automation, json=body).status_code == 422
    export = client.post(
        "/api/v1/campaigns/ADS26/metrics",
        headers={**automation, "Content-Type": "text/csv"},
        params={"source": "braze", "external_id": "b\x00"},
        content=b"time,sent\n2026-11-20,1\n",
    )
    assert export.status_code == 422
