"""The blob store interface shared by the filesystem and S3 backends.

Blobs are content-addressed: the key of an original is derived from its SHA-256, so writing the
same bytes twice is harmless and a key can never point at other bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

BLOB_PREFIX = "blobs/"
RENDITION_PREFIX = "renditions/"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def blob_key(sha256: str) -> str:
    if not _SHA256.match(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return f"{BLOB_PREFIX}{sha256[:2]}/{sha256[2:4]}/{sha256}"


def rendition_key(sha256: str, kind: str, *, ext: str = "webp") -> str:
    """Renditions derive from the original's bytes, so they are keyed by its digest too."""
    if (
        not _SHA256.match(sha256)
        or not re.fullmatch(r"[a-z0-9_]+(-[0-9]+)?", kind)
        or not re.fullmatch(r"[a-z0-9]+", ext)
    ):
        raise ValueError("bad rendition key parts")
    return f"{RENDITION_PREFIX}{sha256[:2]}/{sha256[2:4]}/{sha256}/{kind}.{ext}"


def sha256_from_blob_key(key: str) -> str | None:
    if not key.startswith(BLOB_PREFIX):
        return None
    tail = key.rsplit("/", 1)[-1]
    return tail if _SHA256.match(tail) and blob_key(tail) == key else None


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    content_type: str | None
    # Lets the storage check leave alone blobs whose database row may not be committed yet.
    modified: datetime | None = None


class BlobStore(Protocol):
    """What every backend offers. Keys are relative, `/`-separated, never from a client."""

    name: str

    def put_file(self, key: str, path: Path, *, content_type: str) -> None:
        """Store a local file under `key`; streams, bounded memory; overwrites atomically."""

    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store small objects (renditions)."""

    def exists(self, key: str) -> bool: ...

    def stat(self, key: str) -> BlobInfo:
        """Raises `BlobNotFound` when absent."""
        ...

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream bytes `start..end` (inclusive end, like HTTP ranges) in chunks.

        Raises `BlobNotFound` at call time, before the first chunk, so a caller can still answer
        404. An `end` past the last byte is clamped; a `start` past the end of a non-empty blob
        raises `ValueError`.
        """
        ...

    def delete(self, key: str) -> None: ...

    def iter_keys(self, prefix: str) -> Iterator[str]: ...

    def presigned_url(
        self, key: str, *, expires_seconds: int, filename: str, content_type: str, inline: bool
    ) -> str | None:
        """A short-lived direct URL, or None when the backend has none (filesystem)."""
        ...

    def ping(self) -> None:
        """Raise `StorageUnavailable` if the store is unreachable (readiness)."""

    def init(self) -> list[str]:
        """Create what the backend needs (bucket, versioning, lifecycle); return what was done."""
        ...


class BlobNotFound(KeyError):
    pass


def check_range(start: int, end: int | None) -> None:
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"invalid byte range {start}-{'' if end is None else end}")


class StorageUnavailable(RuntimeError):
    """The backend cannot be reached or written; raised by `ping` with the backend's reason."""
