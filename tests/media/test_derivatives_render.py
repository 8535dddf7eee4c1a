"""The derivative renderer: each fit, each format, byte budgets, crops that keep the focal point,
a content-aware default better than the centre, orientation, CMYK, and nothing of the source's
metadata in the output."""

from __future__ import annotations

import io
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from dam.media.derivatives import (
    ByteBudgetUnreachable,
    RenderSpec,
    render_derivative,
    saliency_focus,
)
from dam.media.embedded import read_embedded
from dam.media.sniff import sniff

MAX_PIXELS = 50_000_000


def _save(img: Image.Image, path: Path, fmt: str = "JPEG", **kw: object) -> Path:
    img.save(path, fmt, **kw)
    return path


def _grey_with_mark(
    size: tuple[int, int], mark: tuple[int, int], colour: tuple[int, int, int]
) -> Image.Image:
    img = Image.new("RGB", size, (128, 128, 128))
    x, y = mark
    img.paste(colour, (x - 30, y - 30, x + 30, y + 30))
    return img


@pytest.mark.parametrize(
    ("fit", "box", "expected"),
    [
        ("cover", (1080, 1350), (1080, 1350)),
        ("cover", (728, 90), (728, 90)),
        ("contain", (500, 500), (500, 500)),
        ("inside", (600, 10_000), (600, 400)),
        ("inside", (5000, 5000), (1200, 800)),  # never upscaled
        ("cover", (2400, 2400), (2400, 2400)),  # an exact box is an exact box
    ],
)
def test_each_fit_gives_its_size(
    tmp_path: Path, fit: str, box: tuple[int, int], expected: tuple[int, int]
) -> None:
    source = _save(Image.new("RGB", (1200, 800), (10, 90, 160)), tmp_path / "s.jpg")
    out = render_derivative(
        source, tmp_path / "o", RenderSpec(fit=fit, box=box, format="JPEG"), max_pixels=MAX_PIXELS
    )
    with Image.open(out.path) as img:
        assert img.size == expected == (out.width, out.height)


def test_contain_pads_with_the_background(tmp_path: Path) -> None:
    source = _save(Image.new("RGB", (1200, 600), (0, 0, 200)), tmp_path / "s.png", "PNG")
    spec = RenderSpec(fit="contain", box=(400, 400), format="PNG", background=(255, 0, 0))
    out = render_derivative(source, tmp_path / "o", spec, max_pixels=MAX_PIXELS)
    with Image.open(out.path) as img:
        rgb = img.convert("RGB")
        assert rgb.getpixel((200, 10)) == (255, 0, 0)  # padding above
        assert rgb.getpixel((200, 200)) == (0, 0, 200)  # the picture, 400x200 in the middle


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "AVIF"])
def test_each_format_is_written_as_such(tmp_path: Path, fmt: str) -> None:
    source = _save(Image.new("RGB", (800, 600), (200, 100, 50)), tmp_path / "s.jpg")
    out = render_derivative(
        source,
        tmp_path / "o",
        RenderSpec(fit="inside", box=(400, 400), format=fmt),
        max_pixels=MAX_PIXELS,
    )
    assert sniff(out.path)[0] == fmt
    assert out.mime_type == f"image/{fmt.lower()}"


def _noise(size: tuple[int, int]) -> Image.Image:
    rng = random.Random(7)
    return Image.frombytes(
        "RGB", size, bytes(rng.getrandbits(8) for _ in range(size[0] * size[1] * 3))
    )


def test_byte_budget_lowers_quality_until_it_fits(tmp_path: Path) -> None:
    source = _save(_noise((600, 500)), tmp_path / "s.png", "PNG")
    free = render_derivative(
        source,
        tmp_path / "a",
        RenderSpec(fit="cover", box=(300, 250), format="JPEG", quality=90),
        max_pixels=MAX_PIXELS,
    )
    budget = free.size // 2
    spec = RenderSpec(fit="cover", box=(300, 250), format="JPEG", quality=90, max_bytes=budget)
    fitted = render_derivative(source, tmp_path / "b", spec, max_pixels=MAX_PIXELS)
    assert fitted.size <= budget < free.size
    assert fitted.quality is not None and 40 <= fitted.quality < 90
    assert fitted.path.stat().st_size == fitted.size


def test_unreachable_byte_budget_is_a_conflict_naming_the_sizes(tmp_path: Path) -> None:
    source = _save(_noise((600, 500)), tmp_path / "s.png", "PNG")
    spec = RenderSpec(fit="cover", box=(300, 250), format="WEBP", max_bytes=500)
    with pytest.raises(ByteBudgetUnreachable) as caught:
        render_derivative(source, tmp_path / "o", spec, max_pixels=MAX_PIXELS)
    assert caught.value.status_code == 409
    assert "the budget is 500 bytes" in str(caught.value.detail)


