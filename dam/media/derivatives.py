"""Channel derivatives of raster images: crop to an aspect around a focal point, fit a box,
convert colour, encode to JPEG, PNG, WebP or AVIF at a quality or within a byte budget.

The pixels are decoded as small as the output allows (JPEG DCT scaling, the libvips streaming
decoder of :mod:`dam.media.decode` for large PNG/TIFF/WebP) inside a decode slot, so a 24 MP
source costs a few tens of MiB, not its full size. The output carries no metadata of the source
(EXIF, XMP, IPTC are never copied; the ICC profile only when the spec says so): what a
derivative carries is written afterwards by the delivery writer (:mod:`dam.media.writeback`).

Without a focal point, the crop centres on the image's visual weight: edge energy and colour
saturation of a small copy, projected onto each axis, so a subject on a plain background stays
in the frame where a centre crop would cut it (see :func:`saliency_focus`).
"""

from __future__ import annotations

import io
import math
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageCms, ImageFilter, ImageStat

from dam.errors import Conflict, Invalid
from dam.media.decode import decode_slot, stream_fit, streamable
from dam.media.inspect import exif_orientation, open_raster, orient, shrink_palette, to_rgb
from dam.media.sniff import sniff
from dam.media.types import MediaKind

__all__ = [
    "MIME_TYPES",
    "RENDERER_VERSION",
    "ByteBudgetUnreachable",
    "RenderSpec",
    "Rendered",
    "planned_size",
    "render_derivative",
    "saliency_focus",
]

# Bumped whenever the same spec would give other pixels, so cached derivatives become stale.
RENDERER_VERSION = "1"
MIME_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "AVIF": "image/avif",
}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "AVIF": "avif"}
_SRGB = ImageCms.createProfile("sRGB")
_SRGB_BYTES = ImageCms.ImageCmsProfile(_SRGB).tobytes()
_SRGB_NAME = "sRGB IEC61966-2.1"
_SALIENCY_SIDE = 96
_ALPHA_FORMATS = frozenset({"PNG", "WEBP", "AVIF"})


class ByteBudgetUnreachable(Conflict):
    code = "byte_budget_unreachable"


@dataclass(frozen=True)
class RenderSpec:
    fit: str  # cover | contain | inside
    box: tuple[int, int]  # exact for cover/contain, the largest size for inside
    format: str  # JPEG | PNG | WEBP | AVIF
    aspect: float | None = None  # inside only: crop to this aspect first
    quality: int = 82
    min_quality: int = 40
    max_bytes: int | None = None
    background: tuple[int, int, int] = (255, 255, 255)
    convert_srgb: bool = True
    embed_icc: bool = False
    # Normalised (0..1) on the upright image; None: the content-aware default.
    focal: tuple[float, float] | None = None
    crop: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1, normalised


@dataclass(frozen=True)
class Rendered:
    path: Path
    format: str
    mime_type: str
    width: int
    height: int
    size: int
    quality: int | None
    mode: str
    icc_profile: str | None  # description of the embedded profile, None when none
    focal: tuple[float, float]  # the point the crop was centred on
    focal_source: str  # set | auto


def _crop_rect(
    size: tuple[float, float],
    aspect: float | None,
    focal: tuple[float, float],
    within: tuple[float, float, float, float],
) -> tuple[float, float, float, float]:
    """The largest rect of ``aspect`` inside ``within`` (pixels), centred on ``focal`` (pixels)
    as far as the edges allow, so the focal point is always inside the frame."""
    x0, y0, x1, y1 = within
    width, height = x1 - x0, y1 - y0
    if aspect is None or width <= 0 or height <= 0:
        return within
    if width / height > aspect:
        crop_w, crop_h = height * aspect, height
    else:
        crop_w, crop_h = width, width / aspect
    fx, fy = focal
    left = min(max(fx - crop_w / 2, x0), x1 - crop_w)
    top = min(max(fy - crop_h / 2, y0), y1 - crop_h)
    return left, top, left + crop_w, top + crop_h


