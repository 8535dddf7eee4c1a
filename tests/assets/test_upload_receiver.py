"""The streaming multipart receiver on its own: bytes hashed and written off the event loop in
batches, whatever the chunking of the body; nothing left behind when a body fails."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from dam.assets import upload as upload_module
from dam.assets.upload import FLUSH_BYTES, ReceivedUpload, receive_upload
from dam.errors import BadRequest, Invalid, PayloadTooLarge

BOUNDARY = "dam-test-boundary-7f3a"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
# More than three batches, not a multiple of a batch, with every byte value.
PAYLOAD = (bytes(range(256)) * (FLUSH_BYTES // 256 + 7)) * 3 + b"\r\n--dam-test-boundary-7f"


def body(payload: bytes, *, metadata: str = '{"title": "Größe"}', close: bool = True) -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{metadata}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode() if close else b""
    return head + payload + tail


async def chunked(data: bytes, sizes: Iterable[int]) -> AsyncIterator[bytes]:
    pos = 0
    sizes = list(sizes)
    n = 0
    while pos < len(data):
        step = sizes[n % len(sizes)]
        n += 1
        yield data[pos : pos + step]
        pos += step
        await asyncio.sleep(0)


async def failing(data: bytes, after: int) -> AsyncIterator[bytes]:
    yield data[:after]
    raise ConnectionResetError("client went away")


def receive(stream: AsyncIterator[bytes], tmp: Path, *, max_bytes: int = 1 << 30) -> ReceivedUpload:
    return asyncio.run(
        receive_upload(
            content_type=CONTENT_TYPE,
            content_length=None,
            stream=stream,
            tmp_dir=tmp,
            max_bytes=max_bytes,
            max_field_bytes=64 * 1024,
        )
    )


@pytest.mark.parametrize("sizes", [[65536], [1], [7, 262144, 13], [FLUSH_BYTES + 1]])
def test_file_part_is_stored_and_hashed_exactly_whatever_the_chunking(
    tmp_path: Path, sizes: list[int]
) -> None:
    data = body(PAYLOAD) if sizes != [1] else body(PAYLOAD[: 3 * 4096 + 5])
    expected = PAYLOAD if sizes != [1] else PAYLOAD[: 3 * 4096 + 5]

    received = receive(chunked(data, sizes), tmp_path)

    assert received.path.read_bytes() == expected
    assert received.sha256 == hashlib.sha256(expected).hexdigest()
    assert received.size == len(expected)
    assert received.fields == {"metadata": '{"title": "Größe"}'}
    assert received.filename == "a.bin"
    received.discard()
    assert list(tmp_path.iterdir()) == []


def test_file_is_synced_to_disk_before_it_is_returned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(upload_module.os, "fdatasync", lambda fd: (synced.append(fd), real(fd)))

    received = receive(chunked(body(b"small"), [4096]), tmp_path)

    assert len(synced) == 1
    assert received.path.read_bytes() == b"small"


def test_oversize_file_is_refused_mid_stream_and_leaves_no_temp_file(tmp_path: Path) -> None:
    with pytest.raises(PayloadTooLarge):
        receive(chunked(body(PAYLOAD), [65536]), tmp_path, max_bytes=2 * FLUSH_BYTES)

    assert list(tmp_path.iterdir()) == []


def test_client_gone_mid_file_leaves_no_temp_file(tmp_path: Path) -> None:
    data = body(PAYLOAD)

    with pytest.raises(ConnectionResetError):
        receive(failing(data, len(data) // 2), tmp_path)

    assert list(tmp_path.iterdir()) == []


def test_body_ending_inside_the_file_part_is_refused_without_a_temp_file(tmp_path: Path) -> None:
    with pytest.raises((Invalid, BadRequest)):
        receive(chunked(body(PAYLOAD, close=False), [65536]), tmp_path)

    assert list(tmp_path.iterdir()) == []


def test_form_refused_by_the_parsing_thread_after_the_file_leaves_no_temp_file(
    tmp_path: Path,
) -> None:
    # The batches are parsed off the loop: a second 'file' part, seen batches after the first
    # file's bytes were written, is refused as a 4xx and its temp file removed.
    second = (
        f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="b.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\nmore"
    ).encode()
    data = body(PAYLOAD + second)

    with pytest.raises(Invalid) as refused:
        receive(chunked(data, [65536]), tmp_path)

    assert refused.value.code == "invalid_form"
    assert list(tmp_path.iterdir()) == []
