"""Embedded metadata of a stored file: EXIF, IPTC-IIM, XMP, PDF info, container tags and C2PA.

:func:`read_embedded` returns the raw values per block (``exif``, ``iptc``, ``xmp``, ``pdf``,
``container``), a normalised :class:`Embedded` block (creator, credit, rights, licence dates,
caption, keywords, capture data, location, GPS, releases, provenance) and the list of problems
met on the way. It never raises for bad metadata: corrupt, hostile or oversized blocks are
reported in ``problems`` and everything else that could be read is kept.

Which library reads which block of which format is tabled in ``dam/media/METADATA.md``; every
parser runs in a child process with a memory cap and a deadline (:mod:`dam.media.isolate`).

Precedence when several blocks carry the same field follows the IPTC/MWG guidance for readers:
XMP, then IPTC-IIM, then EXIF, then the format's own fields (PDF info, container tags); capture
date and camera prefer EXIF, which the camera wrote.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from dam.media.isolate import IsolationFailed, run_isolated

__all__ = [
    "AI_SOURCE_TYPES",
    "EXIV2_FORMATS",
    "XMP_MAX_BYTES",
    "C2paInfo",
    "Embedded",
    "EmbeddedMetadata",
    "GpsPosition",
    "collect_raw",
    "is_location_key",
    "normalise",
    "read_embedded",
]

# Formats exiv2 reads in their own container; GIF XMP is taken out by Pillow instead.
EXIV2_FORMATS = frozenset({"JPEG", "PNG", "TIFF", "WEBP", "AVIF", "HEIF"})
_VIDEO_FORMATS = frozenset({"MP4", "MOV", "WEBM"})
_C2PA_MIME = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "TIFF": "image/tiff",
    "WEBP": "image/webp",
    "AVIF": "image/avif",
    "HEIF": "image/heif",
    "GIF": "image/gif",
    "PDF": "application/pdf",
    "MP4": "video/mp4",
    "MOV": "video/quicktime",
}

XMP_MAX_BYTES = 1024 * 1024
_MAX_TAGS = 4000  # per block
_MAX_VALUE_CHARS = 8192
_MAX_LIST_ITEMS = 500
_MAX_KEYWORDS = 200
_MAX_FIELD_CHARS = 2000
# Binary blobs exiv2 renders as long runs of numbers; they say nothing a person needs.
_SKIPPED_KEYS = re.compile(
    r"^Exif\.(Photo\.MakerNote|MakerNote\.|Image\.PrintImageMatching|Image\.XMLPacket"
    r"|Image\.InterColorProfile|Image\.IPTCNAA|Image\.ImageResources|Image\.DNGPrivateData"
    r"|Image\.0x|Photo\.0x|Thumbnail\.)"
    r"|^Exif\.(Canon|Nikon|Sony|Olympus|Panasonic|Pentax|Fujifilm|Samsung|Sigma|Casio|Minolta)"
)

IPTC_SOURCE_TYPE_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# IPTC NewsCodes Digital Source Type values that mean "made by generative AI" (a model
# trained on sampled content). Plain algorithmicMedia (procedural, untrained) is not among them.
AI_SOURCE_TYPES = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"})


# --- which keys describe where a picture was taken ---------------------------------------------

_LOCATION_KEY = re.compile(
    r"^(Exif\.GPSInfo\."
    r"|Exif\.Image\.GPSTag$"
    r"|Xmp\.exif\.GPS"
    r"|Xmp\.iptcExt\.(LocationShown|LocationCreated)"
    r"|Xmp\.iptc\.(Location|CountryCode)$"
    r"|Xmp\.photoshop\.(City|State|Country)$"
    r"|Iptc\.Application2\.(SubLocation|City|ProvinceState|CountryName|CountryCode"
    r"|LocationName|LocationCode)$"
    r"|container\.(stream\d+\.)?(location|com\.apple\.quicktime\.location)"
    r"|xmp\.GPS)",
    re.IGNORECASE,
)


_GPS_KEY = re.compile(
    r"^(Exif\.GPSInfo\.|Exif\.Image\.GPSTag$|Xmp\.exif\.GPS|xmp\.GPS"
    r"|container\.(stream\d+\.)?(location|com\.apple\.quicktime\.location))",
    re.IGNORECASE,
)


def is_location_key(key: str, *, gps_only: bool = False) -> bool:
    """Whether a raw key (``Exif.GPSInfo.GPSLatitude``, ``Xmp.photoshop.City`` …) says where;
    with ``gps_only``, only keys holding coordinates."""
    return bool((_GPS_KEY if gps_only else _LOCATION_KEY).match(key))


# --- the normalised block ------------------------------------------------------------------------


@dataclass
class GpsPosition:
    latitude: float
    longitude: float
    altitude: float | None = None


@dataclass
class C2paInfo:
    """Content Credentials of the active manifest, as far as a reader needs them."""

    claim_generator: str | None = None
    title: str | None = None
    signer: str | None = None
    signed_at: str | None = None
    actions: list[dict[str, str]] = field(default_factory=list)
    digital_source_types: list[str] = field(default_factory=list)  # short codes
    validation_state: str | None = None  # Invalid | Valid | Trusted (c2pa-rs)
    validation_errors: list[str] = field(default_factory=list)
    manifests: int = 0


@dataclass
class Embedded:
    """The normalised fields; every one is None / empty when the file does not say."""

    title: str | None = None
    headline: str | None = None
    description: str | None = None
    keywords: list[str] = field(default_factory=list)
    creator: list[str] = field(default_factory=list)
    credit: str | None = None
    copyright_notice: str | None = None
    usage_terms: str | None = None
    web_statement: str | None = None
    licence_start: str | None = None  # ISO date
    licence_end: str | None = None  # ISO date
    capture_date: str | None = None  # ISO 8601, with offset when the file gives one
    camera_make: str | None = None
    camera_model: str | None = None
    lens: str | None = None
    orientation: int | None = None
    location: dict[str, str] = field(default_factory=dict)  # sublocation, city, state, country…
    locations_shown: list[dict[str, str]] = field(default_factory=list)
    gps: GpsPosition | None = None
    persons_shown: list[str] = field(default_factory=list)
    model_release_status: str | None = None  # PLUS code: MR-NON, MR-NAP, MR-UMR, MR-LMR
    model_release_ids: list[str] = field(default_factory=list)
    property_release_status: str | None = None
    digital_source_type: str | None = None  # IPTC code, e.g. trainedAlgorithmicMedia
    c2pa: C2paInfo | None = None

    @property
    def has_location(self) -> bool:
        return self.gps is not None or bool(self.location) or bool(self.locations_shown)

    @property
    def source_types(self) -> list[str]:
        """Every digital source type the file claims: IPTC's, then the C2PA actions'."""
        found = [self.digital_source_type] if self.digital_source_type else []
        if self.c2pa is not None:
            found += [t for t in self.c2pa.digital_source_types if t not in found]
        return found

    @property
    def ai_generated(self) -> bool:
        return any(t in AI_SOURCE_TYPES for t in self.source_types)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Embedded:
        """Rebuild the block stored with a version (re-checks never re-read the blob)."""
        known = cls.__dataclass_fields__
        values = {k: v for k, v in data.items() if k in known}
        gps = values.get("gps")
        values["gps"] = GpsPosition(**gps) if isinstance(gps, Mapping) else None
        c2pa = values.get("c2pa")
        if isinstance(c2pa, Mapping):
            fields = C2paInfo.__dataclass_fields__
            values["c2pa"] = C2paInfo(**{k: v for k, v in c2pa.items() if k in fields})
        return cls(**values)

    def to_json(self, *, include_location: bool = True) -> dict[str, Any]:
        data = asdict(self)
        data["ai_generated"] = self.ai_generated
        if not include_location:
            data["location"], data["locations_shown"], data["gps"] = {}, [], None
        return data


@dataclass
class EmbeddedMetadata:
    embedded: Embedded
    raw: dict[str, dict[str, Any]]  # block -> key -> str | list[str] | dict[str, str]
    problems: list[str]
    sources: dict[str, str]  # normalised field -> the raw key it was taken from
    blocks: list[str]  # the blocks the file carries, e.g. ["exif", "xmp", "c2pa"]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EmbeddedMetadata:
        """Rebuild the block stored with a version (see `to_json`)."""
        return cls(
            embedded=Embedded.from_json(data.get("embedded") or {}),
            raw={k: dict(v) for k, v in (data.get("raw") or {}).items()},
            problems=list(data.get("problems") or []),
            sources=dict(data.get("sources") or {}),
            blocks=list(data.get("blocks") or []),
        )

    def to_json(self, *, include_location: bool = True) -> dict[str, Any]:
        """``embedded``, ``raw``, ``problems``, ``sources``; without location unless allowed."""
        raw = self.raw
        sources = self.sources
        if not include_location:
            raw = {
                block: {
                    k: v for k, v in values.items() if not is_location_key(f"{_prefix(block)}{k}")
                }
                for block, values in raw.items()
            }
            sources = {
                k: v
                for k, v in sources.items()
                if k not in ("gps", "location", "locations_shown") and not is_location_key(v)
            }
        return {
            "embedded": self.embedded.to_json(include_location=include_location),
            "raw": raw,
            "problems": list(self.problems),
            "sources": sources,
            "blocks": list(self.blocks),
        }


def _prefix(block: str) -> str:
    # exiv2 keys carry their family already; the other blocks get one so one test covers all.
    return "" if block in ("exif", "iptc", "xmp") else f"{block}."


# --- reading (runs in the isolated child) -------------------------------------------------------


class _Problems(list[str]):
    def add(self, message: str) -> None:
        if len(self) < 100 and message not in self:
            self.append(message)


def _decode(
    raw: bytes, key: str, problems: _Problems, *, fallback: str = "latin-1", declared: bool = False
) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        said = " although the block declares UTF-8" if declared else ""
        problems.add(f"{key}: not valid UTF-8{said}; read as {fallback.title()}")
        return raw.decode(fallback, errors="replace")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean(text: str, key: str, problems: _Problems) -> str:
    text = _CONTROL.sub("", text.replace("\x00", " ")).strip()
    if len(text) > _MAX_VALUE_CHARS:
        problems.add(f"{key}: value of {len(text)} characters cut to {_MAX_VALUE_CHARS}")
        text = text[:_MAX_VALUE_CHARS]
    return text


def _exiv2_table(
    entries: Sequence[Mapping[str, Any]],
    problems: _Problems,
    *,
    iptc_utf8: bool | None = None,
) -> dict[str, Any]:
    """exiv2's (tag, type, value) rows as key -> text | list | {lang: text}, bounded and clean."""
    out: dict[str, Any] = {}
    if len(entries) > _MAX_TAGS:
        problems.add(f"{len(entries)} metadata entries; only the first {_MAX_TAGS} are read")
    for entry in entries[:_MAX_TAGS]:
        key = _decode(bytes(entry.get("tag", b"")), "tag name", problems)
        if not key or _SKIPPED_KEYS.match(key):
            continue
        type_name = str(entry.get("typeName", ""))
        value = entry.get("value", b"")
        # Legacy IPTC and EXIF text is Latin-1 far more often than anything else; IPTC that
        # declares UTF-8 (record 1:90) and is not gets the same reading, with a sharper note.
        fallback = "latin-1"
        declared = key.startswith("Iptc.") and iptc_utf8 is True
        if isinstance(value, list | tuple):
            items = [
                _clean(
                    _decode(bytes(v), key, problems, fallback=fallback, declared=declared),
                    key,
                    problems,
                )
                for v in value[:_MAX_LIST_ITEMS]
            ]
            if len(value) > _MAX_LIST_ITEMS:
                problems.add(f"{key}: {len(value)} items; the first {_MAX_LIST_ITEMS} are kept")
            parsed: Any = [i for i in items if i]
        else:
            text = _decode(bytes(value), key, problems, fallback=fallback, declared=declared)
            if key.startswith("Exif.Image.XP") and type_name == "Byte":
                text = _ucs2(text, key, problems)
            elif type_name == "Comment":
                text = re.sub(r"^charset=\S+\s?", "", text)
            parsed = _lang_alt(text) if type_name == "LangAlt" else _clean(text, key, problems)
        if parsed in ("", [], {}):
            continue
        previous = out.get(key)
        if previous is None:
            out[key] = parsed
        elif isinstance(previous, list):
            if len(previous) < _MAX_LIST_ITEMS:
                previous.append(parsed)
        else:
            out[key] = [previous, parsed]
    return out