def _output_size(fit: str, box: tuple[int, int], crop: tuple[float, float]) -> tuple[int, int]:
    """Size of the resized (unpadded) picture for a crop of ``crop`` pixels."""
    box_w, box_h = box
    crop_w, crop_h = crop
    if fit == "cover":
        return box
    scale = min(box_w / crop_w, box_h / crop_h)
    if fit == "inside":
        scale = min(scale, 1.0)  # never upscaled
    return max(1, round(crop_w * scale)), max(1, round(crop_h * scale))


def planned_size(spec: RenderSpec, upright: tuple[int, int]) -> tuple[int, int]:
    """The size a source of ``upright`` pixels renders to, without decoding it."""
    uw, uh = upright
    within = (0.0, 0.0, float(uw), float(uh))
    if spec.crop is not None:
        x0, y0, x1, y1 = spec.crop
        within = (x0 * uw, y0 * uh, x1 * uw, y1 * uh)
    aspect = spec.box[0] / spec.box[1] if spec.fit == "cover" else spec.aspect
    centre = ((within[0] + within[2]) / 2, (within[1] + within[3]) / 2)
    rect = _crop_rect((uw, uh), aspect, centre, within)
    size = _output_size(spec.fit, spec.box, (rect[2] - rect[0], rect[3] - rect[1]))
    return spec.box if spec.fit == "contain" else size


