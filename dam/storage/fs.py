"""The embedded default: blobs as files under one root directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO

from dam.storage.base import (
    BlobInfo,
    BlobNotFound,
    StorageCapabilities,
    StorageUnavailable,
    check_range,
)

CHUNK_SIZE = 1024 * 1024
_Fill = Callable[[BinaryIO], object]
# Keys never have a segment starting with "." (see `_path`), so these names cannot collide
# with a key and `iter_keys` can tell a half-written file from a blob.
_TEMP_PREFIX = ".tmp-"


class FsBlobStore:
    name = "fs"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        """Map a key to its file, refusing anything that could land outside the root."""
        if not key or "\x00" in key or "\\" in key or key.startswith("/"):
            raise ValueError(f"invalid storage key: {key!r}")
        parts = key.split("/")
        if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
            raise ValueError(f"invalid storage key: {key!r}")
        path = self.root.joinpath(*parts)
        # A symlink inside the tree could still point elsewhere; only the resolved path counts.
        if not path.resolve().is_relative_to(self.root):
            raise ValueError(f"storage key escapes the store root: {key!r}")
        return path

    def put_file(self, key: str, path: Path, *, content_type: str, move: bool = False) -> None:
        target = self._path(key)
        if move and self._adopt(target, path):
            return
        with open(path, "rb") as src:
            self._write(target, src)

    def _adopt(self, target: Path, path: Path) -> bool:
        """Rename `path` into place: the bytes are written once, not copied. False when it
        lives on another filesystem (or cannot be renamed), so the caller copies instead."""
        try:
            if os.stat(path).st_dev != os.stat(self.root).st_dev:
                return False
            # The file's data must be on disk before its name is (see `_write_with`).
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        except OSError:
            return False
        _fsync_dir(target.parent)
        return True

    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        target = self._path(key)
        self._write_with(target, lambda dst: dst.write(data))

    def _write(self, target: Path, src: BinaryIO) -> None:
        self._write_with(target, lambda dst: shutil.copyfileobj(src, dst, CHUNK_SIZE))

    def _write_with(self, target: Path, fill: _Fill) -> None:
        fd, tmp_name = self._mkstemp(target.parent)
        try:
            with os.fdopen(fd, "wb") as dst:
                fill(dst)
                dst.flush()
                # Without fsync a crash after the rename can leave a complete-looking empty file.
                os.fsync(dst.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        _fsync_dir(target.parent)

    def _mkstemp(self, directory: Path) -> tuple[int, str]:
        # A concurrent `delete` may prune the directory between mkdir and mkstemp; retry.
        # mkstemp's 0600 mode is kept on purpose: blobs are private to the service's user.
        attempts = 3
        while True:
            directory.mkdir(parents=True, exist_ok=True)
            try:
                return tempfile.mkstemp(dir=directory, prefix=_TEMP_PREFIX)
            except FileNotFoundError:
                attempts -= 1
                if not attempts:
                    raise

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def stat(self, key: str) -> BlobInfo:
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFound(key) from None
        if not S_ISREG(st.st_mode):
            raise BlobNotFound(key)
        modified = datetime.fromtimestamp(st.st_mtime, tz=UTC)
        return BlobInfo(key=key, size=st.st_size, content_type=None, modified=modified)

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        check_range(start, end)
        path = self._path(key)
        try:
            f = path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise BlobNotFound(key) from None
        try:
            size = os.fstat(f.fileno()).st_size
            if start > 0 and start >= size:
                raise ValueError(f"range start {start} is past the end of {key} ({size} bytes)")
        except BaseException:
            f.close()
            raise
        stop = size if end is None else min(end + 1, size)
        return _stream(f, start, stop)

    def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        # Rendition directories are one per original; pruning keeps deleted ones from piling up.
        parent = path.parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def iter_keys(self, prefix: str) -> Iterator[str]:
        """Keys starting with `prefix` (a plain string prefix, as on S3), in sorted order."""
        directory, _, _ = prefix.rpartition("/")
        base = self._path(directory) if directory else self.root
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for filename in sorted(filenames):
                if filename.startswith("."):
                    continue
                key = filename if rel_dir == "." else f"{rel_dir}/{filename}"
                if key.startswith(prefix):
                    yield key

    def presigned_url(
        self, key: str, *, expires_seconds: int, filename: str, content_type: str, inline: bool
    ) -> str | None:
        return None

    def temp_files(self) -> Iterator[Path]:
        """Half-written blobs and renditions (`.tmp-*`, see `_write_with`): normally renamed
        into place at once, left behind only by a process killed mid-write."""
        for prefix in ("blobs", "renditions"):
            base = self.root / prefix
            if base.is_dir():
                for dirpath, _, filenames in os.walk(base):
                    for filename in filenames:
                        if filename.startswith(_TEMP_PREFIX):
                            yield Path(dirpath) / filename

    def ping(self) -> None:
        if not self.root.is_dir():
            raise StorageUnavailable(f"blob store root {self.root} is not a directory")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"blob store root {self.root} is not writable")

    def init(self) -> StorageCapabilities:
        if self.root.is_dir():
            return self._report(f"filesystem store at {self.root} already exists")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return StorageCapabilities(
                store=self._name,
                usable=False,
                problem=f"cannot create {self.root}: {exc.strerror or exc}; "
                "set DAM_DATA_DIR to a writable directory",
            )
        return self._report(f"created filesystem store at {self.root}", changed=True)

    def capabilities(self) -> StorageCapabilities:
        return self._report(f"filesystem store at {self.root}")

    @property
    def _name(self) -> str:
        return f"filesystem store at {self.root}"

    def _report(self, action: str, *, changed: bool = False) -> StorageCapabilities:
        # Versioning, lifecycle rules and CORS are object-store features; a directory has none
        # to set up, and backing it up is the operator's part (storage/README.md).
        try:
            self.ping()
        except StorageUnavailable as exc:
            return StorageCapabilities(
                store=self._name, usable=False, actions=(action,), problem=str(exc)
            )
        return StorageCapabilities(
            store=self._name, usable=True, actions=(action,), changed=changed
        )


def _stream(f: BinaryIO, start: int, stop: int) -> Iterator[bytes]:
    with f:
        f.seek(start)
        remaining = stop - start
        while remaining > 0:
            chunk = f.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                # The file shrank under us; a short read is all that is left to send.
                return
            remaining -= len(chunk)
            yield chunk


def _fsync_dir(directory: Path) -> None:
    # The rename itself is only durable once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
