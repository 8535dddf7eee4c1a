"""Who sees what: marketers and automation get only published, live assets and only the
published version's content."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from dam.context import Context
from dam.db import session_scope
from dam.models import Role
from dam.workflow.expiry import sweep_rights
from tests.conftest import Clock, Keys
from tests.factories import image_bytes, same_picture, upload
from tests.workflow.support import METADATA, drive_to, new_version

pytestmark = pytest.mark.usefixtures("db_backend")

RESTRICTED = [Role.marketer, Role.automation]
UNRESTRICTED = [Role.admin, Role.brand_manager, Role.designer]


def _reads(client: TestClient, headers: dict[str, str], asset_id: str) -> dict[str, int]:
    return {
        path: client.get(f"/api/v1/assets/{asset_id}{path}", headers=headers).status_code
        for path in ("", "/content", "/versions", "/history")
    }


def _listed(client: TestClient, headers: dict[str, str]) -> set[str]:
    return {a["id"] for a in client.get("/api/v1/assets", headers=headers).json()["items"]}


@pytest.mark.parametrize("state", ["draft", "in_review", "rejected"])
@pytest.mark.parametrize("role", list(Role))
def test_unpublished_assets_are_hidden_from_restricted_roles(
    client: TestClient,
    keys: Keys,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    state: str,
    role: Role,
) -> None:
    response = upload(client, designer, image_bytes(size=(64, 48)), metadata=METADATA)
    asset_id = response.json()["id"]
    drive_to(client, asset_id, state, designer=designer, reviewer=brand_manager)
    headers = keys.headers(role)
    expected = 404 if role in RESTRICTED else 200
    assert _reads(client, headers, asset_id) == dict.fromkeys(
        ("", "/content", "/versions", "/history"), expected
    )
    assert (asset_id in _listed(client, headers)) is (role in UNRESTRICTED)


@pytest.mark.parametrize("role", RESTRICTED)
def test_restricted_roles_get_the_published_version_not_a_newer_draft(
    client: TestClient,
    keys: Keys,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    role: Role,
) -> None:
    v1, v2 = image_bytes(size=(64, 48), seed=1), image_bytes(size=(64, 48), seed=2)
    asset_id = upload(client, designer, v1, metadata=METADATA).json()["id"]
    drive_to(client, asset_id, "approved", designer=designer, reviewer=brand_manager)
    assert new_version(client, designer, asset_id, seed=2) == 2
    headers = keys.headers(role)

    body = client.get(f"/api/v1/assets/{asset_id}", headers=headers).json()
    assert body["published_version"] == 1
    assert body["current_version"]["number"] == 1
    # Restricted roles get a delivered copy of the published file: its pixels, governed metadata.
    for path in ("content", "content?version=1"):
        sent = client.get(f"/api/v1/assets/{asset_id}/{path}", headers=headers)
        assert sent.headers["x-dam-original-sha256"] == hashlib.sha256(v1).hexdigest()
        assert same_picture(sent.content, v1)
    hidden = client.get(f"/api/v1/assets/{asset_id}/content?version=2", headers=headers)
    assert hidden.status_code == 404
    versions = client.get(f"/api/v1/assets/{asset_id}/versions", headers=headers).json()
    assert [v["number"] for v in versions] == [1]
    listed = client.get("/api/v1/assets", headers=headers).json()["items"]
    assert [(a["id"], a["current_version"]["number"]) for a in listed] == [(asset_id, 1)]

    # The uploader sees the draft; once it is approved, everyone gets it.
    assert client.get(f"/api/v1/assets/{asset_id}/content", headers=designer).content == v2
    drive_to(client, asset_id, "approved", designer=designer, reviewer=brand_manager)
    assert same_picture(
        client.get(f"/api/v1/assets/{asset_id}/content", headers=headers).content, v2
    )


@pytest.mark.parametrize("role", list(Role))
def test_archived_assets_leave_restricted_views(
    client: TestClient,
    keys: Keys,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    role: Role,
) -> None:
    asset_id = upload(client, designer, image_bytes(size=(64, 48)), metadata=METADATA).json()["id"]
    drive_to(client, asset_id, "approved", designer=designer, reviewer=brand_manager)
    headers = keys.headers(role)
    assert _reads(client, headers, asset_id)[""] == 200
    assert client.delete(f"/api/v1/assets/{asset_id}", headers=designer).status_code == 200
    expected = 404 if role in RESTRICTED else 200
    assert _reads(client, headers, asset_id) == dict.fromkeys(
        ("", "/content", "/versions", "/history"), expected
    )
    assert (asset_id in _listed(client, headers)) is (role in UNRESTRICTED)


@pytest.mark.parametrize("role", list(Role))
def test_expired_assets_leave_restricted_views(
    client: TestClient,
    keys: Keys,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    ctx: Context,
    clock: Clock,
    role: Role,
) -> None:
    expires = clock.now + timedelta(days=30)
    response = upload(
        client,
        designer,
        image_bytes(size=(64, 48)),
        metadata={**METADATA, "rights_expire_at": expires.isoformat()},
    )
    asset_id = response.json()["id"]
    drive_to(client, asset_id, "approved", designer=designer, reviewer=brand_manager)
    headers = keys.headers(role)
    assert _reads(client, headers, asset_id)[""] == 200
    clock.advance(days=30)
    with session_scope(ctx.engine) as session:
        sweep_rights(session, now=ctx.now(), warn_before=timedelta(days=7))
    expected = 404 if role in RESTRICTED else 200
    assert _reads(client, headers, asset_id) == dict.fromkeys(
        ("", "/content", "/versions", "/history"), expected
    )
    assert (asset_id in _listed(client, headers)) is (role in UNRESTRICTED)
