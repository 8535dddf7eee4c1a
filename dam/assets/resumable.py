"""Resumable uploads (tus 1.0.0: core, creation, termination, expiration).

An upload is a row (`ResumableUpload`) and the bytes received so far in
`DAM_DATA_DIR/uploads/<id>.part`. Each PATCH appends at the offset the row records; when the
last byte arrives, the file goes through exactly what a one-shot upload goes through
(`service.create_asset`: inspection, per-kind size limit, governance, blob first, then one
transaction), and that transaction also marks the upload completed with the asset's id. A
refusal is stored on the row as the API's error body, so HEAD can report either outcome to a
client that lost the last response.

What is checked when:
- at creation, before a byte is accepted: the announced length against the largest limit (and
  the declared kind's limit), the `metadata` JSON's syntax, its term ids, campaign ids and
  governed fields; required facets and rules wait for the file (pre-fill may fill them);
- at the last chunk: everything `create_asset` checks.

No database transaction is held while bytes stream: a PATCH takes the upload with a short
compare-and-set (its lease, renewed while it streams), writes, fsyncs, then records the new
offset with another. The SHA-256 so far is kept in memory between PATCHes of one process; a
PATCH that finds none (another process, a restart) re-reads the bytes on disk first, so the
digest is always that of the file.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dam.assets import service
from dam.assets.campaign_ids import check_campaigns
from dam.assets.upload import ReceivedUpload
from dam.context import Context
from dam.db import session_scope
from dam.errors import (
    BadRequest,
    Conflict,
    DamError,
    Gone,
    Invalid,
    Locked,
    NotFound,
    PayloadTooLarge,
)
from dam.governance.terms import normalize_terms
from dam.models import ResumableUpload, UploadState
from dam.principal import Principal

UPLOADS_DIR = "uploads"
TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = ("creation", "termination", "expiration")
# Upload-Metadata keys with a meaning here (tus-js-client and Uppy send `filename`/`filetype`,
# or `name`/`type`); any other key is kept out of the row and ignored.
METADATA_KEYS = ("filename", "filetype", "name", "type", "metadata")
# A PATCH's hold on its upload; renewed while bytes arrive, so a dead process's lock lapses.
LEASE = timedelta(seconds=60)
RENEW_EVERY_SECONDS = 20.0
HASHERS_KEY = "assets.resumable.hashers"
MAX_CACHED_HASHERS = 256
READ_CHUNK = 1024 * 1024


# --- what a client sends at creation --------------------------------------------------------


def parse_upload_metadata(header: str | None, *, max_bytes: int) -> dict[str, str]:
    """tus Upload-Metadata: `key base64value` pairs separated by commas; values UTF-8."""
    if header is None or not header.strip():
        return {}
    if len(header) > max_bytes * 4 // 3 + 1024:
        raise PayloadTooLarge(
            f"Upload-Metadata exceeds {max_bytes} bytes", code="metadata_too_large"
        )
    found: dict[str, str] = {}
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        if not parts[0] or len(parts) > 2:
            raise BadRequest(
                "Upload-Metadata must be comma-separated 'key base64value' pairs",
                code="invalid_upload_metadata",
            )
        key = parts[0]
        if key in found:
            raise BadRequest(f"Upload-Metadata names {key!r} twice", code="invalid_upload_metadata")
        try:
            value = base64.b64decode(parts[1], validate=True).decode() if len(parts) == 2 else ""
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise BadRequest(
                f"Upload-Metadata value of {key!r} is not base64 of UTF-8 text",
                code="invalid_upload_metadata",
            ) from exc
        found[key] = value
    return {k: found[k] for k in METADATA_KEYS if k in found}


def encode_upload_metadata(values: dict[str, str]) -> str:
    return ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}" if v else k for k, v in values.items()
    )


def declared_filename(values: dict[str, str]) -> str | None:
    return values.get("filename") or values.get("name") or None


def declared_type(values: dict[str, str]) -> str | None:
    return values.get("filetype") or values.get("type") or None


_KIND_OF_EXTENSION = {
    **dict.fromkeys(("jpg", "jpeg", "png", "webp", "tif", "tiff", "gif", "avif"), "image"),
    "svg": "vector",
    "pdf": "document",
    **dict.fromkeys(("mp4", "mov", "webm", "m4v"), "video"),
    **dict.fromkeys(("m4a", "mp3", "wav"), "audio"),
}


def declared_kind(values: dict[str, str]) -> str | None:
    """The media kind the client says it sends, for the size limit at creation (the bytes
    decide at the end: a 'video' that sniffs as an image gets the image limit then)."""
    ctype = (declared_type(values) or "").split(";")[0].strip().lower()
    if ctype == "image/svg+xml":
        return "vector"
    if ctype == "application/pdf":
        return "document"
    major = ctype.split("/")[0]
    if major in ("image", "video", "audio"):
        return major
    name = declared_filename(values) or ""
    return _KIND_OF_EXTENSION.get(name.rsplit(".", 1)[-1].lower()) if "." in name else None


def check_length(ctx: Context, length: int, values: dict[str, str]) -> None:
    largest = ctx.settings.max_resumable_bytes
    kind = declared_kind(values)
    limit = min(largest, ctx.settings.max_upload_bytes_for(kind)) if kind else largest
    if length > limit:
        what = f"a {kind} file" if kind else "an upload"
        raise PayloadTooLarge(
            f"Upload-Length {length} exceeds the limit of {limit} bytes for {what}",
            code="file_too_large",
            limit_bytes=limit,
        )


def check_metadata(session: Session, ctx: Context, raw: str | None) -> None:
    """What can be judged before the file exists: the JSON, its term ids (not whether required
    facets are filled: the file's embedded metadata may fill them), campaign ids and governed
    fields. Raises what the one-shot upload would raise for the same metadata."""
    metadata = service.parse_metadata(raw)
    pack = ctx.governance.pack
    normalize_terms(pack, metadata.terms, require=False)
    service.check_extra_fields(pack, metadata.extra)
    check_campaigns(session, metadata.campaign_ids, auto_create=ctx.settings.campaign_auto_create)


def create_upload(
    session: Session,
    *,
    ctx: Context,
    actor: Principal,
    length: int,
    upload_metadata: dict[str, str],
) -> ResumableUpload:
    if length < 1:
        raise Invalid("Upload-Length must be at least 1: the file is empty", code="empty_file")
    check_length(ctx, length, upload_metadata)
    check_metadata(session, ctx, upload_metadata.get("metadata"))
    now = ctx.now()
    row = ResumableUpload(
        created_by=actor.id,
        length=length,
        upload_metadata=upload_metadata,
        created_at=now,
        updated_at=now,
        expires_at=now + _lifetime(ctx),
    )
    session.add(row)
    session.flush()
    part_path(ctx, row.id).parent.mkdir(parents=True, exist_ok=True)
    return row


def _lifetime(ctx: Context) -> timedelta:
    return timedelta(hours=ctx.settings.upload_expire_hours)


def part_path(ctx: Context, upload_id: uuid.UUID) -> Path:
    return ctx.settings.data_dir / UPLOADS_DIR / f"{upload_id}.part"


# --- looking an upload up --------------------------------------------------------------------


def get_upload(
    session: Session, *, ctx: Context, upload_id: uuid.UUID, actor: Principal
) -> ResumableUpload:
    """The actor's upload; someone else's answers like a missing one. An upload past its
    expiry is gone (410) until the sweep removes it (404)."""
    row = session.get(ResumableUpload, upload_id)
    if row is None or row.created_by != actor.id:
        raise NotFound(f"no upload {upload_id}", code="upload_not_found")
    if row.expires_at <= ctx.now():
        raise Gone(
            f"upload {upload_id} expired at {row.expires_at.isoformat()}", code="upload_expired"
        )
    return row


def outcome_headers(row: ResumableUpload) -> dict[str, str]:
    """`DAM-Asset-Id` once the asset exists, or `DAM-Upload-Error` with the refusal as JSON."""
    if row.state == UploadState.completed and row.asset_id is not None:
        return {"DAM-Asset-Id": str(row.asset_id)}
    if row.state == UploadState.failed and row.error is not None:
        return {"DAM-Upload-Error": json.dumps(row.error, separators=(",", ":"), default=str)}
    return {}


# --- receiving bytes -------------------------------------------------------------------------


class _Hashers:
    """SHA-256 objects of uploads in progress, by id, each with the offset it has hashed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: OrderedDict[uuid.UUID, tuple[int, Any]] = OrderedDict()

    def take(self, upload_id: uuid.UUID, offset: int) -> Any | None:
        with self.lock:
            item = self.items.pop(upload_id, None)
        if item is not None and item[0] == offset:
            return item[1]
        return None

    def keep(self, upload_id: uuid.UUID, offset: int, hasher: Any) -> None:
        with self.lock:
            self.items[upload_id] = (offset, hasher)
            while len(self.items) > MAX_CACHED_HASHERS:
                self.items.popitem(last=False)


def _hashers(ctx: Context) -> _Hashers:
    found = ctx.extras.get(HASHERS_KEY)
    if found is None:
        found = ctx.extras.setdefault(HASHERS_KEY, _Hashers())
    assert isinstance(found, _Hashers)
    return found


def _lost() -> Conflict:
    return Conflict(
        "the bytes received so far are missing from the server; start the upload again",
        code="upload_bytes_lost",
    )


def _hash_of_first(path: Path, length: int) -> Any:
    hasher = hashlib.sha256()
    try:
        f = path.open("rb")
    except FileNotFoundError:
        raise _lost() from None
    with f:
        left = length
        while left:
            chunk = f.read(min(READ_CHUNK, left))
            if not chunk:
                raise _lost()
            hasher.update(chunk)
            left -= len(chunk)
    return hasher


@dataclass
class Lease:
    upload_id: uuid.UUID
    offset: int
    length: int
    until: datetime
    renewed: float = field(default_factory=time.monotonic)


def acquire(ctx: Context, *, upload_id: uuid.UUID, actor: Principal, offset: int) -> Lease:
    """Take the upload for one PATCH at `offset` (409 when the client's offset is not the
    server's, 423 while another PATCH holds it)."""
    now = ctx.now()
    until = now + LEASE
    with session_scope(ctx.engine) as session:
        row = get_upload(session, ctx=ctx, upload_id=upload_id, actor=actor)
        if row.state != UploadState.receiving:
            raise Conflict(
                f"upload {upload_id} is finished ({row.state.value}); HEAD reports the outcome",
                code="upload_finished",
                upload_offset=row.offset,
            )
        taken = session.execute(
            sa.update(ResumableUpload)
            .where(
                col(ResumableUpload.id) == upload_id,
                col(ResumableUpload.offset) == offset,
                col(ResumableUpload.state) == UploadState.receiving,
                sa.or_(
                    col(ResumableUpload.locked_until).is_(None),
                    col(ResumableUpload.locked_until) < now,
                ),
            )
            .values(locked_until=until)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if taken != 1:
            session.refresh(row)
            if row.offset != offset:
                raise Conflict(
                    f"Upload-Offset {offset} is not the upload's offset {row.offset}; "
                    "HEAD it and resume from there",
                    code="offset_mismatch",
                    upload_offset=row.offset,
                )
            raise Locked(
                f"another request is writing to upload {upload_id}; retry shortly",
                code="upload_locked",
            )
        length = row.length
    return Lease(upload_id=upload_id, offset=offset, length=length, until=until)


def _renew(ctx: Context, lease: Lease) -> None:
    until = ctx.now() + LEASE
    with session_scope(ctx.engine) as session:
        renewed = session.execute(
            sa.update(ResumableUpload)
            .where(
                col(ResumableUpload.id) == lease.upload_id,
                col(ResumableUpload.locked_until) == lease.until,
            )
            .values(locked_until=until)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    if renewed != 1:
        raise Locked(f"upload {lease.upload_id} was taken by another request", code="upload_locked")
    lease.until = until
    lease.renewed = time.monotonic()


def release(ctx: Context, lease: Lease, *, offset: int, hold: bool = False) -> None:
    """Record the new offset (the bytes are on disk already) and let the upload go, or, with
    `hold` (the last byte arrived), keep it while `complete` makes the asset."""
    now = ctx.now()
    with session_scope(ctx.engine) as session:
        session.execute(
            sa.update(ResumableUpload)
            .where(
                col(ResumableUpload.id) == lease.upload_id,
                col(ResumableUpload.locked_until) == lease.until,
            )
            .values(
                offset=offset,
                locked_until=lease.until if hold else None,
                updated_at=now,
                expires_at=now + _lifetime(ctx),
            )
            .execution_options(synchronize_session=False)
        )


@dataclass
class Received:
    offset: int
    sha256: str | None  # set when the upload has all its bytes


async def receive_chunk(
    ctx: Context,
    lease: Lease,
    *,
    stream: AsyncIterator[bytes],
    content_length: int | None,
) -> Received:
    """Append the body at the lease's offset, hashing as it goes. A body running past the
    announced length is refused (413) and nothing of it is kept; a body that ends early (the
    client went away) keeps what arrived. The caller releases the lease."""
    if content_length is not None and lease.offset + content_length > lease.length:
        raise PayloadTooLarge(
            f"the chunk would end at byte {lease.offset + content_length}, past the upload's "
            f"length of {lease.length}",
            code="upload_overrun",
        )
    path = part_path(ctx, lease.upload_id)
    hashers = _hashers(ctx)
    hasher = hashers.take(lease.upload_id, lease.offset)
    # Blocking work (re-reading the bytes so far, opening, fsync, the database) goes to a
    # thread so the event loop keeps serving other requests meanwhile.
    if hasher is None:
        hasher = (
            await asyncio.to_thread(_hash_of_first, path, lease.offset)
            if lease.offset
            else hashlib.sha256()
        )
    offset = lease.offset
    f = await asyncio.to_thread(_open_at, path, offset)
    try:
        async for chunk in stream:
            if not chunk:
                continue
            if offset + len(chunk) > lease.length:
                raise PayloadTooLarge(
                    f"the chunk runs past the upload's length of {lease.length} bytes",
                    code="upload_overrun",
                )
            if time.monotonic() - lease.renewed > RENEW_EVERY_SECONDS:
                await asyncio.to_thread(_renew, ctx, lease)
            f.write(chunk)
            hasher.update(chunk)
            offset += len(chunk)
        f.flush()
        await asyncio.to_thread(os.fsync, f.fileno())
    except BaseException:
        # Keep nothing of a refused chunk: the file ends where the row says it does.
        f.seek(lease.offset)
        f.truncate()
        f.close()
        raise
    f.close()
    hashers.keep(lease.upload_id, offset, hasher)
    return Received(offset=offset, sha256=hasher.hexdigest() if offset == lease.length else None)


def _open_at(path: Path, offset: int) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        f = path.open("r+b")
    except FileNotFoundError:
        if offset:
            raise Conflict(
                "the bytes received so far are missing from the server; start the upload again",
                code="upload_bytes_lost",
            ) from None
        f = path.open("w+b")
    size = f.seek(0, os.SEEK_END)
    if size < offset:
        f.close()
        raise Conflict(
            f"the server holds {size} of the {offset} bytes received; start the upload again",
            code="upload_bytes_lost",
        )
    f.seek(offset)
    f.truncate()
    return f


# --- the last chunk --------------------------------------------------------------------------


def complete(
    ctx: Context, *, upload_id: uuid.UUID, actor: Principal, sha256: str
) -> ResumableUpload:
    """The asset from the received file, through `create_asset`, and the upload marked
    completed in the same transaction; a refusal is stored on the upload instead. Either way
    the partial file goes then (the blob store has the bytes if they were accepted)."""
    with session_scope(ctx.engine) as session:
        row = session.get(ResumableUpload, upload_id)
        assert row is not None
        values = dict(row.upload_metadata)
    part = part_path(ctx, upload_id)
    received = ReceivedUpload(
        path=_staged(part),
        sha256=sha256,
        size=row.length,
        filename=declared_filename(values),
        declared_type=declared_type(values),
        fields={"metadata": values["metadata"]} if "metadata" in values else {},
    )
    try:
        with session_scope(ctx.engine) as session:
            metadata = service.parse_metadata(values.get("metadata"))
            asset = service.create_asset(
                session, ctx=ctx, upload=received, metadata=metadata, actor=actor
            )
            _finish(session, ctx, upload_id, state=UploadState.completed, asset_id=asset.id)
    except DamError as exc:
        with session_scope(ctx.engine) as session:
            _finish(
                session,
                ctx,
                upload_id,
                state=UploadState.failed,
                error={"status": exc.status_code, **exc.body()},
            )
    finally:
        received.discard()
    # Only once an outcome is recorded: after anything else (a lost database connection at
    # commit) the upload still has every byte, and the next HEAD finishes it.
    part.unlink(missing_ok=True)
    with session_scope(ctx.engine) as session:
        done = session.get(ResumableUpload, upload_id)
        assert done is not None
        return done


def _staged(part: Path) -> Path:
    """A second name for the part file's bytes, handed to `create_asset`: the blob store may
    move the file it is given into place (the body is written once), and the part file must
    survive a crash before the asset's transaction commits, so that HEAD can still finish the
    upload from it (`finish_stalled`). A hard link costs nothing; where one cannot be made the
    part file itself is handed over."""
    staged = part.with_name(part.name + ".staged")
    staged.unlink(missing_ok=True)
    try:
        os.link(part, staged)
    except OSError:
        return part
    return staged


def _finish(
    session: Session,
    ctx: Context,
    upload_id: uuid.UUID,
    *,
    state: UploadState,
    asset_id: uuid.UUID | None = None,
    error: dict[str, Any] | None = None,
) -> None:
    now = ctx.now()
    session.execute(
        sa.update(ResumableUpload)
        .where(col(ResumableUpload.id) == upload_id)
        .values(
            state=state,
            asset_id=asset_id,
            error=error,
            locked_until=None,
            updated_at=now,
            # Kept as long as a partial one would be, for HEAD to report the outcome.
            expires_at=now + _lifetime(ctx),
        )
        .execution_options(synchronize_session=False)
    )


def finish_stalled(ctx: Context, *, upload_id: uuid.UUID, actor: Principal) -> ResumableUpload:
    """An upload with every byte but no outcome: the process making the asset died between
    the last chunk and its transaction. Take it and make the asset now (HEAD does, so the
    client asking for the outcome gets one)."""
    lease = acquire(ctx, upload_id=upload_id, actor=actor, offset=_offset_of(ctx, upload_id))
    try:
        path = part_path(ctx, upload_id)
        sha256 = _hash_of_first(path, lease.length).hexdigest()
    except DamError as exc:
        with session_scope(ctx.engine) as session:
            _finish(
                session,
                ctx,
                upload_id,
                state=UploadState.failed,
                error={"status": exc.status_code, **exc.body()},
            )
        part_path(ctx, upload_id).unlink(missing_ok=True)
        with session_scope(ctx.engine) as session:
            row = session.get(ResumableUpload, upload_id)
            assert row is not None
            return row
    return complete(ctx, upload_id=upload_id, actor=actor, sha256=sha256)


def _offset_of(ctx: Context, upload_id: uuid.UUID) -> int:
    with session_scope(ctx.engine) as session:
        row = session.get(ResumableUpload, upload_id)
        return row.offset if row is not None else -1


def is_stalled(row: ResumableUpload, now: datetime) -> bool:
    return (
        row.state == UploadState.receiving
        and row.offset == row.length
        and (row.locked_until is None or row.locked_until < now)
    )


# --- termination and expiry ------------------------------------------------------------------


def terminate(session: Session, *, ctx: Context, upload_id: uuid.UUID, actor: Principal) -> None:
    """tus termination: the upload and its bytes go (an asset it made stays)."""
    row = get_upload(session, ctx=ctx, upload_id=upload_id, actor=actor)
    if row.locked_until is not None and row.locked_until > ctx.now():
        raise Locked(
            f"another request is writing to upload {upload_id}; retry shortly",
            code="upload_locked",
        )
    session.delete(row)
    session.flush()
    part_path(ctx, upload_id).unlink(missing_ok=True)
    _hashers(ctx).take(upload_id, -1)


SWEEP_INTERVAL = timedelta(minutes=5)
SWEEP_BATCH = 500
_NEXT_SWEEP = "assets.resumable.next_sweep"


def remove_expired(
    ctx: Context, *, now: datetime | None = None, limit: int = SWEEP_BATCH
) -> list[uuid.UUID]:
    """Expired uploads (partial or finished) and their bytes; a PATCH still holding one is
    left for the next sweep."""
    now = now or ctx.now()
    with session_scope(ctx.engine) as session:
        rows = list(
            session.exec(
                select(ResumableUpload)
                .where(
                    col(ResumableUpload.expires_at) <= now,
                    sa.or_(
                        col(ResumableUpload.locked_until).is_(None),
                        col(ResumableUpload.locked_until) < now,
                    ),
                )
                .order_by(col(ResumableUpload.expires_at))
                .limit(limit)
            )
        )
        for row in rows:
            session.delete(row)
    for row in rows:
        part_path(ctx, row.id).unlink(missing_ok=True)
    return [row.id for row in rows]


def expiry_sweep(ctx: Context) -> None:
    """The worker's periodic task."""
    now = ctx.now()
    due: datetime | None = ctx.extras.get(_NEXT_SWEEP)
    if due is not None and now < due:
        return
    ctx.extras[_NEXT_SWEEP] = now + SWEEP_INTERVAL
    remove_expired(ctx, now=now)


# --- `dam storage check` ---------------------------------------------------------------------


@dataclass
class UploadsReport:
    repair: bool
    partial: list[tuple[ResumableUpload, int]] = field(default_factory=list)  # row, bytes on disk
    expired: list[ResumableUpload] = field(default_factory=list)
    lost: list[tuple[ResumableUpload, int]] = field(default_factory=list)
    orphan_files: list[Path] = field(default_factory=list)
    removed: int = 0

    @property
    def ok(self) -> bool:
        return not self.lost and (self.repair or not (self.expired or self.orphan_files))

    def lines(self) -> list[str]:
        out = []
        for row, _ in self.partial:
            out.append(
                f"UPLOAD   {row.id}: {row.offset} of {row.length} bytes received, "
                f"expires {row.expires_at:%Y-%m-%d %H:%M}Z"
            )
        for row in self.expired:
            state = " (removed)" if self.repair else ""
            out.append(
                f"EXPIRED  upload {row.id} ({row.state.value}, {row.offset} of {row.length} "
                f"bytes){state}"
            )
        for row, size in self.lost:
            out.append(
                f"LOST     upload {row.id}: {size} bytes on disk, {row.offset} recorded as received"
            )
        for path in self.orphan_files:
            state = " (removed)" if self.repair else ""
            out.append(f"ORPHAN   {path}: partial upload without an upload record{state}")
        left = 0 if self.repair else len(self.expired) + len(self.orphan_files)
        if self.lost or left:
            out.append(
                f"PROBLEMS: {len(self.lost)} uploads lost their bytes, {left} expired or orphan "
                "partial uploads" + ("" if self.repair or not left else " (run with --repair)")
            )
        return out


def check_uploads(ctx: Context, *, repair: bool, grace_seconds: int) -> UploadsReport:
    """Partial uploads in progress (reported, left alone), expired ones (repair removes them,
    as the worker's sweep would), recorded bytes missing from disk (lost: reported), and part
    files with no upload row older than the grace period (repair removes them)."""
    now = ctx.now()
    report = UploadsReport(repair=repair)
    with session_scope(ctx.engine) as session:
        rows = list(session.exec(select(ResumableUpload).order_by(col(ResumableUpload.created_at))))
    known = {row.id for row in rows}
    for row in rows:
        path = part_path(ctx, row.id)
        size = path.stat().st_size if path.is_file() else 0
        if row.expires_at <= now:
            report.expired.append(row)
        elif row.state == UploadState.receiving:
            if size < row.offset:
                report.lost.append((row, size))
            else:
                report.partial.append((row, size))
    directory = ctx.settings.data_dir / UPLOADS_DIR
    cutoff = datetime.now(UTC) - timedelta(seconds=grace_seconds)
    if directory.is_dir():
        # `.part.staged`: the second name `complete` gives the bytes, left by a crash; the
        # part file keeps them, so an old one is an orphan (its stem is no upload id).
        for path in sorted([*directory.glob("*.part"), *directory.glob("*.part.staged")]):
            try:
                upload_id = uuid.UUID(path.stem)
            except ValueError:
                upload_id = None
            if upload_id in known:
                continue
            modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
            if modified <= cutoff:
                report.orphan_files.append(path)
    if repair:
        if report.expired:
            report.removed += len(remove_expired(ctx, now=now, limit=len(report.expired)))
        for path in report.orphan_files:
            path.unlink(missing_ok=True)
            report.removed += 1
    return report
