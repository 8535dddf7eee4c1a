"""Decide what a file is from its bytes alone, against an allow-list, and vet SVG markup.

The client's filename and declared Content-Type are never consulted: they are what an attacker
controls. Anything not on the allow-list is refused with 415, naming what was seen when it can be
recognised so the uploader knows what went wrong.
"""

from __future__ import annotations

import codecs
import struct
from pathlib import Path
from typing import Any
from xml.parsers import expat

from dam.errors import Invalid, UnsupportedMediaType
from dam.media.svg import SVG_NS, doctype_problem
from dam.media.types import MediaKind

# Enough for every binary signature and for the prolog + root start tag of any sane SVG
# (editors put a comment, an XML declaration and a dozen xmlns attributes before it).
HEAD_BYTES = 64 * 1024

_MP4_BRANDS = frozenset(
    {
        "isom",
        "iso2",
        "iso3",
        "iso4",
        "iso5",
        "iso6",
        "iso7",
        "iso8",
        "iso9",
        "mp41",
        "mp42",
        "mp71",
        "avc1",
        "dash",
        "M4V ",
        "M4VH",
        "M4VP",
        "f4v ",
        "MSNV",
        "XAVC",
    }
)
_AVIF_BRANDS = frozenset({"avif", "avis"})
_HEIF_BRANDS = frozenset({"heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1"})
_HEIC_BRANDS = frozenset({"heic", "heix", "heim", "heis", "hevc", "hevx"})
# Audio-only MP4 variants also list isom/mp42 as compatible brands; the major brand wins (an
# M4A that does hold video is judged by its streams at inspection).
_AUDIO_BRANDS = frozenset({"M4A ", "M4B ", "M4P ", "F4A ", "F4B "})

# Signatures of common formats we refuse, so the 415 can say what the file actually is.
_KNOWN_REFUSED: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (or an Office/OpenDocument file)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x1f\x8b", "gzip-compressed data (compressed SVGZ is not accepted)"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"BM", "a BMP image"),
    (b"8BPS", "a Photoshop PSD document"),
    (b"%!PS", "a PostScript/EPS document"),
    (b"\xc5\xd0\xd3\xc6", "an EPS document"),
    (b"\x00\x00\x01\x00", "an ICO icon"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 codestream"),
    (b"II+\x00", "a BigTIFF image"),
    (b"MM\x00+", "a BigTIFF image"),
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
    (b"OggS", "an Ogg media file"),
    (b"ID3", "an MP3 audio file"),
    (b"fLaC", "a FLAC audio file"),
    (b"{\\rtf", "an RTF document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Microsoft Office document"),
    (b"SQLite format 3\x00", "an SQLite database"),
)


def sniff(path: Path) -> tuple[str, str, MediaKind]:
    """Return ``(format, mime_type, kind)`` for an allow-listed file, judged from its bytes.

    An empty file is a 422 ``empty_file`` (the body is wrong, not of an unsupported type);
    anything unrecognised or not allow-listed is a 415 ``unsupported_type``. An SVG whose DOCTYPE
    is not a standard public SVG one, or has an internal subset, is refused here already (422
    ``unsafe_svg``), before any of it is parsed.
    """
    with path.open("rb") as fp:
        head = fp.read(HEAD_BYTES)
    if not head:
        raise Invalid("the file is empty (0 bytes)", code="empty_file")
    return sniff_bytes(head)


