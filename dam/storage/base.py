"""The blob store interface shared by the filesystem and S3 backends.

Blobs are content-addressed: the key of an original is derived from its SHA-256, so writing the
same bytes twice is harmless and a key can never point at other bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

BLOB_PREFIX = "blobs/"
RENDITION_PREFIX = "renditions/"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def blob_key(sha256: str) -> str:
    if not _SHA256.match(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return f"{BLOB_PREFIX}{sha256[:2]}/{sha256[2:4]}/{sha256}"


def rendition_key(sha256: str, kind: str) -> str:
    """Renditions derive from the original's bytes, so they are keyed by its digest too."""
    if not _SHA256.match(sha256) or not re.fullmatch(r"[a-z0-9_]+", kind):
        raise ValueError("bad rendition key parts")
    return f"{RENDITION_PREFIX}{sha256[:2]}/{sha256[2:4]}/{sha256}/{kind}.webp"


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
        """Stream bytes `start..end` (inclusive end, like HTTP ranges) in chunks."""
        ...

    def delete(self, key: str) -> None: ...

    def iter_keys(self, prefix: str) -> Iterator[str]: ...

    def presigned_url(
        self, key: str, *, expires_seconds: int, filename: str, content_type: str, inline: bool
    ) -> str | None:
        """A short-lived direct URL, or None when the backend has none (filesystem)."""
        ...

    def ping(self) -> None:
        """Raise if the store is unreachable (readiness)."""

    def init(self) -> list[str]:
        """Create what the backend needs (bucket, versioning, lifecycle); return what was done."""
        ...


class BlobNotFound(KeyError):
    pass
