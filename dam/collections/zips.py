"""Zip downloads of a selection or a collection, streamed.

The zip is written by the standard library's `zipfile` to a sink that is not seekable, so
every member carries a data descriptor and ZIP64 sizes (no member or archive size limit) and
nothing is ever rewound: bytes leave as they are made. Memory stays at about one chunk of the
blob store (1 MiB) per download whatever the zip's size, and no copy of the zip is written
anywhere. What goes in is decided before the first byte (`plan`): the bytes each reader gets
from `GET /assets/{id}/content` (`dam.assets.delivery.served`: originals for uploaders and
reviewers, delivered copies of the published version with governed metadata and location
stripped for everyone else), and `manifest.csv` first, naming each file with its asset,
version, digest and rights. A file whose delivered copy cannot be made safely
(`location_not_removable`), or whose blob is missing, is left out and the manifest says why.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from dam.assets import delivery, derivatives
from dam.assets.metadata import Metadata
from dam.audit.service import record
from dam.context import Context
from dam.errors import DamError, Invalid
from dam.governance.derivatives import Preset
from dam.media.filenames import safe_filename
from dam.media.writeback import DeliveryRefused
from dam.models import Asset, AssetVersion
from dam.principal import Principal
from dam.storage.base import BlobStore

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = (
    "file",
    "asset_id",
    "version",
    "title",
    "mime_type",
    "size",
    "sha256",
    "original_sha256",
    "credit",
    "copyright",
    "usage_terms",
    "rights_expire_at",
    "included",
)
# Already-compressed kinds are stored; deflating them costs CPU and saves nothing.
_DEFLATE_TYPES = re.compile(r"^(text/|image/svg|application/(json|xml|pdf|postscript))")
# A sink flushes to the client once it holds this much.
_FLUSH_AT = 256 * 1024


@dataclass(frozen=True)
class Member:
    name: str
    blob_key: str
    mime_type: str
    modified: datetime


@dataclass(frozen=True)
class ZipPlan:
    members: list[Member]
    manifest: bytes
    omitted: int


def _unique(name: str, taken: set[str]) -> str:
    if name.lower() not in taken:
        taken.add(name.lower())
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    n = 2
    while True:
        candidate = f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})"
        if candidate.lower() not in taken:
            taken.add(candidate.lower())
            return candidate
        n += 1


def serving_preset(
    session: Session, *, ctx: Context, asset: Asset, version: AssetVersion, preset_id: str
) -> Preset | None:
    """The pack's preset `preset_id` when it serves this version (an image whose channels, or
    whose campaigns' channels, the preset is for), else None: the file goes as its original."""
    preset = ctx.governance.pack.preset(preset_id)
    if preset is None or version.kind != "image":
        return None
    terms = asset.terms if version.number == asset.published_version else version.terms
    channels = derivatives.campaign_channels(session, asset.id)
    return (
        preset if preset in derivatives.presets_for(ctx.governance.pack, terms, channels) else None
    )


def plan(
    session: Session,
    *,
    ctx: Context,
    items: Iterable[tuple[Asset, AssetVersion]],
    audience: str,
    preset: str | None = None,
) -> ZipPlan:
    """What the zip holds, in order, for `audience` (a role, or `delivery_link` for share
    links). Makes the delivered copies that do not exist yet (each in a temp directory of its
    own, one at a time), so the stream that follows only reads blobs. With `preset` (a
    derivative preset id), each image the preset serves goes as that derivative (rendered now
    when not cached); the other files as their originals."""
    members: list[Member] = []
    taken = {MANIFEST}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(MANIFEST_COLUMNS)
    omitted = 0
    for asset, version in items:
        # The working view's metadata for uploaders and reviewers, else the published view's.
        original = audience in delivery.ORIGINAL_AUDIENCES
        live = Metadata.of(version if original else asset)
        extra = live.extra
        name = _unique(safe_filename(version.filename, fallback_ext=version.format or "bin"), taken)
        row = [
            name,
            str(asset.id),
            version.number,
            live.title,
        ]
        derived = (
            serving_preset(session, ctx=ctx, asset=asset, version=version, preset_id=preset)
            if preset
            else None
        )
        try:
            sent: delivery.Served | derivatives.Made
            if derived is not None:
                try:
                    sent = derivatives.derivative(
                        session, ctx=ctx, asset=asset, version=version, preset=derived
                    )
                except DamError as exc:
                    raise DeliveryRefused(str(exc.detail), code=exc.code) from exc
                taken.discard(name.lower())
                name = _unique(safe_filename(sent.filename, fallback_ext=sent.format), taken)
                row[0] = name
            else:
                sent = delivery.served(
                    session, ctx=ctx, asset=asset, version=version, audience=audience
                )
            if not ctx.store.exists(sent.blob_key):
                # Found now, not halfway through the stream (where only a cut can tell).
                raise DeliveryRefused(f"the file of {asset.id} is missing", code="blob_missing")
        except DeliveryRefused as exc:
            omitted += 1
            taken.discard(name.lower())
            writer.writerow(
                [
                    "",
                    *row[1:],
                    version.mime_type,
                    "",
                    "",
                    version.sha256,
                    *_rights(extra, live),
                    f"no: {exc.code}",
                ]
            )
            continue
        members.append(
            Member(
                name=name,
                blob_key=sent.blob_key,
                mime_type=sent.mime_type,
                modified=version.created_at,
            )
        )
        writer.writerow(
            [
                *row,
                sent.mime_type,
                sent.size,
                sent.sha256,
                sent.original_sha256,
                *_rights(extra, live),
                "yes",
            ]
        )
    return ZipPlan(members=members, manifest=out.getvalue().encode("utf-8"), omitted=omitted)


