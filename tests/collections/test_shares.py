"""Share links for people outside, through the API (making, listing, revoking, activity) and
the pages they open without an account: the published view only, password, watermark,
downloads as delivered, expiry and revocation answered with a page that says so."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image

from dam.context import Context
from dam.worker import run_pending
from tests.collections.support import draft, make_collection, published
from tests.conftest import Clock
from tests.factories import image_bytes, upload


def _link(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/share-links", headers=headers, json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def _path(link: dict[str, Any]) -> str:
    return f"/s/{link['token']}"


def _unlock(client: TestClient, link: dict[str, Any], password: str) -> Any:
    page = client.get(_path(link))
    form_token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert form_token, page.text
    return client.post(
        _path(link),
        data={"password": password, "form_token": form_token.group(1)},
        follow_redirects=False,
    )


def _events(client: TestClient, headers: dict[str, str], link: dict[str, Any]) -> list[str]:
    response = client.get(f"/api/v1/share-links/{link['id']}/events", headers=headers)
    assert response.status_code == 200, response.text
    return [e["action"] for e in reversed(response.json()["items"])]


def test_password_watermark_and_download_of_a_shared_asset(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
) -> None:
    asset_id = published(client, designer, brand_manager, seed=3, title="Summit hero")
    run_pending(ctx)  # the renditions
    link = _link(
        client,
        designer,
        asset_id=asset_id,
        label="For Nordlys Agency",
        password="fjord-2026!",
        allow_download=True,
        watermark=True,
    )
    assert link["url"].startswith("http://testserver/s/")
    assert link["has_password"] is True
    assert link["state"] == "active"

    locked = client.get(_path(link))
    assert locked.status_code == 401
    assert "Password needed" in locked.text
    assert "Summit hero" not in locked.text
    assert client.get(f"{_path(link)}/assets/{asset_id}/download").status_code == 401

    wrong = _unlock(client, link, "not the password")
    assert wrong.status_code == 400
    assert "That password is not right." in wrong.text
    opened = _unlock(client, link, "fjord-2026!")
    assert opened.status_code == 303

    page = client.get(_path(link))
    assert page.status_code == 200
    assert "Summit hero" in page.text
    assert "For Nordlys Agency" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "noindex" in page.headers["x-robots-tag"]

    marked = client.get(f"{_path(link)}/assets/{asset_id}/preview.webp")
    assert marked.status_code == 200
    plain = client.get(f"/api/v1/assets/{asset_id}/renditions/preview", headers=marketer)
    with Image.open(io.BytesIO(marked.content)) as a, Image.open(io.BytesIO(plain.content)) as b:
        assert a.size == b.size
        pixels = zip(a.convert("L").tobytes(), b.convert("L").tobytes(), strict=True)
        diff = sum(abs(x - y) for x, y in pixels)
        assert diff > a.size[0] * a.size[1]  # the text is drawn over the whole preview

    download = client.get(f"{_path(link)}/assets/{asset_id}/download")
    assert download.status_code == 200
    as_marketer = client.get(f"/api/v1/assets/{asset_id}/content", headers=marketer)
    # Delivered like every delivery out of the building: the same copy as a marketer's.
    assert download.content == as_marketer.content
    assert download.headers["x-dam-original-sha256"] == as_marketer.headers["x-dam-original-sha256"]
    assert "attachment" in download.headers["content-disposition"]
    assert _events(client, designer, link) == [
        "wrong_password",
        "unlock",
        "view",
        "download",
    ]
    listed = client.get("/api/v1/share-links", headers=designer, params={"asset_id": asset_id})
    assert [(x["views"], x["downloads"]) for x in listed.json()["items"]] == [(1, 1)]


def test_expired_and_revoked_links_answer_with_a_page_never_the_asset(
    client: TestClient,
    ctx: Context,
    clock: Clock,
    designer: dict[str, str],
    brand_manager: dict[str, str],
) -> None:
    asset_id = published(client, designer, brand_manager, seed=4, title="Winter parka")
    short = _link(client, designer, asset_id=asset_id, expires_in_hours=2, allow_download=True)
    other = _link(client, designer, asset_id=asset_id, allow_download=True)
    assert "Winter parka" in client.get(_path(short)).text

    clock.advance(hours=2)
    expired = client.get(_path(short))
    assert expired.status_code == 410
    assert "This link has expired" in expired.text
    assert "Winter parka" not in expired.text
    assert client.get(f"{_path(short)}/assets/{asset_id}/download").status_code == 410
    assert client.get(f"{_path(short)}/assets/{asset_id}/thumb.webp").status_code == 410
    assert (
        client.get(f"/api/v1/share-links/{short['id']}", headers=designer).json()["state"]
        == "expired"
    )

    revoked = client.post(f"/api/v1/share-links/{other['id']}/revoke", headers=designer)
    assert revoked.json()["state"] == "revoked"
    gone = client.get(_path(other))
    assert gone.status_code == 410
    assert "This link was withdrawn" in gone.text
    assert "Winter parka" not in gone.text
    assert client.get(f"{_path(other)}/assets/{asset_id}/download").status_code == 410

    tampered = other["token"][:-2] + ("AA" if not other["token"].endswith("AA") else "BB")
    unknown = client.get(f"/s/{tampered}")
    assert unknown.status_code == 404
    assert "This link does not exist" in unknown.text


def test_collection_link_shows_only_the_published_view(
    client: TestClient,
    ctx: Context,
    designer: dict[str, str],
    brand_manager: dict[str, str],
) -> None:
    live = published(client, designer, brand_manager, seed=5, title="Approved title")
    hidden = draft(client, designer, seed=6, title="Secret draft")
    # A newer version in review, with a new title: outsiders still get version 1.
    upload(
        client,
        designer,
        image_bytes(size=(64, 48), seed=7),
        metadata={"title": "Unapproved new title"},
        path=f"/api/v1/assets/{live}/versions",
    )
    made = make_collection(client, designer, "Press pack", asset_ids=[hidden, live])
    refused = client.post("/api/v1/share-links", headers=designer, json={"asset_id": hidden})
    assert refused.status_code == 409
    assert refused.json()["error"] == "not_published"

    link = _link(client, designer, collection_id=made["id"], allow_download=True)
    page = client.get(_path(link))
    assert page.status_code == 200
    assert "Press pack" in page.text
    assert "Approved title" in page.text
    assert "Unapproved new title" not in page.text
    assert "Secret draft" not in page.text
    assert "Download all (1 file, zip)" in page.text
    assert client.get(f"{_path(link)}/assets/{hidden}").status_code == 404
    one = client.get(f"{_path(link)}/assets/{live}")
    assert one.status_code == 200 and "Approved title" in one.text

    archive = zipfile.ZipFile(io.BytesIO(client.get(f"{_path(link)}/zip").content))
    assert archive.namelist() == ["manifest.csv", "hero.jpg"]
    manifest = archive.read("manifest.csv").decode()
    assert live in manifest and hidden not in manifest
    assert ",1,Approved title," in manifest
    assert _events(client, designer, link) == ["view", "view", "zip"]


def test_who_may_make_and_see_links_and_what_is_refused(
    client: TestClient,
    designer: dict[str, str],
    brand_manager: dict[str, str],
    marketer: dict[str, str],
    automation: dict[str, str],
) -> None:
    live = published(client, designer, brand_manager, seed=8)
    made = make_collection(client, designer, asset_ids=[live], shared_with=[{"role": "marketer"}])
    viewer = client.post(
        "/api/v1/share-links", headers=marketer, json={"collection_id": made["id"]}
    )
    assert viewer.status_code == 403  # marketers see it, but may not edit it
    robot = client.post("/api/v1/share-links", headers=automation, json={"asset_id": live})
    assert robot.status_code == 403
    own = _link(client, marketer, asset_id=live, expires_in_hours=24)
    # The designer did not make it: it is not theirs to list or revoke.
    assert client.get(f"/api/v1/share-links/{own['id']}", headers=designer).status_code == 404
    assert client.get("/api/v1/share-links", headers=designer).json()["total"] == 0
    both = client.post(
        "/api/v1/share-links",
        headers=designer,
        json={"asset_id": live, "collection_id": made["id"]},
    )
    assert both.status_code == 422 and both.json()["error"] == "invalid_share_link"
    weak = client.post(
        "/api/v1/share-links", headers=designer, json={"asset_id": live, "password": "short"}
    )
    assert weak.status_code == 422 and weak.json()["error"] == "weak_password"
    preset = client.post(
        "/api/v1/share-links", headers=designer, json={"asset_id": live, "preset": "web-1200"}
    )
    assert preset.status_code == 422 and preset.json()["error"] == "invalid_preset"
    forever = client.post(
        "/api/v1/share-links",
        headers=designer,
        json={"asset_id": live, "expires_in_hours": 24 * 400},
    )
    assert forever.status_code == 422
    view_only = _link(client, designer, asset_id=live)
    refused = client.get(f"{_path(view_only)}/assets/{live}/download")
    assert refused.status_code == 403
    assert "Downloads are not offered" in refused.text


def test_wrong_passwords_are_limited_per_link(
    client: TestClient, designer: dict[str, str], brand_manager: dict[str, str]
) -> None:
    live = published(client, designer, brand_manager, seed=9)
    link = _link(client, designer, asset_id=live, password="correct horse")
    for _ in range(10):
        assert _unlock(client, link, "guess").status_code == 400
    blocked = _unlock(client, link, "correct horse")
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.text
    assert blocked.headers["retry-after"] == "900"
