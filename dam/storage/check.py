"""Consistency between the database's blob references and what the store holds.

Behind `dam storage check [--deep] [--repair]`. The upload path writes the blob before the
database row, so the only harmless inconsistency is an unreferenced (orphan) object; that is all
repair ever removes. A missing or corrupt blob means lost data: it is reported, never touched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dam.storage.base import (
    BLOB_PREFIX,
    RENDITION_PREFIX,
    BlobNotFound,
    BlobStore,
    sha256_from_blob_key,
)

# An upload writes its blob, then commits its row; a blob younger than this may belong to an
# upload still in flight (S3 dates a multipart object from when its upload began), so repair
# must not take it for an orphan.
DEFAULT_GRACE_SECONDS = 3600


@dataclass
class Orphan:
    """An unreferenced blob key, or a rendition prefix (`renditions/ab/cd/<sha256>/`)."""

    name: str
    keys: list[str]
    removed: bool = False


@dataclass
class StorageReport:
    deep: bool
    repair: bool
    grace_seconds: int
    expected: int = 0
    stored: int = 0
    missing: list[str] = field(default_factory=list)
    # key → what was found instead: the actual digest, or why it could not be read
    corrupt: dict[str, str] = field(default_factory=dict)
    orphan_blobs: list[Orphan] = field(default_factory=list)
    orphan_renditions: list[Orphan] = field(default_factory=list)
    # Unreferenced but within the grace period: most likely an upload in progress.
    recent: list[str] = field(default_factory=list)

    @property
    def removed(self) -> list[str]:
        return [key for o in self.orphans if o.removed for key in o.keys]

    @property
    def orphans(self) -> list[Orphan]:
        return [*self.orphan_blobs, *self.orphan_renditions]

    @property
    def ok(self) -> bool:
        """True when nothing is lost and every orphan found has been removed."""
        return not self.missing and not self.corrupt and all(o.removed for o in self.orphans)

    def lines(self) -> list[str]:
        mode = "deep" if self.deep else "existence only"
        out = [f"checked {self.expected} referenced blobs ({mode}); {self.stored} blobs stored"]
        out += [f"MISSING  {key}" for key in self.missing]
        out += [f"CORRUPT  {key}: {found}" for key, found in self.corrupt.items()]
        for orphan in self.orphan_blobs:
            out.append(f"ORPHAN   {orphan.name}{' (removed)' if orphan.removed else ''}")
        for orphan in self.orphan_renditions:
            state = ", removed" if orphan.removed else ""
            out.append(f"ORPHAN   {orphan.name} ({len(orphan.keys)} renditions{state})")
        out += [
            f"RECENT   {key}: unreferenced but younger than {self.grace_seconds}s, left alone"
            for key in self.recent
        ]
        unremoved = sum(1 for o in self.orphans if not o.removed)
        if self.ok:
            removed = len([o for o in self.orphans if o.removed])
            out.append(f"OK{f' after removing {removed} orphans' if removed else ''}")
        else:
            out.append(
                f"PROBLEMS: {len(self.missing)} missing, {len(self.corrupt)} corrupt, "
                f"{unremoved} orphans"
                + ("" if self.repair or not unremoved else " (run with --repair to remove them)")
            )
        return out


def check_blobs(
    store: BlobStore,
    expected: Mapping[str, str],
    *,
    deep: bool,
    repair: bool,
    grace_seconds: int = DEFAULT_GRACE_SECONDS,
    now: datetime | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> StorageReport:
    """Compare `expected` (blob key → SHA-256 of every version in the database) with the store.

    `deep` re-hashes every referenced blob. `repair` deletes orphans older than
    `grace_seconds` and nothing else. ``on_progress(done, total)`` follows the referenced blobs.
    """
    report = StorageReport(deep=deep, repair=repair, grace_seconds=grace_seconds)
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=grace_seconds)
    stored = set(store.iter_keys(BLOB_PREFIX))
    report.expected = len(expected)
    report.stored = len(stored)

    for done, key in enumerate(sorted(expected), start=1):
        if on_progress is not None:
            on_progress(done - 1, len(expected))
        present = key in stored if key.startswith(BLOB_PREFIX) else store.exists(key)
        if not present:
            report.missing.append(key)
        elif deep:
            found = _digest(store, key)
            if found is None:
                report.missing.append(key)
            elif found != expected[key]:
                report.corrupt[key] = f"content hashes to {found}, expected {expected[key]}"
    if on_progress is not None:
        on_progress(len(expected), len(expected))

    for key in sorted(stored - expected.keys()):
        if _older_than(store, [key], cutoff, grace_seconds):
            report.orphan_blobs.append(Orphan(name=key, keys=[key]))
        else:
            report.recent.append(key)

    wanted = set(expected.values())
    for prefix, keys in _rendition_groups(store.iter_keys(RENDITION_PREFIX)).items():
        if _rendition_sha256(prefix) in wanted:
            continue
        if _older_than(store, keys, cutoff, grace_seconds):
            report.orphan_renditions.append(Orphan(name=prefix, keys=keys))
        else:
            report.recent.extend(keys)

    if repair:
        for orphan in report.orphans:
            for key in orphan.keys:
                store.delete(key)
            orphan.removed = True
    return report


def _digest(store: BlobStore, key: str) -> str | None:
    h = hashlib.sha256()
    try:
        for chunk in store.open(key):
            h.update(chunk)
    except BlobNotFound:
        # Deleted between the listing and the read.
        return None
    return h.hexdigest()


def _older_than(store: BlobStore, keys: list[str], cutoff: datetime, grace: int) -> bool:
    if grace <= 0:
        return True
    for key in keys:
        try:
            modified = store.stat(key).modified
        except BlobNotFound:
            continue
        # A backend that cannot date an object gets the benefit of the doubt: keep it.
        if modified is None or modified > cutoff:
            return False
    return True


def _rendition_groups(keys: Iterable[str]) -> dict[str, list[str]]:
    """Group rendition keys by the original they derive from: `renditions/ab/cd/<sha256>/`."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        parts = key.split("/")
        # A key that does not follow `rendition_key` is its own group, and so an orphan.
        prefix = "/".join(parts[:4]) + "/" if len(parts) == 5 else key
        groups.setdefault(prefix, []).append(key)
    return dict(sorted(groups.items()))


