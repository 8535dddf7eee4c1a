"""WebP renditions (thumbnails and previews) of raster images."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from dam.errors import Invalid
from dam.media.decode import decode_slot
from dam.media.inspect import (
    exif_orientation,
    fit_within,
    header_orientation,
    open_raster,
    orient,
    shrink_palette,
    stream_reduce,
    to_rgb,
)
from dam.media.sniff import sniff
from dam.media.types import MediaKind

# Name -> long side in pixels.
RENDITIONS: dict[str, int] = {"thumb": 256, "preview": 1024}

RENDITION_MIME = "image/webp"
_WEBP_QUALITY = 82
_RGB_PROFILE_MODES = frozenset({"RGB", "RGBA", "RGBX", "P", "PA"})


def make_rendition(path: Path, size: int, *, max_pixels: int) -> bytes:
    """Encode the first frame of a raster image as WebP, long side at most ``size`` pixels.

    Never upscales; applies the EXIF orientation so the result displays upright without
    metadata; converts CMYK through its ICC profile, palette and grey+alpha images to
    RGB/RGBA, and keeps an RGB image's ICC profile. Raises 422 ``not_raster`` for vectors,
    documents and video, and the errors of :func:`dam.media.inspect.open_raster`.
    """
    if size < 1:
        raise ValueError("rendition size must be at least 1 pixel")
    fmt, _mime, kind = sniff(path)
    if kind is not MediaKind.image:
        raise Invalid(
            f"cannot render {fmt}: renditions are made of raster images only", code="not_raster"
        )
    with open_raster(path, fmt, max_pixels=max_pixels) as img, decode_slot():
        icc = img.info.get("icc_profile")
        icc = icc if isinstance(icc, bytes) and icc else None
        source_mode = img.mode
        reduced = stream_reduce(img, path, fmt, size)
        if reduced is not None:
            # Already at the final size: orienting and converting a few hundred pixels is free.
            orientation = header_orientation(img, path)
            rgb = orient(to_rgb(reduced, icc=icc, keep_alpha=True), orientation)
        else:
            if fmt == "JPEG":
                # Decode straight at the smallest DCT scale still at least ``size`` on both sides.
                img.draft(None, (size, size))
            img.load()
            upright = orient(shrink_palette(img, size), exif_orientation(img))
            rgb = to_rgb(upright, icc=icc, keep_alpha=True)
            # reducing_gap box-reduces by an integer factor first, then Lanczos does the rest.
            rgb = rgb.resize(fit_within(rgb.size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
        options: dict[str, object] = {"quality": _WEBP_QUALITY, "method": 4}
        # An RGB image keeps its own colour space; CMYK was converted to sRGB above, and a grey
        # profile would not describe the RGB pixels written here.
        if icc is not None and source_mode in _RGB_PROFILE_MODES:
            options["icc_profile"] = icc
        out = io.BytesIO()
        rgb.save(out, "WEBP", **options)
        return out.getvalue()