def saliency_focus(img: Image.Image) -> tuple[float, float]:
    """The visual centre of weight of ``img``, normalised. On a small blurred copy, each pixel
    weighs its edge energy plus its colour distance from the image's mean colour; what the
    whole image has on average (a plain sky, a studio backdrop) is subtracted, the rest squared
    to favour the strongest detail and projected onto each axis. So the point lands on the
    subject, where a centre crop would cut a subject off-centre."""
    small = img.convert("RGB")
    small.thumbnail((_SALIENCY_SIDE, _SALIENCY_SIDE), Image.Resampling.BILINEAR)
    if small.width < 3 or small.height < 3:
        return 0.5, 0.5
    # Blur first so film grain and JPEG noise do not count as detail.
    blurred = small.filter(ImageFilter.GaussianBlur(1))
    mean = tuple(round(v) for v in ImageStat.Stat(blurred).mean[:3])
    distance = ImageChops.difference(blurred, Image.new("RGB", blurred.size, mean)).convert("L")
    edges = blurred.convert("L").filter(ImageFilter.FIND_EDGES)
    # FIND_EDGES sees the image border as an edge: leave a one-pixel frame out.
    frame = (1, 1, small.width - 1, small.height - 1)
    combined = ImageChops.add(edges.crop(frame), distance.crop(frame))
    baseline = ImageStat.Stat(combined).mean[0]
    weight = combined.point([min(255, int(max(0.0, v - baseline) ** 2) // 16) for v in range(256)])
    precise = weight.convert("F")  # column and row means below 1 must not round to 0
    columns = array("f", precise.resize((weight.width, 1), Image.Resampling.BOX).tobytes())
    rows = array("f", precise.resize((1, weight.height), Image.Resampling.BOX).tobytes())
    total_x, total_y = sum(columns), sum(rows)
    if total_x == 0 or total_y == 0:
        return 0.5, 0.5
    cx = sum((i + 0.5) * v for i, v in enumerate(columns)) / total_x
    cy = sum((i + 0.5) * v for i, v in enumerate(rows)) / total_y
    return (cx + 1) / small.width, (cy + 1) / small.height


@contextmanager
def _decoded(path: Path, fmt: str, max_pixels: int, spec: RenderSpec) -> Iterator[Image.Image]:
    """The upright picture, decoded as small as the output allows, with the source's ICC
    profile (and nothing else) in ``info``; valid inside the block (it may be the open file)."""
    with open_raster(path, fmt, max_pixels=max_pixels) as img:
        icc = img.info.get("icc_profile")
        orientation = exif_orientation(img)
        width, height = img.size
        upright = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
        need = _needed_scale(upright, spec)
        need = min(1.0, need)
        if fmt == "JPEG" and need < 1.0:
            # Decode straight at the smallest DCT scale that still covers the output.
            img.draft(None, (math.ceil(width * need), math.ceil(height * need)))
        reduced: Image.Image | None = None
        if need < 0.5 and streamable(fmt, img):
            target = (max(1, math.ceil(width * need)), max(1, math.ceil(height * need)))
            reduced = stream_fit(path, fmt, (width, height), target)
        if reduced is None:
            img.load()
            reduced = shrink_palette(img, max(spec.box))
        picture = orient(reduced, orientation)
        picture.info = {"icc_profile": icc} if isinstance(icc, bytes) and icc else {}
        yield picture


def _needed_scale(upright: tuple[int, int], spec: RenderSpec) -> float:
    """How far the upright source may shrink before cropping and resizing: the crop must still
    cover the output at 1:1 (at most 1, never upscaling the decode)."""
    uw, uh = upright
    x0, y0, x1, y1 = spec.crop or (0.0, 0.0, 1.0, 1.0)
    region_w, region_h = max(uw * (x1 - x0), 1.0), max(uh * (y1 - y0), 1.0)
    aspect = spec.box[0] / spec.box[1] if spec.fit == "cover" else spec.aspect
    if aspect is None:
        crop_w, crop_h = region_w, region_h
    else:
        crop_w = min(region_w, region_h * aspect)
        crop_h = crop_w / aspect
    box_w, box_h = spec.box
    if spec.fit == "cover":
        need = max(box_w / crop_w, box_h / crop_h)
    else:
        need = min(box_w / crop_w, box_h / crop_h)
    return min(1.0, need)


def _colour(
    img: Image.Image, spec: RenderSpec, keep_alpha: bool
) -> tuple[Image.Image, bytes | None]:
    """Pixels in the output's colour space, and the ICC profile to embed (None: none)."""
    icc = img.info.get("icc_profile")
    converted = to_rgb(img, icc=icc if img.mode == "CMYK" else None, keep_alpha=keep_alpha)
    cmyk = img.mode == "CMYK"
    if spec.convert_srgb and icc and not cmyk:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            description = ImageCms.getProfileDescription(source) or ""
            if "srgb" not in description.lower():
                mode = converted.mode
                result = ImageCms.profileToProfile(converted, source, _SRGB, outputMode=mode)
                if result is not None:
                    converted = result
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unusable profile: the pixels are taken as sRGB already
    if not spec.embed_icc:
        return converted, None
    if spec.convert_srgb or cmyk or not icc:
        return converted, _SRGB_BYTES
    return converted, icc


def _flatten(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    if img.mode != "RGBA":
        return img if img.mode == "RGB" else img.convert("RGB")
    base = Image.new("RGBA", img.size, (*background, 255))
    return Image.alpha_composite(base, img).convert("RGB")


def _encode(img: Image.Image, fmt: str, quality: int, icc: bytes | None) -> bytes:
    out = io.BytesIO()
    options: dict[str, object] = {}
    if icc is not None:
        options["icc_profile"] = icc
    if fmt == "JPEG":
        options.update(quality=quality, optimize=True, progressive=True)
    elif fmt == "WEBP":
        # method 2: about twice as fast as libwebp's default 4 on photos, at about the same size
        # (what the uncached budget needs; renditions, made in the background, keep 4).
        options.update(quality=quality, method=2)
    elif fmt == "AVIF":
        options.update(quality=quality, speed=8)
    elif fmt == "PNG":
        options.update(compress_level=6)
    img.save(out, fmt, **options)
    return out.getvalue()


def _encode_within(
    img: Image.Image, spec: RenderSpec, icc: bytes | None
) -> tuple[bytes, int | None]:
    """Encode at the spec's quality, or the highest quality within ``max_bytes``."""
    if spec.format == "PNG":
        return _encode(img, "PNG", 0, icc), None
    data = _encode(img, spec.format, spec.quality, icc)
    if spec.max_bytes is None or len(data) <= spec.max_bytes:
        return data, spec.quality
    low, high = spec.min_quality, spec.quality - 1
    best: tuple[bytes, int] | None = None
    smallest = len(data)
    while low <= high:
        middle = (low + high) // 2
        attempt = _encode(img, spec.format, middle, icc)
        smallest = min(smallest, len(attempt))
        if len(attempt) <= spec.max_bytes:
            best = (attempt, middle)
            low = middle + 1
        else:
            high = middle - 1
    if best is None:
        raise ByteBudgetUnreachable(
            f"the {img.width}x{img.height} {spec.format} is {smallest} bytes even at quality "
            f"{spec.min_quality}; the budget is {spec.max_bytes} bytes"
        )
    return best


def render_derivative(source: Path, dest: Path, spec: RenderSpec, *, max_pixels: int) -> Rendered:
    """Render ``source`` (any raster format the service accepts) to ``dest`` as ``spec`` says.

    Raises 422 ``not_raster`` for vectors, documents and video, the errors of
    :func:`dam.media.inspect.open_raster`, and 409 ``byte_budget_unreachable``.
    """
    fmt, _mime, kind = sniff(source)
    if kind is not MediaKind.image:
        raise Invalid(
            f"cannot render {fmt}: derivatives are made of raster images only", code="not_raster"
        )
    with decode_slot(), _decoded(source, fmt, max_pixels, spec) as picture:
        pw, ph = picture.size
        if spec.crop is not None:
            x0, y0, x1, y1 = spec.crop
            within = (x0 * pw, y0 * ph, x1 * pw, y1 * ph)
        else:
            within = (0.0, 0.0, float(pw), float(ph))
        if spec.focal is not None:
            focal, focal_source = spec.focal, "set"
        else:
            region = picture.crop(within) if spec.crop else picture
            fx, fy = saliency_focus(region)
            focal = (
                (within[0] + fx * (within[2] - within[0])) / pw,
                (within[1] + fy * (within[3] - within[1])) / ph,
            )
            focal_source = "auto"
        aspect = spec.box[0] / spec.box[1] if spec.fit == "cover" else spec.aspect
        rect = _crop_rect((pw, ph), aspect, (focal[0] * pw, focal[1] * ph), within)
        crop_size = (rect[2] - rect[0], rect[3] - rect[1])
        size = _output_size(spec.fit, spec.box, crop_size)
        keep_alpha = spec.format in _ALPHA_FORMATS
        coloured, icc = _colour(picture, spec, keep_alpha)
        resized = coloured.resize(size, Image.Resampling.LANCZOS, box=rect, reducing_gap=2.0)
        if spec.fit == "contain" and size != spec.box:
            fill = (*spec.background, 255) if resized.mode == "RGBA" else spec.background
            canvas = Image.new(resized.mode, spec.box, fill)
            canvas.paste(resized, ((spec.box[0] - size[0]) // 2, (spec.box[1] - size[1]) // 2))
            resized = canvas
        if not keep_alpha:
            resized = _flatten(resized, spec.background)
        elif resized.mode not in ("RGB", "RGBA"):
            resized = resized.convert("RGBA" if "A" in resized.mode else "RGB")
        # Nothing of the source's metadata rides along (Pillow copies `info` through resizes).
        resized.info = {}
        data, quality = _encode_within(resized, spec, icc)
    dest.write_bytes(data)
    return Rendered(
        path=dest,
        format=spec.format,
        mime_type=MIME_TYPES[spec.format],
        width=resized.width,
        height=resized.height,
        size=len(data),
        quality=quality,
        mode=resized.mode,
        icc_profile=None if icc is None else _icc_name(icc),
        focal=focal,
        focal_source=focal_source,
    )


def _icc_name(icc: bytes) -> str | None:
    if icc == _SRGB_BYTES:
        return _SRGB_NAME
    try:
        return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None
