"""Large rasters are reduced while they are decoded, and decodes are bounded in concurrency.

The streaming path (libvips) is checked against the Pillow path on the same files: real ones
from Pillow's test suite (``tests/media/files``, see the README there) and generated ones. Small
files normally stay with Pillow, so these tests lower ``STREAM_MIN_PIXELS`` to send them through
libvips too.
"""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

import dam.media.decode as decode
import dam.media.inspect as inspect_module
from dam.config import get_settings
from dam.errors import DamError, Invalid
from dam.media import MediaInfo, inspect_file, make_rendition
from tests.media import samples
from tests.media.test_fuzz import FACTORIES, _mutate

FILES = Path(__file__).parent / "files"
LIMIT = 200_000_000
CMYK_PROFILE = Path("/usr/share/color/icc/ghostscript/default_cmyk.icc")


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Send every PNG, TIFF and WebP through libvips; records whether libvips did decode."""
    calls: list[bool] = []
    real = inspect_module.stream_fit

    def spy(*args: Any, **kwargs: Any) -> Image.Image | None:
        result = real(*args, **kwargs)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(decode, "STREAM_MIN_PIXELS", 0)
    monkeypatch.setattr(inspect_module, "stream_fit", spy)
    yield calls


def _both_paths(
    monkeypatch: pytest.MonkeyPatch, run: Callable[[], Any], calls: list[bool]
) -> tuple[Any, Any]:
    """``run()`` through libvips, then through Pillow alone."""
    streamed = run()
    assert calls and all(calls), "libvips did not decode this file"
    monkeypatch.setattr(decode, "STREAM_MIN_PIXELS", 10**15)
    calls.clear()
    pillow = run()
    assert not any(calls)
    monkeypatch.setattr(decode, "STREAM_MIN_PIXELS", 0)
    return streamed, pillow


def _webp(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "WEBP"
    img.load()
    return img


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel and pixel, on 0..255."""
    diff = ImageChops.difference(a, b)
    return sum(ImageStat.Stat(diff).mean) / len(diff.getbands())


def _asymmetric(size: tuple[int, int]) -> Image.Image:
    """Left half red, right half blue, a green band along the top: every orientation differs."""
    width, height = size
    img = Image.new("RGB", size, (0, 0, 255))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, width // 2 - 1, height - 1), fill=(255, 0, 0))
    draw.rectangle((0, 0, width - 1, height // 8), fill=(0, 200, 0))
    return img


def _tagged_png(path: Path, image: Image.Image, orientation: int) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, "PNG", exif=exif)
    return path


def _cmyk_tiff(path: Path) -> Path:
    if not CMYK_PROFILE.exists():
        pytest.skip(f"no CMYK ICC profile at {CMYK_PROFILE} (Debian package ghostscript)")
    img = samples.scene((900, 600), seed=3).convert("CMYK")
    img.save(path, "TIFF", compression="tiff_lzw", icc_profile=CMYK_PROFILE.read_bytes())
    return path


# Files that reach libvips in every mode the streaming path maps; small, so both paths run fast.
CASES: dict[str, Callable[[Path], Path]] = {
    "png-rgb-scene": lambda p: samples.make_png(p, image=samples.scene((2400, 1600), seed=5)),
    "png-rgba-gradient": lambda p: samples.make_png(
        p,
        image=Image.merge(
            "RGBA",
            (
                *samples.scene((1500, 1100), seed=6).split(),
                Image.linear_gradient("L").resize((1500, 1100)),
            ),
        ),
    ),
    "png-blocks-6000": lambda p: samples.make_large_png(p, 6000, 4000, block=250),
    "png-la": lambda p: samples.make_png(p, size=(700, 500), mode="LA", color=(90, 200)),
    "png-palette-transparent": lambda p: _palette_png(p),
    "png-16bit-grey": lambda p: samples.make_png(p, size=(600, 400), mode="I;16", color=40000),
    "png-bilevel": lambda p: samples.scene((800, 600)).convert("1").save(p, "PNG") or p,
    "png-exif-orientation-6": lambda p: _tagged_png(p, _asymmetric((1200, 600)), 6),
    "png-late-exif": lambda p: samples.move_png_chunks_after_pixels(
        _tagged_png(p, _asymmetric((1200, 600)), 8), [b"eXIf"]
    ),
    "tiff-rgb-lzw": lambda p: (
        samples.scene((1800, 1200), seed=7).save(p, "TIFF", compression="tiff_lzw") or p
    ),
    "tiff-grey": lambda p: samples.make_tiff(p, size=(640, 480), mode="L", color=128),
    "tiff-cmyk-icc": _cmyk_tiff,
    "webp-lossy": lambda p: samples.make_webp(p, image=samples.scene((2000, 1300), seed=8)),
    "webp-alpha": lambda p: samples.make_webp(p, size=(900, 700), alpha=True),
    "pillow-exif.png": lambda p: FILES / "exif.png",
    "pillow-xmp_tags_orientation_exiftool.png": lambda p: (
        FILES / "xmp_tags_orientation_exiftool.png"
    ),
    "pillow-hopper_orientation_6.webp": lambda p: FILES / "hopper_orientation_6.webp",
    "pillow-g4_orientation_6.tif": lambda p: FILES / "g4_orientation_6.tif",
    "pillow-tiff_strip_cmyk_jpeg.tif": lambda p: FILES / "tiff_strip_cmyk_jpeg.tif",
    "pillow-16bit.MM.deflate.tif": lambda p: FILES / "16bit.MM.deflate.tif",
}


def _palette_png(path: Path) -> Path:
    img = samples.scene((1000, 700), seed=9).convert("P", palette=Image.Palette.ADAPTIVE)
    img.save(path, "PNG", transparency=0)
    return path


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("size", [256, 1024])
def test_streamed_rendition_matches_the_pillow_path(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    streamed: list[bool],
    name: str,
    size: int,
) -> None:
    path = CASES[name](tmp_path / "source")
    ours, theirs = _both_paths(
        monkeypatch, lambda: _webp(make_rendition(path, size, max_pixels=LIMIT)), streamed
    )
    assert ours.size == theirs.size
    assert ours.mode == theirs.mode
    assert ours.info.get("icc_profile") == theirs.info.get("icc_profile")
    assert _mean_difference(ours, theirs) <= 2.0


@pytest.mark.parametrize("name", sorted(CASES))
def test_streamed_inspection_matches_the_pillow_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: list[bool], name: str
) -> None:
    path = CASES[name](tmp_path / "source")
    ours, theirs = _both_paths(monkeypatch, lambda: inspect_file(path, max_pixels=LIMIT), streamed)
    assert isinstance(ours, MediaInfo) and isinstance(theirs, MediaInfo)
    assert ours.phash is not None and theirs.phash is not None
    assert inspect_module.hash_distance(ours.phash, theirs.phash) <= 4
    for (colour, share), (their_colour, their_share) in zip(
        ours.dominant_colors[:2], theirs.dominant_colors[:2], strict=False
    ):
        assert max(abs(a - b) for a, b in zip(colour, their_colour, strict=True)) <= 8
        assert abs(share - their_share) <= 0.05
    ours_json, theirs_json = ours.to_json(), theirs.to_json()
    for data in (ours_json, theirs_json):
        del data["phash"], data["dominant_colors"]
    assert ours_json == theirs_json


