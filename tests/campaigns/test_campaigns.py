"""Campaign CRUD and asset↔campaign tagging through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from dam.context import Context
from dam.models import AuditEvent, Role
from tests.campaigns.support import new_asset, new_campaign, publish
from tests.conftest import Keys
from tests.workflow.support import emitted

pytestmark = pytest.mark.usefixtures("db_backend")


def _audit(ctx: Context, action: str) -> list[AuditEvent]:
    with Session(ctx.engine) as session:
        return list(
            session.exec(
                select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.at))
            )
        )


@pytest.mark.parametrize("role", [Role.admin, Role.brand_manager, Role.marketer])
def test_managers_create_campaign_with_normalised_id_and_channel(
    client: TestClient, keys: Keys, ctx: Context, role: Role
) -> None:
    response = client.post(
        "/api/v1/campaigns",
        headers=keys.headers(role),
        json={
            "id": " spring26-email ",
            "name": "Spring 26 email",
            "channel": "IG",
            "objective": "awareness",
            "starts_on": "2026-03-01",
            "ends_on": "2026-04-30",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] == "SPRING26-EMAIL"
    assert body["channel"] == "instagram"
    assert (body["starts_on"], body["ends_on"]) == ("2026-03-01", "2026-04-30")
    [event] = _audit(ctx, "campaign.created")
    assert event.target == "SPRING26-EMAIL"
    assert event.actor_role == role.value


@pytest.mark.parametrize("role", [Role.designer, Role.automation])
def test_other_roles_cannot_create_campaigns(client: TestClient, keys: Keys, role: Role) -> None:
    response = client.post(
        "/api/v1/campaigns", headers=keys.headers(role), json={"id": "X1", "name": "x"}
    )
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_create_refuses_bad_id_duplicate_unknown_channel_and_reversed_dates(
    client: TestClient, marketer: dict[str, str]
) -> None:
    bad_id = client.post(
        "/api/v1/campaigns", headers=marketer, json={"id": "no spaces!", "name": "x"}
    )
    assert bad_id.status_code == 422
    assert bad_id.json()["error"] == "invalid_campaign_id"
    new_campaign(client, marketer, "DUP-1")
    dup = client.post("/api/v1/campaigns", headers=marketer, json={"id": "dup-1", "name": "x"})
    assert dup.status_code == 409
    assert dup.json()["error"] == "campaign_exists"
    channel = client.post(
        "/api/v1/campaigns", headers=marketer, json={"id": "C2", "name": "x", "channel": "fax"}
    )
    assert channel.status_code == 422
    assert channel.json()["error"] == "unknown_channel"
    dates = client.post(
        "/api/v1/campaigns",
        headers=marketer,
        json={"id": "C3", "name": "x", "starts_on": "2026-05-01", "ends_on": "2026-04-01"},
    )
    assert dates.status_code == 422


def test_get_patch_and_audit(
    client: TestClient, marketer: dict[str, str], ctx: Context, designer: dict[str, str]
) -> None:
    new_campaign(client, marketer, "SUMMER26", channel="email")
    assert client.get("/api/v1/campaigns/summer26", headers=designer).json()["name"] == "Summer26"
    patched = client.patch(
        "/api/v1/campaigns/SUMMER26",
        headers=marketer,
        json={"name": "Summer 26", "ends_on": "2026-08-31", "objective": None},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Summer 26"
    assert patched.json()["ends_on"] == "2026-08-31"
    [event] = _audit(ctx, "campaign.updated")
    assert event.changes == {
        "ends_on": {"before": None, "after": "2026-08-31"},
        "name": {"before": "Summer26", "after": "Summer 26"},
    }
    assert (
        client.patch("/api/v1/campaigns/SUMMER26", headers=designer, json={"name": "x"}).status_code
        == 403
    )
    missing = client.get("/api/v1/campaigns/NOPE", headers=marketer)
    assert missing.status_code == 404
    assert missing.json()["error"] == "campaign_not_found"
    reversed_dates = client.patch(
        "/api/v1/campaigns/SUMMER26", headers=marketer, json={"starts_on": "2026-09-01"}
    )
    assert reversed_dates.status_code == 422


def test_list_filters_by_channel_family_date_and_text(
    client: TestClient, marketer: dict[str, str]
) -> None:
    new_campaign(
        client, marketer, "A-IG", channel="instagram", starts_on="2026-01-01", ends_on="2026-01-31"
    )
    new_campaign(client, marketer, "B-TIKTOK", channel="tiktok", name="Trail launch")
    new_campaign(client, marketer, "C-EMAIL", channel="email", starts_on="2026-02-01")

    def ids(**params: str) -> list[str]:
        response = client.get("/api/v1/campaigns", headers=marketer, params=params)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert ids() == ["A-IG", "B-TIKTOK", "C-EMAIL"]
    assert ids(channel="social") == ["A-IG", "B-TIKTOK"]
    assert ids(active_on="2026-01-15") == ["A-IG", "B-TIKTOK"]
    assert ids(active_on="2026-03-01") == ["B-TIKTOK", "C-EMAIL"]
    assert ids(q="trail") == ["B-TIKTOK"]
    page = client.get("/api/v1/campaigns", headers=marketer, params={"page_size": 2, "page": 2})
    assert page.json()["total"] == 3
    assert [c["id"] for c in page.json()["items"]] == ["C-EMAIL"]


def test_scoped_automation_key_sees_only_its_campaigns(
    client: TestClient, keys: Keys, marketer: dict[str, str]
) -> None:
    new_campaign(client, marketer, "MINE")
    new_campaign(client, marketer, "THEIRS")
    scoped = keys.headers(Role.automation, campaigns=["MINE"])
    listed = client.get("/api/v1/campaigns", headers=scoped).json()
    assert [c["id"] for c in listed["items"]] == ["MINE"]
    assert client.get("/api/v1/campaigns/MINE", headers=scoped).status_code == 200
    outside = client.get("/api/v1/campaigns/THEIRS", headers=scoped)
    assert outside.status_code == 404
    assert outside.json()["error"] == "campaign_not_found"


def test_marketer_tags_published_asset_audited_with_event_and_new_etag(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    marketer: dict[str, str],
) -> None:
    new_campaign(client, marketer, "SPRING26-EMAIL")
    new_campaign(client, marketer, "SPRING26-SOCIAL")
    asset_id = new_asset(client, designer, seed=1)
    publish(ctx, asset_id)
    before = client.get(f"/api/v1/assets/{asset_id}", headers=marketer)

    response = client.post(
        f"/api/v1/assets/{asset_id}/campaigns",
        headers=marketer,
        json={"campaign_ids": ["spring26-social", "SPRING26-EMAIL"]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["campaign_ids"] == ["SPRING26-EMAIL", "SPRING26-SOCIAL"]
    after = client.get(f"/api/v1/assets/{asset_id}", headers=marketer)
    assert after.headers["etag"] != before.headers["etag"]
    assert after.json()["campaign_ids"] == ["SPRING26-EMAIL", "SPRING26-SOCIAL"]
    [event] = _audit(ctx, "asset.campaigns_changed")
    assert event.changes == {
        "campaign_ids": {"before": [], "after": ["SPRING26-EMAIL", "SPRING26-SOCIAL"]}
    }
    assert ("asset.campaigns_changed", 1) in emitted(ctx, asset_id)

    again = client.post(
        f"/api/v1/assets/{asset_id}/campaigns",
        headers=marketer,
        json={"campaign_ids": ["SPRING26-EMAIL"]},
    )
    assert again.status_code == 200
    assert len(_audit(ctx, "asset.campaigns_changed")) == 1  # nothing changed, nothing audited

    removed = client.delete(f"/api/v1/assets/{asset_id}/campaigns/spring26-email", headers=marketer)
    assert removed.status_code == 200, removed.text
    assert removed.json()["campaign_ids"] == ["SPRING26-SOCIAL"]
    assert len(_audit(ctx, "asset.campaigns_changed")) == 2
    gone = client.delete(f"/api/v1/assets/{asset_id}/campaigns/SPRING26-EMAIL", headers=marketer)
    assert gone.status_code == 404
    assert gone.json()["error"] == "campaign_link_not_found"


def test_marketer_cannot_tag_unapproved_asset_but_designer_can(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> None:
    new_campaign(client, marketer, "DRAFTS")
    asset_id = new_asset(client, designer, seed=2)
    path = f"/api/v1/assets/{asset_id}/campaigns"
    body = {"campaign_ids": ["DRAFTS"]}
    hidden = client.post(path, headers=marketer, json=body)
    assert hidden.status_code == 404
    tagged = client.post(path, headers=designer, json=body)
    assert tagged.status_code == 200
    assert tagged.json()["campaign_ids"] == ["DRAFTS"]
    publish(ctx, asset_id)
    assert client.post(path, headers=automation, json=body).status_code == 403


def test_tagging_with_unknown_campaign_is_refused_and_changes_nothing(
    client: TestClient, ctx: Context, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    new_campaign(client, marketer, "KNOWN")
    asset_id = new_asset(client, designer, seed=3)
    response = client.post(
        f"/api/v1/assets/{asset_id}/campaigns",
        headers=designer,
        json={"campaign_ids": ["KNOWN", "UNKNOWN-1"]},
    )
    assert response.status_code == 422
    assert response.json()["error"] == "unknown_campaign"
    assert response.json()["campaign_ids"] == ["UNKNOWN-1"]
    assert client.get(f"/api/v1/assets/{asset_id}", headers=designer).json()["campaign_ids"] == []
