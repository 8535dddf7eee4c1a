"""The same behaviour from every blob store backend, plus what is specific to each."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from dam.config import Settings, StorageKind
from dam.storage import get_blob_store
from dam.storage.base import (
    BlobInfo,
    BlobNotFound,
    BlobStore,
    Feature,
    StorageUnavailable,
    blob_key,
    rendition_key,
)
from dam.storage.fs import FsBlobStore
from dam.storage.s3 import S3BlobStore
from tests.storage.conftest import TEST_CHUNK_SIZE, make_s3_store
from tests.support.s3 import (
    LACKS_LIST_UPLOADS,
    LACKS_MULTIPART_ETAG,
    LACKS_REGIONS,
    LACKS_VERSIONING,
    S3Endpoint,
)

MIB = 1024 * 1024
# Multi-byte UTF-8 and every byte value, so no backend can get away with text handling.
SAMPLE = ("Größe · café · 東京 · 🎨 — ß\n" * 4096).encode() + bytes(range(256))
SAMPLE_SHA256 = "eaa41a9e2e3cdd6cb1ddc080dca5d6dbd6a07d552e61ee26e8457173e1f6bebc"
SAMPLE_KEY = blob_key(SAMPLE_SHA256)
DIGITS = b"0123456789"
DIGITS_KEY = "tests/digits"


def sample_file(directory: Path) -> Path:
    path = directory / "Plakat Größe_東京.txt"
    path.write_bytes(SAMPLE)
    return path


def read_all(store: BlobStore, key: str, **range_: Any) -> bytes:
    return b"".join(store.open(key, **range_))


def expected_content_type(store: BlobStore, content_type: str) -> str | None:
    # The filesystem keeps only bytes; the database holds the mime type for it.
    return None if isinstance(store, FsBlobStore) else content_type


# --- put / stat / open ----------------------------------------------------------------------------


def test_put_file_round_trips_bytes_with_checked_sha256(store: BlobStore, tmp_path: Path) -> None:
    store.put_file(SAMPLE_KEY, sample_file(tmp_path), content_type="text/plain; charset=utf-8")

    digest = hashlib.sha256(read_all(store, SAMPLE_KEY)).hexdigest()

    assert digest == SAMPLE_SHA256
    info = store.stat(SAMPLE_KEY)
    assert (info.key, info.size, info.content_type) == (
        SAMPLE_KEY,
        len(SAMPLE),
        expected_content_type(store, "text/plain; charset=utf-8"),
    )
    assert store.exists(SAMPLE_KEY) is True


def test_put_file_with_move_stores_the_bytes_and_leaves_the_source_to_the_caller(
    store: BlobStore, tmp_path: Path
) -> None:
    source = sample_file(tmp_path)

    store.put_file(SAMPLE_KEY, source, content_type="text/plain", move=True)

    assert hashlib.sha256(read_all(store, SAMPLE_KEY)).hexdigest() == SAMPLE_SHA256
    # The filesystem store renamed it into place; an object store uploaded a copy.
    assert source.exists() is (not isinstance(store, FsBlobStore))


def test_put_bytes_round_trips(store: BlobStore) -> None:
    key = rendition_key(SAMPLE_SHA256, "thumb")
    store.put_bytes(key, b"RIFF\x00webp", content_type="image/webp")

    assert read_all(store, key) == b"RIFF\x00webp"
    assert store.stat(key).content_type == expected_content_type(store, "image/webp")


def test_stat_reports_modification_time(store: BlobStore) -> None:
    store.put_bytes(DIGITS_KEY, DIGITS, content_type="text/plain")

    modified = store.stat(DIGITS_KEY).modified

    assert modified is not None
    assert modified.tzinfo is not None


def test_open_streams_in_chunks_of_at_most_one_mib(store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(2 * MIB + MIB // 2)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    store.put_file("tests/chunks", path, content_type="application/octet-stream")

    chunks = list(store.open("tests/chunks"))

    assert [len(c) for c in chunks] == [MIB, MIB, MIB // 2]
    assert b"".join(chunks) == data


def test_open_empty_blob_yields_nothing(store: BlobStore) -> None:
    store.put_bytes("tests/empty", b"", content_type="text/plain")

    assert read_all(store, "tests/empty") == b""
    assert read_all(store, "tests/empty", end=10) == b""
    assert store.stat("tests/empty").size == 0


# --- ranges ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (3, None, b"3456789"),
        (3, 5, b"345"),
        (0, 0, b"0"),
        (9, 9, b"9"),
        (9, None, b"9"),
        (7, 100, b"789"),
    ],
    ids=["start-only", "start-end", "first-byte", "last-byte", "last-byte-open", "end-clamped"],
)
def test_open_range_returns_inclusive_slice(
    store: BlobStore, start: int, end: int | None, expected: bytes
) -> None:
    store.put_bytes(DIGITS_KEY, DIGITS, content_type="text/plain")

    assert read_all(store, DIGITS_KEY, start=start, end=end) == expected


def test_open_range_spanning_chunks_returns_exact_bytes(store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(3 * MIB)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    store.put_file("tests/span", path, content_type="application/octet-stream")

    sliced = read_all(store, "tests/span", start=MIB - 5, end=2 * MIB + 5)

    assert sliced == data[MIB - 5 : 2 * MIB + 6]


def test_open_range_starting_past_end_raises_value_error(store: BlobStore) -> None:
    store.put_bytes(DIGITS_KEY, DIGITS, content_type="text/plain")

    with pytest.raises(ValueError):
        read_all(store, DIGITS_KEY, start=10)


@pytest.mark.parametrize(("start", "end"), [(-1, None), (5, 4)])
def test_open_invalid_range_raises_value_error(
    store: BlobStore, start: int, end: int | None
) -> None:
    store.put_bytes(DIGITS_KEY, DIGITS, content_type="text/plain")

    with pytest.raises(ValueError):
        store.open(DIGITS_KEY, start=start, end=end)


def test_closing_stream_early_leaves_store_usable(store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(3 * MIB)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    store.put_file("tests/early", path, content_type="application/octet-stream")

    stream = store.open("tests/early")
    first = next(stream)
    stream.close()  # type: ignore[attr-defined]

    assert first == data[:MIB]
    store.delete("tests/early")
    assert store.exists("tests/early") is False


# --- overwrite, missing, delete, listing ----------------------------------------------------------


def test_put_same_key_twice_keeps_one_identical_blob(store: BlobStore, tmp_path: Path) -> None:
    path = sample_file(tmp_path)
    store.put_file(SAMPLE_KEY, path, content_type="text/plain")
    store.put_file(SAMPLE_KEY, path, content_type="text/plain")

    assert list(store.iter_keys("blobs/")) == [SAMPLE_KEY]
    assert hashlib.sha256(read_all(store, SAMPLE_KEY)).hexdigest() == SAMPLE_SHA256


def test_put_bytes_replaces_previous_content(store: BlobStore) -> None:
    store.put_bytes(DIGITS_KEY, DIGITS, content_type="text/plain")
    store.put_bytes(DIGITS_KEY, b"new", content_type="text/plain")

    assert read_all(store, DIGITS_KEY) == b"new"
    assert store.stat(DIGITS_KEY).size == 3


def test_open_missing_key_raises_blob_not_found_before_iteration(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        store.open(blob_key("0" * 64))


def test_stat_missing_key_raises_blob_not_found(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        store.stat(blob_key("0" * 64))
    assert store.exists(blob_key("0" * 64)) is False


def test_delete_removes_blob_and_is_idempotent(store: BlobStore) -> None:
    store.put_bytes(DIGITS_KEY, DIGITS, content_type="text/plain")

    store.delete(DIGITS_KEY)
    store.delete(DIGITS_KEY)

    assert store.exists(DIGITS_KEY) is False
    assert list(store.iter_keys("tests/")) == []


def test_iter_keys_lists_every_key_under_prefix(store: BlobStore) -> None:
    keys = [
        blob_key("ab" + "0" * 62),
        blob_key("ab" + "1" * 62),
        blob_key("cd" + "0" * 62),
        rendition_key("ab" + "0" * 62, "thumb"),
        "other/file",
    ]
    for key in keys:
        store.put_bytes(key, b"x", content_type="application/octet-stream")

    assert sorted(store.iter_keys("blobs/")) == sorted(keys[:3])
    assert sorted(store.iter_keys("blobs/ab/")) == sorted(keys[:2])
    # A prefix ends mid-segment the same way on both backends, as S3 defines it.
    assert sorted(store.iter_keys("blobs/a")) == sorted(keys[:2])
    assert list(store.iter_keys("renditions/")) == [keys[3]]
    assert sorted(store.iter_keys("")) == sorted(keys)
    assert list(store.iter_keys("missing/")) == []


# --- ping / init ----------------------------------------------------------------------------------


def test_ping_succeeds_on_initialised_store(store: BlobStore) -> None:
    store.ping()


def test_init_twice_changes_nothing_the_second_time(store: BlobStore) -> None:
    store.put_bytes(DIGITS_KEY, DIGITS, content_type="text/plain")

    second = store.init()

    assert second.usable
    assert second.any_changed is False
    assert all("already" in line for line in second.actions)
    assert all("already" in f.detail for f in second.features if f.ok)
    assert read_all(store, DIGITS_KEY) == DIGITS


def test_get_blob_store_builds_backend_from_settings(tmp_path: Path) -> None:
    fs = get_blob_store(Settings(data_dir=tmp_path))
    s3_store = get_blob_store(
        Settings(
            storage=StorageKind.s3,
            # Building a client makes no request, so no server is needed here.
            s3_endpoint_url="http://127.0.0.1:9",
            s3_bucket="dam-settings",
            s3_multipart_chunk_mib=8,
        )
    )

    assert isinstance(fs, FsBlobStore)
    assert fs.root == tmp_path.resolve()
    assert isinstance(s3_store, S3BlobStore)
    assert (s3_store.bucket, s3_store.chunk_size) == ("dam-settings", 8 * MIB)


# --- filesystem specifics -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "../outside",
        "blobs/../../outside",
        "/etc/passwd",
        "blobs\\..\\outside",
        "blobs/a\x00b",
        "",
        "blobs//ab",
        "./blobs",
        "blobs/.tmp-abc",
    ],
)
def test_fs_refuses_keys_that_could_escape_root(fs_store: FsBlobStore, key: str) -> None:
    with pytest.raises(ValueError):
        fs_store.put_bytes(key, b"x", content_type="text/plain")
    with pytest.raises(ValueError):
        fs_store.open(key)
    with pytest.raises(ValueError):
        fs_store.stat(key)
    with pytest.raises(ValueError):
        fs_store.delete(key)
    assert not (fs_store.root.parent / "outside").exists()


def test_fs_refuses_key_through_symlink_leaving_root(fs_store: FsBlobStore, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (fs_store.root / "link").symlink_to(outside)

    with pytest.raises(ValueError):
        fs_store.put_bytes("link/file", b"x", content_type="text/plain")
    assert list(outside.iterdir()) == []


def test_fs_failed_write_leaves_neither_blob_nor_temp_file(
    fs_store: FsBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def copy_half_then_fail(src: Any, dst: Any, length: int = 0) -> None:
        dst.write(src.read(100))
        raise OSError("disk full")

    monkeypatch.setattr(shutil, "copyfileobj", copy_half_then_fail)

    with pytest.raises(OSError, match="disk full"):
        fs_store.put_file(SAMPLE_KEY, sample_file(tmp_path), content_type="text/plain")

    assert fs_store.exists(SAMPLE_KEY) is False
    assert [p.name for p in fs_store.root.rglob("*") if p.is_file()] == []


def test_fs_put_file_with_move_renames_the_file_instead_of_copying_it(
    fs_store: FsBlobStore, tmp_path: Path
) -> None:
    source = sample_file(tmp_path)
    inode = source.stat().st_ino

    fs_store.put_file(SAMPLE_KEY, source, content_type="text/plain", move=True)

    stored = fs_store.root / SAMPLE_KEY
    assert stored.stat().st_ino == inode  # the same file, written once
    assert stored.read_bytes() == SAMPLE
    assert not source.exists()
    assert [p.name for p in fs_store.root.rglob(".tmp-*")] == []


def test_fs_put_file_with_move_copies_when_the_rename_is_refused(
    fs_store: FsBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    source = sample_file(tmp_path)
    real_replace = os.replace

    def cross_device(src: Any, dst: Any) -> None:
        if Path(src) == source:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", cross_device)

    fs_store.put_file(SAMPLE_KEY, source, content_type="text/plain", move=True)

    assert (fs_store.root / SAMPLE_KEY).read_bytes() == SAMPLE
    assert source.read_bytes() == SAMPLE  # copied: the source is the caller's to remove
    assert [p.name for p in fs_store.root.rglob(".tmp-*")] == []


def test_fs_iter_keys_skips_temp_files(fs_store: FsBlobStore) -> None:
    fs_store.put_bytes(SAMPLE_KEY, b"x", content_type="text/plain")
    (fs_store.root / "blobs" / "ea" / "a4" / ".tmp-left-by-a-crash").write_bytes(b"partial")

    assert list(fs_store.iter_keys("blobs/")) == [SAMPLE_KEY]


def test_fs_delete_prunes_empty_directories_up_to_root(fs_store: FsBlobStore) -> None:
    key = rendition_key(SAMPLE_SHA256, "thumb")
    fs_store.put_bytes(key, b"x", content_type="image/webp")
    fs_store.put_bytes(SAMPLE_KEY, b"x", content_type="text/plain")

    fs_store.delete(key)

    assert not (fs_store.root / "renditions").exists()
    assert (fs_store.root / "blobs" / "ea" / "a4").is_dir()
    assert fs_store.root.is_dir()


def test_fs_init_creates_root_then_reports_it_exists(tmp_path: Path) -> None:
    store = FsBlobStore(tmp_path / "new" / "data")

    first = store.init()
    second = store.init()

    root = (tmp_path / "new" / "data").resolve()
    assert (first.usable, first.actions, first.any_changed) == (
        True,
        (f"created filesystem store at {root}",),
        True,
    )
    assert (second.usable, second.actions, second.any_changed) == (
        True,
        (f"filesystem store at {root} already exists",),
        False,
    )
    assert first.features == ()
    assert root.is_dir()


def test_fs_ping_raises_when_root_is_missing(tmp_path: Path) -> None:
    with pytest.raises(StorageUnavailable, match="not a directory"):
        FsBlobStore(tmp_path / "missing").ping()


def test_fs_presigned_url_is_none(fs_store: FsBlobStore) -> None:
    fs_store.put_bytes(DIGITS_KEY, DIGITS, content_type="text/plain")

    url = fs_store.presigned_url(
        DIGITS_KEY, expires_seconds=60, filename="d.txt", content_type="text/plain", inline=False
    )

    assert url is None


# --- S3 specifics ---------------------------------------------------------------------------------


def test_s3_large_file_is_uploaded_in_parts_and_reassembled(
    s3: S3Endpoint, s3_store: S3BlobStore, tmp_path: Path
) -> None:
    data = os.urandom(40 * MIB)
    path = tmp_path / "large.tif"
    path.write_bytes(data)
    key = blob_key(hashlib.sha256(data).hexdigest())

    s3_store.put_file(key, path, content_type="image/tiff")

    head = s3_store.client.head_object(Bucket=s3_store.bucket, Key=key)
    if not s3.known_to_lack(LACKS_MULTIPART_ETAG):
        # A multipart ETag is "<md5 of part md5s>-<part count>".
        assert head["ETag"].strip('"').endswith(f"-{40 * MIB // TEST_CHUNK_SIZE}")
    assert head["ContentType"] == "image/tiff"
    assert s3_store.stat(key) == BlobInfo(key, 40 * MIB, "image/tiff", head["LastModified"])
    digest = hashlib.sha256()
    for chunk in s3_store.open(key):
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    if not s3.known_to_lack(LACKS_LIST_UPLOADS):
        uploads = s3_store.client.list_multipart_uploads(Bucket=s3_store.bucket)
        assert uploads.get("Uploads", []) == []


@pytest.mark.parametrize(
    ("filename", "inline", "disposition"),
    [
        ("poster.png", False, "attachment; filename=\"poster.png\"; filename*=UTF-8''poster.png"),
        ("poster.png", True, "inline; filename=\"poster.png\"; filename*=UTF-8''poster.png"),
        (
            "Plakat Größe 東京.png",
            False,
            "attachment; filename=\"Plakat Gro_e __.png\"; filename*=UTF-8''"
            "Plakat%20Gr%C3%B6%C3%9Fe%20%E6%9D%B1%E4%BA%AC.png",
        ),
    ],
)
def test_s3_presigned_url_serves_bytes_with_disposition(
    s3_store: S3BlobStore, filename: str, inline: bool, disposition: str
) -> None:
    s3_store.put_bytes(DIGITS_KEY, DIGITS, content_type="application/octet-stream")

    url = s3_store.presigned_url(
        DIGITS_KEY, expires_seconds=60, filename=filename, content_type="image/png", inline=inline
    )

    assert url is not None
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == DIGITS
    assert response.headers["content-disposition"] == disposition
    assert response.headers["content-type"] == "image/png"


def test_s3_presigned_url_is_signed_for_public_endpoint(s3: S3Endpoint) -> None:
    store = make_s3_store(s3, public_endpoint_url="https://assets.example.test")

    url = store.presigned_url(
        DIGITS_KEY, expires_seconds=60, filename="d.txt", content_type="text/plain", inline=True
    )

    assert url is not None
    assert url.startswith(f"https://assets.example.test/{store.bucket}/{DIGITS_KEY}?")
    assert "X-Amz-Signature=" in url


def test_s3_init_creates_bucket_outside_us_east_1(
    s3: S3Endpoint, new_s3_store: Callable[..., S3BlobStore]
) -> None:
    if s3.known_to_lack(LACKS_REGIONS) is not False:
        pytest.skip(f"{s3.name} has one region (or it is unknown); moto accepts any region")
    store = new_s3_store(region="eu-west-1")

    assert store.init().actions == (f"created bucket {store.bucket} in eu-west-1",)
    location = store.client.get_bucket_location(Bucket=store.bucket)
    assert location["LocationConstraint"] == "eu-west-1"


def test_s3_delete_keeps_old_version_recoverable(s3: S3Endpoint, s3_store: S3BlobStore) -> None:
    versioning = s3_store.capabilities().feature(Feature.versioning)
    if s3.known_to_lack(LACKS_VERSIONING) or (versioning and not versioning.ok):
        pytest.skip(f"{s3.name} has no versioning (test_init covers what init reports then)")
    s3_store.put_bytes(DIGITS_KEY, DIGITS, content_type="text/plain")

    s3_store.delete(DIGITS_KEY)

    versions = s3_store.client.list_object_versions(Bucket=s3_store.bucket, Prefix=DIGITS_KEY)
    assert [v["Size"] for v in versions.get("Versions", [])] == [len(DIGITS)]
    assert len(versions.get("DeleteMarkers", [])) == 1


def test_s3_ping_raises_when_bucket_is_missing(s3: S3Endpoint) -> None:
    store = make_s3_store(s3)

    with pytest.raises(StorageUnavailable, match=store.bucket):
        store.ping()
