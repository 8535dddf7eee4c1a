"""Governance cost on one 24-megapixel JPEG: inspection, the whole default pack (palette check
included), and, for comparison, making its two renditions.

    python scripts/bench/governance.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

from dam.governance import Subject, evaluate, load_pack, normalize_terms
from dam.media import RENDITIONS, inspect_file, make_rendition

ROOT = Path(__file__).resolve().parents[2]
TERMS = {
    "asset_type": ["photo"],
    "usage_rights": ["owned"],
    "brand": ["halden"],
    "channel": ["instagram", "email", "web", "display", "print"],
}


def make_photo(path: Path) -> None:
    """6000 x 4000 with shapes and noise, so the JPEG is realistically large (~8 MB)."""
    rng = random.Random(7)
    image = Image.effect_noise((6000, 4000), 40).convert("RGB")
    draw = ImageDraw.Draw(image, "RGBA")
    for _ in range(400):
        x, y = rng.randrange(6000), rng.randrange(4000)
        r = rng.randrange(40, 600)
        fill = (rng.randrange(256), rng.randrange(256), rng.randrange(256), 120)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    image.save(path, "JPEG", quality=92)


def timed(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    pack = load_pack(ROOT / "taxonomy")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo-24mp.jpg"
        make_photo(path)
        size = path.stat().st_size
        media = inspect_file(path, max_pixels=200_000_000)
        terms = normalize_terms(pack, TERMS)
        subject = Subject(
            media=media,
            size=size,
            filename=path.name,
            title="Ridge run at dawn",
            description="Trail runner on the ridge at sunrise, spring campaign hero.",
            tags=("spring", "running"),
            terms=terms.terms,
        )
        report = evaluate(pack, subject, extra_warnings=terms.warnings)
        applied = sum(1 for r in pack.rules if r.enabled and r.applies_to(terms.terms))
        inspect_ms = timed(lambda: inspect_file(path, max_pixels=200_000_000), args.repeat)
        evaluate_ms = timed(lambda: evaluate(pack, subject), args.repeat * 20)
        rendition_ms = {
            kind: timed(lambda s=px: make_rendition(path, s, max_pixels=200_000_000), args.repeat)
            for kind, px in RENDITIONS.items()
        }
    print(f"file: 6000x4000 JPEG, {size / 1e6:.1f} MB; pack {pack.revision}: {applied} rules apply")
    print(f"inspection (sniff, decode at 1/8, pHash, colours): {inspect_ms:8.2f} ms")
    print(f"governance evaluation, whole pack incl. palette   : {evaluate_ms:8.3f} ms")
    for kind, ms in rendition_ms.items():
        print(f"rendition {kind:<8} ({RENDITIONS[kind]} px WebP)                : {ms:8.2f} ms")
    total = sum(rendition_ms.values())
    print(
        f"check (inspection + evaluation) vs renditions: {inspect_ms + evaluate_ms:.1f} ms vs "
        f"{total:.1f} ms"
    )
    found = ", ".join(f"{v.rule} ({v.severity})" for v in report.violations) or "none"
    print(f"report: {report.to_json()['status']}; violations: {found}")


if __name__ == "__main__":
    main()