@pytest.mark.parametrize("late", [False, True])
def test_streamed_rendition_is_upright(tmp_path: Path, streamed: list[bool], late: bool) -> None:
    # Stored landscape; orientation 6 means "rotate 90° clockwise to display".
    path = _tagged_png(tmp_path / "o.png", _asymmetric((1200, 600)), 6)
    if late:
        samples.move_png_chunks_after_pixels(path, [b"eXIf"])
    thumb = _webp(make_rendition(path, 256, max_pixels=LIMIT)).convert("RGB")
    assert streamed == [True]
    assert thumb.size == (128, 256)
    top, bottom, right = (thumb.getpixel(xy) for xy in ((60, 40), (60, 220), (124, 128)))
    assert isinstance(top, tuple) and isinstance(bottom, tuple) and isinstance(right, tuple)
    assert top[0] > 200 and top[2] < 60  # the red half is on top
    assert bottom[2] > 200 and bottom[0] < 60
    assert right[1] > 150 and right[0] < 60  # the green top band now runs down the right edge
    assert inspect_file(path, max_pixels=LIMIT).orientation == 6


def test_late_png_xmp_keywords_are_read_without_decoding(
    tmp_path: Path, streamed: list[bool]
) -> None:
    path = tmp_path / "k.png"
    xmp = samples._xmp_packet(["Fjord", "winter"])
    Image.new("RGB", (300, 200), (10, 60, 120)).save(path, "PNG", pnginfo=_itxt_xmp(xmp))
    samples.move_png_chunks_after_pixels(path, [b"iTXt"])
    info = inspect_file(path, max_pixels=LIMIT)
    assert streamed == [True]
    assert info.keywords == ["Fjord", "winter"]


def _itxt_xmp(xmp: bytes) -> Any:
    from PIL import PngImagePlugin

    pnginfo = PngImagePlugin.PngInfo()
    pnginfo.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"), zip=True)
    return pnginfo


def test_cmyk_is_converted_through_its_profile(tmp_path: Path, streamed: list[bool]) -> None:
    path = _cmyk_tiff(tmp_path / "c.tif")
    thumb = _webp(make_rendition(path, 256, max_pixels=LIMIT))
    assert streamed == [True]
    assert thumb.mode == "RGB"
    assert thumb.info.get("icc_profile") is None  # sRGB pixels, the press profile is dropped
    source = Image.open(path).convert("RGB").resize(thumb.size)  # naive: no profile
    assert _mean_difference(thumb, source) > 5.0  # the profile made a visible difference


