from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from dam.errors import Invalid, PayloadTooLarge, UnsupportedMediaType
from dam.media import MediaKind, hash_distance, inspect_file
from dam.media.inspect import WHOLE_FILE_FORMAT_MAX_BYTES
from tests.media.samples import (
    make_avif,
    make_gif,
    make_jpeg,
    make_pdf,
    make_png,
    make_png_bomb,
    make_tiff,
    make_webp,
    scene,
    truncate,
)

LIMIT = 50_000_000


def test_jpeg_basic_facts(tmp_path: Path) -> None:
    info = inspect_file(make_jpeg(tmp_path / "a.jpg", size=(64, 48)), max_pixels=LIMIT)
    assert (info.kind, info.format, info.mime_type) == (MediaKind.image, "JPEG", "image/jpeg")
    assert (info.width, info.height, info.color_mode) == (64, 48, "RGB")
    assert info.has_alpha is False
    assert info.icc_profile is None
    assert info.orientation is None
    assert info.frames == 1
    assert info.exif == {}
    assert info.keywords == []


def test_truncated_jpeg_is_corrupt_image(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "t.jpg", image=scene((800, 600)), quality=90)
    truncate(path, path.stat().st_size // 2)
    with pytest.raises(Invalid) as err:
        inspect_file(path, max_pixels=LIMIT)
    assert err.value.status_code == 422
    assert err.value.code == "corrupt_image"
    assert err.value.detail.startswith(
        "JPEG image is truncated or corrupt: image file is truncated"
    )


def test_truncated_png_is_corrupt_image(tmp_path: Path) -> None:
    path = make_png(tmp_path / "t.png", image=scene((400, 300)))
    truncate(path, path.stat().st_size // 2)
    with pytest.raises(Invalid) as err:
        inspect_file(path, max_pixels=LIMIT)
    assert err.value.code == "corrupt_image"
    assert err.value.detail.startswith("PNG image is truncated or corrupt: ")


def test_garbage_after_png_signature_is_corrupt_image(tmp_path: Path) -> None:
    path = tmp_path / "g.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 10)
    with pytest.raises(Invalid) as err:
        inspect_file(path, max_pixels=LIMIT)
    assert err.value.code == "corrupt_image"


def test_png_bomb_fails_fast_naming_dimensions_and_limit(tmp_path: Path) -> None:
    path = make_png_bomb(tmp_path / "bomb.png", 100_000, 100_000)
    started = time.perf_counter()
    with pytest.raises(Invalid) as err:
        inspect_file(path, max_pixels=LIMIT)
    elapsed = time.perf_counter() - started
    assert err.value.status_code == 422
    assert err.value.code == "image_too_large"
    assert err.value.detail == (
        "image is 100000x100000 (10000000000 pixels), above the limit of 50000000 pixels"
    )
    assert elapsed < 0.5  # header only; decoding would take minutes and ~30 GB


def test_pixel_limit_is_inclusive(tmp_path: Path) -> None:
    path = make_png(tmp_path / "a.png", size=(100, 50))
    assert inspect_file(path, max_pixels=5000).width == 100
    with pytest.raises(Invalid) as err:
        inspect_file(path, max_pixels=4999)
    assert err.value.code == "image_too_large"


def test_small_limit_does_not_lower_pillows_global_limit(tmp_path: Path) -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(Invalid):
        inspect_file(make_png(tmp_path / "a.png", size=(10, 10)), max_pixels=10)
    assert before == Image.MAX_IMAGE_PIXELS


def test_oversized_webp_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = make_webp(tmp_path / "big.webp")
    os.truncate(path, WHOLE_FILE_FORMAT_MAX_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(PayloadTooLarge) as err:
        inspect_file(path, max_pixels=LIMIT)
    assert err.value.status_code == 413
    assert err.value.code == "image_file_too_large"


def test_cmyk_jpeg_reports_cmyk(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "c.jpg", mode="CMYK", color=(0, 100, 200, 0))
    info = inspect_file(path, max_pixels=LIMIT)
    assert info.color_mode == "CMYK"
    assert info.dominant_colors[0][1] == 1.0


def test_srgb_icc_profile_is_described(tmp_path: Path) -> None:
    info = inspect_file(make_jpeg(tmp_path / "s.jpg", icc="srgb"), max_pixels=LIMIT)
    assert info.icc_profile == "sRGB built-in"


def test_unreadable_icc_profile_is_ignored(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "s.jpg", icc=b"not an icc profile at all")
    assert inspect_file(path, max_pixels=LIMIT).icc_profile is None


@pytest.mark.parametrize(
    ("factory", "kwargs", "alpha"),
    [
        (make_png, {"alpha": True}, True),
        (make_png, {}, False),
        (make_webp, {"alpha": True}, True),
        (make_gif, {"transparency": True}, True),
        (make_gif, {}, False),
        (make_png, {"mode": "LA", "color": (100, 50)}, True),
    ],
)
def test_alpha_is_detected(tmp_path: Path, factory, kwargs, alpha: bool) -> None:
    info = inspect_file(factory(tmp_path / "a.img", **kwargs), max_pixels=LIMIT)
    assert info.has_alpha is alpha


def test_exif_orientation_and_summary_are_read(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS R5\x00"
    exif[0x013B] = "Ann Example"
    exif[0x8298] = "(c) 2026 Brand Co"
    exif.get_ifd(0x8769)[0x9003] = "2026:03:01 10:15:00"
    info = inspect_file(make_jpeg(tmp_path / "e.jpg", exif=exif), max_pixels=LIMIT)
    assert info.orientation == 6
    assert info.exif == {
        "make": "Canon",
        "model": "EOS R5",
        "artist": "Ann Example",
        "copyright": "(c) 2026 Brand Co",
        "datetime_original": "2026:03:01 10:15:00",
    }


def test_display_size_swaps_sides_for_quarter_turn_orientations(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "o.jpg", size=(200, 100), exif_orientation=6)
    info = inspect_file(path, max_pixels=LIMIT)
    assert (info.width, info.height, info.orientation) == (200, 100, 6)
    assert info.display_size == (100, 200)


def test_dpi_is_reported_when_the_file_has_one(tmp_path: Path) -> None:
    jpeg = make_jpeg(tmp_path / "d.jpg", dpi=(300, 300))
    png = make_png(tmp_path / "d.png", dpi=(72, 72))
    tiff = make_tiff(tmp_path / "d.tif")
    assert inspect_file(jpeg, max_pixels=LIMIT).dpi == (300.0, 300.0)
    assert inspect_file(png, max_pixels=LIMIT).dpi == (72.0, 72.0)
    assert inspect_file(tiff, max_pixels=LIMIT).dpi is None


def test_iptc_and_xmp_keywords_are_merged(tmp_path: Path) -> None:
    path = make_jpeg(
        tmp_path / "k.jpg",
        iptc_keywords=["Frühling", "beach"],
        xmp_keywords=["beach", "sunset &amp; sea"],
    )
    assert inspect_file(path, max_pixels=LIMIT).keywords == ["Frühling", "beach", "sunset & sea"]


def test_xmp_with_a_doctype_yields_no_keywords(tmp_path: Path) -> None:
    img = Image.new("RGB", (8, 8))
    xmp = b'<!DOCTYPE x [<!ENTITY a "b">]><x:xmpmeta xmlns:x="adobe:ns:meta/"/>'
    path = tmp_path / "x.jpg"
    img.save(path, "JPEG", xmp=xmp)
    assert inspect_file(path, max_pixels=LIMIT).keywords == []


def test_animated_gif_counts_frames(tmp_path: Path) -> None:
    path = make_gif(tmp_path / "a.gif", colors=[(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    info = inspect_file(path, max_pixels=LIMIT)
    assert info.frames == 3
    assert info.dominant_colors == [((255, 0, 0), 1.0)]  # the first frame


@pytest.mark.parametrize(
    ("factory", "fmt", "mode"),
    [
        (make_webp, "WEBP", "RGB"),
        (make_tiff, "TIFF", "RGB"),
        (make_avif, "AVIF", "RGB"),
        (make_gif, "GIF", "P"),
    ],
)
def test_other_raster_formats_inspect(tmp_path: Path, factory, fmt: str, mode: str) -> None:
    info = inspect_file(factory(tmp_path / "x"), max_pixels=LIMIT)
    assert (info.format, info.color_mode) == (fmt, mode)
    assert info.phash is not None and len(info.phash) == 16


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = make_png(tmp_path / "g16.png", mode="I;16", color=32768)
    info = inspect_file(path, max_pixels=LIMIT)
    assert info.color_mode in ("I;16", "I")
    assert info.dominant_colors == [((128, 128, 128), 1.0)]


def test_dominant_colours_are_sorted_by_share(tmp_path: Path) -> None:
    img = Image.new("RGB", (64, 64), (0, 0, 255))
    ImageDraw.Draw(img).rectangle((0, 0, 47, 63), fill=(255, 0, 0))
    info = inspect_file(make_png(tmp_path / "rb.png", image=img), max_pixels=LIMIT)
    assert info.dominant_colors == [((255, 0, 0), 0.75), ((0, 0, 255), 0.25)]


def test_transparent_pixels_count_as_white(tmp_path: Path) -> None:
    img = Image.new("RGBA", (32, 32), (255, 0, 0, 0))
    info = inspect_file(make_png(tmp_path / "t.png", image=img), max_pixels=LIMIT)
    assert info.dominant_colors == [((255, 255, 255), 1.0)]


def test_phash_survives_reencoding_and_resizing(tmp_path: Path) -> None:
    original = scene((640, 480), seed=1)
    first = inspect_file(
        make_jpeg(tmp_path / "a.jpg", image=original, quality=95), max_pixels=LIMIT
    )
    smaller = original.resize((320, 240), Image.Resampling.BICUBIC)
    second = inspect_file(
        make_jpeg(tmp_path / "b.jpg", image=smaller, quality=40), max_pixels=LIMIT
    )
    as_png = inspect_file(make_png(tmp_path / "c.png", image=original), max_pixels=LIMIT)
    other = inspect_file(
        make_jpeg(tmp_path / "d.jpg", image=scene((640, 480), seed=2)), max_pixels=LIMIT
    )
    assert first.phash is not None and second.phash is not None
    assert as_png.phash is not None and other.phash is not None
    assert hash_distance(first.phash, second.phash) <= 6
    assert hash_distance(first.phash, as_png.phash) <= 6
    assert hash_distance(first.phash, other.phash) >= 20


def test_phash_matches_a_rotated_copy_through_exif_orientation(tmp_path: Path) -> None:
    upright = scene((300, 200), seed=4)
    tagged = make_jpeg(
        tmp_path / "tagged.jpg",
        image=upright.transpose(Image.Transpose.ROTATE_90),
        exif_orientation=6,
        quality=95,
    )
    plain = make_jpeg(tmp_path / "plain.jpg", image=upright, quality=95)
    a = inspect_file(tagged, max_pixels=LIMIT).phash
    b = inspect_file(plain, max_pixels=LIMIT).phash
    assert a is not None and b is not None
    assert hash_distance(a, b) <= 6


def test_hash_distance() -> None:
    assert hash_distance("0" * 16, "f" * 16) == 64
    assert hash_distance("00000000000000ff", "0000000000000000") == 8
    with pytest.raises(ValueError):
        hash_distance("abc", "0" * 16)


def test_pdf_reports_first_media_box(tmp_path: Path) -> None:
    info = inspect_file(make_pdf(tmp_path / "a.pdf", (10, 20, 605.3, 862)), max_pixels=LIMIT)
    assert (info.kind, info.mime_type) == (MediaKind.document, "application/pdf")
    assert (info.width, info.height) == (595, 842)


def test_unsupported_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_text("<html><body>hi</body></html>")
    with pytest.raises(UnsupportedMediaType):
        inspect_file(path, max_pixels=LIMIT)


def test_info_is_json_safe(tmp_path: Path) -> None:
    import json

    path = make_jpeg(tmp_path / "j.jpg", icc="srgb", exif_orientation=3, iptc_keywords=["a"])
    json.dumps(inspect_file(path, max_pixels=LIMIT).to_json())
