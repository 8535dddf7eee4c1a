"""Small factories for API tests: image bytes and upload calls."""

from __future__ import annotations

import io
import json
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from PIL import Image, ImageDraw

GOOD_METADATA: dict[str, Any] = {
    "title": "Trail runner at dawn",
    "description": "Lifestyle photo of a trail runner on a ridge at sunrise, for spring social.",
    "tags": ["spring", "running"],
    "terms": {"asset_type": ["photo"], "usage_rights": ["owned"]},
}


def image_bytes(
    size: tuple[int, int] = (1600, 1200),
    color: tuple[int, int, int] = (40, 120, 200),
    fmt: str = "JPEG",
    mode: str = "RGB",
    seed: int = 0,
) -> bytes:
    """A distinct image per `seed` (different pixels, so different hashes and pHashes)."""
    image = Image.new("RGB", size, color)
    if seed:
        # Blocks placed by the seed make the perceptual hashes differ, not just the bytes.
        draw = ImageDraw.Draw(image)
        inverse = (255 - color[0], 255 - color[1], 255 - color[2])
        cells = 4
        w, h = size[0] // cells, size[1] // cells
        for i in range(cells * cells):
            if (seed >> (i % 16)) & 1 or (seed * 7 + i) % 3 == 0:
                x, y = (i % cells) * w, (i // cells) * h
                draw.rectangle((x, y, x + w - 1, y + h - 1), fill=inverse)
    if mode != "RGB":
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def upload(
    client: TestClient,
    headers: dict[str, str],
    data: bytes,
    *,
    filename: str = "hero.jpg",
    content_type: str = "image/jpeg",
    metadata: dict[str, Any] | str | None = GOOD_METADATA,
    path: str = "/api/v1/assets",
    extra_headers: dict[str, str] | None = None,
) -> Response:
    form: dict[str, str] = {}
    if metadata is not None:
        form["metadata"] = metadata if isinstance(metadata, str) else json.dumps(metadata)
    return client.post(
        path,
        headers={**headers, **(extra_headers or {})},
        files={"file": (filename, data, content_type)},
        data=form,
    )


def same_picture(a: bytes, b: bytes) -> bool:
    """The same pixels: what a delivered copy keeps of its original (only metadata differs)."""
    with Image.open(io.BytesIO(a)) as first, Image.open(io.BytesIO(b)) as second:
        return first.size == second.size and first.tobytes() == second.tobytes()
