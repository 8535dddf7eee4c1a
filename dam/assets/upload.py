"""Streaming multipart reception: the file part goes straight to a temp file while its SHA-256
and size are computed and the byte limit enforced; nothing holds the whole body in memory.

The event loop, which receives every connection, only gathers the body's chunks (no copy) into
batches of `FLUSH_BYTES`; a thread parses each batch (python-multipart), hashes the file's bytes
and writes them, while the loop receives the next one (hashlib and file writes release the GIL),
at most one batch in flight per upload. So the loop's work per byte is the HTTP server's alone,
and concurrent uploads parse, hash and write on threads of their own. The temp file is synced to
disk before it is returned, so the blob store can rename it into place (same filesystem) instead
of writing the bytes a second time.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header

from dam.errors import BadRequest, Invalid, PayloadTooLarge

FILE_FIELD = "file"
TEXT_FIELDS = frozenset({"metadata"})
# Body bytes gathered before a batch goes to a thread: large enough that the hand-over costs
# nothing, small enough that two batches per upload (one processed, one gathered) stay small.
FLUSH_BYTES = 1024 * 1024
# While the upload streams, the writer thread asks the kernel every so often to start writing
# the bytes so far to disk (without waiting for it), so the sync at the end has little left to
# wait for: the disk works while the network does, instead of after it.
WRITEBACK_EVERY_BYTES = 8 * 1024 * 1024


@dataclass
class ReceivedUpload:
    """A received file on local disk, synced. When `owned` (a file the upload wrote itself),
    storing it may move it into the blob store (`BlobStore.put_file(move=True)`), and
    `discard()` removes whatever is left; a file that is somebody else's (`dam import` reads
    the shoot's files in place) is copied and never removed."""

    path: Path
    sha256: str
    size: int
    filename: str | None
    declared_type: str | None
    fields: dict[str, str] = field(default_factory=dict)
    owned: bool = True

    def discard(self) -> None:
        if self.owned:
            self.path.unlink(missing_ok=True)


@dataclass
class _Part:
    name: str | None = None
    filename: str | None = None
    content_type: str | None = None
    text: bytearray = field(default_factory=bytearray)