def _rendition_sha256(prefix: str) -> str | None:
    parts = prefix.split("/")
    if len(parts) != 5 or parts[4] != "":
        return None
    sha = parts[3]
    # Reuse the blob key rules so a prefix with mismatched fan-out directories is not accepted.
    if sha256_from_blob_key(f"{BLOB_PREFIX}{parts[1]}/{parts[2]}/{sha}") is None:
        return None
    return sha


# --- temp files left by a crash --------------------------------------------------------------

# What the service writes under DAM_DATA_DIR/tmp while it works: upload bodies being received
# (dam.assets.upload) and originals copied out for renditions (dam.assets.jobs). Nothing else
# there is touched: resumable-upload partials, for one, live until they expire.
TEMP_DIR = "tmp"
TEMP_PATTERNS = ("upload-*.part", "tmp*.src")


@dataclass
class TempFile:
    path: Path
    size: int
    modified: datetime
    removed: bool = False


@dataclass
class TempReport:
    repair: bool
    grace_seconds: int
    # Not written to for longer than the grace period: left by a process that died.
    stale: list[TempFile] = field(default_factory=list)
    # Still being written, most likely by a request or job in progress.
    recent: list[TempFile] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(t.removed for t in self.stale)

    def lines(self) -> list[str]:
        out = []
        for t in self.stale:
            state = " (removed)" if t.removed else ""
            written = f"{t.modified:%Y-%m-%d %H:%M}Z"
            out.append(f"TEMP     {t.path} ({t.size} bytes, last written {written}){state}")
        out += [
            f"RECENT   {t.path}: a temp file still being written, left alone" for t in self.recent
        ]
        left = sum(1 for t in self.stale if not t.removed)
        if left:
            out.append(
                f"PROBLEMS: {left} temp files left by a crash"
                + ("" if self.repair else " (run with --repair to remove them)")
            )
        return out


def temp_files(data_dir: Path, store: BlobStore) -> list[Path]:
    """Every temp file of the service: under `tmp/`, and the filesystem store's half-written
    `.tmp-*` files (hidden, so blob listings never show them)."""
    found: list[Path] = []
    tmp = data_dir / TEMP_DIR
    if tmp.is_dir():
        for pattern in TEMP_PATTERNS:
            found += [p for p in tmp.glob(pattern) if p.is_file()]
    store_temp = getattr(store, "temp_files", None)
    if store_temp is not None:
        found += list(store_temp())
    return sorted(set(found))


def check_temp_files(
    data_dir: Path,
    store: BlobStore,
    *,
    repair: bool,
    grace_seconds: int = DEFAULT_GRACE_SECONDS,
    now: datetime | None = None,
) -> TempReport:
    """Temp files not written to for `grace_seconds` were left by a process that died (an
    upload or a blob write killed mid-way); `repair` removes them, and only them."""
    report = TempReport(repair=repair, grace_seconds=grace_seconds)
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=grace_seconds)
    for path in temp_files(data_dir, store):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue  # finished (renamed or removed) since the listing
        entry = TempFile(
            path=path, size=st.st_size, modified=datetime.fromtimestamp(st.st_mtime, tz=UTC)
        )
        (report.stale if entry.modified <= cutoff else report.recent).append(entry)
    if repair:
        for entry in report.stale:
            entry.path.unlink(missing_ok=True)
            entry.removed = True
    return report


def remove_stale_temp_files(
    data_dir: Path, store: BlobStore, *, grace_seconds: int, now: datetime | None = None
) -> list[TempFile]:
    """At start-up: what a crash left behind goes, what another live process is writing
    stays (the same data directory may be shared by `dam serve` and `dam worker`)."""
    report = check_temp_files(data_dir, store, repair=True, grace_seconds=grace_seconds, now=now)
    return report.stale