@pytest.mark.parametrize("focal_x", [0.05, 0.5, 0.95])
def test_cropping_to_an_aspect_keeps_the_focal_point(tmp_path: Path, focal_x: float) -> None:
    # 3:1 source, 1:1 output: two thirds are cut; the mark at the focal point must stay.
    mark = (int(3000 * focal_x), 500)
    source = _save(_grey_with_mark((3000, 1000), mark, (230, 20, 20)), tmp_path / "s.jpg")
    spec = RenderSpec(fit="cover", box=(600, 600), format="PNG", focal=(focal_x, 0.5))
    out = render_derivative(source, tmp_path / "o", spec, max_pixels=MAX_PIXELS)
    with Image.open(out.path) as img:
        rgb = img.convert("RGB")
        reds = [
            (x, y)
            for x in range(0, 600, 4)
            for y in range(0, 600, 4)
            if rgb.getpixel((x, y))[0] > 180 and rgb.getpixel((x, y))[1] < 80
        ]
    assert reds, f"the mark at x={focal_x} left the frame"
    assert out.focal_source == "set"


def test_a_crop_box_limits_the_frame(tmp_path: Path) -> None:
    source = _save(
        _grey_with_mark((2000, 1000), (1500, 500), (20, 20, 230)), tmp_path / "s.png", "PNG"
    )
    spec = RenderSpec(
        fit="inside", box=(1000, 1000), format="PNG", focal=(0.75, 0.5), crop=(0.5, 0.0, 1.0, 1.0)
    )
    out = render_derivative(source, tmp_path / "o", spec, max_pixels=MAX_PIXELS)
    assert (out.width, out.height) == (1000, 1000)  # the right half, 1000x1000
    with Image.open(out.path) as img:
        assert img.convert("RGB").getpixel((500, 500))[2] > 180


def test_without_a_focal_point_the_crop_finds_the_subject(tmp_path: Path) -> None:
    # A plain sky with a detailed subject in the left sixth: a centre crop would miss it.
    img = Image.new("RGB", (3000, 1000), (180, 200, 220))
    rng = random.Random(3)
    for _ in range(400):
        x, y = rng.randrange(50, 450), rng.randrange(200, 800)
        img.paste((rng.randrange(256), rng.randrange(100), 0), (x, y, x + 20, y + 20))
    source = _save(img, tmp_path / "s.png", "PNG")
    fx, fy = saliency_focus(img)
    assert fx < 0.2 and 0.3 < fy < 0.7
    spec = RenderSpec(fit="cover", box=(500, 500), format="PNG")
    out = render_derivative(source, tmp_path / "o", spec, max_pixels=MAX_PIXELS)
    assert out.focal_source == "auto"
    with Image.open(out.path) as rendered:
        colours = rendered.convert("RGB").getcolors(500 * 500)
    assert colours is not None
    sky = max(colours)[1]
    detail = sum(n for n, c in colours if abs(c[2] - sky[2]) > 100)
    assert detail > 0.1 * 500 * 500  # the subject fills a good part of the frame


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    img = Image.new("RGB", (1200, 800), (50, 50, 50))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    source = _save(img, tmp_path / "s.jpg", exif=exif.tobytes())
    out = render_derivative(
        source,
        tmp_path / "o",
        RenderSpec(fit="inside", box=(400, 400), format="JPEG"),
        max_pixels=MAX_PIXELS,
    )
    assert (out.width, out.height) == (267, 400)


def test_cmyk_becomes_rgb(tmp_path: Path) -> None:
    source = _save(Image.new("CMYK", (600, 400), (0, 255, 255, 0)), tmp_path / "s.jpg")
    out = render_derivative(
        source,
        tmp_path / "o",
        RenderSpec(fit="inside", box=(300, 300), format="JPEG"),
        max_pixels=MAX_PIXELS,
    )
    with Image.open(out.path) as img:
        assert img.mode == "RGB"
        r, g, b = img.getpixel((150, 100))
        assert r > 200 and g < 60 and b < 60


