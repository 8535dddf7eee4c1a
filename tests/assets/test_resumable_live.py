"""Resumable uploads under a real uvicorn: a connection dropped in the middle of a PATCH keeps
what arrived, and the client resumes from the offset HEAD reports, re-sending nothing twice."""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dam.app import create_app
from dam.assets import resumable
from dam.context import Context
from dam.models import Role
from tests.conftest import Keys
from tests.factories import GOOD_METADATA, image_bytes
from tests.support.live import serve
from tests.support.tus import TUS, create, head, patch

pytestmark = pytest.mark.usefixtures("db_backend")


@pytest.fixture
def base_url(ctx: Context) -> Iterator[str]:
    with serve(create_app(ctx=ctx, run_worker=False)) as (host, port):
        yield f"http://{host}:{port}"


def _drop_mid_patch(
    base_url: str, headers: dict[str, str], path: str, data: bytes, part: Path
) -> int:
    """Send a PATCH announcing all of `data`, send half of it, and cut the connection once the
    server has written some of it (uvicorn drops what it buffered but the app had not read)."""
    host, port = base_url.removeprefix("http://").split(":")
    sent = len(data) // 2
    lines = [
        f"PATCH {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Tus-Resumable: 1.0.0",
        "Upload-Offset: 0",
        "Content-Type: application/offset+octet-stream",
        f"Content-Length: {len(data)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        sock.sendall(data[:sent])
        for _ in range(400):
            if part.is_file() and part.stat().st_size > 0:
                break
            time.sleep(0.025)
    return sent


def test_dropped_connection_keeps_what_arrived_and_resume_completes(
    base_url: str, keys: Keys, ctx: Context
) -> None:
    designer = keys.headers(Role.designer)
    # A JPEG with 3 MiB of noise after its end: enough bytes to cut a transfer in the middle.
    data = image_bytes(size=(2400, 1800), seed=21) + os.urandom(3 * 1024 * 1024)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        location = create(client, designer, len(data), metadata=GOOD_METADATA).headers["location"]
        part = resumable.part_path(ctx, uuid.UUID(location.rsplit("/", 1)[1]))
        sent = _drop_mid_patch(base_url, designer, location, data, part)
        # The server notices the drop, records the bytes it wrote and lets the upload go
        # (the offset is recorded when the PATCH lets go, so a non-zero one means it has).
        offset = 0
        for _ in range(200):
            offset = int(head(client, designer, location).headers["upload-offset"])
            if offset:
                break
            time.sleep(0.05)
        assert 0 < offset <= sent
        last = patch(client, designer, location, offset, data[offset:])
        assert last.status_code == 204, last.text
        asset_id = last.headers["dam-asset-id"]
        asset = client.get(f"/api/v1/assets/{asset_id}", headers=designer).json()
        assert asset["current_version"]["sha256"] == hashlib.sha256(data).hexdigest()
        assert head(client, designer, location).headers["dam-asset-id"] == asset_id
        assert client.options("/api/v1/uploads", headers={**designer, **TUS}).status_code == 204
