"""Unarchive (issue 20's UI walkthrough: archiving had no way back)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from dam.context import Context
from dam.models import Role
from tests.collections.support import published
from tests.conftest import Clock
from tests.web.support import Users, sign_in


def test_unarchive_brings_the_asset_back_for_marketers(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
) -> None:
    asset_id = published(client, designer, brand_manager, seed=1)
    assert client.delete(f"/api/v1/assets/{asset_id}", headers=designer).status_code == 200
    assert client.get(f"/api/v1/assets/{asset_id}", headers=marketer).status_code == 404
    assert client.post(f"/api/v1/assets/{asset_id}/unarchive", headers=marketer).status_code == 404
    back = client.post(f"/api/v1/assets/{asset_id}/unarchive", headers=designer)
    assert back.status_code == 200, back.text
    assert back.json()["status"] == "active"
    assert client.get(f"/api/v1/assets/{asset_id}", headers=marketer).status_code == 200
    again = client.post(f"/api/v1/assets/{asset_id}/unarchive", headers=designer)
    assert again.json()["status"] == "active"  # not archived: unchanged
    history = client.get(f"/api/v1/assets/{asset_id}/history", headers=designer).json()
    actions = [e["action"] for e in history["items"]]
    assert actions.count("asset.unarchived") == 1


def test_unarchive_after_the_rights_ended_leaves_it_expired(
    client: TestClient,
    ctx: Context,
    clock: Clock,
    designer: dict[str, str],
    brand_manager: dict[str, str],
) -> None:
    asset_id = published(
        client, designer, brand_manager, seed=2, rights_expire_at="2026-12-01T00:00:00Z"
    )
    client.delete(f"/api/v1/assets/{asset_id}", headers=designer)
    clock.advance(days=10)
    back = client.post(f"/api/v1/assets/{asset_id}/unarchive", headers=designer)
    assert back.json()["status"] == "expired"


def test_unarchive_button_on_the_asset_page(
    client: TestClient, ctx: Context, designer: dict[str, str], brand_manager: dict[str, str]
) -> None:
    asset_id = published(client, designer, brand_manager, seed=3)
    client.delete(f"/api/v1/assets/{asset_id}", headers=designer)
    csrf = sign_in(client, Users(ctx).create(Role.designer))
    page = client.get(f"/assets/{asset_id}")
    assert f'action="/assets/{asset_id}/unarchive"' in page.text
    done = client.post(f"/assets/{asset_id}/unarchive", data={"csrf_token": csrf})
    assert "is back from the archive" in done.text
    assert f'action="/assets/{asset_id}/unarchive"' not in done.text