def prepare(
    session: Session,
    *,
    ctx: Context,
    principal: Principal,
    items: Iterable[tuple[Asset, AssetVersion]],
    target: str,
    preset: str | None = None,
) -> ZipPlan:
    """`plan` for what `principal` downloads (their role is the audience), audited. `preset`
    must be one of the pack's derivative presets (422 `invalid_preset` otherwise)."""
    if preset is not None and ctx.governance.pack.preset(preset) is None:
        known = ", ".join(p.id for p in ctx.governance.pack.presets) or "none"
        raise Invalid(
            f"no derivative preset {preset!r} in the pack (presets: {known})",
            code="invalid_preset",
            field="preset",
        )
    zip_plan = plan(session, ctx=ctx, items=items, audience=principal.role.value, preset=preset)
    record(
        session,
        actor=principal,
        action="assets.zip_downloaded",
        now=ctx.now(),
        target=target,
        changes={
            "files": len(zip_plan.members),
            "omitted": zip_plan.omitted,
            "preset": preset or "original",
        },
    )
    return zip_plan


def _rights(extra: dict[str, object], live: Metadata) -> list[str]:
    def text(name: str) -> str:
        value = extra.get(name)
        if isinstance(value, list):
            return "; ".join(str(v) for v in value)
        return str(value) if value else ""

    expires = live.rights_expire_at.isoformat() if live.rights_expire_at else ""
    return [text("credit"), text("copyright"), text("usage_terms"), expires]


class _Sink:
    """A write-only file object: `zipfile` finds no `tell`/`seek`, so it streams."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def drain(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        self.size = 0
        return data


def _info(name: str, modified: datetime, mime_type: str) -> zipfile.ZipInfo:
    stamp = modified.timetuple()[:6] if modified.year >= 1980 else (1980, 1, 1, 0, 0, 0)
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = (
        zipfile.ZIP_DEFLATED if _DEFLATE_TYPES.match(mime_type) else zipfile.ZIP_STORED
    )
    info.external_attr = 0o644 << 16
    return info


def stream(store: BlobStore, zip_plan: ZipPlan, *, now: datetime) -> Iterator[bytes]:
    """The zip's bytes, in pieces of about `_FLUSH_AT`; reads each blob once, in chunks."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:
        with archive.open(_info(MANIFEST, now, "text/csv"), "w", force_zip64=True) as out:
            out.write(zip_plan.manifest)
        for member in zip_plan.members:
            info = _info(member.name, member.modified, member.mime_type)
            with archive.open(info, "w", force_zip64=True) as out:
                for chunk in store.open(member.blob_key):
                    out.write(chunk)
                    if sink.size >= _FLUSH_AT:
                        yield sink.drain()
            if sink.size >= _FLUSH_AT:
                yield sink.drain()
    yield sink.drain()


def zip_name(name: str) -> str:
    """The download's filename: the collection's name (or `selection`), display-safe."""
    cleaned = safe_filename(name.replace("/", " ").strip() or "selection", fallback_ext="zip")
    return cleaned if cleaned.lower().endswith(".zip") else f"{cleaned}.zip"
