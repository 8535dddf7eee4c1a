"""Collections through the API: order, cover, sharing with roles and people, the published
view for marketers, bulk adds, and refusals that name the problem."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from dam.context import Context
from dam.models import Role
from tests.collections.support import draft, make_collection, published
from tests.conftest import Keys, count_rows
from tests.web.support import Users, sign_in


def _ids(client: TestClient, headers: dict[str, str], collection_id: str) -> list[str]:
    response = client.get(f"/api/v1/collections/{collection_id}/items", headers=headers)
    assert response.status_code == 200, response.text
    return [item["asset_id"] for item in response.json()["items"]]


def test_collection_keeps_order_cover_and_bulk_adds(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str]
) -> None:
    a = published(client, designer, brand_manager, seed=1, title="First")
    b = draft(client, designer, seed=2, title="Second")
    c = draft(client, designer, seed=3, title="Third")
    made = make_collection(client, designer, "Spring kit", asset_ids=[b, a])
    assert made["item_count"] == 2
    assert made["cover_asset_id"] == b  # no cover chosen: the first asset
    added = client.post(
        f"/api/v1/collections/{made['id']}/items", headers=designer, json={"asset_ids": [a, c]}
    )
    assert added.status_code == 200, added.text
    assert added.json()["added"] == [c]
    assert added.json()["already_there"] == [a]
    assert _ids(client, designer, made["id"]) == [b, a, c]

    reordered = client.put(
        f"/api/v1/collections/{made['id']}/order", headers=designer, json={"asset_ids": [c, a, b]}
    )
    assert reordered.status_code == 200, reordered.text
    assert _ids(client, designer, made["id"]) == [c, a, b]
    cover = client.patch(
        f"/api/v1/collections/{made['id']}", headers=designer, json={"cover_asset_id": a}
    )
    assert cover.json()["cover_asset_id"] == a

    removed = client.delete(f"/api/v1/collections/{made['id']}/items/{a}", headers=designer)
    assert removed.status_code == 200
    assert removed.json()["item_count"] == 2
    assert removed.json()["cover_asset_id"] == c  # the cover left: back to the first asset
    holding = client.get(f"/api/v1/assets/{c}/collections", headers=designer).json()
    assert [x["name"] for x in holding["items"]] == ["Spring kit"]


def test_bad_requests_name_the_problem(
    client: TestClient, designer: dict[str, str], automation: dict[str, str]
) -> None:
    a = draft(client, designer, seed=1)
    made = make_collection(client, designer, asset_ids=[a])
    missing = str(uuid.uuid4())
    refused = client.post(
        f"/api/v1/collections/{made['id']}/items",
        headers=designer,
        json={"asset_ids": [a, missing]},
    )
    assert refused.status_code == 404
    assert refused.json()["error"] == "asset_not_found"
    assert refused.json()["asset_id"] == missing
    bad_order = client.put(
        f"/api/v1/collections/{made['id']}/order", headers=designer, json={"asset_ids": [missing]}
    )
    assert bad_order.status_code == 422
    assert bad_order.json()["error"] == "invalid_order"
    assert "1 missing, 1 not in the collection" in bad_order.json()["detail"]
    bad_cover = client.patch(
        f"/api/v1/collections/{made['id']}", headers=designer, json={"cover_asset_id": missing}
    )
    assert bad_cover.status_code == 422
    assert bad_cover.json()["error"] == "invalid_cover"
    empty_name = client.post("/api/v1/collections", headers=designer, json={"name": "  "})
    assert empty_name.status_code == 422
    both = client.post(
        "/api/v1/collections",
        headers=designer,
        json={"name": "x", "shared_with": [{"role": "marketer", "email": "a@example.com"}]},
    )
    assert both.status_code == 422
    assert both.json()["error"] == "invalid_share"
    nobody = client.post(
        "/api/v1/collections",
        headers=designer,
        json={"name": "x", "shared_with": [{"email": "nobody@example.com"}]},
    )
    assert nobody.status_code == 422
    assert nobody.json()["error"] == "unknown_person"
    robot = client.post("/api/v1/collections", headers=automation, json={"name": "x"})
    assert robot.status_code == 403


def test_private_until_shared_and_marketers_see_only_published(
    client: TestClient,
    ctx: Context,
    keys: Keys,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
) -> None:
    live = published(client, designer, brand_manager, seed=1, title="Approved hero")
    unpublished = draft(client, designer, seed=2, title="Draft banner")
    made = make_collection(client, designer, asset_ids=[unpublished, live])
    # Private: another designer and a marketer get 404, like a missing collection.
    other = keys.headers(Role.designer, name="other designer")
    assert client.get(f"/api/v1/collections/{made['id']}", headers=other).status_code == 404
    assert client.get(f"/api/v1/collections/{made['id']}", headers=marketer).status_code == 404
    assert client.get("/api/v1/collections", headers=marketer).json()["total"] == 0

    shared = client.patch(
        f"/api/v1/collections/{made['id']}",
        headers=designer,
        json={"shared_with": [{"role": "marketer"}]},
    )
    assert shared.status_code == 200, shared.text
    assert shared.json()["shared_with"] == [
        {"kind": "role", "role": "marketer", "user_id": None, "email": None, "can_edit": False}
    ]
    seen = client.get(f"/api/v1/collections/{made['id']}", headers=marketer).json()
    assert seen["item_count"] == 1
    assert seen["cover_asset_id"] == live  # the draft is first, but marketers never see it
    assert seen["can_edit"] is False
    items = client.get(f"/api/v1/collections/{made['id']}/items", headers=marketer).json()
    assert [(i["asset_id"], i["title"], i["version"]) for i in items["items"]] == [
        (live, "Approved hero", 1)
    ]
    # Viewers may not change it, and may not add what they cannot see.
    add = client.post(
        f"/api/v1/collections/{made['id']}/items", headers=marketer, json={"asset_ids": [live]}
    )
    assert add.status_code == 403
    # The designer still sees both.
    assert (
        client.get(f"/api/v1/collections/{made['id']}", headers=designer).json()["item_count"] == 2
    )
    # A marketer's own collection refuses an unpublished asset like a missing one.
    own = make_collection(client, marketer, "Lightbox")
    refused = client.post(
        f"/api/v1/collections/{own['id']}/items",
        headers=marketer,
        json={"asset_ids": [unpublished]},
    )
    assert refused.status_code == 404
    assert count_rows(ctx.engine, "collection_items") == 2


def test_share_with_a_person_who_may_edit(
    client: TestClient, ctx: Context, users: Users, designer: dict[str, str]
) -> None:
    a = draft(client, designer, seed=1)
    b = draft(client, designer, seed=2)
    email = users.create(Role.brand_manager, email="bea@example.com")
    made = make_collection(
        client,
        designer,
        asset_ids=[a],
        shared_with=[{"email": "Bea@Example.com", "can_edit": True}],
    )
    assert made["shared_with"][0]["email"] == email
    assert made["shared_with"][0]["can_edit"] is True
    csrf = sign_in(client, email)
    cookie = {"X-CSRF-Token": csrf}
    # Signed in with the session cookie: Bea sees the collection and may add to it ...
    assert client.get("/api/v1/collections", headers=cookie).json()["total"] == 1
    added = client.post(
        f"/api/v1/collections/{made['id']}/items", headers=cookie, json={"asset_ids": [b]}
    )
    assert added.status_code == 200, added.text
    # ... but not rename, reshare or delete it: that stays with the owner.
    rename = client.patch(f"/api/v1/collections/{made['id']}", headers=cookie, json={"name": "x"})
    assert rename.status_code == 403
    assert client.delete(f"/api/v1/collections/{made['id']}", headers=cookie).status_code == 403


def test_delete_keeps_assets_and_revokes_share_links(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    brand_manager: dict[str, str],
) -> None:
    a = published(client, designer, brand_manager, seed=1)
    made = make_collection(client, designer, asset_ids=[a])
    link = client.post(
        "/api/v1/share-links", headers=designer, json={"collection_id": made["id"]}
    ).json()
    assert client.delete(f"/api/v1/collections/{made['id']}", headers=designer).status_code == 204
    assert client.get(f"/api/v1/collections/{made['id']}", headers=designer).status_code == 404
    assert client.get(f"/api/v1/assets/{a}", headers=designer).status_code == 200
    after = client.get(f"/api/v1/share-links/{link['id']}", headers=designer).json()
    assert after["state"] == "revoked"
    assert count_rows(ctx.engine, "collection_items") == 0