def _ucs2(text: str, key: str, problems: _Problems) -> str:
    """Windows XP* tags: exiv2 hands back the UTF-16LE bytes as decimal numbers."""
    try:
        data = bytes(int(n) for n in text.split())
        return data.decode("utf-16-le", errors="strict").rstrip("\x00")
    except (ValueError, UnicodeDecodeError):
        problems.add(f"{key}: not valid UTF-16; ignored")
        return ""


_LANG = re.compile(r'lang="([^"]+)" ')


def _lang_alt(text: str) -> dict[str, str] | str:
    parts = _LANG.split(text)
    if len(parts) < 3:
        return text.strip()
    # split() gives ['', lang1, text1, lang2, text2...]; exiv2 separates entries with ", ".
    values: dict[str, str] = {}
    for lang, value in zip(parts[1::2], parts[2::2], strict=False):
        values[lang] = value.removesuffix(", ").strip()
    return {k: v for k, v in values.items() if v}


def _iptc_declares_utf8(entries: Sequence[Mapping[str, Any]]) -> bool | None:
    for entry in entries:
        if entry.get("tag") == b"Iptc.Envelope.CharacterSet":
            return bytes(entry.get("value", b"")) in (b"\x1b%G", b"\x1b%/I")
    return None


def _read_exiv2(path: str, raw: dict[str, dict[str, Any]], problems: _Problems) -> bool:
    import pyexiv2

    pyexiv2.set_log_level(4)
    try:
        image = pyexiv2.Image(path)
    except (RuntimeError, ValueError, OSError) as exc:
        problems.add(f"exiv2 could not read the file's metadata: {exc}".replace(path, "file"))
        return False
    try:
        api = image._exiv2api_image
        for block, reader in (("exif", api.read_exif), ("iptc", api.read_iptc)):
            try:
                entries = reader()
            except (RuntimeError, ValueError, UnicodeError) as exc:
                problems.add(f"{block.upper()} block is unreadable: {exc}")
                continue
            utf8 = _iptc_declares_utf8(entries) if block == "iptc" else None
            table = _exiv2_table(entries, problems, iptc_utf8=utf8)
            if table:
                raw[block] = table
        _read_xmp_from(api, raw, problems)
    finally:
        image.close()
    return True


