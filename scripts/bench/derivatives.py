"""Derivative benchmark: channel derivatives of 24 MP JPEGs through the real server.

Starts `dam serve` (embedded: SQLite, filesystem blobs, in-process worker) on a free port with a
temporary DAM_DATA_DIR, uploads --sources distinct 6000x4000 JPEGs (photo-like: gradients,
shapes, grain), waits for their renditions, then measures over HTTP:

- uncached: GET /api/v1/assets/{id}/derivatives/ig-feed-4x5?format=webp (1080x1350 WebP, the
  governed metadata written) for every source at --focal-points focal points (each focal point
  is a new cache key, so every request renders); p50/p95 against the 400 ms budget, beside
  Debian's `vipsthumbnail` doing the same resize and crop (`-s 1080x1350 -m centre`, WebP Q=82)
  on the same files in the same run;
- cached: --cached requests of one rendered derivative; p95 against 15 ms;
- memory: 8 different uncached derivatives of 24 MP sources requested at once; the server's
  peak (VmHWM after `clear_refs`) against idle + 400 MiB.

    python scripts/bench/derivatives.py
    python scripts/bench/derivatives.py --sources 6 --focal-points 5 --cached 500
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from common import free_port, proc_kib, uptime_line, wait_http
from PIL import Image, ImageDraw, ImageFilter

MIB = 1024 * 1024
UNCACHED_BUDGET_MS = 400
CACHED_BUDGET_MS = 15
RSS_BUDGET_MIB = 400
PRESET = "ig-feed-4x5"


def photo(path: Path, seed: int) -> None:
    """A 6000x4000 JPEG that compresses like a photo (about 6-9 MB at quality 92)."""
    base = Image.linear_gradient("L").resize((6000, 4000))
    grain = Image.effect_noise((6000, 4000), 24 + seed)
    img = Image.merge(
        "RGB",
        (
            base,
            Image.blend(base.rotate(90 * seed, expand=False), grain, 0.3),
            grain.filter(ImageFilter.GaussianBlur(2)),
        ),
    )
    draw = ImageDraw.Draw(img)
    for n in range(40):
        x, y = (seed * 997 + n * 631) % 5600, (seed * 389 + n * 257) % 3600
        draw.ellipse((x, y, x + 400, y + 300), fill=((n * 37) % 256, (n * 91) % 256, seed * 40))
    img.save(path, "JPEG", quality=92)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


METADATA = json.dumps(
    {
        "title": "Ridge at dawn",
        "description": "A 24 MP photo for the derivative benchmark.",
        "tags": ["benchmark"],
        "terms": {
            "asset_type": ["photo"],
            "channel": ["instagram"],
            "usage_rights": ["owned"],
            "brand": ["halden"],
        },
    }
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=4, help="distinct 24 MP JPEGs")
    parser.add_argument("--focal-points", type=int, default=6, help="uncached renders each")
    parser.add_argument("--cached", type=int, default=300, help="cached requests")
    parser.add_argument("--concurrent", type=int, default=8, help="renders at once (memory)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="dam-bench-derivatives-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        files = []
        for n in range(args.sources):
            path = workdir / f"ridge-{n:02d}.jpg"
            photo(path, n + 1)
            files.append(path)
        admin_key = "dam_" + secrets.token_urlsafe(24)
        port = free_port()
        env = dict(os.environ)
        env.update(
            DAM_DATA_DIR=str(workdir / "data"),
            DAM_STORAGE="fs",
            DAM_BOOTSTRAP_ADMIN_KEY=admin_key,
            DAM_RUN_WORKER="true",
            DAM_MAX_UPLOAD_MIB="64",
        )
        env.pop("DAM_DATABASE_URL", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "dam.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz")
        pid = server.pid
        client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {admin_key}"}, timeout=120
        )
        ids = []
        for path in files:
            with path.open("rb") as fh:
                made = client.post(
                    "/api/v1/assets",
                    files={"file": (path.name, fh, "image/jpeg")},
                    data={"metadata": METADATA},
                )
            if made.status_code != 201:
                raise SystemExit(f"upload: {made.status_code} {made.text[:400]}")
            ids.append(made.json()["id"])
        # Renditions first, so the worker is idle while we measure.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            done = [
                "preview"
                in client.get(f"/api/v1/assets/{i}").json()["current_version"]["renditions"]
                for i in ids
            ]
            if all(done):
                break
            time.sleep(0.5)
        # Warm-up: one render of a throw-away focal point, so imports and first-use caches count
        # as idle.
        client.put(f"/api/v1/assets/{ids[0]}/versions/1/focal-point", json={"x": 0.01, "y": 0.01})
        client.get(f"/api/v1/assets/{ids[0]}/derivatives/{PRESET}?format=webp")
        time.sleep(2)
        load_before = uptime_line()

        # --- uncached -------------------------------------------------------------------------
        uncached: list[float] = []
        for k in range(args.focal_points):
            for asset_id in ids:
                point = {"x": 0.2 + 0.6 * k / max(1, args.focal_points - 1), "y": 0.5}
                client.put(f"/api/v1/assets/{asset_id}/versions/1/focal-point", json=point)
                t0 = time.perf_counter()
                response = client.get(f"/api/v1/assets/{asset_id}/derivatives/{PRESET}?format=webp")
                elapsed = (time.perf_counter() - t0) * 1000
                if response.status_code != 200 or response.headers["X-DAM-Cache"] != "miss":
                    raise SystemExit(f"uncached: {response.status_code} {response.text[:300]}")
                uncached.append(elapsed)
        with Image.open(io.BytesIO(response.content)) as img:
            shape = f"{img.format} {img.width}x{img.height}, {len(response.content) // 1024} KiB"

        vips: list[float] = []
        for _ in range(args.focal_points):
            for path in files:
                out = workdir / "vips.webp"
                t0 = time.perf_counter()
                subprocess.run(
                    [
                        "vipsthumbnail",
                        str(path),
                        "-s",
                        "1080x1350",
                        "-m",
                        "centre",
                        "-o",
                        f"{out}[Q=82]",
                    ],
                    check=True,
                )
                vips.append((time.perf_counter() - t0) * 1000)

        # --- cached ---------------------------------------------------------------------------
        url = f"/api/v1/assets/{ids[0]}/derivatives/{PRESET}?format=webp"
        client.get(url)
        cached: list[float] = []
        for _ in range(args.cached):
            t0 = time.perf_counter()
            response = client.get(url)
            cached.append((time.perf_counter() - t0) * 1000)
            if response.headers["X-DAM-Cache"] != "hit":
                raise SystemExit("cached request was not a hit")

        # --- memory: N different derivatives at once -----------------------------------------
        presets = ["ig-feed-4x5", "ig-square", "ig-story-9x16", "web-hero"]
        jobs = []
        for n in range(args.concurrent):
            asset_id = ids[n % len(ids)]
            jobs.append((asset_id, presets[n % len(presets)], ["webp", "jpeg"][n // 4 % 2]))
        for asset_id in ids:
            client.put(
                f"/api/v1/assets/{asset_id}/versions/1/focal-point", json={"x": 0.33, "y": 0.6}
            )
        time.sleep(1)
        idle2_kib = proc_kib(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        go = threading.Barrier(len(jobs))
        statuses: list[int] = []

        def one(job: tuple[str, str, str]) -> None:
            asset_id, preset, fmt = job
            go.wait()
            r = client.get(f"/api/v1/assets/{asset_id}/derivatives/{preset}?format={fmt}")
            statuses.append(r.status_code)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(len(jobs)) as pool:
            list(pool.map(one, jobs))
        burst_s = time.perf_counter() - t0
        peak_kib = proc_kib(pid, "VmHWM")
        load_after = uptime_line()

        p50, p95 = statistics.median(uncached), percentile(uncached, 0.95)
        v50, v95 = statistics.median(vips), percentile(vips, 0.95)
        c50, c95 = statistics.median(cached), percentile(cached, 0.95)
        rise = (peak_kib - idle2_kib) / 1024
        each_kib = sum(p.stat().st_size for p in files) // len(files) // 1024
        print(f"sources    : {args.sources} x 6000x4000 JPEG, {each_kib} KiB each")
        print(f"load before: {load_before}")
        print(f"load after : {load_after}")
        print(f"output     : {shape} ({PRESET}, format=webp)")
        verdict = "OK" if p95 <= UNCACHED_BUDGET_MS else "OVER BUDGET"
        print(
            f"uncached   : n={len(uncached)} p50 {p50:.0f} ms, p95 {p95:.0f} ms "
            f"(budget p95 <= {UNCACHED_BUDGET_MS} ms)  {verdict}"
        )
        print(
            f"vipsthumbnail: n={len(vips)} p50 {v50:.0f} ms, p95 {v95:.0f} ms (same files, "
            f"1080x1350 centre crop, WebP Q=82); server/vips p50 {p50 / v50:.2f}x, "
            f"p95 {p95 / v95:.2f}x"
        )
        verdict = "OK" if c95 <= CACHED_BUDGET_MS else "OVER BUDGET"
        print(
            f"cached     : n={len(cached)} p50 {c50:.1f} ms, p95 {c95:.1f} ms over HTTP "
            f"(budget p95 <= {CACHED_BUDGET_MS} ms)  {verdict}"
        )
        verdict = (
            "OK" if rise <= RSS_BUDGET_MIB and statuses == [200] * len(jobs) else "OVER BUDGET"
        )
        print(
            f"memory     : {len(jobs)} different derivatives at once ({sorted(set(statuses))}, "
            f"{burst_s:.1f} s): peak {peak_kib / 1024:.0f} MiB = idle {idle2_kib / 1024:.0f} "
            f"+ {rise:.0f} MiB (budget <= idle + {RSS_BUDGET_MIB} MiB)  {verdict}"
        )
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        subprocess.run(["rm", "-rf", str(workdir)], check=False)


if __name__ == "__main__":
    main()
