"""Issue 20: the prefill answer names the assets that look nearly the same as a file not
uploaded yet (`similar`), so the upload form shows near-duplicates before anything is sent."""

from __future__ import annotations

import io
import json

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from dam.context import Context
from dam.worker import run_pending
from tests.conftest import count_rows

pytestmark = pytest.mark.usefixtures("db_backend")
META = {
    "title": "Pier in fog",
    "description": "A pier in fog.",
    "terms": {"asset_type": ["graphic"], "usage_rights": ["owned"], "brand": ["halden"]},
}


def _picture(kind: int, size: tuple[int, int] = (800, 600), quality: int = 90) -> bytes:
    image = Image.new("RGB", (800, 600), (30, 60, 120))
    draw = ImageDraw.Draw(image)
    if kind == 1:
        draw.ellipse((100, 100, 400, 450), fill=(240, 200, 40))
        draw.rectangle((450, 50, 750, 300), fill=(200, 40, 40))
    else:
        draw.rectangle((50, 300, 700, 560), fill=(20, 200, 90))
        draw.ellipse((500, 50, 780, 250), fill=(250, 250, 250))
    out = io.BytesIO()
    image.resize(size).save(out, "JPEG", quality=quality)
    return out.getvalue()


def _prefill(client: TestClient, headers: dict[str, str], data: bytes) -> dict:  # type: ignore[type-arg]
    response = client.post(
        "/api/v1/governance/prefill",
        headers=headers,
        files={"file": ("export.jpg", data, "image/jpeg")},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_prefill_lists_lookalikes_with_thumbnails_and_stores_nothing(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    assert _prefill(client, designer, _picture(1))["similar"] == []  # an empty library
    made = client.post(
        "/api/v1/assets",
        headers=designer,
        files={"file": ("pier.jpg", _picture(1), "image/jpeg")},
        data={"metadata": json.dumps(META)},
    )
    assert made.status_code == 201, made.text
    asset_id = made.json()["id"]
    before = _prefill(client, designer, _picture(1, (640, 480), quality=50))
    assert [(h["id"], h["title"], h["thumbnail_url"]) for h in before["similar"]] == [
        (asset_id, "Pier in fog", None)  # no thumbnail yet
    ]
    assert before["similar"][0]["distance"] <= 6
    assert before["phash"] and len(before["phash"]) == 16
    run_pending(ctx)
    after = _prefill(client, designer, _picture(1, (640, 480), quality=50))
    assert after["similar"][0]["thumbnail_url"] == (
        f"/api/v1/assets/{asset_id}/renditions/thumb?version=1"
    )
    assert _prefill(client, designer, _picture(2))["similar"] == []  # another picture
    assert count_rows(ctx.engine, "assets") == 1
