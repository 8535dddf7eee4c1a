"""Embedded metadata: the cost of reading in the isolated parser child, and of a delivered copy.

    python scripts/bench/embedded.py [--rounds 40]

Times read_embedded() (fork of the warm parser server + exiv2/c2pa/pypdf/PyAV + JSON answer)
for the files of tests/media/corpus, beside the same parsing done in-process (the physical
floor: what isolation costs is the difference), and write_delivery_copy() of the agency photo.
There is no budget of its own: it is part of upload -> searchable p95 <= 300 ms (DESIGN.md),
so the figure to watch is the isolated p95 of a JPEG.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from dam.media.embedded import collect_raw, read_embedded
from dam.media.writeback import DeliveryMetadata, write_delivery_copy

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "media" / "corpus"
FILES = [
    ("agency-photo.jpg", "JPEG"),
    ("BlueSquare.png", "PNG"),
    ("pillow-flower.webp", "WEBP"),
    ("BlueSquare.pdf", "PDF"),
    ("ffmpeg-located-clip.mp4", "MP4"),
    ("c2pa-python-C.jpg", "JPEG"),
]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed(fn, rounds: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    rounds = parser.parse_args().rounds
    read_embedded(CORPUS / FILES[0][0], fmt="JPEG")  # start the parser server
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {rounds} rounds")
    print(f"{'file':28} {'isolated p50':>13} {'p95':>8} {'in-process p50':>15} {'p95':>8}")
    for name, fmt in FILES:
        path = CORPUS / name
        isolated = timed(lambda p=path, f=fmt: read_embedded(p, fmt=f), rounds)
        inline = timed(lambda p=path, f=fmt: collect_raw(str(p), f), rounds)
        print(
            f"{name:28} {statistics.median(isolated):10.1f} ms {percentile(isolated, 0.95):5.1f} ms"
            f" {statistics.median(inline):12.1f} ms {percentile(inline, 0.95):5.1f} ms"
        )
    metadata = DeliveryMetadata(
        asset_id="bench",
        version=1,
        title="Bench",
        copyright="© Bench",
        licence_end=date(2027, 6, 30),
    )
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(rounds))
        copies = timed(
            lambda: write_delivery_copy(
                CORPUS / "agency-photo.jpg",
                Path(tmp) / f"{next(counter)}.jpg",
                fmt="JPEG",
                metadata=metadata,
            ),
            rounds,
        )
    print(
        f"write_delivery_copy agency-photo.jpg: p50 {statistics.median(copies):.1f} ms, "
        f"p95 {percentile(copies, 0.95):.1f} ms (copy, rewrite, read-back, byte scan)"
    )
    print("budget: part of upload -> searchable p95 <= 300 ms (DESIGN.md)")


if __name__ == "__main__":
    main()
