from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from dam.errors import Invalid
from dam.media import RENDITIONS, make_rendition
from tests.media.samples import (
    make_gif,
    make_jpeg,
    make_mp4,
    make_pdf,
    make_png,
    make_png_bomb,
    make_svg,
    make_tiff,
    scene,
)

LIMIT = 50_000_000


def _open(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "WEBP"
    img.load()
    return img


def test_rendition_sizes() -> None:
    assert RENDITIONS == {"thumb": 256, "preview": 1024}


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Stored landscape, left half red and right half blue; orientation 6 means "rotate 90° CW".
    img = Image.new("RGB", (200, 100), (0, 0, 255))
    ImageDraw.Draw(img).rectangle((0, 0, 99, 99), fill=(255, 0, 0))
    path = make_jpeg(tmp_path / "o.jpg", image=img, exif_orientation=6, quality=95)
    thumb = _open(make_rendition(path, RENDITIONS["thumb"], max_pixels=LIMIT))
    assert thumb.size == (100, 200)
    top = thumb.convert("RGB").getpixel((50, 40))
    bottom = thumb.convert("RGB").getpixel((50, 160))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_small_images_are_never_upscaled(tmp_path: Path) -> None:
    path = make_png(tmp_path / "s.png", size=(64, 48))
    for size in RENDITIONS.values():
        assert _open(make_rendition(path, size, max_pixels=LIMIT)).size == (64, 48)


@pytest.mark.parametrize(("size", "expected"), [(256, (256, 128)), (1024, (1024, 512))])
def test_large_jpeg_fits_the_long_side(tmp_path: Path, size: int, expected) -> None:
    path = make_jpeg(tmp_path / "l.jpg", image=scene((2400, 1200)), quality=85)
    assert _open(make_rendition(path, size, max_pixels=LIMIT)).size == expected


def test_portrait_fits_the_long_side(tmp_path: Path) -> None:
    path = make_png(tmp_path / "p.png", image=scene((300, 900)))
    assert _open(make_rendition(path, 256, max_pixels=LIMIT)).size == (85, 256)


def test_alpha_is_kept(tmp_path: Path) -> None:
    path = make_png(tmp_path / "a.png", size=(300, 300), alpha=True)
    thumb = _open(make_rendition(path, 256, max_pixels=LIMIT))
    assert thumb.mode == "RGBA"
    pixel = thumb.getpixel((10, 10))
    assert isinstance(pixel, tuple) and pixel[3] == 128
    assert all(abs(a - b) <= 6 for a, b in zip(pixel[:3], (30, 120, 200), strict=True))


@pytest.mark.parametrize(
    ("factory", "kwargs", "mode"),
    [
        (make_jpeg, {"mode": "CMYK", "color": (0, 0, 0, 0)}, "RGB"),
        (make_png, {"mode": "LA", "color": (90, 200)}, "RGBA"),
        (make_png, {"mode": "P", "color": 3}, "RGB"),
        (make_gif, {"transparency": True}, "RGBA"),
        (make_png, {"mode": "I;16", "color": 65535}, "RGB"),
        (make_tiff, {"mode": "L", "color": 128}, "RGB"),
    ],
)
def test_modes_convert_to_rgb_or_rgba(tmp_path: Path, factory, kwargs, mode: str) -> None:
    path = factory(tmp_path / "m", **kwargs)
    assert _open(make_rendition(path, 256, max_pixels=LIMIT)).mode == mode


def test_cmyk_white_stays_white(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "c.jpg", mode="CMYK", color=(0, 0, 0, 0))
    thumb = _open(make_rendition(path, 256, max_pixels=LIMIT)).convert("RGB")
    pixel = thumb.getpixel((5, 5))
    assert isinstance(pixel, tuple) and min(pixel) >= 250


def test_animated_gif_uses_the_first_frame(tmp_path: Path) -> None:
    path = make_gif(tmp_path / "a.gif", colors=[(255, 0, 0), (0, 255, 0)])
    thumb = _open(make_rendition(path, 256, max_pixels=LIMIT)).convert("RGB")
    pixel = thumb.getpixel((5, 5))
    assert isinstance(pixel, tuple) and pixel[0] > 240 and pixel[1] < 15
    assert getattr(thumb, "n_frames", 1) == 1


def test_icc_profile_of_rgb_images_is_kept(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "i.jpg", icc="srgb")
    thumb = _open(make_rendition(path, 256, max_pixels=LIMIT))
    assert thumb.info.get("icc_profile")


@pytest.mark.parametrize("factory", [make_svg, make_pdf, make_mp4])
def test_non_raster_input_is_invalid(tmp_path: Path, factory) -> None:
    with pytest.raises(Invalid) as err:
        make_rendition(factory(tmp_path / "x"), 256, max_pixels=LIMIT)
    assert err.value.code == "not_raster"


def test_bomb_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Invalid) as err:
        make_rendition(make_png_bomb(tmp_path / "b.png"), 256, max_pixels=LIMIT)
    assert err.value.code == "image_too_large"
