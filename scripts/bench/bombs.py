"""Decoding-bomb benchmark: concurrent uploads of huge-but-small PNGs through the real server.

Starts `dam serve` (embedded: SQLite, filesystem blobs, in-process worker) on a free port with a
temporary DAM_DATA_DIR, warms it up with one small upload, then uploads N distinct 14000x14000
RGB PNGs (196 MP print files of a few hundred KB each) at once, waits until every one has its
thumbnail and preview, and reads the server's memory from /proc:

- peak: the server's peak is reset (`echo 5 > /proc/PID/clear_refs`) just before the uploads and
  read as VmHWM after the renditions exist, so no spike is missed by sampling;
- after: VmRSS once the work is done and the server has been idle for --settle seconds.

Budgets (DESIGN.md, issue 13): peak <= 400 MiB above idle for 4 concurrent uploads, every
upload 201 and stored with renditions, RSS back within 50 MiB of idle afterwards.

    python scripts/bench/bombs.py                 # 4 x 14000x14000
    python scripts/bench/bombs.py --count 8 --side 12000
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import struct
import subprocess
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from common import free_port, proc_kib, uptime_line, wait_http
from PIL import Image, ImageDraw

MIB = 1024 * 1024
PEAK_BUDGET_MIB = 400
AFTER_BUDGET_MIB = 50
RENDITIONS = ("preview", "thumb")


def chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def write_png(path: Path, side: int, seed: int, *, block: int = 700) -> None:
    """A side x side RGB PNG of colour blocks at 300 DPI, written row by row.

    Rows inside a band of blocks repeat, so with the "Up" filter they are zeros and the file
    stays small; ``seed`` changes every colour, so each file is a different picture.
    """

    def colour(bx: int, by: int) -> bytes:
        return bytes(
            (
                (bx * 53 + by * 17 + seed * 101) % 256,
                (bx * 29 + by * 71 + seed * 37) % 256,
                (bx * 97 + by * 13 + seed * 59) % 256,
            )
        )

    deflate = zlib.compressobj(6)
    repeat = b"\x02" + bytes(side * 3)
    per_metre = round(300 / 0.0254)
    with path.open("wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n")
        out.write(chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)))
        out.write(chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)))
        pending = bytearray()
        for y in range(side):
            if y % block == 0:
                by = y // block
                row = b"".join(
                    colour(x // block, by) * min(block, side - x) for x in range(0, side, block)
                )
                pending += deflate.compress(b"\x00" + row)
            else:
                pending += deflate.compress(repeat)
            if len(pending) >= 1 << 16:
                out.write(chunk(b"IDAT", bytes(pending)))
                pending.clear()
        pending += deflate.flush()
        out.write(chunk(b"IDAT", bytes(pending)) + chunk(b"IEND", b""))


def write_small_png(path: Path) -> None:
    """A 1600x1200 photo-sized PNG for the warm-up upload."""
    img = Image.linear_gradient("L").resize((1600, 1200)).convert("RGB")
    ImageDraw.Draw(img).ellipse((300, 200, 1300, 1000), fill=(200, 90, 30))
    img.save(path, "PNG")


def mib(kib: int) -> float:
    return kib / 1024


def metadata(title: str) -> str:
    return json.dumps(
        {
            "title": title,
            "description": "A 1.2 m square poster master at 300 DPI for the decoding benchmark.",
            "tags": ["benchmark", "poster"],
            "terms": {
                "asset_type": ["photo"],
                "channel": ["print"],
                "usage_rights": ["owned"],
                "brand": ["halden"],
            },
        }
    )


def upload(client: httpx.Client, path: Path, title: str) -> httpx.Response:
    with path.open("rb") as fh:
        return client.post(
            "/api/v1/assets",
            files={"file": (path.name, fh, "image/png")},
            data={"metadata": metadata(title)},
            timeout=600,
        )


def wait_renditions(client: httpx.Client, asset_ids: list[str], timeout: float) -> float:
    started = time.monotonic()
    pending = set(asset_ids)
    while pending and time.monotonic() - started < timeout:
        for asset_id in sorted(pending):
            body = client.get(f"/api/v1/assets/{asset_id}").json()
            if tuple(body["current_version"]["renditions"]) == RENDITIONS:
                pending.discard(asset_id)
        if pending:
            time.sleep(0.25)
    if pending:
        raise SystemExit(f"renditions missing after {timeout:.0f} s for {sorted(pending)}")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=4, help="concurrent uploads")
    parser.add_argument("--side", type=int, default=14000, help="PNG width and height")
    parser.add_argument("--settle", type=float, default=5.0, help="idle seconds before 'after'")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds for renditions")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="dam-bench-bombs-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        started = time.perf_counter()
        files = []
        for n in range(args.count):
            path = workdir / f"HAL_poster_{n:02d}.png"
            write_png(path, args.side, seed=n + 1)
            files.append(path)
        small = workdir / "warmup.png"
        write_small_png(small)
        made_s = time.perf_counter() - started

        admin_key = "dam_" + secrets.token_urlsafe(24)
        port = free_port()
        env = dict(os.environ)
        env.update(
            DAM_DATA_DIR=str(workdir / "data"),
            DAM_STORAGE="fs",
            DAM_BOOTSTRAP_ADMIN_KEY=admin_key,
            DAM_RUN_WORKER="true",
        )
        env.pop("DAM_DATABASE_URL", None)
        server = subprocess.Popen(
            ["dam", "serve", "--host", "127.0.0.1", "--port", str(port), "--worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz")
        pid = server.pid
        startup_kib = proc_kib(pid, "VmRSS")
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin_key}"})

        # One small upload first, so lazily imported code and first-use caches count as idle.
        warm = upload(client, small, "Warm-up tile")
        if warm.status_code != 201:
            raise SystemExit(f"warm-up upload: {warm.status_code} {warm.text[:500]}")
        wait_renditions(client, [warm.json()["id"]], args.timeout)
        time.sleep(args.settle)
        idle_kib = proc_kib(pid, "VmRSS")
        load_before = uptime_line()

        Path(f"/proc/{pid}/clear_refs").write_text("5")
        responses: list[httpx.Response] = []
        lock = threading.Lock()
        go = threading.Barrier(args.count)

        def one(index: int) -> None:
            go.wait()
            response = upload(client, files[index], f"Poster master {index + 1}")
            with lock:
                responses.append(response)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.count) as pool:
            list(pool.map(one, range(args.count)))
        upload_s = time.perf_counter() - t0
        statuses = sorted(r.status_code for r in responses)
        failed = [r for r in responses if r.status_code != 201]
        for response in failed:
            print(f"upload refused: {response.status_code} {response.text[:400]}")
        ids = [r.json()["id"] for r in responses if r.status_code == 201]
        compliance = sorted(
            {
                r.json()["current_version"]["compliance"]["status"]
                for r in responses
                if r.status_code == 201
            }
        )
        rendition_s = wait_renditions(client, ids, args.timeout)
        peak_kib = proc_kib(pid, "VmHWM")
        time.sleep(args.settle)
        after_kib = proc_kib(pid, "VmRSS")
        load_after = uptime_line()
        thumbs_ok = all(
            client.get(f"/api/v1/assets/{i}/renditions/{kind}").status_code == 200
            for i in ids
            for kind in RENDITIONS
        )

        rise = mib(peak_kib - idle_kib)
        left = mib(after_kib - idle_kib)
        size_kib = sum(p.stat().st_size for p in files) / 1024 / len(files)
        print(
            f"files: {args.count} x {args.side}x{args.side} RGB PNG "
            f"({args.side * args.side / 1e6:.0f} MP, {size_kib:.0f} KiB each, "
            f"made in {made_s:.1f} s)"
        )
        print(f"load before: {load_before}")
        print(f"load after : {load_after}")
        print(
            f"server RSS : start-up {mib(startup_kib):.0f} MiB, idle after warm-up "
            f"{mib(idle_kib):.0f} MiB"
        )
        print(
            f"uploads    : {statuses} in {upload_s:.1f} s (compliance {compliance}); renditions "
            f"{'present' if thumbs_ok and len(ids) == args.count else 'MISSING'} "
            f"{rendition_s:.1f} s after the last response"
        )
        ok = not failed and thumbs_ok and len(ids) == args.count
        verdict = "OK" if rise <= PEAK_BUDGET_MIB and ok else "OVER BUDGET"
        print(
            f"peak RSS   : {mib(peak_kib):.0f} MiB = idle + {rise:.0f} MiB   "
            f"(budget <= idle + {PEAK_BUDGET_MIB} MiB)  {verdict}"
        )
        verdict = "OK" if left <= AFTER_BUDGET_MIB else "OVER BUDGET"
        print(
            f"after      : {mib(after_kib):.0f} MiB = idle {left:+.0f} MiB "
            f"after {args.settle:.0f} s idle "
            f"(budget <= idle + {AFTER_BUDGET_MIB} MiB)  {verdict}"
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
