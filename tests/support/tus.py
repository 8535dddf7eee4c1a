"""A small tus 1.0.0 client for tests: create, PATCH in chunks, HEAD (over TestClient or httpx)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

TUS = {"Tus-Resumable": "1.0.0"}
UPLOADS = "/api/v1/uploads"


def tus_metadata(
    *, filename: str | None = None, filetype: str | None = None, metadata: Any = None
) -> str:
    pairs = {}
    if filename is not None:
        pairs["filename"] = filename
    if filetype is not None:
        pairs["filetype"] = filetype
    if metadata is not None:
        pairs["metadata"] = metadata if isinstance(metadata, str) else json.dumps(metadata)
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def create(
    client: httpx.Client,
    headers: dict[str, str],
    length: int,
    *,
    filename: str | None = "hero.jpg",
    filetype: str | None = "image/jpeg",
    metadata: Any = None,
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {**headers, **TUS, "Upload-Length": str(length), **(extra or {})}
    encoded = tus_metadata(filename=filename, filetype=filetype, metadata=metadata)
    if encoded:
        sent["Upload-Metadata"] = encoded
    return client.post(UPLOADS, headers=sent)


def patch(
    client: httpx.Client, headers: dict[str, str], location: str, offset: int, data: bytes
) -> httpx.Response:
    return client.patch(
        location,
        headers={
            **headers,
            **TUS,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        },
        content=data,
    )


def head(client: httpx.Client, headers: dict[str, str], location: str) -> httpx.Response:
    return client.head(location, headers={**headers, **TUS})


def send_all(
    client: httpx.Client,
    headers: dict[str, str],
    data: bytes,
    *,
    chunk: int = 64 * 1024,
    **create_kw: Any,
) -> tuple[str, httpx.Response]:
    """Create and send every chunk; returns the upload's location and the last PATCH's answer."""
    created = create(client, headers, len(data), **create_kw)
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    offset = 0
    last: httpx.Response | None = None
    while offset < len(data):
        last = patch(client, headers, location, offset, data[offset : offset + chunk])
        assert last.status_code == 204, last.text
        offset = int(last.headers["upload-offset"])
    assert last is not None
    return location, last


def upload_error(response: httpx.Response) -> dict[str, Any]:
    return dict(json.loads(response.headers["dam-upload-error"]))
