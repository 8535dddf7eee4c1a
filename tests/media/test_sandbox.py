"""The rendering sandbox: a child that runs too long, eats memory or dies is reported, never
hangs or takes the caller with it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dam.errors import Invalid
from dam.media.previews import PreviewOptions, render
from dam.media.sandbox import Limits, RenderFailed, run_isolated


def answer(value: int) -> int:
    return value * 2


def sleeper(seconds: float) -> None:
    time.sleep(seconds)


def hog(mib: int) -> int:
    blocks = [bytearray(1024 * 1024) for _ in range(mib)]
    return len(blocks)


def aborter() -> None:
    os.abort()


def refuser() -> None:
    raise Invalid("nothing to draw here", code="corrupt_image")


def test_result_and_peak_memory_come_back() -> None:
    outcome = run_isolated(answer, {"value": 21}, limits=Limits(seconds=30, memory_mib=256))
    assert outcome.value == 42
    assert outcome.peak_rss_kib > 1024


def test_a_child_past_its_deadline_is_killed() -> None:
    started = time.monotonic()
    with pytest.raises(RenderFailed) as err:
        run_isolated(sleeper, {"seconds": 60}, limits=Limits(seconds=1, memory_mib=256))
    assert time.monotonic() - started < 15
    assert err.value.code == "render_timeout"
    assert err.value.reason == "rendering took longer than 1 s and was stopped"


def test_a_child_over_its_memory_limit_fails_cleanly() -> None:
    with pytest.raises(RenderFailed) as err:
        run_isolated(hog, {"mib": 2048}, limits=Limits(seconds=30, memory_mib=128))
    assert err.value.code == "render_out_of_memory"
    assert err.value.reason == "rendering needed more than 128 MiB of memory"
    # The same allocation within the limit works: the limit, not the machine, refused it.
    assert run_isolated(hog, {"mib": 64}, limits=Limits(seconds=30, memory_mib=256)).value == 64


def test_a_crashing_child_is_reported() -> None:
    with pytest.raises(RenderFailed) as err:
        run_isolated(aborter, {}, limits=Limits(seconds=30, memory_mib=256))
    assert err.value.code == "render_crashed"
    assert err.value.reason.startswith("the renderer crashed (SIGABRT)")


def test_a_media_error_keeps_its_code_and_words() -> None:
    with pytest.raises(RenderFailed) as err:
        run_isolated(refuser, {}, limits=Limits(seconds=30, memory_mib=256))
    assert (err.value.code, err.value.reason) == ("corrupt_image", "nothing to draw here")


def test_an_svg_use_bomb_fails_to_render_without_hanging(tmp_path: Path) -> None:
    # 10^8 rectangles through nested <use>; it passes the safety check (nothing external).
    body = '<defs><rect id="l0" width="1" height="1"/>'
    for level in range(1, 9):
        uses = "".join(f'<use href="#l{level - 1}" x="{j}"/>' for j in range(10))
        body += f'<g id="l{level}">{uses}</g>'
    source = tmp_path / "bomb.svg"
    source.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">{body}</defs>'
        '<use href="#l8"/></svg>'
    )
    out = tmp_path / "out"
    out.mkdir()
    kwargs = {
        "source": str(source),
        "kind": "vector",
        "names": ["thumb"],
        "out_dir": str(out),
        "max_pixels": 10_000_000,
        "options": PreviewOptions(),
    }
    with pytest.raises(RenderFailed) as err:
        run_isolated(render, kwargs, limits=Limits(seconds=20, memory_mib=256))
    assert err.value.code == "render_failed"
    assert "nodes limit reached" in err.value.reason
