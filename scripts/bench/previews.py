"""Preview benchmark: upload -> thumbnail available, and the worker's memory while rendering.

Runs `dam serve --no-worker` and a separate `dam worker` (embedded mode: SQLite and filesystem
blobs in a temporary data dir) and measures, in one run:

1. time from the start of an upload to its thumbnail answering 200, p50/p95 over --rounds
   uploads of each of: an SVG (Graphviz), a PDF (first page of a 36-page document), a 30 s
   1080p H.264 video, and a 24 MP JPEG for comparison (budget: p95 <= 5 s for the first three);
2. the worker's peak RSS above its idle RSS while it renders a 36-page PDF and a 4K HEVC clip
   (budget <= 300 MiB): the peak is reset through /proc/PID/clear_refs and read as VmHWM, never
   sampled. Rendering happens in one-job child processes; their own peaks (VmHWM, reported by
   each child) are printed beside it.

Each upload waits until all of the previous upload's renditions (PDF page thumbnails, video
clip) are done, so every figure is one upload on an otherwise idle worker.

    python scripts/bench/previews.py --rounds 10

Needs Debian's ffmpeg (with libx264 and libx265) to make the video inputs; they are cached
under --cache.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pypdfium2 as pdfium
from common import free_port
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "tests" / "media" / "files"
LATENCY_BUDGET_S = 5.0
RSS_BUDGET_MIB = 300


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def ffmpeg(*args: str) -> None:
    if shutil.which("ffmpeg") is None:
        raise SystemExit("this benchmark needs ffmpeg (apt-get install ffmpeg) to make videos")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_inputs(cache: Path) -> dict[str, Path]:
    cache.mkdir(parents=True, exist_ok=True)
    out = {
        "svg": cache / "graphviz.svg",
        "pdf36": cache / "doc-36-pages.pdf",
        "video1080": cache / "h264-1080p-30s.mp4",
        "hevc4k": cache / "hevc-2160p-5s.mp4",
        "jpeg24": cache / "photo-24mp.jpg",
    }
    if not out["svg"].exists():
        shutil.copy(FILES / "graphviz.svg", out["svg"])
    if not out["pdf36"].exists():
        # pdfTeX pages from pypdf's sdist, nine times over: real text, fonts and outlines.
        source = pdfium.PdfDocument(str(FILES / "pypdf-pdflatex-4-pages.pdf"))
        doc = pdfium.PdfDocument.new()
        for _ in range(9):
            doc.import_pages(source)
        doc.save(str(out["pdf36"]))
    if not out["video1080"].exists():
        print("making a 30 s 1080p H.264 clip ...", flush=True)
        ffmpeg(
            *("-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"),
            *("-t", "30", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "8M"),
            *("-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart"),
            str(out["video1080"]),
        )
    if not out["hevc4k"].exists():
        print("making a 5 s 4K HEVC clip (about a minute) ...", flush=True)
        ffmpeg(
            *("-f", "lavfi", "-i", "testsrc2=size=3840x2160:rate=30", "-t", "5"),
            *("-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error"),
            *("-tag:v", "hvc1", "-pix_fmt", "yuv420p"),
            str(out["hevc4k"]),
        )
    if not out["jpeg24"].exists():
        rng = random.Random(7)
        image = Image.effect_noise((6000, 4000), 40).convert("RGB")
        draw = ImageDraw.Draw(image, "RGBA")
        for _ in range(400):
            x, y, r = rng.randrange(6000), rng.randrange(4000), rng.randrange(40, 600)
            fill = (rng.randrange(256), rng.randrange(256), rng.randrange(256), 120)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        image.save(out["jpeg24"], "JPEG", quality=92)
    return out


def variant(kind: str, data: bytes, n: int) -> bytes:
    """The same file with different bytes (uploads of identical bytes are refused as duplicates);
    the change is one readers skip: an XML comment, a PDF comment after %%EOF, a top-level MP4
    `free` box, a JPEG COM segment."""
    tag = f"bench {n} {secrets.token_hex(4)}".encode()
    if kind == "svg":
        return data + b"<!-- " + tag + b" -->\n"
    if kind.startswith("pdf"):
        return data + b"\n%" + tag + b"\n"
    if kind in ("video1080", "hevc4k"):
        return data + struct.pack(">I", 8 + len(tag)) + b"free" + tag
    com = struct.pack(">H", len(tag) + 2)
    return data[:2] + b"\xff\xfe" + com + tag + data[2:]


ASSET_TYPE = {
    "svg": "logo",
    "pdf36": "document",
    "video1080": "video",
    "hevc4k": "video",
    "jpeg24": "photo",
}


def upload(client: httpx.Client, kind: str, data: bytes, name: str) -> str:
    meta = {
        "title": f"Bench {kind}",
        "description": "Preview benchmark upload, safe to delete.",
        "terms": {"asset_type": [ASSET_TYPE[kind]], "usage_rights": ["owned"]},
    }
    response = client.post(
        "/api/v1/assets",
        files={"file": (name, data, "application/octet-stream")},
        data={"metadata": json.dumps(meta)},
    )
    if response.status_code != 201:
        raise SystemExit(f"upload of {name} refused: {response.status_code} {response.text}")
    return str(response.json()["id"])


def wait_thumbnail(client: httpx.Client, asset_id: str, deadline_s: float = 120) -> None:
    url = f"/api/v1/assets/{asset_id}/renditions/thumb"
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if client.get(url).status_code == 200:
            return
        time.sleep(0.02)
    raise SystemExit(f"no thumbnail for {asset_id} within {deadline_s} s")


def wait_all(client: httpx.Client, asset_id: str, deadline_s: float = 300) -> dict[str, Any]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        response = client.get(f"/api/v1/assets/{asset_id}")
        if response.status_code != 200:
            print(f"  (GET asset answered {response.status_code}: {response.text[:200]})")
            time.sleep(0.5)
            continue
        previews = response.json()["current_version"]["previews"]
        if previews["status"] == "failed":
            raise SystemExit(f"rendering {asset_id} failed: {previews['error']}")
        if previews["status"] == "ready" and not previews["pending"]:
            return dict(previews)
        time.sleep(0.1)
    raise SystemExit(f"renditions of {asset_id} not done within {deadline_s} s")


def child_peaks_mib(data_dir: Path) -> dict[str, float]:
    """Asset id -> the largest VmHWM of the render children that drew its renditions."""
    import sqlite3

    with sqlite3.connect(data_dir / "dam.sqlite3") as db:
        rows = db.execute("SELECT asset_id, media FROM asset_versions").fetchall()
    peaks = {}
    for asset_id, media in rows:
        state = json.loads(media).get("previews") or {}
        if state.get("peak_rss_kib"):
            peaks[str(uuid.UUID(str(asset_id)))] = state["peak_rss_kib"] / 1024
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="uploads of each kind")
    parser.add_argument(
        "--kinds", default="svg,pdf36,video1080,jpeg24", help="comma-separated subset to time"
    )
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "dam-bench")
    args = parser.parse_args()

    inputs = make_inputs(args.cache)
    workdir = Path(tempfile.mkdtemp(prefix="dam-bench-previews-"))
    admin_key = "dam_" + secrets.token_urlsafe(24)
    port = free_port()
    env = {
        **os.environ,
        "DAM_DATA_DIR": str(workdir / "data"),
        "DAM_TAXONOMY_DIR": str(ROOT / "taxonomy"),
        "DAM_BOOTSTRAP_ADMIN_KEY": admin_key,
        "DAM_MAX_UPLOAD_MIB": "512",
    }
    for name in ("DAM_DATABASE_URL", "DAM_STORAGE", "DAM_SEARCH"):
        env.pop(name, None)
    dam = [sys.executable, "-m", "dam.cli"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([*dam, "db", "upgrade"], env=env, check=True, capture_output=True)
        procs.append(
            subprocess.Popen(
                [*dam, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        worker = subprocess.Popen(
            [*dam, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        procs.append(worker)
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {admin_key}"},
            timeout=120,
        )
        end = time.monotonic() + 60
        while True:
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > end:
                raise SystemExit("the API did not come up")
            time.sleep(0.2)

        # Warm up: the worker's first render starts the spare render child.
        warm = upload(client, "svg", variant("svg", inputs["svg"].read_bytes(), -1), "warm.svg")
        wait_all(client, warm)

        latencies: dict[str, list[float]] = {}
        uploads: dict[str, list[float]] = {}
        cases = [
            ("svg", "SVG (Graphviz)"),
            ("pdf36", "PDF page 1 of 36"),
            ("video1080", "30 s 1080p H.264"),
            ("jpeg24", "24 MP JPEG"),
        ]
        cases = [c for c in cases if c[0] in args.kinds.split(",")]
        for kind, _label in cases:
            data = inputs[kind].read_bytes()
            for n in range(args.rounds):
                body = variant(kind, data, n)
                started = time.monotonic()
                asset_id = upload(client, kind, body, inputs[kind].name)
                uploads.setdefault(kind, []).append(time.monotonic() - started)
                wait_thumbnail(client, asset_id)
                latencies.setdefault(kind, []).append(time.monotonic() - started)
                wait_all(client, asset_id)
            print(
                f"  {kind}: {' '.join(f'{v:.2f}' for v in latencies[kind])} s "
                f"(of which the upload request: {' '.join(f'{v:.2f}' for v in uploads[kind])})",
                flush=True,
            )

        # Worker memory: idle now; reset its peak, render the heavy pair, read the peak.
        time.sleep(1.5)
        idle_kib = status_kib(worker.pid, "VmRSS")
        Path(f"/proc/{worker.pid}/clear_refs").write_text("5")
        heavy = []
        for kind in ("pdf36", "hevc4k"):
            body = variant(kind, inputs[kind].read_bytes(), 999)
            asset_id = upload(client, kind, body, inputs[kind].name)
            wait_all(client, asset_id)
            heavy.append((kind, asset_id))
        peak_kib = status_kib(worker.pid, "VmHWM")
        peaks = child_peaks_mib(workdir / "data")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"upload -> thumbnail available, {args.rounds} uploads each (worker poll 1 s default):")
    for kind, label in cases:
        values = sorted(latencies[kind])
        p50 = statistics.median(values)
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        budget = (
            ""
            if kind == "jpeg24"
            else f"   budget p95 <= {LATENCY_BUDGET_S:g} s  "
            + ("OK" if p95 <= LATENCY_BUDGET_S else "OVER")
        )
        print(f"  {label:<20} p50 {p50:5.2f} s   p95 {p95:5.2f} s{budget}")
    delta = (peak_kib - idle_kib) / 1024
    verdict = "OK" if delta <= RSS_BUDGET_MIB else "OVER"
    print(
        f"worker RSS: idle {idle_kib / 1024:.0f} MiB, peak {peak_kib / 1024:.0f} MiB while "
        f"rendering a 36-page PDF and a 4K HEVC clip: +{delta:.0f} MiB   "
        f"budget <= {RSS_BUDGET_MIB} MiB  {verdict}"
    )
    for kind, asset_id in heavy:
        print(f"  render child peak (VmHWM) for {kind}: {peaks.get(asset_id, 0):.0f} MiB")
    if peaks:
        print(f"  render child peaks over the whole run: max {max(peaks.values()):.0f} MiB")


if __name__ == "__main__":
    main()
