"""Mutated sample files must be refused with a DamError (a 4xx), never crash with another error."""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from dam.errors import DamError
from dam.media import inspect_file, make_rendition
from tests.media import samples

FILES = Path(__file__).parent / "files"


def _copy(name: str, path: Path) -> Path:
    path.write_bytes((FILES / name).read_bytes())
    return path


FACTORIES: dict[str, Callable[[Path], Path]] = {
    "jpeg": lambda p: samples.make_jpeg(
        p, image=samples.scene((120, 90)), icc="srgb", exif_orientation=6, iptc_keywords=["x"]
    ),
    "png": lambda p: samples.make_png(p, image=samples.scene((120, 90))),
    "gif": lambda p: samples.make_gif(p, colors=[(1, 2, 3), (4, 5, 6)]),
    "webp": lambda p: samples.make_webp(p, image=samples.scene((120, 90))),
    "tiff": lambda p: samples.make_tiff(p, compression="tiff_lzw"),
    "avif": samples.make_avif,
    "svg": samples.make_svg,
    "pdf": samples.make_pdf,
    "mp4": lambda p: _copy("ffmpeg-h264-aac-rot90.mp4", p),
    "hevc": lambda p: _copy("ffmpeg-hevc.mp4", p),
    "webm": lambda p: _copy("ffmpeg-vp9-black-start.webm", p),
    "heif": lambda p: _copy("pillow-heif-rgba-29x100.heif", p),
    "pdf-objstm": lambda p: _copy("pypdf-crazyones-objstm.pdf", p),
    "svg-doctype": lambda p: _copy("graphviz.svg", p),
}


def _mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        pos = rng.randrange(len(out))
        roll = rng.random()
        if roll < 0.6:
            out[pos] = rng.randrange(256)
        elif roll < 0.8:
            del out[pos : pos + rng.randint(1, 50)]
        else:
            out[pos:pos] = rng.randbytes(rng.randint(1, 20))
    return bytes(out)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_mutated_files_only_raise_dam_errors(tmp_path: Path, name: str) -> None:
    original = FACTORIES[name](tmp_path / "original").read_bytes()
    rng = random.Random(name)
    target = tmp_path / "mutated"
    for _ in range(60):
        target.write_bytes(_mutate(original, rng))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about corrupt EXIF/TIFF tags
            for run in (inspect_file, lambda p, **kw: make_rendition(p, 64, **kw)):
                try:
                    run(target, max_pixels=10_000_000)
                except DamError as exc:
                    assert 400 <= exc.status_code < 500
