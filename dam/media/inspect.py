"""Inspect an uploaded file: what it is, how big, its colour data, metadata and perceptual hash.

Raster images go through Pillow with the pixel limit enforced as an error before any pixel is
decoded; SVG is vetted by :func:`dam.media.sniff.check_svg`; PDF and video get their dimensions
from small bounded reads of their structure. No function here reads a whole large file into memory.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast
from xml.parsers import expat

from PIL import (
    ExifTags,
    Image,
    ImageCms,
    ImageFile,
    IptcImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
)

from dam.errors import Invalid, PayloadTooLarge
from dam.media import heif as _heif  # noqa: F401  (registers the HEIF opener with Pillow)
from dam.media.decode import decode_slot, stream_fit, streamable
from dam.media.pdf import inspect_pdf
from dam.media.sniff import sniff
from dam.media.svg import check_svg
from dam.media.types import MediaInfo, MediaKind
from dam.media.video import inspect_av

# Errors Pillow's decoders raise for malformed input (SyntaxError is its "not this format";
# the AVIF plugin reports libavif failures as RuntimeError).
DECODE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    RuntimeError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    TypeError,
    KeyError,
    ZeroDivisionError,
)
_BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)

# Long side of the reduced image kept for hashing and colours; JPEG draft decoding stops here.
_WORKING_SIZE = 256
_EXIF_STRING_MAX = 256
_KEYWORD_MAX = 200
_XMP_MAX_BYTES = 1024 * 1024
_ICC_DESCRIPTION_MAX = 256
# Pillow's WebP and AVIF plugins hand the whole file to the codec in one read; above this a
# file is refused rather than loaded (real images at the codecs' maximum size are smaller).
WHOLE_FILE_FORMAT_MAX_BYTES = 128 * 1024 * 1024
# Documents above this many pages are refused at upload (a page tree is cheap to count, but
# nobody means to upload 100,000 pages); brand rules may set a lower `max_pages`.
MAX_PDF_PAGES = 5000
# The decoder allocates whole frames: 8K DCI (8192 x 4320) is the largest real video.
MAX_VIDEO_PIXELS = 8192 * 4320


def too_large(width: int, height: int, max_pixels: int) -> Invalid:
    return Invalid(
        f"image is {width}x{height} ({width * height} pixels), above the limit of "
        f"{max_pixels} pixels",
        code="image_too_large",
    )


def _corrupt(fmt: str, exc: BaseException) -> Invalid:
    reason = str(exc) or type(exc).__name__
    return Invalid(f"{fmt} image is truncated or corrupt: {reason}", code="corrupt_image")


@contextmanager
def open_raster(path: Path, fmt: str, *, max_pixels: int) -> Iterator[ImageFile.ImageFile]:
    """Open ``path`` with the Pillow plugin for the sniffed ``fmt`` only, pixel limit enforced.

    The limit is checked against the header's dimensions before anything is decoded (422
    ``image_too_large``); WebP/AVIF files over 128 MiB are refused unread (413
    ``image_file_too_large``). Inside the block, Pillow's own decompression-bomb error and warning
    (raised for GIF frames or TIFF tiles larger than the header says) and every decoder error
    become 422 ``image_too_large`` / ``corrupt_image``, so bad input never surfaces as a 500.
    """
    _raise_pillow_limit(max_pixels)
    if fmt in ("WEBP", "AVIF") and (size := path.stat().st_size) > WHOLE_FILE_FORMAT_MAX_BYTES:
        raise PayloadTooLarge(
            f"{fmt} file is {size} bytes; {fmt} images are accepted up to "
            f"{WHOLE_FILE_FORMAT_MAX_BYTES} bytes",
            code="image_file_too_large",
        )
    with path.open("rb") as fp, warnings.catch_warnings():
        # catch_warnings is process-global before Python 3.14; a race with another thread can
        # at worst leave this one filter installed, which is the policy we want anyway.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img: ImageFile.ImageFile | None = None
        try:
            img = _open_with_plugin(fp, fmt, path)
            width, height = img.size
            if width <= 0 or height <= 0:
                raise Invalid(
                    f"{fmt} image declares a size of {width}x{height}", code="corrupt_image"
                )
            if width * height > max_pixels:
                raise too_large(width, height, max_pixels)
            yield img
        except _BOMB_ERRORS as exc:
            raise Invalid(
                f"image exceeds the pixel limit of {max_pixels} pixels: {exc}",
                code="image_too_large",
            ) from exc
        except DECODE_ERRORS as exc:
            raise _corrupt(fmt, exc) from exc
        finally:
            if img is not None:
                img.close()


def _open_with_plugin(fp: IO[bytes], fmt: str, path: Path) -> ImageFile.ImageFile:
    # Image.open() runs its bomb check against Pillow's global limit before we see the size,
    # which would refuse without naming the dimensions; calling the plugin factory directly
    # lets the configured limit speak first, and pins the plugin to the sniffed format.
    Image.init()
    if fmt not in Image.OPEN:
        raise Invalid(f"this server's Pillow cannot decode {fmt}", code="unsupported_codec")
    factory, accept = Image.OPEN[fmt]
    prefix = fp.read(16)
    if accept is not None and not accept(prefix):
        raise SyntaxError(f"not a {fmt} file")
    fp.seek(0)
    return factory(fp, str(path))


def _raise_pillow_limit(max_pixels: int) -> None:
    # Decoders check sizes discovered mid-file (GIF frames, TIFF tiles) against Pillow's module
    # global. It is only ever raised to the configured limit, never lowered, so a strict limit in
    # one caller cannot break another's legitimate image.
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and current < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


def inspect_file(
    path: Path,
    *,
    max_pixels: int,
    max_pdf_pages: int = MAX_PDF_PAGES,
    max_video_pixels: int = MAX_VIDEO_PIXELS,
) -> MediaInfo:
    """Sniff ``path`` and describe it; refuses unsupported, unsafe, corrupt or oversized files.

    Errors: 415 ``unsupported_type``; 422 ``empty_file``, ``corrupt_image``, ``image_too_large``,
    ``unsafe_svg``, ``invalid_svg``, ``unsupported_codec``, ``corrupt_pdf``,
    ``pdf_too_many_pages``, ``pdf_page_too_large``, ``no_decodable_stream``,
    ``video_too_large``; 413 ``svg_too_large``, ``image_file_too_large``.
    """
    fmt, mime, kind = sniff(path)
    if kind is MediaKind.image:
        return _inspect_raster(path, fmt, mime, max_pixels)
    if kind is MediaKind.vector:
        root = check_svg(path)
        return MediaInfo(
            kind=kind, format=fmt, mime_type=mime, width=root.width, height=root.height
        )
    if kind is MediaKind.document:
        return inspect_pdf(path, mime=mime, max_pages=max_pdf_pages)
    return inspect_av(
        path,
        fmt=fmt,
        mime=mime,
        max_pixels=min(max_pixels, max_video_pixels),
        audio_format="WEBM" if fmt == "WEBM" else "M4A",
    )


# --- raster images ---------------------------------------------------------------------------


def _inspect_raster(path: Path, fmt: str, mime: str, max_pixels: int) -> MediaInfo:
    with open_raster(path, fmt, max_pixels=max_pixels) as img:
        width, height = img.size
        mode = img.mode
        has_alpha = img.has_transparency_data
        with decode_slot():
            reduced = stream_reduce(img, path, fmt, _WORKING_SIZE)
            streamed = reduced is not None
            if reduced is None:
                if fmt == "JPEG":
                    # DCT-domain downscaling: a 24 MP JPEG decodes at 1/8 size in a few tens of
                    # ms, and libjpeg still reads every scan, so truncation is detected all the
                    # same.
                    img.draft(None, (min(width, _WORKING_SIZE), min(height, _WORKING_SIZE)))
                img.load()
                reduced = _reduce(img, _WORKING_SIZE)
        exif = header_exif(img, path) if streamed else _read_exif(img)
        orientation = _orientation(exif)
        icc = img.info.get("icc_profile")
        # Hash what viewers see: a sideways-tagged photo and its rotated copy match.
        working = orient(to_rgb(reduced, icc=icc, keep_alpha=False), orientation)
        frames = int(getattr(img, "n_frames", 1))
        return MediaInfo(
            kind=MediaKind.image,
            format=fmt,
            mime_type=mime,
            width=width,
            height=height,
            color_mode=mode,
            bit_depth=_bit_depth(img, fmt, path),
            icc_profile=_icc_description(icc),
            has_alpha=has_alpha,
            orientation=orientation,
            dpi=_dpi(img),
            exif=_exif_summary(exif),
            keywords=_keywords(img),
            phash=phash(working),
            frames=max(frames, 1),
            dominant_colors=dominant_colors(working),
        )


_MODE_BITS = {"1": 1, "I": 32, "F": 32, "I;16": 16, "I;16L": 16, "I;16B": 16, "I;16N": 16}


def _bit_depth(img: ImageFile.ImageFile, fmt: str, path: Path) -> int | None:
    """Bits per sample as the file stores them: Pillow reduces 16-bit RGB PNG/TIFF to mode RGB."""
    if fmt == "PNG":
        with path.open("rb") as fp:
            header = fp.read(33)
        # Signature (8), IHDR length and type (8), width, height (8), then the bit depth byte.
        if len(header) >= 25 and header[12:16] == b"IHDR" and header[24] in (1, 2, 4, 8, 16):
            return int(header[24])
        return None
    if fmt == "TIFF":
        bits = getattr(img, "tag_v2", {}).get(258)
        values = bits if isinstance(bits, tuple) else (bits,)
        numbers = [int(v) for v in values if isinstance(v, int) and 0 < v <= 64]
        return max(numbers) if numbers else None
    if fmt == "JPEG":
        bits = getattr(img, "bits", None)
        return int(bits) if isinstance(bits, int) and bits > 0 else 8
    if fmt in ("GIF", "WEBP"):
        return 8
    if fmt in ("AVIF", "HEIF"):
        return None  # 10- and 12-bit files decode to 8-bit modes; the mode would mislead
    return _MODE_BITS.get(img.mode, 8 if img.mode in _RESIZABLE_MODES or img.mode == "P" else None)


def stream_reduce(img: ImageFile.ImageFile, path: Path, fmt: str, box: int) -> Image.Image | None:
    """``img``'s first frame fitted to a ``box``-pixel square by the streaming decoder (see
    :mod:`dam.media.decode`), or None when Pillow is to decode it. Hold a decode slot."""
    if not streamable(fmt, img):
        return None
    if isinstance(img, TiffImagePlugin.TiffImageFile):
        # Pillow turns a TIFF upright while loading it (its size is already the upright one and
        # the orientation tag is consumed); do the same to the reduced pixels.
        orientation = _orientation(_read_exif(img))
        width, height = img.size
        stored = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
        reduced = stream_fit(path, fmt, stored, fit_within(stored, box))
        return None if reduced is None else orient(reduced, orientation)
    return stream_fit(path, fmt, img.size, fit_within(img.size, box))


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def exif_orientation(img: Image.Image) -> int | None:
    """EXIF orientation 1..8, or None when absent, invalid or the EXIF block is unreadable."""
    return _orientation(_read_exif(img))


def header_orientation(img: ImageFile.ImageFile, path: Path) -> int | None:
    """:func:`exif_orientation` of an image whose pixels are not decoded (see header_exif)."""
    return _orientation(header_exif(img, path))


def orient(img: Image.Image, orientation: int | None) -> Image.Image:
    """``img`` turned upright for an EXIF ``orientation`` (same image when there is nothing to do).

    Unlike ``ImageOps.exif_transpose`` this takes an orientation already read leniently, so a
    corrupt EXIF block never makes an otherwise good image fail.
    """
    method = _TRANSPOSE.get(orientation) if orientation is not None else None
    return img.transpose(method) if method is not None else img


_RESIZABLE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "CMYK", "I", "I;16", "F"})


def _reduce(img: Image.Image, size: int) -> Image.Image:
    """A new image no larger than ``size`` on its long side, never upscaled."""
    target = fit_within(img.size, size)
    if img.mode not in _RESIZABLE_MODES:
        img = to_rgb(shrink_palette(img, size), icc=None, keep_alpha=True)
    # reducing_gap first box-reduces by an integer factor, then Lanczos does the last step.
    return img.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)


def shrink_palette(img: Image.Image, size: int) -> Image.Image:
    """A palette or bilevel image above four times ``size`` shrunk to that, else ``img``.

    Pillow resizes these modes with nearest-neighbour anyway; shrinking before the RGB(A)
    conversion keeps a huge GIF from quadrupling in memory (a 196 MP GIF: 196 MiB, not 1 GiB).
    """
    if img.mode not in _RESIZABLE_MODES and max(img.size) > 4 * size:
        return img.resize(fit_within(img.size, 4 * size), Image.Resampling.NEAREST)
    return img


def fit_within(size: tuple[int, int], box: int) -> tuple[int, int]:
    """``size`` scaled to fit a ``box``-pixel square, keeping the aspect ratio; never enlarged."""
    width, height = size
    scale = min(1.0, box / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def to_rgb(img: Image.Image, *, icc: bytes | None, keep_alpha: bool) -> Image.Image:
    """Convert any Pillow mode to RGB, or RGBA when ``keep_alpha`` and the image has alpha.

    CMYK goes through its embedded ICC profile to sRGB when there is one (a naive conversion
    of press CMYK is visibly oversaturated); 16-bit and float greys are scaled, not clipped.
    Without ``keep_alpha``, transparency is composited onto white.
    """
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        img = img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    elif img.mode == "F":
        low, high = cast("tuple[float, float]", img.getextrema())  # one band: (min, max)
        span = (high - low) or 1.0
        img = img.point(lambda v: (v - low) * (255.0 / span)).convert("L")
    if img.mode == "CMYK":
        img = _cmyk_to_rgb(img, icc)
    has_alpha = img.has_transparency_data
    if has_alpha:
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
        if keep_alpha:
            return rgba
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def _cmyk_to_rgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(
                img, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unusable profile falls back to the plain conversion below
    return img.convert("RGB")


# --- metadata --------------------------------------------------------------------------------


def _read_exif(img: Image.Image) -> Image.Exif | None:
    try:
        return img.getexif()
    except DECODE_ERRORS:
        return None  # broken EXIF must not make a viewable image unacceptable


# PNG chunks after the pixel data that Pillow's decoder would read into ``info``.
_PNG_LATE_CHUNKS = frozenset({b"eXIf", b"tEXt", b"zTXt", b"iTXt"})
_PNG_LATE_CHUNK_MAX_BYTES = 16 * 1024 * 1024
_PNG_MAX_CHUNKS = 500_000


def header_exif(img: ImageFile.ImageFile, path: Path) -> Image.Exif | None:
    """EXIF of an image whose pixels Pillow has not decoded (and must not).

    A PNG may carry eXIf and XMP after its pixel data, which Pillow finds only by decoding every
    pixel (``PngImageFile.getexif`` loads the image when no eXIf came first). Here those chunks
    are read with Pillow's own chunk parsers while seeking past the pixel data, so orientation
    and keywords are the same as after a full decode.
    """
    if isinstance(img, PngImagePlugin.PngImageFile):
        _read_late_png_chunks(img, path)
        try:
            # The base method reads info["exif"] (and a late XMP's orientation) without loading.
            return Image.Image.getexif(img)
        except DECODE_ERRORS:
            return None
    exif = _read_exif(img)
    if isinstance(img, TiffImagePlugin.TiffImageFile) and _orientation(exif) in _TRANSPOSE:
        assert exif is not None
        del exif[ExifTags.Base.Orientation]  # applied to the pixels, as Pillow's load does
    return exif


def _read_late_png_chunks(img: PngImagePlugin.PngImageFile, path: Path) -> None:
    if not img.tile:
        return
    with path.open("rb") as fp:
        stream = PngImagePlugin.PngStream(fp)
        # Pillow bounds decompressed text per file; count what the header chunks already used.
        stream.text_memory = getattr(getattr(img, "png", None), "text_memory", 0)
        fp.seek(img.tile[0].offset - 8)  # the header of the first IDAT chunk
        try:
            for _ in range(_PNG_MAX_CHUNKS):
                header = fp.read(8)
                if len(header) < 8:
                    break
                length, cid = struct.unpack(">I4s", header)
                if cid == b"IEND" or not PngImagePlugin.is_cid(cid):
                    break
                start = fp.tell()
                if cid in _PNG_LATE_CHUNKS and length <= _PNG_LATE_CHUNK_MAX_BYTES:
                    stream.call(cid, start, length)
                fp.seek(start + length + 4)  # past the data (IDAT, fdAT: unread) and CRC
        except DECODE_ERRORS:
            pass  # Pillow's decoder stops at the first broken chunk after the pixels too
    img.info.update(stream.im_info)


def _orientation(exif: Image.Exif | None) -> int | None:
    if exif is None:
        return None
    value = exif.get(ExifTags.Base.Orientation)
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _clean_string(value: Any) -> str | None:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str):
        return None
    # EXIF separates photographer and editor copyright with NUL; keep them apart with a space.
    text = "".join(ch for ch in value.replace("\x00", " ") if ch.isprintable()).strip()
    text = " ".join(text.split())
    return text[:_EXIF_STRING_MAX] or None


def _exif_summary(exif: Image.Exif | None) -> dict[str, Any]:
    if exif is None:
        return {}
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except DECODE_ERRORS:
        sub = {}
    raw = {
        "make": exif.get(ExifTags.Base.Make),
        "model": exif.get(ExifTags.Base.Model),
        "datetime_original": sub.get(ExifTags.Base.DateTimeOriginal),
        "artist": exif.get(ExifTags.Base.Artist),
        "copyright": exif.get(ExifTags.Base.Copyright),
    }
    summary: dict[str, Any] = {}
    for key, value in raw.items():
        text = _clean_string(value)
        if text is not None:
            summary[key] = text
    return summary


def _icc_description(icc: Any) -> str | None:
    if not isinstance(icc, bytes) or not icc:
        return None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None
    cleaned = description.replace("\x00", "").strip()
    return cleaned[:_ICC_DESCRIPTION_MAX] or None


def _dpi(img: ImageFile.ImageFile) -> tuple[float, float] | None:
    tags = getattr(img, "tag_v2", None)
    if tags is not None and 282 not in tags:
        return None  # Pillow reports (1, 1) for a TIFF without XResolution: that is no DPI
    value = img.info.get("dpi")
    if not isinstance(value, tuple) or len(value) != 2:
        return None
    try:
        x, y = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(x) and math.isfinite(y)) or x <= 0 or y <= 0:
        return None
    # PNG stores pixels per metre as an integer: 72 dpi comes back as 72.009.
    return round(x, 1), round(y, 1)


def _keywords(img: ImageFile.ImageFile) -> list[str]:
    found = _iptc_keywords(img) + _xmp_keywords(img.info.get("xmp"))
    seen: set[str] = set()
    keywords: list[str] = []
    for word in found:
        cleaned = _clean_string(word)
        if cleaned and cleaned not in seen:
            seen.add(cleaned)
            keywords.append(cleaned)
    return keywords[:_KEYWORD_MAX]


def _iptc_keywords(img: ImageFile.ImageFile) -> list[str]:
    try:
        iptc = IptcImagePlugin.getiptcinfo(img)
    except DECODE_ERRORS:
        return []
    if not iptc:
        return []
    raw = iptc.get((2, 25))
    values = raw if isinstance(raw, list) else [raw] if raw is not None else []
    # Record 1:90 "ESC % G" declares UTF-8; undeclared data is usually UTF-8 or Latin-1.
    utf8 = iptc.get((1, 90)) == b"\x1b%G"
    words = []
    for value in values:
        if not isinstance(value, bytes):
            continue
        try:
            words.append(value.decode("utf-8"))
        except UnicodeDecodeError:
            if not utf8:
                words.append(value.decode("latin-1"))
    return words


_DC_SUBJECT = "http://purl.org/dc/elements/1.1/ subject"
_RDF_LI = "http://www.w3.org/1999/02/22-rdf-syntax-ns# li"


class _NoDtd(Exception):
    pass


def _xmp_keywords(packet: Any) -> list[str]:
    """dc:subject entries of an XMP packet.

    Pillow's getxmp() needs defusedxml, which is not a dependency; expat with every DTD
    refused before it is read is just as safe and keeps namespace prefixes honest.
    """
    if isinstance(packet, str):
        packet = packet.encode("utf-8")
    if not isinstance(packet, bytes) or not packet or len(packet) > _XMP_MAX_BYTES:
        return []
    words: list[str] = []
    depth = 0
    current: list[str] | None = None

    def refuse(*_: Any) -> None:
        raise _NoDtd

    def start(name: str, _attrs: Any) -> None:
        nonlocal depth, current
        if name == _DC_SUBJECT:
            depth += 1
        elif depth and name == _RDF_LI:
            current = []

    def end(name: str) -> None:
        nonlocal depth, current
        if name == _DC_SUBJECT and depth:
            depth -= 1
        elif name == _RDF_LI and current is not None:
            words.append("".join(current))
            current = None

    def text(data: str) -> None:
        if current is not None:
            current.append(data)

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(packet.rstrip(b"\x00 \t\r\n"), True)
    except (expat.ExpatError, _NoDtd):
        return []
    return words


# --- perceptual hash and colours -------------------------------------------------------------

_HASH_SIDE = 32
_HASH_LOW = 8
_DCT_TABLE = [
    [math.cos(math.pi * (2 * x + 1) * u / (2 * _HASH_SIDE)) for x in range(_HASH_SIDE)]
    for u in range(_HASH_LOW)
]


def phash(img: Image.Image) -> str:
    """64-bit DCT perceptual hash (pHash) as 16 hex digits.

    The image is reduced to 32x32 greyscale; only the 8x8 lowest frequencies of its 2-D DCT-II
    are computed (about 10k multiply-adds in pure Python), and each bit says whether a
    coefficient is above their median, DC term included (as the common ``imagehash.phash``).
    Re-encoding, resizing and mild colour changes move it by a few bits; different images
    differ in about half of them. Compare with :func:`hash_distance`.
    """
    grey = img.convert("L").resize((_HASH_SIDE, _HASH_SIDE), Image.Resampling.LANCZOS)
    pixels = grey.tobytes()
    side = _HASH_SIDE
    rows = [
        [sum(row[x] * cos_u[x] for x in range(side)) for cos_u in _DCT_TABLE]
        for row in (pixels[y * side : (y + 1) * side] for y in range(side))
    ]
    coefficients = [
        sum(_DCT_TABLE[v][y] * rows[y][u] for y in range(side))
        for v in range(_HASH_LOW)
        for u in range(_HASH_LOW)
    ]
    ordered = sorted(coefficients)
    median = (ordered[31] + ordered[32]) / 2
    bits = 0
    for coefficient in coefficients:
        bits = (bits << 1) | (coefficient > median)
    return f"{bits:016x}"


def hash_distance(a: str, b: str) -> int:
    """Hamming distance between two 16-hex-digit perceptual hashes (0 = same picture)."""
    if len(a) != 16 or len(b) != 16:
        raise ValueError("perceptual hashes are 16 hex digits")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def dominant_colors(
    img: Image.Image, *, count: int = 8
) -> list[tuple[tuple[int, int, int], float]]:
    """Up to ``count`` colours of a ≤64 px thumbnail (alpha over white), by share, descending."""
    thumb = to_rgb(img, icc=None, keep_alpha=False)
    thumb = thumb.copy() if thumb is img else thumb
    thumb.thumbnail((64, 64), Image.Resampling.LANCZOS)
    quantized = thumb.quantize(colors=count, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    totals: dict[tuple[int, int, int], int] = {}
    for pixels, value in quantized.getcolors(maxcolors=256) or []:
        index = int(value) if isinstance(value, int) else 0
        rgb = (palette[3 * index], palette[3 * index + 1], palette[3 * index + 2])
        totals[rgb] = totals.get(rgb, 0) + pixels
    area = sum(totals.values()) or 1
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return [(rgb, round(pixels / area, 4)) for rgb, pixels in ranked]
