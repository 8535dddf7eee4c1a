"""Streaming multipart reception: the file part goes straight to a temp file while its SHA-256
and size are computed and the byte limit enforced; nothing holds the whole body in memory."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header

from dam.errors import BadRequest, Invalid, PayloadTooLarge

FILE_FIELD = "file"
TEXT_FIELDS = frozenset({"metadata"})


@dataclass
class ReceivedUpload:
    """A received file on local disk. Call `discard()` when done (the service does)."""

    path: Path
    sha256: str
    size: int
    filename: str | None
    declared_type: str | None
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
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
        self.hasher = hashlib.sha256()
        self.size = 0
        self.filename: str | None = None
        self.declared_type: str | None = None

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
        chunk = data[start:end]
        if self.part.name == FILE_FIELD and self.file is not None:
            self.size += len(chunk)
            if self.size > self.max_bytes:
                raise PayloadTooLarge(
                    f"the file exceeds the upload limit of {self.max_bytes} bytes",
                    code="file_too_large",
                    limit_bytes=self.max_bytes,
                )
            self.hasher.update(chunk)
            self.file.write(chunk)
        else:
            self.part.text += chunk
            if len(self.part.text) > self.max_field_bytes:
                raise PayloadTooLarge(
                    f"form field {self.part.name!r} exceeds {self.max_field_bytes} bytes",
                    code="field_too_large",
                )

    def on_part_end(self) -> None:
        if self.part.name == FILE_FIELD:
            if self.file is not None:
                self.file.close()
                self.file = None
        elif self.part.name is not None:
            try:
                self.fields[self.part.name] = self.part.text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise Invalid(
                    f"form field {self.part.name!r} is not valid UTF-8", code="invalid_form"
                ) from exc

    def cleanup(self) -> None:
        if self.file is not None:
            self.file.close()
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
    parser = MultipartParser(
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
    try:
        async for chunk in stream:
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        receiver.cleanup()
        raise BadRequest(f"malformed multipart body: {exc}", code="invalid_form") from exc
    except BaseException:
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
