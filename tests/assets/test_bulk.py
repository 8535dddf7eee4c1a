"""POST /api/v1/assets/bulk: actions on a selection, a result per asset, each asset judged and
changed as a single edit would be; on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dam.context import Context
from dam.models import AuditEvent
from tests.campaigns.support import new_asset, new_campaign, published_asset

pytestmark = pytest.mark.usefixtures("db_backend")
BULK = "/api/v1/assets/bulk"


def _bulk(client: TestClient, headers: dict[str, str], ids: list[str], *actions: Any) -> Any:
    response = client.post(BULK, headers=headers, json={"asset_ids": ids, "actions": list(actions)})
    assert response.status_code == 200, response.text
    return response.json()


def _asset(client: TestClient, headers: dict[str, str], asset_id: str) -> Any:
    return client.get(f"/api/v1/assets/{asset_id}", headers=headers).json()


def test_edit_adds_and_removes_terms_and_tags_on_every_asset(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    ids = [new_asset(client, designer, seed=s, channel=["social"]) for s in (1, 2, 3)]
    body = _bulk(
        client,
        designer,
        ids,
        {
            "action": "edit",
            "set": {"description": "Jacket on a wet trail, studio-lit, for the autumn range."},
            "add_terms": {"channel": ["email"], "region": ["nordics"]},
            "remove_terms": {"channel": ["social"]},
            "add_tags": ["Autumn", "jacket"],
            "remove_tags": ["running"],
        },
    )
    assert (body["total"], body["succeeded"], body["failed"]) == (3, 3, 0)
    assert [item["done"] for item in body["items"]] == [["edit"]] * 3
    for item, asset_id in zip(body["items"], ids, strict=True):
        assert item["asset_id"] == asset_id
        asset = _asset(client, designer, asset_id)
        assert (
            item["etag"]
            == client.get(f"/api/v1/assets/{asset_id}", headers=designer).headers["etag"]
        )
        assert asset["terms"]["channel"] == ["email"]
        assert asset["terms"]["region"] == ["nordics"]
        assert asset["tags"] == ["spring", "autumn", "jacket"]
        assert asset["description"].startswith("Jacket on a wet trail")
    with Session(ctx.engine) as session:
        edits = session.exec(select(AuditEvent).where(AuditEvent.action == "asset.updated"))
        assert {e.asset_id for e in edits} == {uuid.UUID(i) for i in ids}


def test_refusals_are_per_asset_and_never_undo_another_asset(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str], ctx: Context
) -> None:
    good = new_asset(client, designer, seed=11)
    other = new_asset(client, designer, seed=12)
    missing = str(uuid.uuid4())
    submitted = _bulk(client, designer, [good], {"action": "submit"})
    assert submitted["items"][0]["done"] == ["submit"]
    body = _bulk(client, brand_manager, [good, other, missing], {"action": "approve"})
    assert (body["succeeded"], body["failed"]) == (1, 2)
    first, second, third = body["items"]
    assert first["ok"] and first["done"] == ["approve"]
    assert second["status"] == 409 and second["error"]["error"] == "invalid_transition"
    assert third["status"] == 404 and third["error"]["error"] == "asset_not_found"
    assert _asset(client, designer, good)["published_version"] == 1


def test_an_assets_actions_are_all_or_nothing(client: TestClient, designer: dict[str, str]) -> None:
    """The tag is added, then approval is refused (a designer may not approve): the tag goes."""
    asset_id = new_asset(client, designer, seed=21)
    body = _bulk(
        client,
        designer,
        [asset_id],
        {"action": "edit", "add_tags": ["kept?"]},
        {"action": "approve"},
    )
    (item,) = body["items"]
    assert (item["ok"], item["status"], item["error"]["error"]) == (False, 403, "forbidden")
    assert "kept?" not in _asset(client, designer, asset_id)["tags"]


def test_governance_refuses_a_bad_edit_on_the_assets_it_breaks(
    client: TestClient, designer: dict[str, str]
) -> None:
    ids = [new_asset(client, designer, seed=s) for s in (31, 32)]
    body = _bulk(client, designer, ids, {"action": "edit", "add_terms": {"asset_type": ["logo"]}})
    # asset_type takes one term: every asset already has `photo`.
    assert body["failed"] == 2
    assert {item["error"]["error"] for item in body["items"]} == {"invalid_terms"}
    unknown = _bulk(
        client, designer, ids[:1], {"action": "edit", "add_terms": {"channel": ["telex"]}}
    )
    assert unknown["items"][0]["error"]["problems"][0]["term"] == "telex"
    blank = _bulk(client, designer, ids[:1], {"action": "edit", "set": {"title": ""}})
    assert blank["items"][0]["error"]["error"] == "policy_violation"


def test_marketers_tag_campaigns_on_what_they_see_and_nothing_else(
    client: TestClient,
    designer: dict[str, str],
    admin: dict[str, str],
    marketer: dict[str, str],
    ctx: Context,
) -> None:
    new_campaign(client, admin, "AUTUMN-1")
    new_campaign(client, admin, "SPRING-1")
    live = published_asset(client, ctx, designer, seed=41, campaign_ids=["SPRING-1"])
    draft = new_asset(client, designer, seed=42)
    body = _bulk(
        client,
        marketer,
        [live, draft],
        {"action": "tag_campaigns", "campaign_ids": ["autumn-1"]},
        {"action": "untag_campaigns", "campaign_ids": ["SPRING-1", "AUTUMN-9"]},
    )
    first, second = body["items"]
    assert first["done"] == ["tag_campaigns", "untag_campaigns"]
    assert second["error"]["error"] == "asset_not_found"  # a draft is invisible to marketers
    assert _asset(client, admin, live)["campaign_ids"] == ["AUTUMN-1"]
    edit = _bulk(client, marketer, [live], {"action": "edit", "add_tags": ["x"]})
    assert edit["items"][0]["error"]["error"] == "forbidden"
    assert _bulk(client, marketer, [live], {"action": "archive"})["failed"] == 1


def test_archive_and_idempotent_actions_report_what_changed(
    client: TestClient, designer: dict[str, str]
) -> None:
    asset_id = new_asset(client, designer, seed=51)
    first = _bulk(client, designer, [asset_id], {"action": "archive"})
    assert first["items"][0]["done"] == ["archive"]
    again = _bulk(client, designer, [asset_id, asset_id], {"action": "archive"})
    assert again["total"] == 1  # the same id twice is one asset
    assert again["items"][0] == {**again["items"][0], "ok": True, "done": []}
    assert _asset(client, designer, asset_id)["status"] == "archived"


def test_bad_requests_are_refused_whole(client: TestClient, designer: dict[str, str]) -> None:
    asset_id = new_asset(client, designer, seed=61)
    for body in (
        {"asset_ids": [asset_id], "actions": [{"action": "paint"}]},
        {"asset_ids": [], "actions": [{"action": "submit"}]},
        {"asset_ids": [asset_id], "actions": []},
        {"asset_ids": [str(uuid.uuid4()) for _ in range(501)], "actions": [{"action": "submit"}]},
        {"asset_ids": [asset_id], "actions": [{"action": "reject"}]},
        {"asset_ids": [asset_id], "actions": [{"action": "edit", "colour": "red"}]},
    ):
        response = client.post(BULK, headers=designer, json=body)
        assert response.status_code == 422, body
        assert response.json()["error"] == "invalid_request"


def test_set_terms_replaces_a_facets_terms(client: TestClient, designer: dict[str, str]) -> None:
    asset_id = new_asset(client, designer, seed=71, channel=["social", "email"])
    body = _bulk(
        client,
        designer,
        [asset_id],
        {"action": "edit", "set_terms": {"Asset type": ["Graphic"], "channel": ["web"]}},
    )
    assert body["items"][0]["done"] == ["edit"], body
    asset = _asset(client, designer, asset_id)
    assert asset["terms"]["asset_type"] == ["graphic"]
    assert asset["terms"]["channel"] == ["web"]
