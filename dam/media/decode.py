"""Raster decodes bounded in memory: how many run at once, and how big images are reduced.

Pillow decodes a PNG, TIFF or WebP whole before it can resize it: a 14000x14000 PNG of a few
hundred kilobytes becomes 588 MiB of RGB, and more during conversion. For those formats above
:data:`STREAM_MIN_PIXELS`, libvips (through pyvips) decodes in strips and box-shrinks each strip
as it arrives (WebP is even decoded at a reduced scale by libwebp), so a reduced image costs tens
of MiB whatever the pixel count. Pillow stays the inspector of record (format, mode, ICC, EXIF)
and does the last Lanczos step, colour conversion and encoding, so the two paths give the same
picture. Every decode runs inside :func:`decode_slot`, a process-wide semaphore sized by
``DAM_MAX_CONCURRENT_DECODES``, so concurrent uploads of large files queue instead of adding up.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyvips
from PIL import Image

from dam.config import get_settings

# Formats whose Pillow plugin can only decode full size, and that libvips streams.
STREAM_FORMATS = frozenset({"PNG", "TIFF", "WEBP"})
# Below this, Pillow's full decode costs at most ~16 MiB (RGBA) and stays the decoder, as it is
# for the odd small files of every corpus; above it, libvips streams.
STREAM_MIN_PIXELS = 4_000_000
# Pillow modes whose pixels libvips loads as 8/16-bit grey, RGB or CMYK with optional alpha
# (palette and bilevel images are expanded); others (32-bit int, float, Lab) stay with Pillow.
_STREAM_MODES = frozenset(
    {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "I;16", "I;16L", "I;16B", "I;16N"}
)
_VIPS_INTERPRETATIONS = frozenset({"b-w", "grey16", "srgb", "rgb", "rgb16", "cmyk", "multiband"})
_MODES_BY_BANDS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}

# libvips keeps recent operations and open files in a cache; every file here is read once.
pyvips.cache_set_max(0)
pyvips.cache_set_max_mem(0)
pyvips.cache_set_max_files(0)
# Parallelism comes from concurrent decodes (one per slot); inside one, PNG inflation is serial
# anyway, and each extra libvips worker thread keeps its own strip buffers and malloc arena.
pyvips.concurrency_set(1)
# Loaders libvips marks untrusted (ImageMagick, matlab, ...) must never see an upload.
pyvips.block_untrusted_set(True)


class _Slots:
    """A counting semaphore that also knows when the last decode has finished."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._semaphore = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._active = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._semaphore:
            with self._lock:
                self._active += 1
            try:
                yield
            finally:
                with self._lock:
                    self._active -= 1
                    idle = self._active == 0
                if idle:
                    _return_freed_memory()


_slots: _Slots | None = None
_slots_lock = threading.Lock()


def _get_slots() -> _Slots:
    global _slots
    with _slots_lock:
        if _slots is None:
            _slots = _Slots(get_settings().max_concurrent_decodes)
        return _slots


@contextmanager
def decode_slot() -> Iterator[None]:
    """Hold one of the process's decode slots (blocks while all are taken).

    Header reads need no slot; anything that decodes pixels does. When the last running decode
    ends, memory freed by the decoders is handed back to the operating system.
    """
    with _get_slots().hold():
        yield


def _load_malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None)
    except OSError:
        return None


_malloc_trim = _load_malloc_trim()


def _return_freed_memory() -> None:
    # glibc keeps freed decoder buffers in its per-thread arenas (they are below the dynamic
    # mmap threshold once a few large blocks have been freed), so a burst of large decodes would
    # otherwise leave hundreds of MiB resident for good; malloc_trim releases every arena's free
    # pages. Not glibc (musl, macOS): nothing to do.
    if _malloc_trim is not None:
        _malloc_trim(0)


def streamable(fmt: str, img: Image.Image) -> bool:
    """Whether libvips, not Pillow, should decode this image's pixels."""
    width, height = img.size
    return (
        fmt in STREAM_FORMATS and width * height >= STREAM_MIN_PIXELS and img.mode in _STREAM_MODES
    )