def sniff_bytes(head: bytes) -> tuple[str, str, MediaKind]:
    """Like :func:`sniff` for the first bytes of a file (at least 64 KiB when there are more)."""
    if not head:
        raise Invalid("the file is empty (0 bytes)", code="empty_file")
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG", "image/jpeg", MediaKind.image
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG", "image/png", MediaKind.image
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF", "image/gif", MediaKind.image
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP", "image/webp", MediaKind.image
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF", "image/tiff", MediaKind.image
    if head.startswith(b"%PDF-"):
        return "PDF", "application/pdf", MediaKind.document
    if head[4:8] == b"ftyp":
        return _sniff_iso_bmff(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _sniff_ebml(head)
    if head[:4] == b"RIFF":
        kind = head[8:12].decode("latin-1").strip() or "unknown"
        raise UnsupportedMediaType(
            f"unsupported file type: a RIFF {kind!r} container", code="unsupported_type"
        )
    for magic, label in _KNOWN_REFUSED:
        if head.startswith(magic):
            raise UnsupportedMediaType(f"unsupported file type: {label}", code="unsupported_type")
    return _sniff_text(head)


def _sniff_iso_bmff(head: bytes) -> tuple[str, str, MediaKind]:
    size = struct.unpack(">I", head[:4])[0]
    # ftyp is small; a bogus size must not make us read brands out of the next box.
    end = min(size, len(head)) if size >= 16 else 16
    major = head[8:12].decode("latin-1")
    compatible = {head[i : i + 4].decode("latin-1") for i in range(16, end - 3, 4)}
    if major in _AUDIO_BRANDS:
        return "M4A", "audio/mp4", MediaKind.audio
    if major in _AVIF_BRANDS:
        return "AVIF", "image/avif", MediaKind.image
    if major in _MP4_BRANDS:
        return "MP4", "video/mp4", MediaKind.video
    if major == "qt  ":
        return "MOV", "video/quicktime", MediaKind.video
    if compatible & _AVIF_BRANDS:
        return "AVIF", "image/avif", MediaKind.image
    if major in _HEIF_BRANDS or compatible & _HEIF_BRANDS:
        heic = major in _HEIC_BRANDS or bool(compatible & _HEIC_BRANDS)
        return "HEIF", "image/heic" if heic else "image/heif", MediaKind.image
    if compatible & _MP4_BRANDS:
        return "MP4", "video/mp4", MediaKind.video
    if "qt  " in compatible:
        return "MOV", "video/quicktime", MediaKind.video
    raise UnsupportedMediaType(
        f"unsupported file type: ISO media file with brand {major!r}", code="unsupported_type"
    )


EBML_UNKNOWN_SIZE = -1


def read_ebml_vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int]:
    """Decode the EBML variable-length integer at ``pos``; returns (value, next position).

    Element ids keep their length marker bits (``keep_marker=True``); sizes drop them, and a
    size with every value bit set is :data:`EBML_UNKNOWN_SIZE`. Raises ValueError when the
    integer is malformed or runs past ``data``.
    """
    if pos >= len(data):
        raise ValueError("EBML element runs past the available bytes")
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or pos + length > len(data):
        raise ValueError("invalid EBML variable-length integer")
    value = int.from_bytes(data[pos : pos + length], "big")
    if not keep_marker:
        all_ones = (1 << (7 * length)) - 1
        value &= all_ones
        if value == all_ones:
            value = EBML_UNKNOWN_SIZE
    return value, pos + length


def _sniff_ebml(head: bytes) -> tuple[str, str, MediaKind]:
    doctype: str | None = None
    try:
        _, pos = read_ebml_vint(head, 0, keep_marker=True)
        header_size, pos = read_ebml_vint(head, pos, keep_marker=False)
        end = min(pos + header_size, len(head))
        while pos < end:
            element_id, pos = read_ebml_vint(head, pos, keep_marker=True)
            size, pos = read_ebml_vint(head, pos, keep_marker=False)
            if element_id == 0x4282:  # DocType
                doctype = head[pos : pos + size].rstrip(b"\x00").decode("ascii", "replace")
                break
            pos += size
    except ValueError as exc:
        raise UnsupportedMediaType(
            f"unsupported file type: malformed EBML/Matroska header ({exc})",
            code="unsupported_type",
        ) from exc
    if doctype == "webm":
        return "WEBM", "video/webm", MediaKind.video
    raise UnsupportedMediaType(
        f"unsupported file type: EBML document of type {doctype or 'unknown'!r} "
        "(only WebM is accepted)",
        code="unsupported_type",
    )