@pytest.mark.parametrize("fmt", ["png", "tiff", "webp"])
def test_truncated_file_on_the_streaming_path_is_corrupt_image(
    tmp_path: Path, streamed: list[bool], fmt: str
) -> None:
    image = samples.scene((900, 700), seed=2)
    path = tmp_path / f"t.{fmt}"
    image.save(path, fmt.upper(), **({"compression": "tiff_lzw"} if fmt == "tiff" else {}))
    samples.truncate(path, path.stat().st_size // 2)
    for run in (inspect_file, lambda p, **kw: make_rendition(p, 256, **kw)):
        with pytest.raises(Invalid) as err:
            run(path, max_pixels=LIMIT)
        assert err.value.status_code == 422
        assert err.value.code == "corrupt_image"
        assert err.value.detail.startswith(f"{fmt.upper()} image is truncated or corrupt: ")


@pytest.mark.parametrize("name", ["png", "tiff", "webp"])
def test_mutated_files_on_the_streaming_path_only_raise_dam_errors(
    tmp_path: Path, streamed: list[bool], name: str
) -> None:
    original = FACTORIES[name](tmp_path / "original").read_bytes()
    rng = random.Random(f"stream-{name}")
    target = tmp_path / "mutated"
    for _ in range(60):
        target.write_bytes(_mutate(original, rng))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for run in (inspect_file, lambda p, **kw: make_rendition(p, 64, **kw)):
                try:
                    run(target, max_pixels=10_000_000)
                except DamError as exc:
                    assert 400 <= exc.status_code < 500


@pytest.mark.parametrize("limit", [1, 2])
def test_decodes_never_exceed_the_configured_concurrency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: list[bool], limit: int
) -> None:
    monkeypatch.setattr(decode, "_slots", decode._Slots(limit))
    path = samples.make_png(tmp_path / "c.png", image=samples.scene((1600, 1200)))
    lock = threading.Lock()
    running = 0
    peak = 0
    real = decode.stream_fit

    def counting(*args: Any, **kwargs: Any) -> Image.Image | None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(inspect_module, "stream_fit", counting)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                inspect_file(path, max_pixels=LIMIT)
                make_rendition(path, 256, max_pixels=LIMIT)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(limit + 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert 1 <= peak <= limit


def test_decode_concurrency_comes_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAM_MAX_CONCURRENT_DECODES", "3")
    monkeypatch.setattr(decode, "_slots", None)
    get_settings.cache_clear()
    try:
        assert decode._get_slots().limit == 3
    finally:
        get_settings.cache_clear()


# --- memory ----------------------------------------------------------------------------------

# Runs in a fresh interpreter: resets the peak (VmHWM) once the imports are done, then inspects
# the file and makes both renditions, and prints the peak's rise above the resident set.
_CHILD = """
import json, sys
from pathlib import Path
from dam.media import RENDITIONS, inspect_file, make_rendition

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")
before = status("VmRSS")
path = Path(sys.argv[1])
info = inspect_file(path, max_pixels=200_000_000)
sizes = [make_rendition(path, size, max_pixels=200_000_000) for size in RENDITIONS.values()]
print(json.dumps({"rise": status("VmHWM") - before, "width": info.width, "phash": info.phash}))
"""

# Pillow holds 100 MP of RGB (286 MiB) and more while converting: the full decode rose by about
# 420 MiB here; the streaming decode by under 100 MiB.
MEMORY_BOUND_MIB = 200


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("factory", [samples.make_large_png, samples.make_large_tiff])
def test_large_raster_is_inspected_and_rendered_in_bounded_memory(
    tmp_path: Path, factory: Callable[[Path, int, int], Path]
) -> None:
    path = factory(tmp_path / "large", 10_000, 10_000)
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["width"] == 10_000 and len(report["phash"]) == 16
    rise_mib = report["rise"] / (1024 * 1024)
    assert rise_mib <= MEMORY_BOUND_MIB, f"peak RSS rose by {rise_mib:.0f} MiB"


@pytest.mark.parametrize("transparency", [False, True])
def test_large_palette_image_is_shrunk_before_conversion_with_the_same_picture(
    tmp_path: Path, transparency: bool
) -> None:
    # Palette images stay with Pillow; above 4x the rendition size they are shrunk (nearest,
    # as Pillow resizes palettes anyway) before the RGB(A) conversion quadruples them.
    scene = samples.scene((1800, 1200), seed=11)
    path = tmp_path / "p.gif"
    palette = scene.convert("P", palette=Image.Palette.ADAPTIVE)
    palette.save(path, "GIF", **({"transparency": 0} if transparency else {}))
    thumb = _webp(make_rendition(path, 256, max_pixels=LIMIT))
    with Image.open(path) as source:
        full = source.convert("RGBA" if transparency else "RGB")
    # What converting first and resizing after (the previous way) gives, encoded alike.
    encoded = io.BytesIO()
    full.resize(thumb.size, Image.Resampling.LANCZOS, reducing_gap=2.0).save(
        encoded, "WEBP", quality=82, method=4
    )
    reference = _webp(encoded.getvalue())
    assert thumb.size == (256, 171)
    assert thumb.mode == reference.mode
    assert _mean_difference(thumb, reference) <= 2.5
