"""`check_blobs` against both backends: what it reports, and that repair only removes orphans."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dam.storage.base import BlobStore, blob_key, rendition_key
from dam.storage.check import Orphan, check_blobs


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Scenario:
    """A store with one of each situation, and the database's view of it."""

    expected: dict[str, str]
    kept: str  # referenced and intact
    kept_rendition: str
    missing: str
    corrupt: str
    orphan: str
    orphan_renditions: list[str]

    @property
    def orphan_prefix(self) -> str:
        return self.orphan_renditions[0].rsplit("/", 1)[0] + "/"


def put(store: BlobStore, data: bytes) -> str:
    key = blob_key(sha(data))
    store.put_bytes(key, data, content_type="application/octet-stream")
    return key


def build_scenario(store: BlobStore) -> Scenario:
    kept_data, missing_data, corrupt_data, orphan_data = b"kept", b"missing", b"corrupt", b"orph"
    kept = put(store, kept_data)
    kept_rendition = rendition_key(sha(kept_data), "thumb")
    store.put_bytes(kept_rendition, b"webp", content_type="image/webp")
    corrupt = blob_key(sha(corrupt_data))
    # Same size, different bytes: only re-hashing can tell.
    store.put_bytes(corrupt, b"CORRUPT", content_type="application/octet-stream")
    orphan = put(store, orphan_data)
    orphan_renditions = [rendition_key(sha(orphan_data), k) for k in ("preview", "thumb")]
    for key in orphan_renditions:
        store.put_bytes(key, b"webp", content_type="image/webp")
    expected = {
        kept: sha(kept_data),
        blob_key(sha(missing_data)): sha(missing_data),
        corrupt: sha(corrupt_data),
    }
    return Scenario(
        expected=expected,
        kept=kept,
        kept_rendition=kept_rendition,
        missing=blob_key(sha(missing_data)),
        corrupt=corrupt,
        orphan=orphan,
        orphan_renditions=orphan_renditions,
    )


def test_check_reports_missing_and_orphans_without_reading_content(store: BlobStore) -> None:
    s = build_scenario(store)

    report = check_blobs(store, s.expected, deep=False, repair=False, grace_seconds=0)

    assert report.missing == [s.missing]
    assert report.corrupt == {}
    assert report.orphan_blobs == [Orphan(name=s.orphan, keys=[s.orphan])]
    assert report.orphan_renditions == [Orphan(name=s.orphan_prefix, keys=s.orphan_renditions)]
    assert report.removed == []
    assert report.ok is False
    assert (report.expected, report.stored) == (3, 3)


def test_deep_check_reports_corrupt_blob(store: BlobStore) -> None:
    s = build_scenario(store)

    report = check_blobs(store, s.expected, deep=True, repair=False, grace_seconds=0)

    assert report.corrupt == {
        s.corrupt: f"content hashes to {sha(b'CORRUPT')}, expected {sha(b'corrupt')}"
    }
    assert report.missing == [s.missing]


def test_repair_removes_orphans_only(store: BlobStore) -> None:
    s = build_scenario(store)

    report = check_blobs(store, s.expected, deep=True, repair=True, grace_seconds=0)

    assert report.removed == [s.orphan, *s.orphan_renditions]
    assert sorted(store.iter_keys("blobs/")) == sorted([s.kept, s.corrupt])
    assert list(store.iter_keys("renditions/")) == [s.kept_rendition]
    # Lost data is reported, never "fixed": the corrupt blob stays for an operator to inspect.
    assert b"".join(store.open(s.corrupt)) == b"CORRUPT"
    assert report.ok is False
    assert check_blobs(store, s.expected, deep=False, repair=False, grace_seconds=0).orphans == []


def test_repair_of_orphans_alone_leaves_store_ok(store: BlobStore) -> None:
    s = build_scenario(store)
    expected = {s.kept: s.expected[s.kept]}
    store.delete(s.corrupt)

    report = check_blobs(store, expected, deep=True, repair=True, grace_seconds=0)

    assert report.ok is True
    assert report.lines() == [
        "checked 1 referenced blobs (deep); 2 blobs stored",
        f"ORPHAN   {s.orphan} (removed)",
        f"ORPHAN   {s.orphan_prefix} (2 renditions, removed)",
        "OK after removing 2 orphans",
    ]


def test_check_of_consistent_store_is_ok(store: BlobStore) -> None:
    key = put(store, b"only")

    report = check_blobs(store, {key: sha(b"only")}, deep=True, repair=False, grace_seconds=0)

    assert report.ok is True
    assert report.lines() == ["checked 1 referenced blobs (deep); 1 blobs stored", "OK"]


def test_check_report_lines_name_every_problem(store: BlobStore) -> None:
    s = build_scenario(store)

    report = check_blobs(store, s.expected, deep=True, repair=False, grace_seconds=0)

    assert report.lines() == [
        "checked 3 referenced blobs (deep); 3 blobs stored",
        f"MISSING  {s.missing}",
        f"CORRUPT  {s.corrupt}: content hashes to {sha(b'CORRUPT')}, expected {sha(b'corrupt')}",
        f"ORPHAN   {s.orphan}",
        f"ORPHAN   {s.orphan_prefix} (2 renditions)",
        "PROBLEMS: 1 missing, 1 corrupt, 2 orphans (run with --repair to remove them)",
    ]


def test_check_leaves_recent_orphans_alone_within_grace(store: BlobStore) -> None:
    s = build_scenario(store)

    report = check_blobs(store, s.expected, deep=False, repair=True, grace_seconds=3600)

    assert report.orphans == []
    assert report.recent == [s.orphan, *s.orphan_renditions]
    assert report.removed == []
    assert store.exists(s.orphan) is True


def test_check_repairs_orphans_older_than_grace(store: BlobStore) -> None:
    s = build_scenario(store)
    later = datetime.now(UTC) + timedelta(hours=2)

    report = check_blobs(store, s.expected, deep=False, repair=True, grace_seconds=3600, now=later)

    assert report.recent == []
    assert report.removed == [s.orphan, *s.orphan_renditions]
    assert store.exists(s.orphan) is False


def test_check_treats_unrecognised_keys_under_its_prefixes_as_orphans(store: BlobStore) -> None:
    store.put_bytes("blobs/ab/cd/not-a-digest", b"x", content_type="text/plain")
    store.put_bytes("renditions/stray.webp", b"x", content_type="image/webp")
    store.put_bytes("elsewhere/file", b"x", content_type="text/plain")

    report = check_blobs(store, {}, deep=False, repair=True, grace_seconds=0)

    assert report.removed == ["blobs/ab/cd/not-a-digest", "renditions/stray.webp"]
    assert list(store.iter_keys("")) == ["elsewhere/file"]