def _read_xmp_from(api: Any, raw: dict[str, dict[str, Any]], problems: _Problems) -> None:
    try:
        packet = api.read_raw_xmp()
        entries = api.read_xmp()
    except (RuntimeError, ValueError, UnicodeError) as exc:
        problems.add(f"XMP block is unreadable: {exc}")
        return
    if len(packet) > XMP_MAX_BYTES:
        problems.add(f"XMP packet is {len(packet)} bytes, above the {XMP_MAX_BYTES} read")
    if packet.strip(b"\x00 \t\r\n") and not entries:
        reason = "declares a DTD" if re.search(rb"<!(DOCTYPE|ENTITY)", packet) else "is malformed"
        problems.add(f"XMP packet ({len(packet)} bytes) {reason}; its values were not read")
    table = _exiv2_table(entries, problems)
    if table:
        raw["xmp"] = table


def _read_xmp_packet(packet: bytes, raw: dict[str, dict[str, Any]], problems: _Problems) -> None:
    """Parse a bare XMP packet (GIF, PDF) with exiv2's sidecar reader."""
    import pyexiv2

    packet = packet.strip(b"\x00 \t\r\n")
    if not packet:
        return
    if len(packet) > XMP_MAX_BYTES:
        problems.add(f"XMP packet is {len(packet)} bytes, above the {XMP_MAX_BYTES} read; ignored")
        return
    if re.search(rb"<!(DOCTYPE|ENTITY)", packet):
        problems.add(f"XMP packet ({len(packet)} bytes) declares a DTD; its values were not read")
        return
    if not packet.startswith((b"<?xpacket", b"<?xml", b"<x:xmpmeta", b"<rdf:RDF")):
        problems.add("XMP packet does not start with an XML declaration, xpacket or xmpmeta")
        return
    fd, name = tempfile.mkstemp(suffix=".xmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(packet)
        pyexiv2.set_log_level(4)
        try:
            image = pyexiv2.Image(name)
        except (RuntimeError, ValueError, OSError):
            problems.add(f"XMP packet ({len(packet)} bytes) is malformed; its values were not read")
            return
        try:
            _read_xmp_from(image._exiv2api_image, raw, problems)
        finally:
            image.close()
    finally:
        os.unlink(name)


_GIF_XMP = b"\x21\xff\x0bXMP DataXMP"
_GIF_SCAN_MAX = 64 * 1024 * 1024


def _read_gif_xmp(path: str, raw: dict[str, dict[str, Any]], problems: _Problems) -> None:
    """The XMP application extension of a GIF: the packet is stored as raw bytes after the
    ``XMP DataXMP`` identifier (its sub-block lengths are the packet's own bytes) and ends with
    a 258-byte "magic trailer"."""
    size = os.path.getsize(path)
    if size > _GIF_SCAN_MAX:
        problems.add(f"GIF is {size} bytes; XMP is looked for in GIFs up to {_GIF_SCAN_MAX} only")
        return
    with open(path, "rb") as fp:
        data = fp.read()
    start = data.find(_GIF_XMP)
    if start < 0:
        return
    start += len(_GIF_XMP)
    end = data.find(b"<?xpacket end=", start)
    if end >= 0:
        close = data.find(b"?>", end)
        end = close + 2 if close >= 0 else -1
    if end < 0:
        close = data.find(b"</x:xmpmeta>", start)
        end = close + len(b"</x:xmpmeta>") if close >= 0 else -1
    if end < 0:
        problems.add("GIF XMP extension has no end of packet; ignored")
        return
    _read_xmp_packet(data[start:end], raw, problems)


_PDF_INFO_KEYS = (
    "/Title",
    "/Author",
    "/Subject",
    "/Keywords",
    "/Creator",
    "/Producer",
    "/CreationDate",
    "/ModDate",
    "/Trapped",
)


def _read_pdf(path: str, raw: dict[str, dict[str, Any]], problems: _Problems) -> None:
    import pypdf
    from pypdf.errors import PyPdfError

    try:
        reader = pypdf.PdfReader(path, strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            problems.add("PDF is encrypted; its metadata was not read")
            return
        info: Mapping[str, Any] = reader.metadata or {}
        table: dict[str, Any] = {}
        for key in _PDF_INFO_KEYS:
            value = info.get(key)
            if value is None:
                continue
            text = _clean(str(value), f"pdf{key}", problems)
            if text:
                table[key.lstrip("/")] = text
        if table:
            raw["pdf"] = table
        root: Any = reader.trailer["/Root"].get_object()
        metadata = root.get("/Metadata")
        if metadata is not None:
            stream: Any = metadata.get_object()
            length = stream.get("/Length")
            if isinstance(length, int) and length > XMP_MAX_BYTES:
                problems.add(f"PDF XMP stream is {length} bytes, above the {XMP_MAX_BYTES} read")
                return
            _read_xmp_packet(stream.get_data(), raw, problems)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        problems.add(f"PDF metadata could not be read: {type(exc).__name__}: {exc}")


_VIDEO_TAGS = re.compile(
    r"^(title|artist|album_artist|author|composer|comment|description|synopsis|copyright"
    r"|date|creation_time|keywords|genre|location|location-\w+|encoder|make|model"
    r"|com\.apple\.quicktime\.\S+|rotate|dam\.\S+)$",
    re.IGNORECASE,
)


def _read_container(path: str, raw: dict[str, dict[str, Any]], problems: _Problems) -> None:
    import av

    try:
        with av.open(path, metadata_errors="replace") as container:
            table: dict[str, Any] = {}
            for key, value in list(container.metadata.items())[:_MAX_TAGS]:
                if _VIDEO_TAGS.match(key):
                    text = _clean(str(value), f"container.{key}", problems)
                    if text:
                        table[key] = text
            for index, stream in enumerate(container.streams):
                if index >= 8:
                    break
                for key, value in list(stream.metadata.items())[:100]:
                    if _VIDEO_TAGS.match(key) and key not in table:
                        text = _clean(str(value), f"container.{key}", problems)
                        if text:
                            table[f"stream{index}.{key}"] = text
            if table:
                raw["container"] = table
    except (av.error.FFmpegError, OSError, ValueError, UnicodeError) as exc:
        problems.add(f"container tags could not be read: {exc}")


def _read_c2pa(path: str, fmt: str, problems: _Problems) -> dict[str, Any] | None:
    mime = _C2PA_MIME.get(fmt)
    if mime is None:
        return None
    import c2pa

    try:
        settings = c2pa.Settings.from_dict(
            # Reading must never reach out to the network (remote manifests, OCSP).
            {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
        )
        with open(path, "rb") as stream:
            reader = c2pa.Reader(mime, stream, context=c2pa.Context(settings))
            try:
                store = reader.json()
                state = reader.get_validation_state()
            finally:
                reader.close()
    except c2pa.C2paError as exc:
        text = str(exc)
        if "ManifestNotFound" in text or "JumbfNotFound" in text or "no JUMBF" in text:
            return None
        problems.add(f"C2PA manifest could not be read: {text[:300]}")
        return None
    import json

    try:
        data = json.loads(store)
    except ValueError:
        problems.add("C2PA manifest store is not valid JSON")
        return None
    data["_state"] = state
    return _c2pa_summary(data)


def _c2pa_summary(store: Mapping[str, Any]) -> dict[str, Any]:
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest") or "") or {}
    actions: list[dict[str, str]] = []
    source_types: list[str] = []
    for assertion in active.get("assertions") or []:
        label = str(assertion.get("label", ""))
        if not label.startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions") or []:
            if len(actions) >= 50:
                break
            agent = action.get("softwareAgent")
            if isinstance(agent, Mapping):
                agent = agent.get("name")
            entry = {"action": str(action.get("action", ""))}
            if agent:
                entry["software_agent"] = str(agent)[:200]
            source = action.get("digitalSourceType")
            if source:
                code = str(source).rsplit("/", 1)[-1]
                entry["digital_source_type"] = code
                if code not in source_types:
                    source_types.append(code)
            if action.get("when"):
                entry["when"] = str(action["when"])
            actions.append(entry)
    generator = active.get("claim_generator")
    if not generator:
        info = active.get("claim_generator_info") or []
        if info and isinstance(info[0], Mapping):
            generator = " ".join(str(info[0].get(k, "")) for k in ("name", "version")).strip()
    signature = active.get("signature_info") or {}
    errors = [
        str(s.get("code"))
        for s in store.get("validation_status") or []
        if isinstance(s, Mapping) and s.get("code")
    ]
    return {
        "claim_generator": str(generator)[:200] if generator else None,
        "title": active.get("title"),
        "signer": signature.get("issuer"),
        "signed_at": signature.get("time"),
        "actions": actions,
        "digital_source_types": source_types,
        "validation_state": store.get("_state"),
        "validation_errors": errors[:20],
        "manifests": len(manifests),
        "assertion_labels": [str(a.get("label", "")) for a in active.get("assertions") or []][:50],
        "location_assertion": _c2pa_has_location(active),
    }


def _c2pa_has_location(manifest: Mapping[str, Any]) -> bool:
    """An EXIF or metadata assertion with GPS fields travels inside the manifest store."""
    for assertion in manifest.get("assertions") or []:
        data = assertion.get("data")
        if isinstance(data, Mapping) and any("gps" in str(key).lower() for key in data):
            return True
    return False


def collect_raw(path: str, fmt: str, *, c2pa: bool = True) -> dict[str, Any]:
    """Every metadata block of ``path`` as plain data (runs inside the isolated child)."""
    raw: dict[str, dict[str, Any]] = {}
    problems = _Problems()
    if fmt in EXIV2_FORMATS:
        if not _read_exiv2(path, raw, problems) and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
            _read_pillow_xmp(path, fmt, raw, problems)
    elif fmt == "GIF":
        _read_gif_xmp(path, raw, problems)
    elif fmt == "PDF":
        _read_pdf(path, raw, problems)
    elif fmt in _VIDEO_FORMATS:
        _read_container(path, raw, problems)
    manifest = _read_c2pa(path, fmt, problems) if c2pa else None
    return {"raw": raw, "problems": list(problems), "c2pa": manifest}


def _read_pillow_xmp(
    path: str, fmt: str, raw: dict[str, dict[str, Any]], problems: _Problems
) -> None:
    """When exiv2 gives up on a container (a broken EXIF block, say), still read its XMP."""
    from PIL import Image

    try:
        with Image.open(path, formats=[fmt]) as img:
            packet = img.info.get("xmp")
    except (OSError, ValueError, SyntaxError):
        return
    if isinstance(packet, str):
        packet = packet.encode("utf-8")
    if isinstance(packet, bytes) and packet:
        _read_xmp_packet(packet, raw, problems)
        if "xmp" in raw:
            problems.add("XMP was read on its own after the rest of the metadata failed")


def warm_up() -> None:
    """Run the parsers once in the parser server before it forks: exiv2, c2pa-rs, pypdf and
    FFmpeg initialise lazily (tables, trust lists, codec registries), and a child inheriting that
    state skips 40-200 ms of setup per call. Nothing here may start a thread (FFmpeg encodes
    single-threaded; c2pa's PDF reader starts threads and stays cold): a fork taken while another
    thread holds a lock can hang the child. The parser server reports if one slipped through."""
    import io

    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="dam-warm-") as tmp:
        jpeg = os.path.join(tmp, "warm.jpg")
        exif = Image.Exif()
        exif[0x010F] = "warm"
        packet = _WARM_XMP.encode()
        Image.new("RGB", (8, 8)).save(jpeg, exif=exif.tobytes(), xmp=packet)
        png = os.path.join(tmp, "warm.png")
        Image.new("RGB", (8, 8)).save(png)
        collect_raw(jpeg, "JPEG")
        collect_raw(png, "PNG")
        _read_xmp_packet(packet, {}, _Problems())
        try:
            import pypdf

            pdf = os.path.join(tmp, "warm.pdf")
            writer = pypdf.PdfWriter()
            writer.add_blank_page(72, 72)
            buffer = io.BytesIO()
            writer.write(buffer)
            with open(pdf, "wb") as out:
                out.write(buffer.getvalue())
            # c2pa-rs starts worker threads for PDFs; the server must stay single-threaded.
            collect_raw(pdf, "PDF", c2pa=False)
        except Exception:  # noqa: S110 - warming is best effort; a real call reports problems
            pass
        try:
            import av

            clip = os.path.join(tmp, "warm.mp4")
            with av.open(clip, "w") as out:
                stream = out.add_stream("mpeg4", rate=1)
                stream.width = stream.height = 16
                stream.pix_fmt = "yuv420p"
                # One thread: FFmpeg's frame threads would still exist when the server forks.
                stream.codec_context.thread_count = 1
                stream.codec_context.thread_type = "NONE"
                frame = av.VideoFrame(16, 16, "yuv420p")
                for encoded in [*stream.encode(frame), *stream.encode(None)]:
                    out.mux(encoded)
            collect_raw(clip, "MP4")
        except Exception:  # noqa: S110 - as above
            pass


_WARM_XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt><rdf:li xml:lang="x-default">'
    "warm</rdf:li></rdf:Alt></dc:title></rdf:Description></rdf:RDF></x:xmpmeta>"
)


# --- normalising (parent process) ---------------------------------------------------------------


def _text(value: Any) -> str | None:
    """One text out of a raw value: x-default of a LangAlt, the first item of a list."""
    if isinstance(value, dict):
        value = (
            value.get('lang="x-default"')
            or value.get("x-default")
            or next(iter(value.values()), None)
        )
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return text[:_MAX_FIELD_CHARS] or None


def _texts(value: Any) -> list[str]:
    items = [_text(v) for v in value] if isinstance(value, list) else [_text(value)]
    return [i for i in items if i]


_EXIF_DATE = re.compile(
    r"^\s*(\d{4})[:\-](\d{2})[:\-](\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?(\.\d+)?)?\s*"
    r"(Z|[+-]\d{2}:?\d{2})?\s*$"
)
_PDF_DATE = re.compile(r"^D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?([Zz+\-].*)?$")


def _iso_datetime(text: str | None, offset: str | None = None) -> str | None:
    if not text:
        return None
    text = text.strip()
    pdf = _PDF_DATE.match(text)
    if pdf:
        y, mo, d, h, mi, s, tz = pdf.groups()
        tz = (tz or "").replace("'", "")
        zone = "Z" if tz[:1] in ("Z", "z") else (f"{tz[:3]}:{tz[3:5] or '00'}" if tz else None)
        text = f"{y}-{mo or '01'}-{d or '01'}T{h or '00'}:{mi or '00'}:{s or '00'}"
        return text + (zone or "") if _valid_datetime(text) else None
    match = _EXIF_DATE.match(text)
    if not match:
        return None
    y, mo, d, h, mi, s, _fraction, zone = match.groups()
    if y == "0000" or mo == "00" or d == "00":
        return None
    day = f"{y}-{mo}-{d}"
    if h is None:
        return day if _valid_date(day) else None
    stamp = f"{day}T{h}:{mi}:{s or '00'}"
    if not _valid_datetime(stamp):
        return None
    zone = zone or offset
    if zone:
        zone = "Z" if zone == "Z" else f"{zone[:3]}:{zone[-2:]}"
        if not re.fullmatch(r"Z|[+-]\d{2}:\d{2}", zone):
            zone = None
    return stamp + (zone or "")


def _valid_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _valid_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _iso_date(text: str | None) -> str | None:
    stamp = _iso_datetime(text)
    return stamp[:10] if stamp else None


def _iptc_datetime(day: str | None, time: str | None) -> str | None:
    # exiv2 renders IPTC DateCreated as 2026-06-14 and TimeCreated as 04:12:09+02:00.
    if not day:
        return None
    if not time:
        return _iso_date(day)
    match = re.match(r"^(\d{2}:\d{2}:\d{2})([+-]\d{2}:\d{2})?$", time.strip())
    if not match:
        return _iso_date(day)
    return _iso_datetime(f"{day} {match.group(1)}", match.group(2))


def _rational(text: str) -> float | None:
    try:
        if "/" in text:
            numerator, denominator = text.split("/", 1)
            den = float(denominator)
            return float(numerator) / den if den else None
        return float(text)
    except ValueError:
        return None


def _exif_coordinate(value: str | None, ref: str | None) -> float | None:
    if not value:
        return None
    parts = [_rational(p) for p in value.split()]
    if not parts or any(p is None for p in parts):
        return None
    degrees = sum(p / 60**i for i, p in enumerate(parts[:3]) if p is not None)
    if ref and ref.strip().upper()[:1] in ("S", "W"):
        degrees = -degrees
    return degrees


_XMP_COORD = re.compile(r"^\s*(\d+(?:\.\d+)?),(\d+(?:\.\d+)?)(?:,(\d+(?:\.\d+)?))?([NSEW])\s*$")


def _xmp_coordinate(value: str | None) -> float | None:
    """XMP GPS coordinates are ``DDD,MM.mmk`` or ``DDD,MM,SSk`` with k = N/S/E/W."""
    if not value:
        return None
    match = _XMP_COORD.match(value)
    if not match:
        return None
    deg, minutes, seconds, ref = match.groups()
    result = float(deg) + float(minutes) / 60 + (float(seconds) / 3600 if seconds else 0.0)
    return -result if ref in ("S", "W") else result


_ISO6709 = re.compile(r"^([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?(?:CRS.*)?/?$")


def _iso6709(value: str | None) -> GpsPosition | None:
    if not value:
        return None
    match = _ISO6709.match(value.strip())
    if not match:
        return None
    lat, lon, alt = match.groups()
    return _position(float(lat), float(lon), float(alt) if alt else None)


def _position(lat: float | None, lon: float | None, alt: float | None) -> GpsPosition | None:
    if lat is None or lon is None:
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
        return None
    if alt is not None and not math.isfinite(alt):
        alt = None
    return GpsPosition(round(lat, 7), round(lon, 7), None if alt is None else round(alt, 2))


class _Picker:
    """First non-empty value among candidate keys, remembering which key gave it."""

    def __init__(self, raw: Mapping[str, Mapping[str, Any]]) -> None:
        self.values: dict[str, Any] = {}
        for block, table in raw.items():
            for key, value in table.items():
                self.values[f"{_prefix(block)}{key}"] = value
        self.sources: dict[str, str] = {}

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def text(self, name: str, keys: Iterable[str]) -> str | None:
        for key in keys:
            text = _text(self.values.get(key))
            if text:
                self.sources[name] = key
                return text
        return None

    def texts(self, name: str, keys: Iterable[str]) -> list[str]:
        for key in keys:
            items = _texts(self.values.get(key))
            if items:
                self.sources[name] = key
                return items
        return []


def _split_keywords(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        out += [w.strip() for w in re.split(r"[;,]", item) if w.strip()]
    return out


def _short_code(value: str | None) -> str | None:
    if not value:
        return None
    return value.rstrip("/").rsplit("/", 1)[-1].strip() or None


def normalise(
    raw: Mapping[str, Mapping[str, Any]], c2pa: Mapping[str, Any] | None = None
) -> tuple[Embedded, dict[str, str]]:
    """The :class:`Embedded` block of raw values, and which raw key each field came from."""
    pick = _Picker(raw)
    e = Embedded()
    e.title = pick.text(
        "title",
        (
            "Xmp.dc.title",
            "Iptc.Application2.ObjectName",
            "Exif.Image.XPTitle",
            "pdf.Title",
            "xmp.pdf.Title",
            "container.title",
        ),
    )
    e.headline = pick.text("headline", ("Xmp.photoshop.Headline", "Iptc.Application2.Headline"))
    e.description = pick.text(
        "description",
        (
            "Xmp.dc.description",
            "Iptc.Application2.Caption",
            "Exif.Image.ImageDescription",
            "Exif.Image.XPComment",
            "Exif.Photo.UserComment",
            "pdf.Subject",
            "container.description",
            "container.comment",
            "container.synopsis",
        ),
    )
    e.creator = pick.texts(
        "creator",
        (
            "Xmp.dc.creator",
            "Iptc.Application2.Byline",
            "Exif.Image.Artist",
            "Xmp.tiff.Artist",
            "Exif.Image.XPAuthor",
            "pdf.Author",
            "container.artist",
            "container.author",
            "container.composer",
        ),
    )
    if len(e.creator) == 1 and pick.sources.get("creator", "").startswith("Exif.Image."):
        e.creator = [c.strip() for c in e.creator[0].split(";") if c.strip()]
    e.credit = pick.text("credit", ("Xmp.photoshop.Credit", "Iptc.Application2.Credit"))
    e.copyright_notice = pick.text(
        "copyright_notice",
        (
            "Xmp.dc.rights",
            "Iptc.Application2.Copyright",
            "Exif.Image.Copyright",
            "container.copyright",
        ),
    )
    e.usage_terms = pick.text("usage_terms", ("Xmp.xmpRights.UsageTerms",))
    e.web_statement = pick.text("web_statement", ("Xmp.xmpRights.WebStatement",))
    e.licence_start = _iso_date(pick.text("licence_start", ("Xmp.plus.LicenseStartDate",)))
    e.licence_end = _iso_date(
        pick.text(
            "licence_end",
            (
                "Xmp.plus.LicenseEndDate",
                "Xmp.plus.LicenseExpirationDate",
                "Iptc.Application2.ExpirationDate",
            ),
        )
    )
    for name, value in (("licence_start", e.licence_start), ("licence_end", e.licence_end)):
        if value is None:
            pick.sources.pop(name, None)

    e.keywords = _keywords(pick)
    e.capture_date = _capture_date(pick)
    e.camera_make = pick.text(
        "camera_make",
        (
            "Exif.Image.Make",
            "Xmp.tiff.Make",
            "container.com.apple.quicktime.make",
            "container.make",
        ),
    )
    e.camera_model = pick.text(
        "camera_model",
        (
            "Exif.Image.Model",
            "Xmp.tiff.Model",
            "container.com.apple.quicktime.model",
            "container.model",
        ),
    )
    e.lens = pick.text(
        "lens",
        ("Exif.Photo.LensModel", "Xmp.exifEX.LensModel", "Xmp.aux.Lens", "Exif.Canon.LensModel"),
    )
    orientation = pick.text("orientation", ("Exif.Image.Orientation", "Xmp.tiff.Orientation"))
    if orientation and orientation.isdigit() and 1 <= int(orientation) <= 8:
        e.orientation = int(orientation)
    else:
        pick.sources.pop("orientation", None)
    e.location = _location(pick)
    e.locations_shown = _locations_shown(pick)
    e.gps = _gps(pick)
    e.persons_shown = pick.texts("persons_shown", ("Xmp.iptcExt.PersonInImage",))[:50]
    e.model_release_status = _short_code(
        pick.text("model_release_status", ("Xmp.plus.ModelReleaseStatus",))
    )
    e.model_release_ids = pick.texts("model_release_ids", ("Xmp.plus.ModelReleaseID",))[:50]
    e.property_release_status = _short_code(
        pick.text("property_release_status", ("Xmp.plus.PropertyReleaseStatus",))
    )
    e.digital_source_type = _short_code(
        pick.text("digital_source_type", ("Xmp.iptcExt.DigitalSourceType",))
    )
    if c2pa is not None:
        known = C2paInfo.__dataclass_fields__
        e.c2pa = C2paInfo(**{k: v for k, v in c2pa.items() if k in known})
        pick.sources.setdefault("c2pa", "c2pa")
    return e, pick.sources


def _keywords(pick: _Picker) -> list[str]:
    found: list[str] = []
    sources: list[str] = []
    for key in (
        "Xmp.dc.subject",
        "Iptc.Application2.Keywords",
        "Exif.Image.XPKeywords",
        "xmp.pdf.Keywords",
        "pdf.Keywords",
        "container.keywords",
    ):
        items = _texts(pick.get(key))
        if key in (
            "Exif.Image.XPKeywords",
            "pdf.Keywords",
            "xmp.pdf.Keywords",
            "container.keywords",
            "Xmp.pdf.Keywords",
        ):
            items = _split_keywords(items)
        if items:
            sources.append(key)
            found += items
    seen: set[str] = set()
    out: list[str] = []
    for word in found:
        folded = word.casefold()
        if folded not in seen:
            seen.add(folded)
            out.append(word[:200])
    if sources:
        pick.sources["keywords"] = ", ".join(sources)
    return out[:_MAX_KEYWORDS]


def _capture_date(pick: _Picker) -> str | None:
    offset = _text(pick.get("Exif.Photo.OffsetTimeOriginal"))
    candidates: list[tuple[str, str | None]] = [
        (
            "Exif.Photo.DateTimeOriginal",
            _iso_datetime(_text(pick.get("Exif.Photo.DateTimeOriginal")), offset),
        ),
        ("Xmp.photoshop.DateCreated", _iso_datetime(_text(pick.get("Xmp.photoshop.DateCreated")))),
        ("Xmp.exif.DateTimeOriginal", _iso_datetime(_text(pick.get("Xmp.exif.DateTimeOriginal")))),
        (
            "Iptc.Application2.DateCreated",
            _iptc_datetime(
                _text(pick.get("Iptc.Application2.DateCreated")),
                _text(pick.get("Iptc.Application2.TimeCreated")),
            ),
        ),
        ("Xmp.xmp.CreateDate", _iso_datetime(_text(pick.get("Xmp.xmp.CreateDate")))),
        (
            "container.com.apple.quicktime.creationdate",
            _iso_datetime(_text(pick.get("container.com.apple.quicktime.creationdate"))),
        ),
        ("container.creation_time", _iso_datetime(_text(pick.get("container.creation_time")))),
        ("pdf.CreationDate", _iso_datetime(_text(pick.get("pdf.CreationDate")))),
    ]
    for key, value in candidates:
        if value:
            pick.sources["capture_date"] = key
            return value
    return None


_LOCATION_FIELDS = (
    ("sublocation", ("Xmp.iptc.Location", "Iptc.Application2.SubLocation")),
    ("city", ("Xmp.photoshop.City", "Iptc.Application2.City")),
    ("state", ("Xmp.photoshop.State", "Iptc.Application2.ProvinceState")),
    ("country", ("Xmp.photoshop.Country", "Iptc.Application2.CountryName")),
    ("country_code", ("Xmp.iptc.CountryCode", "Iptc.Application2.CountryCode")),
)


def _location(pick: _Picker) -> dict[str, str]:
    location: dict[str, str] = {}
    for name, keys in _LOCATION_FIELDS:
        value = pick.text(f"location.{name}", keys)
        if value:
            location[name] = value
    return location


_SHOWN = re.compile(r"^Xmp\.iptcExt\.LocationShown\[(\d+)\]/Iptc4xmpExt:(\w+)$")
_SHOWN_FIELDS = {
    "Sublocation": "sublocation",
    "City": "city",
    "ProvinceState": "state",
    "CountryName": "country",
    "CountryCode": "country_code",
    "WorldRegion": "world_region",
    "LocationName": "name",
}


def _locations_shown(pick: _Picker) -> list[dict[str, str]]:
    shown: dict[int, dict[str, str]] = {}
    for key, value in pick.values.items():
        match = _SHOWN.match(key)
        if not match or match.group(2) not in _SHOWN_FIELDS:
            continue
        text = _text(value)
        if text and len(shown) < 20:
            shown.setdefault(int(match.group(1)), {})[_SHOWN_FIELDS[match.group(2)]] = text
    if shown:
        pick.sources["locations_shown"] = "Xmp.iptcExt.LocationShown"
    return [shown[i] for i in sorted(shown)]


def _gps(pick: _Picker) -> GpsPosition | None:
    lat = _exif_coordinate(
        _text(pick.get("Exif.GPSInfo.GPSLatitude")), _text(pick.get("Exif.GPSInfo.GPSLatitudeRef"))
    )
    lon = _exif_coordinate(
        _text(pick.get("Exif.GPSInfo.GPSLongitude")),
        _text(pick.get("Exif.GPSInfo.GPSLongitudeRef")),
    )
    altitude_text = _text(pick.get("Exif.GPSInfo.GPSAltitude"))
    alt = _rational(altitude_text) if altitude_text else None
    if alt is not None and _text(pick.get("Exif.GPSInfo.GPSAltitudeRef")) == "1":
        alt = -alt
    position = _position(lat, lon, alt)
    if position is not None:
        pick.sources["gps"] = "Exif.GPSInfo"
        return position
    position = _position(
        _xmp_coordinate(_text(pick.get("Xmp.exif.GPSLatitude"))),
        _xmp_coordinate(_text(pick.get("Xmp.exif.GPSLongitude"))),
        None,
    )
    if position is not None:
        pick.sources["gps"] = "Xmp.exif.GPSLatitude"
        return position
    for key in ("container.com.apple.quicktime.location.ISO6709", "container.location"):
        position = _iso6709(_text(pick.get(key)))
        if position is not None:
            pick.sources["gps"] = key
            return position
    return None


# --- entry point --------------------------------------------------------------------------------


def read_embedded(
    path: Path,
    *,
    fmt: str,
    c2pa: bool = True,
    timeout: float = 20.0,
    memory: int | None = None,
) -> EmbeddedMetadata:
    """Read every metadata block of ``path`` (a sniffed ``fmt``: JPEG, PNG, …, PDF, MP4 …).

    Pure over the file: never writes it, never raises for its content. The parsers run in an
    isolated child (``timeout`` seconds, ``memory`` bytes of heap); a child that fails leaves
    an empty block with the reason in ``problems``.
    """
    fmt = fmt.upper()
    kwargs: dict[str, Any] = {"timeout": timeout, "c2pa": c2pa}
    if memory is not None:
        kwargs["memory"] = memory
    try:
        result = run_isolated("embedded.collect", str(path), fmt, **kwargs)
    except IsolationFailed as exc:
        return EmbeddedMetadata(
            embedded=Embedded(),
            raw={},
            problems=[f"metadata could not be read: the parser {exc.reason}"],
            sources={},
            blocks=[],
        )
    raw: dict[str, dict[str, Any]] = result["raw"]
    manifest = result.get("c2pa")
    embedded, sources = normalise(raw, manifest)
    blocks = sorted(raw) + (["c2pa"] if manifest is not None else [])
    if manifest is not None:
        raw = {**raw, "c2pa": {k: v for k, v in manifest.items() if k != "actions"}}
    return EmbeddedMetadata(
        embedded=embedded,
        raw=raw,
        problems=list(result.get("problems", [])),
        sources=sources,
        blocks=blocks,
    )


def licence_end_as_expiry(licence_end: str | None) -> datetime | None:
    """A licence ending on a date may be used through that day: expiry is the next midnight UTC."""
    if not licence_end:
        return None
    try:
        day = date.fromisoformat(licence_end[:10])
    except ValueError:
        return None
    if day >= date.max:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