class _Receiver:
    def __init__(self, *, tmp_dir: Path, max_bytes: int, max_field_bytes: int) -> None:
        self.tmp_dir = tmp_dir
        self.max_bytes = max_bytes
        self.max_field_bytes = max_field_bytes
        self.part = _Part()
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.headers: dict[str, bytes] = {}
        self.fields: dict[str, str] = {}
        self.file: IO[bytes] | None = None
        self.file_path: Path | None = None
        self.file_seen = False
        self.file_done = False
        self.hasher = hashlib.sha256()
        self.size = 0
        # Views of the file's bytes not yet handed to the writer thread, and their size.
        self.pending: list[memoryview] = []
        self.pending_bytes = 0
        self.written = 0  # bytes written to the file so far
        self.flushed = 0  # of which the kernel was asked to write back
        self.filename: str | None = None
        self.declared_type: str | None = None
        self.parser: MultipartParser | None = None

    # python-multipart callbacks ------------------------------------------------------------
    def on_part_begin(self) -> None:
        self.part = _Part()
        self.headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.decode("latin-1").lower()] = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        # Kept as bytes: browsers send UTF-8 filenames raw, which a str round-trip would mangle.
        _, params = parse_options_header(self.headers.get("content-disposition", b""))
        name = params.get(b"name")
        self.part.name = name.decode("utf-8", "replace") if name is not None else None
        filename = params.get(b"filename")
        self.part.filename = filename.decode("utf-8", "replace") if filename is not None else None
        ctype = self.headers.get("content-type")
        self.part.content_type = ctype.decode("latin-1") if ctype is not None else None
        if self.part.name == FILE_FIELD:
            if self.file_seen:
                raise Invalid("send exactly one 'file' part", code="invalid_form")
            self.file_seen = True
            self.filename = self.part.filename
            self.declared_type = self.part.content_type
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, name_ = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=self.tmp_dir)
            self.file = os.fdopen(fd, "wb")
            self.file_path = Path(name_)
        elif self.part.name not in TEXT_FIELDS:
            raise Invalid(
                f"unknown form field {self.part.name!r}; expected 'file' and optional 'metadata'",
                code="invalid_form",
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.name == FILE_FIELD and self.file is not None:
            self.size += end - start
            if self.size > self.max_bytes:
                raise PayloadTooLarge(
                    f"the file exceeds the upload limit of {self.max_bytes} bytes",
                    code="file_too_large",
                    limit_bytes=self.max_bytes,
                )
            # The parser's buffers are immutable bytes: a view of them stays valid.
            view = (
                memoryview(data)[start:end]
                if isinstance(data, bytes)
                else memoryview(data[start:end])
            )
            self.pending.append(view)
            self.pending_bytes += len(view)
        else:
            self.part.text += data[start:end]
            if len(self.part.text) > self.max_field_bytes:
                raise PayloadTooLarge(
                    f"form field {self.part.name!r} exceeds {self.max_field_bytes} bytes",
                    code="field_too_large",
                )

    def on_part_end(self) -> None:
        if self.part.name == FILE_FIELD:
            if self.file is not None:
                self.file_done = True
        elif self.part.name is not None:
            try:
                self.fields[self.part.name] = self.part.text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise Invalid(
                    f"form field {self.part.name!r} is not valid UTF-8", code="invalid_form"
                ) from exc

    # in a thread, one batch at a time ---------------------------------------------------------
    def process(self, chunks: list[bytes], *, last: bool) -> None:
        """Parse a batch of the body's chunks, then hash and write the file's bytes they held;
        after the last, end the form and, when the file part is complete, sync and close it."""
        assert self.parser is not None
        for chunk in chunks:
            self.parser.write(chunk)
        if last:
            self.parser.finalize()
        if self.file is None:
            return
        if last and self.file_done:
            self.write_batch(self.take_batch(), last=True)
        elif self.pending:
            self.write_batch(self.take_batch())

    def take_batch(self) -> list[memoryview]:
        batch, self.pending, self.pending_bytes = self.pending, [], 0
        return batch

    def write_batch(self, batch: list[memoryview], *, last: bool = False) -> None:
        """Hash and write one batch (and, for the last, sync and close)."""
        file = self.file
        assert file is not None
        for view in batch:
            self.hasher.update(view)
            file.write(view)
            self.written += len(view)
        if last:
            file.flush()
            # fdatasync: the size is metadata it does sync; the mtime is not needed.
            os.fdatasync(file.fileno())
        elif self.written - self.flushed >= WRITEBACK_EVERY_BYTES:
            file.flush()
            start_writeback(file.fileno(), self.flushed, self.written - self.flushed)
            self.flushed = self.written
        if last:
            file.close()
            self.file = None

    def cleanup(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        if self.file_path is not None:
            self.file_path.unlink(missing_ok=True)


async def receive_upload(
    *,
    content_type: str | None,
    content_length: str | None,
    stream: AsyncIterator[bytes],
    tmp_dir: Path,
    max_bytes: int,
    max_field_bytes: int,
) -> ReceivedUpload:
    ctype, params = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise Invalid("send multipart/form-data with a 'file' part", code="invalid_form")
    # Refuse an announced oversize body before reading a byte of it.
    overhead = max_field_bytes + 64 * 1024
    if content_length and content_length.isdigit() and int(content_length) > max_bytes + overhead:
        raise PayloadTooLarge(
            f"the request body exceeds the upload limit of {max_bytes} bytes",
            code="file_too_large",
            limit_bytes=max_bytes,
        )
    receiver = _Receiver(tmp_dir=tmp_dir, max_bytes=max_bytes, max_field_bytes=max_field_bytes)
    receiver.parser = MultipartParser(
        params[b"boundary"],
        callbacks={
            "on_part_begin": receiver.on_part_begin,
            "on_part_data": receiver.on_part_data,
            "on_part_end": receiver.on_part_end,
            "on_header_field": receiver.on_header_field,
            "on_header_value": receiver.on_header_value,
            "on_header_end": receiver.on_header_end,
            "on_headers_finished": receiver.on_headers_finished,
        },
    )
    loop = asyncio.get_running_loop()
    writing: asyncio.Future[None] | None = None
    chunks: list[bytes] = []
    gathered = 0
    try:
        async for chunk in stream:
            chunks.append(chunk)
            gathered += len(chunk)
            if gathered >= FLUSH_BYTES:
                if writing is not None:
                    await writing
                writing = loop.run_in_executor(None, partial(receiver.process, chunks, last=False))
                chunks, gathered = [], 0
        if writing is not None:
            await writing
            writing = None
        await loop.run_in_executor(None, partial(receiver.process, chunks, last=True))
    except MultipartParseError as exc:
        await _settle(writing)
        receiver.cleanup()
        raise BadRequest(f"malformed multipart body: {exc}", code="invalid_form") from exc
    except BaseException:
        await _settle(writing)
        receiver.cleanup()
        raise
    if receiver.file_path is None or receiver.file is not None:
        receiver.cleanup()
        raise Invalid("the form has no complete 'file' part", code="missing_file")
    return ReceivedUpload(
        path=receiver.file_path,
        sha256=receiver.hasher.hexdigest(),
        size=receiver.size,
        filename=receiver.filename,
        declared_type=receiver.declared_type,
        fields=receiver.fields,
    )


def _load_sync_file_range() -> Callable[[int, int, int], None] | None:
    """Linux's sync_file_range(SYNC_FILE_RANGE_WRITE): start writing a range back to disk and
    return at once. Not in the os module; None where libc has no such function."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    sync_file_range_write = 2

    def call(fd: int, offset: int, nbytes: int) -> None:
        # A refusal only means the final fdatasync does all the work; never an upload error.
        fn(fd, offset, nbytes, sync_file_range_write)

    return call


_SYNC_FILE_RANGE = _load_sync_file_range()


def start_writeback(fd: int, offset: int, nbytes: int) -> None:
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, nbytes)


async def _settle(writing: asyncio.Future[None] | None) -> None:
    """Let a batch still being written finish before its file is closed and removed."""
    if writing is not None:
        await asyncio.wait([writing])
        if not writing.cancelled():
            writing.exception()  # retrieved: the error that ended the upload is the one raised
