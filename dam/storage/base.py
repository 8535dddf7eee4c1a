"""The blob store interface shared by the filesystem and S3 backends.

Blobs are content-addressed: the key of an original is derived from its SHA-256, so writing the
same bytes twice is harmless and a key can never point at other bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
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

    def put_file(self, key: str, path: Path, *, content_type: str, move: bool = False) -> None:
        """Store a local file under `key`; streams, bounded memory; overwrites atomically.

        `move`: the caller gives `path` up (an upload's temp file, already synced to disk); a
        backend on the same filesystem renames it into place instead of writing the bytes
        again. Either way the caller may still remove `path` afterwards.
        """

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

    def init(self) -> StorageCapabilities:
        """Create what the backend needs and set up what it supports (S3: bucket, versioning,
        lifecycle, CORS); report what was done, what could not be, and whether it is usable.
        Safe to run on every deploy; never raises for a refusal of the endpoint."""
        ...

    def capabilities(self) -> StorageCapabilities:
        """What `init` would report, read without changing anything."""
        ...


class Feature(StrEnum):
    """Object-store features the DAM sets up when the endpoint has them; none is required."""

    versioning = "versioning"
    lifecycle = "lifecycle"
    cors = "cors"


class FeatureState(StrEnum):
    ok = "ok"  # in place, found or set just now
    missing = "missing"  # the endpoint has it, but it is not set up (`dam storage init` sets it)
    unsupported = "unsupported"  # the endpoint does not implement it
    failed = "failed"  # the endpoint refused it (permissions, a setting it rejects)


@dataclass(frozen=True)
class FeatureReport:
    feature: Feature
    state: FeatureState
    detail: str
    # What the state means for the people using the DAM; empty when the feature is in place.
    impact: str = ""
    changed: bool = False

    @property
    def ok(self) -> bool:
        return self.state == FeatureState.ok


@dataclass(frozen=True)
class StorageCapabilities:
    """What a store offers: whether blobs can be kept in it at all, and each optional feature.

    `usable` is the only thing that makes `dam storage init` fail; a missing feature is reported
    with its consequence and leaves the exit code alone.
    """

    store: str
    usable: bool
    # What was found or done to the store itself (root directory, bucket), in order.
    actions: tuple[str, ...] = ()
    features: tuple[FeatureReport, ...] = ()
    # Why the store cannot be used, with what to do about it; set exactly when not usable.
    problem: str | None = None
    changed: bool = False

    def feature(self, feature: Feature) -> FeatureReport | None:
        return next((f for f in self.features if f.feature == feature), None)

    @property
    def lacking(self) -> list[FeatureReport]:
        return [f for f in self.features if not f.ok]

    @property
    def any_changed(self) -> bool:
        return self.changed or any(f.changed for f in self.features)

    def lines(self) -> list[str]:
        out = list(self.actions)
        for report in self.features:
            out.append(f"{report.feature.value}: {report.detail}")
            if report.impact:
                out.append(f"  -> {report.impact}")
        if self.usable:
            lacking = ", ".join(f.feature.value for f in self.lacking)
            out.append(
                f"{self.store} is usable" + (f" (without {lacking}: see above)" if lacking else "")
            )
        return out


class BlobNotFound(KeyError):
    pass


def check_range(start: int, end: int | None) -> None:
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"invalid byte range {start}-{'' if end is None else end}")


class StorageUnavailable(RuntimeError):
    """The backend cannot be reached or written; raised by `ping` with the backend's reason."""


def read_to_file(store: BlobStore, key: str, path: Path) -> None:
    """Stream a blob into a local file (for tools that need a path: decoders, exiv2)."""
    with path.open("wb") as out:
        for chunk in store.open(key):
            out.write(chunk)
