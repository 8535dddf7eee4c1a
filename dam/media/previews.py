"""Which renditions each kind of media gets, and how they are drawn.

| kind | renditions |
|---|---|
| image (JPEG, PNG, WebP, TIFF, GIF, AVIF, HEIF) | ``thumb`` 256 px, ``preview`` 1024 px (WebP) |
| vector (SVG) | ``thumb``, ``preview``: rasterised by resvg at exactly that long side, with alpha |
| document (PDF) | ``thumb``, ``preview`` of page 1; ``page-1`` … ``page-N`` 256 px thumbnails |
| video | ``thumb``, ``preview`` of a poster frame; ``clip``: a short muted H.264 MP4 |
| audio | none |

Still renditions (``thumb``, ``preview``) are stage 1: they are made first, so a thumbnail is
available as soon as possible; page thumbnails and the clip are stage 2. A password-protected
PDF, whose pages cannot be drawn, gets placeholder stills that say so. Everything here runs in
the rendering child (:mod:`dam.media.sandbox`); nothing is imported lazily, so the waiting
spare child has every decoder loaded before a job arrives.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from dam.media import heif as _heif  # noqa: F401  (registers the HEIF opener with Pillow)
from dam.media.inspect import fit_within
from dam.media.pdf import PasswordRequired, open_pdf, render_page
from dam.media.renditions import RENDITIONS, make_rendition
from dam.media.svg import render_svg
from dam.media.video import hover_clip, poster_frame

THUMB, PREVIEW, CLIP = "thumb", "preview", "clip"
PAGE_SIZE = 256
_PAGE_NAME = re.compile(r"^page-([1-9][0-9]{0,3})$")
WEBP = "image/webp"
MP4 = "video/mp4"
_WEBP_QUALITY = 82


@dataclass(frozen=True)
class PreviewOptions:
    pdf_pages: int = 8  # page thumbnails of the first N pages
    poster_seconds: float = 1.0  # poster frame offset (less for clips shorter than 3x this)
    clip_seconds: float = 3.0
    clip_long_side: int = 360
    clip_fps: int = 12
    threads: int = 2  # decoder threads in the child


def is_rendition_name(name: str) -> bool:
    return name in RENDITIONS or name == CLIP or _PAGE_NAME.match(name) is not None


def rendition_mime(name: str) -> str:
    return MP4 if name == CLIP else WEBP


def stage(name: str) -> int:
    return 1 if name in RENDITIONS else 2


def planned(kind: str, media: Mapping[str, Any], options: PreviewOptions) -> list[str]:
    """The renditions a version of this ``kind`` (with its inspected ``media``) should have."""
    if kind in ("image", "vector"):
        return [THUMB, PREVIEW]
    if kind == "document":
        pages = int(media.get("pages") or 0)
        if media.get("password_required") or pages <= 0:
            return [THUMB, PREVIEW]
        return [THUMB, PREVIEW, *(f"page-{n}" for n in range(1, min(pages, options.pdf_pages) + 1))]
    if kind == "video":
        return [THUMB, PREVIEW, CLIP]
    return []


def encode_webp(img: Image.Image, long_side: int) -> bytes:
    """WebP of ``img`` fitted within ``long_side`` (never enlarged); alpha is kept."""
    if max(img.size) > long_side:
        img = img.resize(
            fit_within(img.size, long_side), Image.Resampling.LANCZOS, reducing_gap=2.0
        )
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if img.has_transparency_data else "RGB")
    out = io.BytesIO()
    img.save(out, "WEBP", quality=_WEBP_QUALITY, method=4)
    return out.getvalue()


def placeholder(label: str, long_side: int) -> bytes:
    """A neutral 4:3 tile naming why there is no picture (e.g. a password-protected PDF)."""
    width, height = long_side, long_side * 3 // 4
    img = Image.new("RGB", (width, height), (226, 228, 232))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(10, long_side // 14))
    box = draw.multiline_textbbox((0, 0), label, font=font, align="center")
    x = (width - (box[2] - box[0])) / 2
    y = (height - (box[3] - box[1])) / 2
    draw.multiline_text((x, y), label, fill=(90, 94, 102), font=font, align="center")
    return encode_webp(img, long_side)


def render(
    *,
    source: str,
    kind: str,
    names: list[str],
    out_dir: str,
    max_pixels: int,
    options: PreviewOptions,
) -> dict[str, dict[str, str]]:
    """Draw ``names`` for the file at ``source`` into ``out_dir``; name -> {file, mime, note}.

    ``note`` is ``"placeholder"`` for a stand-in picture. Raises the media errors of the
    decoders (corrupt files, limits), which the sandbox reports as the job's reason.
    """
    path, out = Path(source), Path(out_dir)
    made: dict[str, bytes] = {}
    notes: dict[str, str] = {}
    if kind == "image":
        for name in names:
            made[name] = make_rendition(path, RENDITIONS[name], max_pixels=max_pixels)
    elif kind == "vector":
        for name in names:
            made[name] = encode_webp(render_svg(path, RENDITIONS[name]), RENDITIONS[name])
    elif kind == "document":
        _render_pdf(path, names, made, notes)
    elif kind == "video":
        stills = [n for n in names if n in RENDITIONS]
        if stills:
            poster = poster_frame(
                path,
                offset=options.poster_seconds,
                threads=options.threads,
                long_side=max(RENDITIONS[n] for n in stills),
            )
            for name in stills:
                made[name] = encode_webp(poster, RENDITIONS[name])
        if CLIP in names:
            clip = out / CLIP
            hover_clip(
                path,
                clip,
                long_side=options.clip_long_side,
                seconds=options.clip_seconds,
                fps=options.clip_fps,
                threads=options.threads,
            )
    result: dict[str, dict[str, str]] = {}
    for name, data in made.items():
        (out / name).write_bytes(data)
    for name in names:
        if (out / name).exists():
            result[name] = {"file": str(out / name), "mime": rendition_mime(name)}
            if name in notes:
                result[name]["note"] = notes[name]
    return result


def _render_pdf(
    path: Path, names: list[str], made: dict[str, bytes], notes: dict[str, str]
) -> None:
    try:
        pdf = open_pdf(path)
    except PasswordRequired:
        for name in names:
            size = RENDITIONS.get(name, PAGE_SIZE)
            made[name] = placeholder("PDF\nPassword protected", size)
            notes[name] = "placeholder"
        return
    try:
        first: Image.Image | None = None
        if THUMB in names or PREVIEW in names or "page-1" in names:
            first = render_page(pdf, 0, RENDITIONS[PREVIEW])
        for name in names:
            if name in RENDITIONS:
                assert first is not None
                made[name] = encode_webp(first, RENDITIONS[name])
                continue
            match = _PAGE_NAME.match(name)
            if match is None:
                continue
            index = int(match.group(1)) - 1
            if index >= len(pdf):
                continue
            page = first if index == 0 and first is not None else render_page(pdf, index, PAGE_SIZE)
            made[name] = encode_webp(page, PAGE_SIZE)
    finally:
        pdf.close()
