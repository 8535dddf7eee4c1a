"""Every accepted kind gets real previews from the worker, through the HTTP API, on SQLite and
PostgreSQL; the API only ever advertises renditions that exist."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import av
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session, col, select

import dam.media.heif  # noqa: F401  (HEIF encoding for the photo sample)
from dam.context import Context
from dam.models import JobStatus, OutboxJob
from dam.worker import run_pending
from tests.conftest import count_rows
from tests.factories import upload

pytestmark = pytest.mark.usefixtures("db_backend")

FILES = Path(__file__).resolve().parents[1] / "media" / "files"


def metadata(asset_type: str) -> dict[str, Any]:
    return {
        "title": f"Sample {asset_type}",
        "description": f"A real {asset_type} file published by others, for preview tests.",
        "terms": {"asset_type": [asset_type], "usage_rights": ["owned"]},
    }


def send(
    client: TestClient,
    headers: dict[str, str],
    name: str,
    asset_type: str,
    *,
    tmp_path: Path | None = None,
) -> Any:
    if name == "photo.heic":
        assert tmp_path is not None
        source = tmp_path / name
        Image.new("RGB", (1600, 1200), (30, 90, 160)).save(source, "HEIF", quality=60)
    else:
        source = FILES / name
    response = upload(
        client,
        headers,
        source.read_bytes(),
        filename=name,
        content_type="application/octet-stream",
        metadata=metadata(asset_type),
    )
    assert response.status_code == 201, response.text
    return response.json()


def image_size(response: Any) -> tuple[int, int]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(response.content)) as img:
        assert img.format == "WEBP"
        return img.size


def rendition(client: TestClient, headers: dict[str, str], asset_id: str, name: str) -> Any:
    return client.get(f"/api/v1/assets/{asset_id}/renditions/{name}", headers=headers)


def version_json(client: TestClient, headers: dict[str, str], asset_id: str) -> Any:
    return client.get(f"/api/v1/assets/{asset_id}", headers=headers).json()["current_version"]


@pytest.mark.parametrize(
    ("name", "asset_type", "expected"),
    [
        ("feather-camera.svg", "logo", {"thumb": (256, 256), "preview": (1024, 1024)}),
        (
            "pypdf-pdflatex-4-pages.pdf",
            "document",
            {
                "thumb": (181, 256),
                "preview": (725, 1024),
                "page-1": (181, 256),
                "page-2": (182, 256),
                "page-3": (182, 256),
                "page-4": (182, 256),
            },
        ),
        ("pymediainfo-sample-1080p.mp4", "video", {"thumb": (256, 144), "preview": (1024, 576)}),
        # An iPhone-sized photo made with pillow-heif's encoder (the photo rules want 1200 px).
        ("photo.heic", "photo", {"thumb": (256, 192), "preview": (1024, 768)}),
    ],
)
def test_every_kind_gets_its_renditions_from_the_worker(
    client: TestClient,
    designer: dict[str, str],
    ctx: Context,
    tmp_path: Path,
    name: str,
    asset_type: str,
    expected: dict[str, tuple[int, int]],
) -> None:
    body = send(client, designer, name, asset_type, tmp_path=tmp_path)
    asset_id = body["id"]
    assert body["current_version"]["previews"]["status"] == "pending"
    pending = rendition(client, designer, asset_id, "thumb")
    assert (pending.status_code, pending.json()["error"]) == (404, "rendition_pending")

    assert run_pending(ctx) >= 2
    for rendition_name, size in expected.items():
        assert image_size(rendition(client, designer, asset_id, rendition_name)) == size
    version = version_json(client, designer, asset_id)
    planned = sorted([*expected, "clip"] if asset_type == "video" else expected)
    assert version["renditions"] == planned
    assert version["previews"] == {
        "status": "ready",
        "error": None,
        "placeholders": [],
        "pending": [],
    }
    if asset_type == "video":
        clip = rendition(client, designer, asset_id, "clip")
        assert clip.headers["content-type"] == "video/mp4"
        with av.open(io.BytesIO(clip.content)) as container:
            assert container.streams.video[0].codec_context.name == "h264"
        assert version["media"] == {
            "duration": 1.043,
            "video_codec": "h264",
            "audio_codec": "aac",
            "frame_rate": 23.976,
            "bit_rate": 3103968,
            "has_audio": True,
        }
    if asset_type == "document":
        assert version["media"] == {"pages": 4, "pdf_version": "1.5"}
        missing = rendition(client, designer, asset_id, "page-5")
        assert (missing.status_code, missing.json()["error"]) == (404, "rendition_not_available")


def test_search_advertises_a_thumbnail_only_once_it_exists(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    asset_id = send(client, designer, "graphviz.svg", "logo")["id"]
    later = ctx.now() + timedelta(days=1)
    with Session(ctx.engine) as session:
        session.execute(
            sa.update(OutboxJob).where(col(OutboxJob.kind) == "renditions").values(run_after=later)
        )
        session.commit()
    run_pending(ctx)  # the index job only
    hits = client.get("/api/v1/search", params={"q": "sample"}, headers=designer).json()["items"]
    assert [(h["id"], h["thumbnail_url"]) for h in hits] == [(asset_id, None)]

    ctx.clock.advance(days=2)  # type: ignore[attr-defined]
    assert run_pending(ctx) >= 1
    hits = client.get("/api/v1/search", params={"q": "sample"}, headers=designer).json()["items"]
    url = f"/api/v1/assets/{asset_id}/renditions/thumb?version=1"
    assert [h["thumbnail_url"] for h in hits] == [url]
    assert image_size(client.get(url, headers=designer)) == (256, 19)


def test_password_protected_pdf_is_stored_flagged_with_a_placeholder_preview(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    body = send(client, designer, "pypdf-r6-user-password.pdf", "document")
    assert body["current_version"]["media"] == {"encrypted": True, "password_required": True}
    assert (body["current_version"]["width"], body["current_version"]["height"]) == (None, None)
    run_pending(ctx)
    response = rendition(client, designer, body["id"], "preview")
    assert image_size(response) == (1024, 768)
    assert response.headers["cache-control"] == "private, no-cache"
    previews = version_json(client, designer, body["id"])["previews"]
    assert previews == {
        "status": "ready",
        "error": None,
        "placeholders": ["preview", "thumb"],
        "pending": [],
    }


def _use_bomb() -> bytes:
    body = '<defs><rect id="l0" width="1" height="1"/>'
    for level in range(1, 9):
        uses = "".join(f'<use href="#l{level - 1}" x="{j}"/>' for j in range(10))
        body += f'<g id="l{level}">{uses}</g>'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">{body}</defs>'
        '<use href="#l8"/></svg>'
    ).encode()


def test_a_file_no_renderer_can_draw_fails_its_job_once_with_a_reason_and_placeholders(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    response = upload(client, designer, _use_bomb(), filename="bomb.svg", metadata=metadata("logo"))
    assert response.status_code == 201, response.text
    asset_id = response.json()["id"]
    run_pending(ctx)
    with Session(ctx.engine) as session:
        job = session.exec(select(OutboxJob).where(OutboxJob.kind == "renditions")).one()
    assert job.status == JobStatus.failed
    assert job.attempts == 1  # given up at once, not retried eight times
    assert job.last_error is not None and "nodes limit reached" in job.last_error

    thumb = rendition(client, designer, asset_id, "thumb")
    assert image_size(thumb) == (256, 192)  # a placeholder tile, not a broken image
    assert thumb.headers["cache-control"] == "private, no-cache"
    previews = version_json(client, designer, asset_id)["previews"]
    assert previews["status"] == "failed"
    assert "nodes limit reached" in previews["error"]
    assert previews["placeholders"] == ["preview", "thumb"]


@pytest.mark.parametrize(
    ("name", "asset_type", "status", "error"),
    [
        ("pymediainfo-empty.mp4", "video", 422, "no_decodable_stream"),
        ("ffmpeg-audio.m4a", "video", 422, "policy_violation"),
    ],
)
def test_files_without_a_picture_or_refused_by_the_pack_store_nothing(
    client: TestClient,
    designer: dict[str, str],
    ctx: Context,
    name: str,
    asset_type: str,
    status: int,
    error: str,
) -> None:
    response = upload(
        client,
        designer,
        (FILES / name).read_bytes(),
        filename=name,
        metadata=metadata(asset_type),
    )
    assert (response.status_code, response.json()["error"]) == (status, error)
    if error == "policy_violation":
        rules = {v["rule"] for v in response.json()["violations"]}
        assert "no-audio-only" in rules
    assert count_rows(ctx.engine, "assets") == 0
    assert list(ctx.store.iter_keys("blobs/")) == []