@pytest.mark.skipif(
    shutil.which("exiftool") is None,
    reason="exiftool (Debian libimage-exiftool-perl) not installed",
)
@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "AVIF", "PNG"])
def test_nothing_of_the_sources_metadata_is_carried(tmp_path: Path, fmt: str) -> None:
    source = _save(Image.new("RGB", (800, 600), (90, 120, 30)), tmp_path / "s.jpg")
    subprocess.run(
        [
            "exiftool",
            "-q",
            "-overwrite_original",
            "-GPSLatitude=59.91",
            "-GPSLatitudeRef=N",
            "-GPSLongitude=10.75",
            "-GPSLongitudeRef=E",
            "-XMP-photoshop:City=Oslo",
            "-Artist=Someone",
            str(source),
        ],
        check=True,
    )
    assert read_embedded(source, fmt="JPEG").embedded.gps is not None
    out = render_derivative(
        source,
        tmp_path / "o",
        RenderSpec(fit="inside", box=(400, 400), format=fmt),
        max_pixels=MAX_PIXELS,
    )
    found = read_embedded(out.path, fmt=fmt)
    assert found.embedded.gps is None
    text = subprocess.run(
        ["exiftool", "-a", "-G1", "-s", str(out.path)], capture_output=True, text=True, check=True
    ).stdout
    assert "GPS" not in text and "Oslo" not in text and "Someone" not in text


def test_icc_profile_is_embedded_or_stripped_as_asked(tmp_path: Path) -> None:
    source = _save(Image.new("RGB", (400, 300), (90, 120, 30)), tmp_path / "s.jpg")
    kept = render_derivative(
        source,
        tmp_path / "a",
        RenderSpec(fit="inside", box=(200, 200), format="JPEG", embed_icc=True),
        max_pixels=MAX_PIXELS,
    )
    stripped = render_derivative(
        source,
        tmp_path / "b",
        RenderSpec(fit="inside", box=(200, 200), format="JPEG"),
        max_pixels=MAX_PIXELS,
    )
    with Image.open(kept.path) as a, Image.open(stripped.path) as b:
        assert a.info.get("icc_profile")
        assert not b.info.get("icc_profile")
    assert kept.icc_profile == "sRGB IEC61966-2.1" and stripped.icc_profile is None


def test_large_png_is_streamed_and_rendered(tmp_path: Path) -> None:
    # 4.3 MP: above the streaming threshold, so libvips shrinks it while decoding.
    source = _save(
        _grey_with_mark((2600, 1650), (1300, 825), (0, 200, 0)), tmp_path / "s.png", "PNG"
    )
    out = render_derivative(
        source,
        tmp_path / "o",
        RenderSpec(fit="cover", box=(300, 250), format="WEBP"),
        max_pixels=MAX_PIXELS,
    )
    with Image.open(out.path) as img:
        assert img.size == (300, 250)
        assert img.convert("RGB").getpixel((150, 125))[1] > 150


def test_non_raster_is_refused(tmp_path: Path) -> None:
    from dam.errors import Invalid

    svg = tmp_path / "s.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    with pytest.raises(Invalid) as caught:
        render_derivative(
            svg,
            tmp_path / "o",
            RenderSpec(fit="inside", box=(10, 10), format="PNG"),
            max_pixels=MAX_PIXELS,
        )
    assert caught.value.code == "not_raster"


def test_rendering_reads_from_a_bytes_source(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (1, 2, 3)).save(buffer, "PNG")
    (tmp_path / "s").write_bytes(buffer.getvalue())  # no extension: the format is sniffed
    out = render_derivative(
        tmp_path / "s",
        tmp_path / "o",
        RenderSpec(fit="cover", box=(32, 32), format="JPEG"),
        max_pixels=MAX_PIXELS,
    )
    assert (out.width, out.height) == (32, 32)


@pytest.mark.parametrize(
    ("fmt", "mode"),
    [
        ("PNG", "RGBA"),
        ("WEBP", "RGB"),
        ("TIFF", "RGB"),
        ("GIF", "P"),
        ("AVIF", "RGB"),
        ("HEIF", "RGB"),
        ("JPEG", "L"),
    ],
)
def test_every_accepted_raster_source_renders(tmp_path: Path, fmt: str, mode: str) -> None:
    if fmt == "HEIF":
        pytest.importorskip("pillow_heif").register_heif_opener()
    img = _grey_with_mark((900, 600), (450, 300), (200, 30, 30)).convert(mode)
    source = _save(img, tmp_path / "s", fmt)
    assert sniff(source)[0] == fmt
    out = render_derivative(
        source,
        tmp_path / "o",
        RenderSpec(fit="cover", box=(300, 300), format="WEBP"),
        max_pixels=MAX_PIXELS,
    )
    with Image.open(out.path) as rendered:
        assert rendered.size == (300, 300)
        assert rendered.mode in ("RGB", "RGBA")
