"""Resumable uploads (tus 1.0.0) through the HTTP API, on SQLite and PostgreSQL (S3 marked)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dam.assets import resumable
from dam.context import Context
from dam.models import Role
from tests.conftest import Clock, Keys, count_rows
from tests.factories import GOOD_METADATA, image_bytes
from tests.support.tus import TUS, UPLOADS, create, head, patch, send_all, upload_error

pytestmark = pytest.mark.usefixtures("db_backend")

FILES = Path(__file__).resolve().parent.parent / "media" / "files"


def _parts(ctx: Context) -> list[Path]:
    directory = ctx.settings.data_dir / resumable.UPLOADS_DIR
    return sorted(directory.glob("*.part")) if directory.is_dir() else []


def _nothing_stored(ctx: Context) -> None:
    assert count_rows(ctx.engine, "assets") == 0
    assert list(ctx.store.iter_keys("blobs/")) == []


def test_options_advertises_tus_version_extensions_and_largest_size(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    response = client.options(UPLOADS, headers=designer)
    assert response.status_code == 204
    assert response.headers["tus-resumable"] == "1.0.0"
    assert response.headers["tus-version"] == "1.0.0"
    assert response.headers["tus-extension"] == "creation,termination,expiration"
    # The video default (4 GiB) is the largest limit; the test settings give others 8 MiB.
    assert response.headers["tus-max-size"] == str(4096 * 1024 * 1024)
    assert client.options(UPLOADS).status_code == 401


@pytest.mark.parametrize("storage_backend", ["fs", "s3"], indirect=True)
def test_upload_in_chunks_makes_the_asset_and_names_it_on_the_last_patch_and_head(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    data = image_bytes(seed=3)
    created = create(
        client, designer, len(data), filename="Frühling 春.jpg", metadata=GOOD_METADATA
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location.startswith(f"{UPLOADS}/")
    assert created.headers["tus-resumable"] == "1.0.0"
    assert "GMT" in created.headers["upload-expires"]
    assert created.json()["length"] == len(data)

    third = len(data) // 3
    first = patch(client, designer, location, 0, data[:third])
    assert first.status_code == 204
    assert first.headers["upload-offset"] == str(third)
    assert "dam-asset-id" not in first.headers
    progress = head(client, designer, location)
    assert progress.status_code == 200
    assert progress.headers["upload-offset"] == str(third)
    assert progress.headers["upload-length"] == str(len(data))
    assert progress.headers["cache-control"] == "no-store"
    assert count_rows(ctx.engine, "assets") == 0

    second = patch(client, designer, location, third, data[third : 2 * third])
    assert second.headers["upload-offset"] == str(2 * third)
    last = patch(client, designer, location, 2 * third, data[2 * third :])
    assert last.status_code == 204, last.text
    assert last.headers["upload-offset"] == str(len(data))
    asset_id = last.headers["dam-asset-id"]

    asset = client.get(f"/api/v1/assets/{asset_id}", headers=designer).json()
    assert asset["title"] == GOOD_METADATA["title"]
    assert asset["terms"]["asset_type"] == ["photo"]
    assert asset["current_version"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert asset["current_version"]["filename"] == "Frühling 春.jpg"
    content = client.get(f"/api/v1/assets/{asset_id}/content", headers=designer)
    assert content.content == data
    # HEAD afterwards tells a client that lost the last answer how it ended.
    later = head(client, designer, location)
    assert later.headers["dam-asset-id"] == asset_id
    assert later.headers["upload-offset"] == str(len(data))
    assert _parts(ctx) == []


def test_digest_is_right_when_another_process_takes_over_between_patches(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    """A PATCH in a process that did not hash the earlier bytes re-reads them from disk."""
    data = image_bytes(seed=4)
    location = create(client, designer, len(data), metadata=GOOD_METADATA).headers["location"]
    half = len(data) // 2
    assert patch(client, designer, location, 0, data[:half]).status_code == 204
    ctx.extras.pop(resumable.HASHERS_KEY)
    last = patch(client, designer, location, half, data[half:])
    asset = client.get(f"/api/v1/assets/{last.headers['dam-asset-id']}", headers=designer).json()
    assert asset["current_version"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_patch_at_a_stale_offset_is_refused_with_the_current_one(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    data = image_bytes(seed=5)
    location = create(client, designer, len(data), metadata=GOOD_METADATA).headers["location"]
    patch(client, designer, location, 0, data[:1000])
    again = patch(client, designer, location, 0, data[:1000])
    assert again.status_code == 409
    assert again.json()["error"] == "offset_mismatch"
    assert again.json()["upload_offset"] == 1000
    assert again.headers["tus-resumable"] == "1.0.0"
    assert head(client, designer, location).headers["upload-offset"] == "1000"


def test_protocol_errors_are_named(client: TestClient, designer: dict[str, str]) -> None:
    no_tus = client.post(UPLOADS, headers={**designer, "Upload-Length": "10"})
    assert no_tus.status_code == 412
    assert no_tus.json()["error"] == "tus_version_unsupported"
    assert no_tus.headers["tus-version"] == "1.0.0"
    no_length = client.post(UPLOADS, headers={**designer, **TUS})
    assert (no_length.status_code, no_length.json()["error"]) == (400, "missing_header")
    bad_length = client.post(UPLOADS, headers={**designer, **TUS, "Upload-Length": "-3"})
    assert (bad_length.status_code, bad_length.json()["error"]) == (400, "invalid_header")
    deferred = client.post(UPLOADS, headers={**designer, **TUS, "Upload-Defer-Length": "1"})
    assert deferred.json()["error"] == "defer_unsupported"
    bad_meta = client.post(
        UPLOADS, headers={**designer, **TUS, "Upload-Length": "10", "Upload-Metadata": "a !!"}
    )
    assert (bad_meta.status_code, bad_meta.json()["error"]) == (400, "invalid_upload_metadata")
    empty = create(client, designer, 0)
    assert (empty.status_code, empty.json()["error"]) == (422, "empty_file")

    location = create(client, designer, 100, metadata=GOOD_METADATA).headers["location"]
    wrong_type = client.patch(
        location,
        headers={**designer, **TUS, "Upload-Offset": "0", "Content-Type": "image/jpeg"},
        content=b"x" * 10,
    )
    assert (wrong_type.status_code, wrong_type.json()["error"]) == (
        415,
        "unsupported_content_type",
    )
    overrun = patch(client, designer, location, 0, b"x" * 101)
    assert (overrun.status_code, overrun.json()["error"]) == (413, "upload_overrun")
    assert head(client, designer, location).headers["upload-offset"] == "0"


def test_metadata_is_checked_at_creation_before_any_byte(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    def refused(metadata: object) -> dict[str, object]:
        response = create(client, designer, 1000, metadata=metadata)
        assert response.status_code == 422, response.text
        return dict(response.json())

    assert refused("{not json")["error"] == "invalid_metadata"
    assert refused({"colour": "red"})["error"] == "invalid_metadata"
    unknown_term = refused({"terms": {"asset_type": ["potato"]}})
    assert unknown_term["error"] == "invalid_terms"
    assert unknown_term["problems"][0]["term"] == "potato"  # type: ignore[index]
    assert refused({"campaign_ids": ["NOPE-1"]})["error"] == "unknown_campaign"
    assert refused({"extra": {"nonsense": "x"}})["error"] == "invalid_metadata"
    # Required facets wait for the file: embedded metadata may fill them.
    assert create(client, designer, 1000, metadata={"title": "x"}).status_code == 201
    assert count_rows(ctx.engine, "resumable_uploads") == 1


def test_size_limits_are_per_kind_and_admit_4_gib_video(
    client: TestClient, designer: dict[str, str]
) -> None:
    four_gib = 4 * 1024**3
    video = create(client, designer, four_gib, filename="cut.mp4", filetype="video/mp4")
    assert video.status_code == 201, video.text
    too_big = create(client, designer, four_gib + 1, filename="cut.mp4", filetype="video/mp4")
    assert (too_big.status_code, too_big.json()["error"]) == (413, "file_too_large")
    image = create(client, designer, 9 * 1024 * 1024, filename="big.jpg", filetype="image/jpeg")
    assert image.status_code == 413
    assert image.json()["limit_bytes"] == 8 * 1024 * 1024


def test_a_file_that_sniffs_as_a_smaller_kind_is_held_to_its_limit(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    """Declared as video to get the 4 GiB limit, but the bytes are an image above 8 MiB."""
    ctx.settings.max_upload_mib = 1
    data = image_bytes(size=(1600, 1200), seed=9)
    padded = data + b"\0" * (1024 * 1024)  # still a JPEG to the sniffer; over 1 MiB
    _, last = send_all(
        client,
        designer,
        padded,
        chunk=512 * 1024,
        filename="fake.mp4",
        filetype="video/mp4",
        metadata=GOOD_METADATA,
    )
    assert upload_error(last)["error"] == "file_too_large"
    assert upload_error(last)["status"] == 413
    _nothing_stored(ctx)


def test_refusal_at_the_last_chunk_is_reported_and_nothing_is_stored(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    small = image_bytes(size=(200, 150), seed=6)  # below the pack's photo minimum
    location, last = send_all(client, designer, small, metadata=GOOD_METADATA)
    assert "dam-asset-id" not in last.headers
    error = upload_error(last)
    assert error["status"] == 422
    assert error["error"] == "policy_violation"
    assert any(v["rule"] == "photo-min-size" for v in error["violations"])
    assert upload_error(head(client, designer, location)) == error
    _nothing_stored(ctx)
    assert _parts(ctx) == []
    # Finished: more bytes are refused, and say how it ended.
    more = patch(client, designer, location, len(small), b"x")
    assert (more.status_code, more.json()["error"]) == (409, "upload_finished")


def test_required_facets_missing_after_prefill_refuse_at_the_last_chunk(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    data = image_bytes(seed=7)
    _, last = send_all(client, designer, data, metadata={"title": "No terms"})
    error = upload_error(last)
    assert error["error"] == "invalid_terms"
    assert {p["facet"] for p in error["problems"]} == {"asset_type", "usage_rights"}
    _nothing_stored(ctx)


def test_same_bytes_twice_are_refused_as_duplicate_naming_the_asset(
    client: TestClient, designer: dict[str, str]
) -> None:
    data = image_bytes(seed=8)
    _, first = send_all(client, designer, data, metadata=GOOD_METADATA)
    _, second = send_all(client, designer, data, metadata=GOOD_METADATA)
    error = upload_error(second)
    assert error["error"] == "duplicate"
    assert error["status"] == 409
    assert error["existing_asset_id"] == first.headers["dam-asset-id"]


def test_idempotency_key_on_creation_returns_the_same_upload(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    key = {"Idempotency-Key": "shoot-0001"}
    first = create(client, designer, 1234, metadata=GOOD_METADATA, extra=key)
    again = create(client, designer, 1234, metadata=GOOD_METADATA, extra=key)
    assert again.status_code == 201
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert count_rows(ctx.engine, "resumable_uploads") == 1
    other = create(client, designer, 999, metadata=GOOD_METADATA, extra=key)
    assert other.json()["error"] == "idempotency_key_reused"


def test_uploads_belong_to_their_creator(
    client: TestClient, designer: dict[str, str], keys: Keys
) -> None:
    location = create(client, designer, 100, metadata=GOOD_METADATA).headers["location"]
    other = keys.headers(Role.designer)
    assert head(client, other, location).status_code == 404
    assert patch(client, other, location, 0, b"x").json()["error"] == "upload_not_found"
    assert client.delete(location, headers={**other, **TUS}).status_code == 404
    marketer = keys.headers(Role.marketer)
    assert create(client, marketer, 100).status_code == 403
    assert head(client, {}, location).status_code == 401


def test_termination_removes_the_upload_and_its_bytes(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    location = create(client, designer, 5000, metadata=GOOD_METADATA).headers["location"]
    patch(client, designer, location, 0, b"x" * 1000)
    assert len(_parts(ctx)) == 1
    deleted = client.delete(location, headers={**designer, **TUS})
    assert deleted.status_code == 204
    assert deleted.headers["tus-resumable"] == "1.0.0"
    assert head(client, designer, location).status_code == 404
    assert _parts(ctx) == []
    assert count_rows(ctx.engine, "resumable_uploads") == 0


def test_partial_uploads_expire_and_the_sweep_removes_them(
    client: TestClient, designer: dict[str, str], ctx: Context, clock: Clock
) -> None:
    location = create(client, designer, 5000, metadata=GOOD_METADATA).headers["location"]
    patch(client, designer, location, 0, b"x" * 1000)
    clock.advance(hours=23)
    # Writing renews the expiry.
    patch(client, designer, location, 1000, b"x" * 1000)
    clock.advance(hours=23)
    assert head(client, designer, location).status_code == 200
    assert resumable.remove_expired(ctx) == []
    clock.advance(hours=2)
    gone = head(client, designer, location)
    assert gone.status_code == 410
    assert patch(client, designer, location, 2000, b"x").json()["error"] == "upload_expired"
    assert len(resumable.remove_expired(ctx)) == 1
    assert head(client, designer, location).status_code == 404
    assert _parts(ctx) == []


def test_a_completion_cut_short_by_a_crash_is_finished_by_head(
    client: TestClient,
    designer: dict[str, str],
    ctx: Context,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every byte arrived, then the process died before the asset's transaction: the next
    HEAD (once the dead PATCH's lease lapsed) makes the asset from the bytes on disk."""
    data = image_bytes(seed=10)
    location = create(client, designer, len(data), metadata=GOOD_METADATA).headers["location"]

    def crash(*args: object, **kw: object) -> None:
        raise RuntimeError("process killed")

    monkeypatch.setattr(resumable, "complete", crash)
    assert patch(client, designer, location, 0, data).status_code == 500
    monkeypatch.undo()
    # The lease of the dead request still holds it.
    assert "dam-asset-id" not in head(client, designer, location).headers
    clock.advance(seconds=61)
    ctx.extras.pop(resumable.HASHERS_KEY, None)
    finished = head(client, designer, location)
    asset_id = finished.headers["dam-asset-id"]
    asset = client.get(f"/api/v1/assets/{asset_id}", headers=designer).json()
    assert asset["current_version"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_completion_that_fails_after_the_blob_moved_is_finished_by_head(
    client: TestClient,
    designer: dict[str, str],
    ctx: Context,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The blob store moves the file it is given into place; the upload's part file must
    outlive a failure between that and the asset's commit, so HEAD can still make the asset."""
    data = image_bytes(seed=11)
    location = create(client, designer, len(data), metadata=GOOD_METADATA).headers["location"]
    real_finish = resumable._finish

    def commit_fails(*args: Any, **kw: Any) -> None:
        raise RuntimeError("connection lost at commit")

    monkeypatch.setattr(resumable, "_finish", commit_fails)
    assert patch(client, designer, location, 0, data).status_code == 500
    monkeypatch.setattr(resumable, "_finish", real_finish)
    assert _parts(ctx), "the part file is still there"
    clock.advance(seconds=61)
    ctx.extras.pop(resumable.HASHERS_KEY, None)
    finished = head(client, designer, location)
    asset_id = finished.headers["dam-asset-id"]
    asset = client.get(f"/api/v1/assets/{asset_id}", headers=designer).json()
    assert asset["current_version"]["sha256"] == hashlib.sha256(data).hexdigest()
    download = client.get(f"/api/v1/assets/{asset_id}/content", headers=designer)
    assert download.content == data
    assert _parts(ctx) == []
    assert list((ctx.settings.data_dir / resumable.UPLOADS_DIR).glob("*.staged")) == []


def test_video_from_a_sample_file_uploads_resumably(
    client: TestClient, designer: dict[str, str]
) -> None:
    data = (FILES / "ffmpeg-h264-aac-rot90.mp4").read_bytes()
    metadata = {
        **GOOD_METADATA,
        "title": "Clip",
        "terms": {"asset_type": ["video"], "usage_rights": ["owned"]},
    }
    _, last = send_all(
        client,
        designer,
        data,
        chunk=max(1, len(data) // 4),
        filename="clip.mp4",
        filetype="video/mp4",
        metadata=metadata,
    )
    assert "dam-asset-id" in last.headers, last.headers["dam-upload-error"]
    asset = client.get(f"/api/v1/assets/{last.headers['dam-asset-id']}", headers=designer).json()
    assert asset["current_version"]["kind"] == "video"


def test_error_header_is_one_line_of_ascii_json(
    client: TestClient, designer: dict[str, str]
) -> None:
    data = image_bytes(size=(200, 150), seed=11)
    _, last = send_all(client, designer, data, metadata={**GOOD_METADATA, "title": "Été 春"})
    raw = last.headers["dam-upload-error"]
    assert raw.isascii() and "\n" not in raw
    assert json.loads(raw)["error"] == "policy_violation"