class _RootFound(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _Doctype(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _sniff_text(head: bytes) -> tuple[str, str, MediaKind]:
    text = _decode_head(head)
    stripped = text.lstrip()
    lowered = stripped[:512].lower()
    if lowered.startswith(("<?xml", "<svg", "<!--", "<!doctype svg")):
        root, error = _first_element(head)
        if root is None and "<svg" in lowered:
            raise Invalid(
                f"file looks like SVG but is not well-formed XML: {error}", code="invalid_svg"
            )
        if root is not None:
            local = root.rsplit(" ", 1)[-1]
            if root == f"{SVG_NS} svg":
                return "SVG", "image/svg+xml", MediaKind.vector
            if local == "svg" and " " not in root:
                raise Invalid(
                    "SVG root element has no SVG namespace; add "
                    f'xmlns="{SVG_NS}" to the <svg> element',
                    code="invalid_svg",
                )
            if local.lower() == "html":
                raise UnsupportedMediaType(
                    "unsupported file type: an HTML document", code="unsupported_type"
                )
            raise UnsupportedMediaType(
                f"unsupported file type: an XML document with root element <{local}>",
                code="unsupported_type",
            )
    if lowered.startswith(("<!doctype html", "<html", "<head", "<body", "<script")) or (
        "<html" in lowered
    ):
        raise UnsupportedMediaType(
            "unsupported file type: an HTML document", code="unsupported_type"
        )
    if _looks_textual(head):
        raise UnsupportedMediaType(
            "unsupported file type: plain text, not an image, video or PDF",
            code="unsupported_type",
        )
    raise UnsupportedMediaType(
        f"unsupported file type: unrecognised data starting with bytes {head[:8].hex(' ')}",
        code="unsupported_type",
    )


def _decode_head(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", "replace")
    return head.decode("utf-8-sig", "replace")


def _looks_textual(head: bytes) -> bool:
    sample = head[:4096]
    encoding = "utf-16" if sample.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        # Incremental, not final: a multi-byte character cut at the sample's end is fine.
        text = codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\r\n\t\f")
    return printable >= 0.95 * max(len(text), 1)


def _first_element(head: bytes) -> tuple[str | None, str]:
    """Name (``"namespace local"``) of the root element, or None and the XML error.

    A DOCTYPE is caught by its start handler, before expat reads the internal subset, so entity
    expansion attacks never run; a standard public SVG DOCTYPE without an internal subset is read
    past, any other SVG doctype is refused as unsafe, and any other doctype is "not SVG".
    """
    parser = expat.ParserCreate(namespace_separator=" ")

    def on_doctype(name: str, system_id: Any, public_id: Any, internal_subset: int) -> None:
        if name.rsplit(":", 1)[-1].lower() == "svg":
            problem = doctype_problem(name, system_id, public_id, bool(internal_subset))
            if problem is None:
                return  # a standard public SVG DOCTYPE: read on to the root element
            raise Invalid(f"unsafe SVG: {problem}", code="unsafe_svg")
        raise _Doctype(name)

    def on_start(name: str, _attrs: Any) -> None:
        raise _RootFound(name)

    parser.StartDoctypeDeclHandler = on_doctype
    parser.StartElementHandler = on_start
    try:
        parser.Parse(head, False)
    except _RootFound as found:
        return found.name, ""
    except _Doctype as doctype:
        if doctype.name.lower() == "html":
            raise UnsupportedMediaType(
                "unsupported file type: an HTML document", code="unsupported_type"
            ) from None
        raise UnsupportedMediaType(
            f"unsupported file type: an XML document with DOCTYPE {doctype.name!r}",
            code="unsupported_type",
        ) from None
    except expat.ExpatError as exc:
        return None, f"{expat.ErrorString(exc.code)} at line {exc.lineno}, column {exc.offset}"
    return None, "no root element in the first 64 KiB"
