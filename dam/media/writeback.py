"""Delivered copies: the stored original with the governed metadata written in and, unless the
pack allows it, every location field taken out.

:func:`write_delivery_copy` never touches the stored file: it copies it (streaming) to the
destination and rewrites only that copy, inside an isolated child (see :mod:`dam.media.isolate`).
After writing, the copy is read back; if any location field survived, the copy is deleted and
the delivery refused, so location data never leaves by accident.

Per-format behaviour (what is written, how location is removed or the delivery refused) is
tabled in ``dam/media/METADATA.md``.

A C2PA manifest in a rewritten image stays in the file; its hard binding no longer matches the
changed bytes, as with any edit, and validators report it as such. Re-signing needs the
organisation's signing certificate and is not done here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

from dam.errors import DamError
from dam.media.embedded import read_embedded
from dam.media.isolate import IsolationFailed, run_isolated

__all__ = [
    "REMUX_FORMATS",
    "REWRITABLE_FORMATS",
    "WRITER_VERSION",
    "DeliveredCopy",
    "DeliveryMetadata",
    "DeliveryRefused",
    "LocationNotRemovable",
    "delivery_cache_key",
    "write_delivery_copy",
]

# Bumped whenever what is written changes, so cached copies made by an older writer are stale.
WRITER_VERSION = "1"
REWRITABLE_FORMATS = frozenset({"JPEG", "PNG", "TIFF", "WEBP"})
REMUX_FORMATS = frozenset({"MP4", "MOV", "WEBM"})
_IPTC_FORMATS = frozenset({"JPEG", "TIFF"})
_COPY_CHUNK = 1024 * 1024


class DeliveryRefused(DamError):
    """A delivered copy could not be made safely; nothing was delivered."""

    status_code = 409
    code = "delivery_refused"


class LocationNotRemovable(DeliveryRefused):
    code = "location_not_removable"


@dataclass(frozen=True)
class DeliveryMetadata:
    """The governed metadata a delivered copy carries (the published view's values)."""

    asset_id: str
    version: int
    title: str | None = None
    description: str | None = None
    creator: tuple[str, ...] = ()
    credit: str | None = None
    copyright: str | None = None
    usage_terms: str | None = None
    licence_end: date | None = None
    campaign_id: str | None = None
    web_statement: str | None = None

    @property
    def identifiers(self) -> list[str]:
        return [f"urn:dam:asset:{self.asset_id}", f"urn:dam:asset:{self.asset_id}:v{self.version}"]

    def to_json(self) -> dict[str, Any]:
        # Shallow (every value is a str, int, date or tuple of str): `asdict` deep-copies, and
        # a campaign feed computes this for every item of a page. Part of the cache key: the
        # same names and values as before, so copies already made keep their keys.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["creator"] = list(self.creator)
        data["licence_end"] = self.licence_end.isoformat() if self.licence_end else None
        return data


@dataclass(frozen=True)
class DeliveredCopy:
    path: Path
    format: str
    method: str  # rewritten | remuxed | unchanged
    sha256: str
    size: int
    written: tuple[str, ...]  # raw keys set
    removed: tuple[str, ...]  # raw keys taken out


def delivery_cache_key(
    source_sha256: str, metadata: DeliveryMetadata, *, strip: Collection[str]
) -> str:
    """Cache key of a delivered copy: source bytes + governed metadata + privacy + writer."""
    payload = json.dumps(
        {
            "source": source_sha256,
            "metadata": metadata.to_json(),
            "strip": sorted(strip),
            "writer": WRITER_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _copy(source: Path, dest: Path) -> None:
    with source.open("rb") as src, dest.open("wb") as out:
        shutil.copyfileobj(src, out, _COPY_CHUNK)


def _digest(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as fp:
        while chunk := fp.read(_COPY_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def write_delivery_copy(
    source: Path,
    dest: Path,
    *,
    fmt: str,
    metadata: DeliveryMetadata,
    strip: Collection[str] = ("gps", "location"),
    timeout: float = 60.0,
) -> DeliveredCopy:
    """Write the delivered copy of ``source`` (a sniffed ``fmt``) to ``dest``.

    ``strip`` says what location data to take out: ``gps`` (coordinates), ``location`` (place
    names too), or nothing; pass ``pack.metadata.strips_location(audience)``. ``source`` is only
    read. ``dest`` must not exist yet and is removed again on refusal.
    Raises :class:`LocationNotRemovable` (409) when location data would leave and cannot be
    taken out, and :class:`DeliveryRefused` (409) when the copy cannot be written.
    """
    fmt = fmt.upper()
    if dest.exists():
        raise FileExistsError(dest)
    strip_location = bool(strip)
    gps_only = "location" not in strip
    try:
        if fmt in REWRITABLE_FORMATS:
            _copy(source, dest)
            outcome = _in_child(
                "rewrite", str(dest), fmt, metadata, strip_location, gps_only, timeout=timeout
            )
            method = "rewritten"
        elif fmt in REMUX_FORMATS:
            outcome = _in_child(
                "remux",
                str(source),
                fmt,
                metadata,
                strip_location,
                gps_only,
                timeout=timeout,
                dest=str(dest),
            )
            method = "remuxed"
        else:
            outcome = {"written": [], "removed": []}
            method = "unchanged"
            if strip_location:
                _refuse_if_located(source, fmt, gps_only)
            _copy(source, dest)
        if strip_location:
            _verify_clean(dest, fmt, gps_only)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    sha, size = _digest(dest)
    return DeliveredCopy(
        path=dest,
        format=fmt,
        method=method,
        sha256=sha,
        size=size,
        written=tuple(outcome.get("written", ())),
        removed=tuple(outcome.get("removed", ())),
    )


def _in_child(
    operation: str,
    path: str,
    fmt: str,
    metadata: DeliveryMetadata,
    strip_location: bool,
    gps_only: bool,
    *,
    timeout: float,
    dest: str | None = None,
) -> dict[str, Any]:
    try:
        result = run_isolated(
            "writeback.write",
            operation,
            path,
            fmt,
            metadata.to_json(),
            strip_location,
            gps_only,
            dest,
            timeout=timeout,
        )
    except IsolationFailed as exc:
        raise DeliveryRefused(
            f"the {fmt} copy could not be written: the writer {exc.reason}"
        ) from exc
    if not isinstance(result, dict):
        raise DeliveryRefused(f"the {fmt} copy could not be written")
    if result.get("error"):
        raise DeliveryRefused(f"the {fmt} copy could not be written: {result['error']}")
    return result


def _located_keys(path: Path, fmt: str, gps_only: bool) -> list[str]:
    found = read_embedded(path, fmt=fmt)
    if found.problems and not found.blocks and fmt not in REMUX_FORMATS:
        # Unreadable metadata cannot be vouched for: it may hold anything.
        raise LocationNotRemovable(
            f"the {fmt} file's metadata could not be read ({found.problems[0]}); it is not "
            "delivered because it may carry location data"
        )
    from dam.media.embedded import is_location_key

    keys = [
        f"{block}:{key}" if block not in ("exif", "iptc", "xmp") else key
        for block, table in found.raw.items()
        for key in table
        if is_location_key(
            key if block in ("exif", "iptc", "xmp") else f"{block}.{key}", gps_only=gps_only
        )
    ]
    if found.embedded.c2pa is not None and found.raw.get("c2pa", {}).get("location_assertion"):
        keys.append("c2pa:location assertion")
    if found.embedded.gps is not None and not keys:
        keys.append("gps")
    return keys


_SCAN_CHUNK = 4 * 1024 * 1024
_SCAN_OVERLAP = 256
_TIFF_HEADERS = (b"II*\x00", b"MM\x00*")
_GPS_TEXT = (b"exif:GPSLatitude", b"exif:GPSLongitude", b"\xa9xyz", b"location.ISO6709")
_PLACE_TEXT = (
    b"photoshop:City",
    b"photoshop:State",
    b"photoshop:Country",
    b"Iptc4xmpCore:Location",
    b"Iptc4xmpExt:LocationShown",
    b"Iptc4xmpExt:LocationCreated",
    b"loci",
)


def _tiff_has_gps(fp: Any, at: int) -> bool:
    """Whether the TIFF structure starting at byte ``at`` has a GPS IFD with coordinates."""
    fp.seek(at)
    head = fp.read(8)
    if len(head) < 8:
        return False
    order = "<" if head[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", head[4:8])

    def entries(offset: int) -> list[tuple[int, int]]:
        if offset < 8 or offset > 64 * 1024 * 1024:
            return []
        fp.seek(at + offset)
        raw = fp.read(2)
        if len(raw) < 2:
            return []
        (count,) = struct.unpack(order + "H", raw)
        if not 0 < count <= 1000:
            return []
        data = fp.read(12 * count)
        out = []
        for i in range(len(data) // 12):
            tag, kind, _n, value = struct.unpack(order + "HHII", data[12 * i : 12 * i + 12])
            if 1 <= kind <= 13:
                out.append((tag, value))
        return out

    for tag, value in entries(ifd):
        if tag == 0x8825:
            return any(t in (1, 2, 3, 4) for t, _ in entries(value))
    return False


def _scan_bytes(path: Path, gps_only: bool) -> list[str]:
    """A format-blind second opinion: GPS IFDs in any embedded TIFF/EXIF structure (MPF second
    images, PDF-embedded JPEGs, HEIF items exiv2 does not reach) and location names in any
    uncompressed XMP or QuickTime atom. Conservative: a hit refuses the delivery."""
    words = _GPS_TEXT if gps_only else _GPS_TEXT + _PLACE_TEXT
    found: list[str] = []
    with path.open("rb") as fp:
        offset = 0
        tail = b""
        while True:
            fp.seek(offset)
            chunk = fp.read(_SCAN_CHUNK)
            if not chunk:
                break
            window = tail + chunk
            base = offset - len(tail)
            for word in words:
                if word in window and f"bytes:{word.decode('latin-1')}" not in found:
                    found.append(f"bytes:{word.decode('latin-1')}")
            for header in _TIFF_HEADERS:
                start = window.find(header)
                while start >= 0 and len(found) < 20:
                    position = base + start
                    if _tiff_has_gps(fp, position) and "bytes:EXIF GPS IFD" not in found:
                        found.append("bytes:EXIF GPS IFD")
                    start = window.find(header, start + 1)
            tail = chunk[-_SCAN_OVERLAP:]
            offset += len(chunk)
    return found


def _refuse_if_located(path: Path, fmt: str, gps_only: bool) -> None:
    keys = _located_keys(path, fmt, gps_only) or _scan_bytes(path, gps_only)
    if keys:
        raise LocationNotRemovable(
            f"this {fmt} file carries location data ({', '.join(keys[:5])}) and {fmt} files "
            "cannot be rewritten here; strip the location before uploading, or deliver a "
            "rendition",
            fields=keys[:20],
        )


def _verify_clean(path: Path, fmt: str, gps_only: bool) -> None:
    keys = _located_keys(path, fmt, gps_only) or _scan_bytes(path, gps_only)
    if keys:
        raise LocationNotRemovable(
            f"location data survived in the delivered {fmt} copy ({', '.join(keys[:5])}); "
            "the delivery is refused",
            fields=keys[:20],
        )


# --- in the isolated child ----------------------------------------------------------------------


def write_in_child(
    operation: str,
    path: str,
    fmt: str,
    metadata: Mapping[str, Any],
    strip_location: bool,
    gps_only: bool,
    dest: str | None,
) -> dict[str, Any]:
    if operation == "rewrite":
        return _rewrite(path, fmt, metadata, strip_location, gps_only)
    if operation == "remux":
        assert dest is not None
        return _remux(path, dest, fmt, metadata)
    raise ValueError(f"unknown operation {operation!r}")


def _lang(text: str) -> dict[str, str]:
    return {'lang="x-default"': text}


def _xmp_values(metadata: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "Xmp.dc.identifier": f"urn:dam:asset:{metadata['asset_id']}:v{metadata['version']}",
        "Xmp.xmp.Identifier": [
            f"urn:dam:asset:{metadata['asset_id']}",
            f"urn:dam:asset:{metadata['asset_id']}:v{metadata['version']}",
        ],
    }
    if metadata.get("title"):
        values["Xmp.dc.title"] = _lang(metadata["title"])
    if metadata.get("description"):
        values["Xmp.dc.description"] = _lang(metadata["description"])
    if metadata.get("creator"):
        values["Xmp.dc.creator"] = list(metadata["creator"])
    if metadata.get("credit"):
        values["Xmp.photoshop.Credit"] = metadata["credit"]
    if metadata.get("copyright"):
        values["Xmp.dc.rights"] = _lang(metadata["copyright"])
        values["Xmp.xmpRights.Marked"] = "True"
    if metadata.get("usage_terms"):
        values["Xmp.xmpRights.UsageTerms"] = _lang(metadata["usage_terms"])
    if metadata.get("web_statement"):
        values["Xmp.xmpRights.WebStatement"] = metadata["web_statement"]
    if metadata.get("licence_end"):
        values["Xmp.plus.LicenseEndDate"] = metadata["licence_end"]
    if metadata.get("campaign_id"):
        # IPTC Core "Job Identifier": the campaign the file was delivered for.
        values["Xmp.photoshop.TransmissionReference"] = metadata["campaign_id"]
    return values


def _iptc_values(metadata: Mapping[str, Any]) -> dict[str, Any]:
    # IIM fields have byte limits; longer governed text stays complete in XMP.
    values: dict[str, Any] = {"Iptc.Envelope.CharacterSet": "\x1b%G"}
    for key, name, limit in (
        ("Iptc.Application2.ObjectName", "title", 64),
        ("Iptc.Application2.Caption", "description", 2000),
        ("Iptc.Application2.Credit", "credit", 32),
        ("Iptc.Application2.Copyright", "copyright", 128),
        ("Iptc.Application2.TransmissionReference", "campaign_id", 32),
    ):
        if metadata.get(name):
            values[key] = _fit(metadata[name], limit)
    if metadata.get("creator"):
        values["Iptc.Application2.Byline"] = [_fit(c, 32) for c in metadata["creator"]]
    if metadata.get("licence_end"):
        values["Iptc.Application2.ExpirationDate"] = metadata["licence_end"]
    return values


def _fit(text: str, limit: int) -> str:
    data = text.encode("utf-8")[:limit]
    return data.decode("utf-8", errors="ignore")


def _exif_values(metadata: Mapping[str, Any]) -> dict[str, Any]:
    # Readers that prefer EXIF must not show the photographer's stale values.
    values: dict[str, Any] = {}
    if metadata.get("description"):
        values["Exif.Image.ImageDescription"] = metadata["description"]
    if metadata.get("creator"):
        values["Exif.Image.Artist"] = "; ".join(metadata["creator"])
    if metadata.get("copyright"):
        values["Exif.Image.Copyright"] = metadata["copyright"]
    return values


def _rewrite(
    path: str, fmt: str, metadata: Mapping[str, Any], strip_location: bool, gps_only: bool
) -> dict[str, Any]:
    import pyexiv2

    from dam.media.embedded import is_location_key

    pyexiv2.set_log_level(4)
    removed: list[str] = []
    written: list[str] = []
    image = pyexiv2.Image(path)
    try:
        access = image.get_access_mode()
        if strip_location:
            exif = {k for k in _keys(image.read_exif) if is_location_key(k, gps_only=gps_only)}
            if exif:
                image.modify_exif(dict.fromkeys(sorted(exif), None))
                removed += sorted(exif)
            if access.get("iptc") in ("write", "read+write"):
                iptc = {k for k in _keys(image.read_iptc) if is_location_key(k, gps_only=gps_only)}
                if iptc:
                    image.modify_iptc(dict.fromkeys(sorted(iptc), None))
                    removed += sorted(iptc)
            xmp = sorted(
                (k for k in _keys(image.read_xmp) if is_location_key(k, gps_only=gps_only)),
                key=len,
                reverse=True,
            )
            # Struct members must go before the struct that holds them, one at a time: exiv2
            # refuses to encode a packet where an emptied array still has indexed children.
            for key in xmp:
                image.modify_xmp({key: None})
            removed += xmp
        xmp_values = _xmp_values(metadata)
        image.modify_xmp(xmp_values)
        written += list(xmp_values)
        if fmt in _IPTC_FORMATS:
            iptc_values = _iptc_values(metadata)
            image.modify_iptc(iptc_values)
            written += list(iptc_values)
        exif_values = _exif_values(metadata)
        if exif_values and access.get("exif") in ("write", "read+write"):
            image.modify_exif(exif_values)
            written += list(exif_values)
    finally:
        image.close()
    return {"written": written, "removed": removed}


def _keys(reader: Any) -> list[str]:
    try:
        return list(reader(encoding="latin-1"))
    except (RuntimeError, ValueError, UnicodeError):
        return []


_CONTAINER_FORMAT = {"MP4": "mp4", "MOV": "mov", "WEBM": "webm"}


def _remux(source: str, dest: str, fmt: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Copy the video and audio packets into a new container that carries only our tags."""
    import av

    identifier = f"urn:dam:asset:{metadata['asset_id']}:v{metadata['version']}"
    tags: dict[str, str] = {"dam.identifier": identifier}
    for tag, name in (
        ("title", "title"),
        ("description", "description"),
        ("comment", "usage_terms"),
        ("copyright", "copyright"),
        ("dam.campaign", "campaign_id"),
        ("dam.licence_end", "licence_end"),
    ):
        if metadata.get(name):
            tags[tag] = str(metadata[name])
    if metadata.get("creator"):
        tags["artist"] = "; ".join(metadata["creator"])
    container = _CONTAINER_FORMAT[fmt]
    # use_metadata_tags: MP4/MOV keep keys they have no atom for (dam.*) in an mdta list.
    options = {} if container == "webm" else {"movflags": "use_metadata_tags"}
    with (
        av.open(source, metadata_errors="replace") as inp,
        av.open(dest, "w", format=container, options=options) as out,
    ):
        mapping = {}
        for stream in inp.streams:
            if stream.type not in ("video", "audio"):
                continue  # timed metadata tracks (phone GPS) and data streams stay behind
            copied = out.add_stream_from_template(stream)
            copied.metadata.clear()
            mapping[stream.index] = copied
        if not mapping:
            return {"error": "the file has no video or audio stream to deliver"}
        out.metadata.update(tags)
        for packet in inp.demux(*[inp.streams[i] for i in mapping]):
            if packet.dts is None:
                continue
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)
    os.chmod(dest, 0o644)
    return {"written": sorted(tags), "removed": ["container and stream tags"]}