def stream_fit(
    path: Path, fmt: str, size: tuple[int, int], target: tuple[int, int]
) -> Image.Image | None:
    """The first frame of ``path`` resized to exactly ``target``, never decoded at full size.

    ``size`` is the image's size as Pillow read it from the header. The result is a Pillow image
    in mode L, LA, RGB, RGBA or CMYK (16-bit samples keep their high byte, as Pillow does; palette
    and bilevel images are expanded), not yet oriented or colour-converted. libvips shrinks by
    whole factors while decoding (alpha premultiplied, as Pillow's ``reduce``), then Pillow's
    Lanczos maps the exact source extent to ``target`` (as ``resize(reducing_gap=2.0)`` does).
    None when libvips would describe the pixels differently (float, Lab): the caller decodes with
    Pillow. A decoder error raises OSError with libvips's reason.
    """
    try:
        image = _load(path, fmt, size, target)
        if (image.width, image.height) != size and fmt != "WEBP":
            raise OSError(f"libvips reads {image.width}x{image.height}, the header says {size}")
        if (
            image.format not in ("uchar", "ushort")
            or image.interpretation not in _VIPS_INTERPRETATIONS
        ):
            return None
        cmyk = image.interpretation == "cmyk"
        if cmyk and image.bands == 5:
            image = image.extract_band(0, n=4)  # Pillow has no CMYK+alpha mode either
        if image.bands not in _MODES_BY_BANDS:
            return None
        mode = "CMYK" if cmyk and image.bands == 4 else _MODES_BY_BANDS[image.bands]
        width, height = image.width, image.height
        factor_x = int(width / target[0] / 2.0) or 1
        factor_y = int(height / target[1] / 2.0) or 1
        image = _shrink(image, factor_x, factor_y, alpha=mode in ("LA", "RGBA"))
        data = image.write_to_memory()
        shrunk = Image.frombytes(mode, (image.width, image.height), data)
    except pyvips.Error as exc:
        raise OSError(_vips_reason(exc)) from exc
    box = (0.0, 0.0, width / factor_x, height / factor_y)
    return shrunk.resize(target, Image.Resampling.LANCZOS, box=box)


def _load(path: Path, fmt: str, size: tuple[int, int], target: tuple[int, int]) -> pyvips.Image:
    # The loader is pinned to the format sniffed from the bytes, like the Pillow plugin;
    # "truncated" makes short or corrupt data an error where libvips would otherwise fill grey.
    options: dict[str, Any] = {"access": "sequential", "fail_on": "truncated"}
    if fmt == "PNG":
        return pyvips.Image.pngload(str(path), **options)
    if fmt == "TIFF":
        return pyvips.Image.tiffload(str(path), **options)  # first page, as Pillow
    if fmt == "WEBP":
        # libwebp decodes at a reduced scale directly; twice the target, as the box step wants.
        scale = min(1.0, 2.0 * max(target) / max(size))
        return pyvips.Image.webpload(str(path), scale=scale, **options)
    raise ValueError(f"{fmt} is not streamed")


def _shrink(image: pyvips.Image, factor_x: int, factor_y: int, *, alpha: bool) -> pyvips.Image:
    sixteen = image.format == "ushort"
    top = 65535 if sixteen else 255
    if factor_x == 1 and factor_y == 1:
        return (image >> 8).cast("uchar") if sixteen else image
    if not alpha:
        image = image.shrink(factor_x, factor_y, ceil=True)
        return (image >> 8).cast("uchar") if sixteen else image
    # Average colour weighted by opacity, so transparent pixels do not darken the edges.
    image = image.premultiply(max_alpha=top).shrink(factor_x, factor_y, ceil=True)
    image = image.unpremultiply(max_alpha=top)
    return (image / 256).cast("uchar") if sixteen else image.rint().cast("uchar")


def _vips_reason(exc: pyvips.Error) -> str:
    lines = [line.strip() for line in (exc.detail or "").splitlines() if line.strip()]
    return "; ".join(lines[:3]) or exc.message
