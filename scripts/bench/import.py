"""Bulk import benchmark: `dam import FOLDER --manifest CSV` of N small distinct JPEGs on the
embedded default (SQLite + filesystem, a fresh data directory), end to end: the command's
wall time including start-up, hashing, inspection, governance, blobs and rows (renditions are
queued for the worker and not waited for).

Prints files/s beside the budget (>= 20 files/s for 1,000 files) and the machine's load;
`--url` runs the same import against a `dam serve` started here, through the API (tus).

    python scripts/bench/import.py --files 1000
    python scripts/bench/import.py --files 1000 --remote
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upload import free_port, wait_http

BUDGET_FILES_PER_S = 20.0


def small_jpeg(n: int) -> bytes:
    """A 320x240 JPEG whose pixels (and so hash and pHash) differ with `n`."""
    image = Image.new("RGB", (320, 240), (n % 251, (n * 7) % 253, (n * 13) % 255))
    draw = ImageDraw.Draw(image)
    for bit in range(16):
        if (n >> bit) & 1:
            x, y = (bit % 4) * 80, (bit // 4) * 60
            draw.rectangle((x, y, x + 79, y + 59), fill=(255 - n % 251, 40, 90))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--remote", action="store_true", help="through dam serve's API")
    parser.add_argument("--jobs", type=int, default=4, help="dam import --jobs")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="dam-bench-import-"))
    folder = workdir / "shoot"
    folder.mkdir()
    manifest = workdir / "shoot.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filename", "title", "description", "tags", "asset_type", "usage_rights"])
        for n in range(args.files):
            name = f"IMG_{n:05d}.jpg"
            (folder / name).write_bytes(small_jpeg(n))
            writer.writerow(
                [
                    name,
                    f"Shoot frame {n}",
                    "A frame of the benchmark shoot, with a description long enough.",
                    "bench;shoot",
                    "graphic",
                    "owned",
                ]
            )
    env = {**os.environ, "DAM_DATA_DIR": str(workdir / "data")}
    subprocess.run(["dam", "db", "upgrade"], env=env, check=True, capture_output=True)
    command = ["dam", "import", str(folder), "--manifest", str(manifest), "--jobs", str(args.jobs)]
    server = None
    if args.remote:
        key = "dam_" + secrets.token_urlsafe(24)
        port = free_port()
        server = subprocess.Popen(
            ["dam", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"],
            env={**env, "DAM_BOOTSTRAP_ADMIN_KEY": key},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_http(f"http://127.0.0.1:{port}/healthz")
        command += ["--url", f"http://127.0.0.1:{port}", "--key", key]
    try:
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    rate = args.files / elapsed
    load = os.getloadavg()
    print(f"{args.files} files, {'remote (tus over HTTP)' if args.remote else 'local'} import")
    print(f"command summary : {summary}")
    print(f"load            : {load[0]:.1f} on {os.cpu_count()} cores")
    verdict = "OK" if rate >= BUDGET_FILES_PER_S else "UNDER BUDGET"
    print(
        f"throughput      : {elapsed:.1f} s, {rate:.1f} files/s "
        f"(budget >= {BUDGET_FILES_PER_S:.0f} files/s)  {verdict}"
    )
    subprocess.run(["rm", "-rf", str(workdir)], check=False)
    if done.returncode != 0:
        raise SystemExit(f"import exited {done.returncode}: {done.stderr[-2000:]}")


if __name__ == "__main__":
    main()
