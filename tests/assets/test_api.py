"""Asset core through the HTTP API, on SQLite and PostgreSQL (and S3 where marked)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from dam.context import Context
from dam.models import Role
from dam.worker import run_pending
from tests.conftest import Keys, count_rows
from tests.factories import GOOD_METADATA, image_bytes, upload
from tests.media.samples import make_png_bomb

pytestmark = pytest.mark.usefixtures("db_backend")


def _nothing_stored(ctx: Context) -> None:
    assert count_rows(ctx.engine, "assets") == 0
    assert count_rows(ctx.engine, "asset_versions") == 0
    assert list(ctx.store.iter_keys("blobs/")) == []


@pytest.mark.parametrize("storage_backend", ["fs", "s3"], indirect=True)
def test_upload_then_download_returns_same_bytes(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    data = image_bytes()
    response = upload(client, designer, data, filename="Frühling - 春.jpg", metadata=GOOD_METADATA)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["title"] == "Trail runner at dawn"
    assert body["tags"] == ["spring", "running"]
    assert body["terms"]["asset_type"] == ["photo"]
    assert body["status"] == "active"
    version = body["current_version"]
    assert version["number"] == 1
    assert version["sha256"] == hashlib.sha256(data).hexdigest()
    assert version["size"] == len(data)
    assert version["mime_type"] == "image/jpeg"
    assert (version["width"], version["height"]) == (1600, 1200)
    assert version["filename"] == "Frühling - 春.jpg"
    assert response.headers["etag"]

    download = client.get(f"/api/v1/assets/{body['id']}/content", headers=designer)
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["content-type"] == "image/jpeg"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "filename*=UTF-8''Fr%C3%BChling%20-%20" in download.headers["content-disposition"]
    assert download.headers["content-disposition"].startswith("inline")


def test_download_range_returns_partial_content(
    client: TestClient, designer: dict[str, str]
) -> None:
    data = image_bytes()
    asset_id = upload(client, designer, data).json()["id"]
    response = client.get(
        f"/api/v1/assets/{asset_id}/content", headers={**designer, "Range": "bytes=10-19"}
    )
    assert response.status_code == 206
    assert response.content == data[10:20]
    assert response.headers["content-range"] == f"bytes 10-19/{len(data)}"
    tail = client.get(
        f"/api/v1/assets/{asset_id}/content", headers={**designer, "Range": "bytes=-5"}
    )
    assert tail.content == data[-5:]
    bad = client.get(
        f"/api/v1/assets/{asset_id}/content", headers={**designer, "Range": f"bytes={len(data)}-"}
    )
    assert bad.status_code == 416
    assert bad.json()["error"] == "range_not_satisfiable"


def test_upload_duplicate_returns_409_with_existing_asset(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    data = image_bytes()
    first = upload(client, designer, data).json()
    second = upload(client, designer, data, filename="copy.jpg")
    assert second.status_code == 409
    assert second.json()["error"] == "duplicate"
    assert second.json()["existing_asset_id"] == first["id"]
    assert count_rows(ctx.engine, "assets") == 1


def test_versions_restore_and_download_any_version(
    client: TestClient, designer: dict[str, str]
) -> None:
    v1, v2 = image_bytes(seed=1), image_bytes(seed=2)
    asset_id = upload(client, designer, v1).json()["id"]
    response = upload(client, designer, v2, path=f"/api/v1/assets/{asset_id}/versions")
    assert response.status_code == 201, response.text
    assert response.json()["current_version"]["number"] == 2

    restored = client.post(f"/api/v1/assets/{asset_id}/versions/1/restore", headers=designer)
    assert restored.status_code == 201
    current = restored.json()["current_version"]
    assert current["number"] == 3
    assert current["restored_from"] == 1
    assert current["sha256"] == hashlib.sha256(v1).hexdigest()

    versions = client.get(f"/api/v1/assets/{asset_id}/versions", headers=designer).json()
    assert [v["number"] for v in versions] == [3, 2, 1]
    for number, data in ((1, v1), (2, v2), (3, v1)):
        got = client.get(f"/api/v1/assets/{asset_id}/content?version={number}", headers=designer)
        assert got.content == data
    missing = client.get(f"/api/v1/assets/{asset_id}/content?version=9", headers=designer)
    assert missing.status_code == 404
    assert missing.json()["error"] == "version_not_found"


def test_new_version_with_stale_if_match_returns_412(
    client: TestClient, designer: dict[str, str]
) -> None:
    created = upload(client, designer, image_bytes(seed=1))
    asset_id, etag = created.json()["id"], created.headers["etag"]
    ok = upload(
        client,
        designer,
        image_bytes(seed=2),
        path=f"/api/v1/assets/{asset_id}/versions",
        extra_headers={"If-Match": etag},
    )
    assert ok.status_code == 201
    stale = upload(
        client,
        designer,
        image_bytes(seed=3),
        path=f"/api/v1/assets/{asset_id}/versions",
        extra_headers={"If-Match": etag},
    )
    assert stale.status_code == 412
    assert stale.json()["error"] == "stale_version"


def test_patch_honours_if_match(client: TestClient, designer: dict[str, str]) -> None:
    asset_id = upload(client, designer, image_bytes()).json()["id"]
    etag = client.get(f"/api/v1/assets/{asset_id}", headers=designer).headers["etag"]
    patched = client.patch(
        f"/api/v1/assets/{asset_id}",
        headers={**designer, "If-Match": etag},
        json={"title": "New title", "tags": ["Summer ", "summer", "beach"]},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["title"] == "New title"
    assert patched.json()["tags"] == ["summer", "beach"]
    assert patched.headers["etag"] != etag
    stale = client.patch(
        f"/api/v1/assets/{asset_id}", headers={**designer, "If-Match": etag}, json={"title": "x"}
    )
    assert stale.status_code == 412
    unknown = client.patch(f"/api/v1/assets/{asset_id}", headers=designer, json={"colour": "red"})
    assert unknown.status_code == 422
    assert unknown.json()["error"] == "invalid_request"


def test_delete_archives_asset(client: TestClient, designer: dict[str, str]) -> None:
    asset_id = upload(client, designer, image_bytes()).json()["id"]
    response = client.delete(f"/api/v1/assets/{asset_id}", headers=designer)
    assert response.status_code == 200
    assert response.json()["status"] == "archived"
    assert client.get(f"/api/v1/assets/{asset_id}", headers=designer).json()["status"] == "archived"


def test_list_assets_paginates(client: TestClient, designer: dict[str, str]) -> None:
    for seed in range(1, 4):
        assert upload(client, designer, image_bytes(seed=seed)).status_code == 201
    page = client.get("/api/v1/assets?page=1&page_size=2", headers=designer).json()
    assert page["total"] == 3
    assert len(page["items"]) == 2
    rest = client.get("/api/v1/assets?page=2&page_size=2", headers=designer).json()
    assert len(rest["items"]) == 1
    assert {i["id"] for i in page["items"]}.isdisjoint({i["id"] for i in rest["items"]})


def test_renditions_are_made_by_the_worker(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    data = image_bytes(size=(2000, 1000))
    original_sha256 = hashlib.sha256(data).hexdigest()
    asset_id = upload(client, designer, data).json()["id"]
    pending = client.get(f"/api/v1/assets/{asset_id}/renditions/thumb", headers=designer)
    assert pending.status_code == 404
    assert pending.json()["error"] == "rendition_pending"
    assert run_pending(ctx) >= 1
    for kind, long_side in (("thumb", 256), ("preview", 1024)):
        response = client.get(f"/api/v1/assets/{asset_id}/renditions/{kind}", headers=designer)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/webp"
        image = Image.open(io.BytesIO(response.content))
        assert image.format == "WEBP"
        assert image.size == (long_side, long_side // 2)
        assert response.headers["x-dam-sha256"] == hashlib.sha256(response.content).hexdigest()
        assert response.headers["x-dam-size"] == str(len(response.content))
        assert response.headers["x-dam-original-sha256"] == original_sha256
    assert (
        client.get(f"/api/v1/assets/{asset_id}/renditions/huge", headers=designer).status_code
        == 404
    )


def test_idempotency_key_replays_first_response(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    data = image_bytes()
    headers = {"Idempotency-Key": "upload-123"}
    first = upload(client, designer, data, extra_headers=headers)
    again = upload(client, designer, data, extra_headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert count_rows(ctx.engine, "assets") == 1
    other = upload(client, designer, image_bytes(seed=5), extra_headers=headers)
    assert other.status_code == 422
    assert other.json()["error"] == "idempotency_key_reused"


# --- authentication and roles ----------------------------------------------------------------


def test_requests_without_key_get_401(client: TestClient) -> None:
    response = client.get("/api/v1/assets")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    wrong = client.get("/api/v1/assets", headers={"Authorization": "Bearer dam_not-a-key"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_key"
    basic = client.get("/api/v1/assets", headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401


def test_revoked_key_gets_401(client: TestClient, admin: dict[str, str]) -> None:
    created = client.post(
        "/api/v1/keys", headers=admin, json={"name": "temp", "role": "designer"}
    ).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/api/v1/me", headers=headers).json()["role"] == "designer"
    listed = client.get("/api/v1/keys", headers=admin).json()
    assert created["id"] in {k["id"] for k in listed}
    assert all("key" not in k for k in listed)
    assert client.delete(f"/api/v1/keys/{created['id']}", headers=admin).status_code == 200
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "key_revoked"


@pytest.mark.parametrize("role", [Role.marketer, Role.automation])
def test_non_uploaders_get_403_on_upload(client: TestClient, keys: Keys, role: Role) -> None:
    response = upload(client, keys.headers(role), image_bytes())
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


@pytest.mark.parametrize("role", [Role.admin, Role.brand_manager, Role.designer])
def test_uploader_roles_may_upload(client: TestClient, keys: Keys, role: Role) -> None:
    assert upload(client, keys.headers(role), image_bytes()).status_code == 201


def test_only_admin_manages_keys(client: TestClient, designer: dict[str, str]) -> None:
    response = client.post("/api/v1/keys", headers=designer, json={"name": "x", "role": "admin"})
    assert response.status_code == 403


def test_marketer_cannot_see_unpublished_asset(
    client: TestClient, designer: dict[str, str], marketer: dict[str, str]
) -> None:
    asset_id = upload(client, designer, image_bytes()).json()["id"]
    assert client.get(f"/api/v1/assets/{asset_id}", headers=marketer).status_code == 404
    assert client.get(f"/api/v1/assets/{asset_id}/content", headers=marketer).status_code == 404
    assert client.get("/api/v1/assets", headers=marketer).json()["total"] == 0


# --- bad input: a precise 4xx and nothing stored ----------------------------------------------


def test_empty_file_is_refused(client: TestClient, designer: dict[str, str], ctx: Context) -> None:
    response = upload(client, designer, b"")
    assert response.status_code == 422
    assert response.json()["error"] == "empty_file"
    _nothing_stored(ctx)


def test_truncated_jpeg_is_refused(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    data = image_bytes()
    response = upload(client, designer, data[: len(data) // 2])
    assert response.status_code == 422
    assert response.json()["error"] == "corrupt_image"
    _nothing_stored(ctx)


def test_pixel_bomb_png_is_refused(
    client: TestClient, designer: dict[str, str], ctx: Context, tmp_path: Path
) -> None:
    bomb = make_png_bomb(tmp_path / "bomb.png", 100_000, 100_000).read_bytes()
    response = upload(client, designer, bomb, filename="bomb.png", content_type="image/png")
    assert response.status_code == 422
    assert response.json()["error"] == "image_too_large"
    assert "100000" in response.json()["detail"]
    _nothing_stored(ctx)


def test_gif_renamed_png_is_stored_as_gif(client: TestClient, designer: dict[str, str]) -> None:
    response = upload(
        client,
        designer,
        image_bytes(fmt="GIF", mode="P", size=(40, 30)),
        filename="fake.png",
        content_type="image/png",
        metadata={
            **GOOD_METADATA,
            "terms": {"asset_type": ["animation"], "usage_rights": ["owned"]},
        },
    )
    assert response.status_code == 201
    assert response.json()["current_version"]["mime_type"] == "image/gif"


def test_html_declared_as_png_gets_415(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    html = b"<!doctype html><html><script>alert(1)</script></html>"
    response = upload(client, designer, html, filename="x.png", content_type="image/png")
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_type"
    _nothing_stored(ctx)


def test_svg_with_script_is_refused(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b"<script>alert(1)</script></svg>"
    )
    response = upload(client, designer, svg, filename="logo.svg", content_type="image/svg+xml")
    assert response.status_code == 422
    assert response.json()["error"] == "unsafe_svg"
    _nothing_stored(ctx)


def test_svg_downloads_as_attachment_with_csp(client: TestClient, designer: dict[str, str]) -> None:
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60">'
        b'<rect width="120" height="60" fill="#f00"/></svg>'
    )
    logo = {**GOOD_METADATA, "terms": {"asset_type": ["logo"], "usage_rights": ["owned"]}}
    body = upload(
        client, designer, svg, filename="logo.svg", content_type="image/svg+xml", metadata=logo
    ).json()
    assert body["current_version"]["mime_type"] == "image/svg+xml"
    response = client.get(f"/api/v1/assets/{body['id']}/content", headers=designer)
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("a" * 1000 + ".jpg", "a" * 196 + ".jpg"),
    ],
)
def test_path_tricks_in_filenames_are_neutralised(
    client: TestClient, designer: dict[str, str], ctx: Context, raw: str, stored: str
) -> None:
    response = upload(client, designer, image_bytes(), filename=raw)
    assert response.status_code == 201
    assert response.json()["current_version"]["filename"] == stored
    assert all(key.startswith("blobs/") for key in ctx.store.iter_keys("blobs/"))


def test_oversize_body_gets_413(client: TestClient, designer: dict[str, str], ctx: Context) -> None:
    big = b"\xff\xd8\xff" + b"\0" * (ctx.settings.max_upload_bytes + 10)
    response = upload(client, designer, big)
    assert response.status_code == 413
    assert response.json()["error"] == "file_too_large"
    _nothing_stored(ctx)
    assert list((ctx.settings.data_dir / "tmp").iterdir()) == []


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"title": "x", "colour": "red"}, "colour"),
        ({"tags": "not-a-list"}, "tags"),
        ({"rights_expire_at": "2027-01-01T00:00:00"}, "rights_expire_at"),
    ],
)
def test_invalid_metadata_gets_422_naming_the_field(
    client: TestClient,
    designer: dict[str, str],
    ctx: Context,
    metadata: dict[str, object],
    field: str,
) -> None:
    response = upload(client, designer, image_bytes(), metadata=metadata)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_metadata"
    assert [p["field"] for p in response.json()["problems"]] == [field]
    _nothing_stored(ctx)


def test_metadata_that_is_not_json_gets_422(client: TestClient, designer: dict[str, str]) -> None:
    response = upload(client, designer, image_bytes(), metadata="{title: nope")
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_metadata"


def test_unknown_form_field_and_missing_file(client: TestClient, designer: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/assets", headers=designer, files={"upload": ("a.jpg", image_bytes(), "image/jpeg")}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_form"
    no_file = client.post(
        "/api/v1/assets", headers=designer, data={"metadata": json.dumps({})}, files={}
    )
    assert no_file.status_code == 422


def test_crash_after_blob_write_leaves_only_an_orphan(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    """Blob first, then the transaction: a failed commit leaves no row, and the checker finds the
    orphan blob and removes it on repair."""
    from sqlalchemy import event
    from sqlmodel import Session

    from dam.storage.check import check_blobs

    def fail_commit(session: Session) -> None:
        raise RuntimeError("simulated crash at commit")

    event.listen(Session, "before_commit", fail_commit)
    try:
        response = upload(client, designer, image_bytes())
    finally:
        event.remove(Session, "before_commit", fail_commit)
    assert response.status_code == 500
    assert count_rows(ctx.engine, "assets") == 0
    assert count_rows(ctx.engine, "asset_versions") == 0
    blobs = list(ctx.store.iter_keys("blobs/"))
    assert len(blobs) == 1
    report = check_blobs(ctx.store, {}, deep=False, repair=False, grace_seconds=0)
    assert [key for orphan in report.orphan_blobs for key in orphan.keys] == blobs
    assert not report.ok
    repaired = check_blobs(ctx.store, {}, deep=False, repair=True, grace_seconds=0)
    assert repaired.removed == blobs
    assert repaired.ok
    assert list(ctx.store.iter_keys("blobs/")) == []


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "storage": "ok"}


@pytest.mark.parametrize("storage_backend", ["s3"], indirect=True)
def test_s3_download_may_redirect_to_presigned_url(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    import httpx

    data = image_bytes()
    asset_id = upload(client, designer, data).json()["id"]
    ctx.settings.s3_presign_downloads = True
    response = client.get(
        f"/api/v1/assets/{asset_id}/content", headers=designer, follow_redirects=False
    )
    assert response.status_code == 307
    fetched = httpx.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.content == data
    assert fetched.headers["content-type"] == "image/jpeg"


def test_bootstrap_admin_key_is_valid_after_start(ctx: Context) -> None:
    from dam.app import create_app, prepare

    plaintext = "dam_" + "b" * 40
    ctx.settings.bootstrap_admin_key = plaintext
    prepare(ctx)
    prepare(ctx)  # idempotent: containers restart
    with TestClient(create_app(ctx=ctx, run_worker=False)) as client:
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"})
    assert me.status_code == 200
    assert me.json()["role"] == "admin"
    assert count_rows(ctx.engine, "api_keys") == 1


def test_near_duplicate_upload_succeeds_and_says_so(
    client: TestClient, designer: dict[str, str]
) -> None:
    original = Image.open(io.BytesIO(image_bytes(seed=3)))
    first = upload(client, designer, image_bytes(seed=3)).json()
    assert first["possible_duplicates"] == []
    recompressed = io.BytesIO()
    original.resize((1500, 1125)).save(recompressed, "JPEG", quality=70)
    second = upload(client, designer, recompressed.getvalue(), filename="hero-small.jpg")
    assert second.status_code == 201
    hints = second.json()["possible_duplicates"]
    assert [h["asset_id"] for h in hints] == [first["id"]]
    assert hints[0]["version"] == 1
    assert hints[0]["distance"] <= 6
    different = upload(client, designer, image_bytes(seed=12, color=(200, 30, 30))).json()
    assert different["possible_duplicates"] == []
