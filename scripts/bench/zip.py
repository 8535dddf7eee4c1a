"""Zip download benchmark: a collection of large originals streamed as one zip by `dam serve`,
beside a plain download of the same bytes (one original, `GET /assets/{id}/content`) from the
same server, in one run.

Prints the zip's throughput, the plain download's, their ratio, and the server's peak RSS
above its idle RSS during the zip (peak reset through /proc/PID/clear_refs, read as VmHWM),
next to the budgets: RSS growth <= 64 MiB whatever the zip's size, zip throughput >= 0.6x the
plain download (the zip adds CRC-32 and framing, nothing else). The originals are sparse files
(no disk space), so the figures are the stream's own cost, not the disk's.

    python scripts/bench/zip.py --files 8 --file-mib 256      # a 2 GiB collection
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import free_port

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dam.auth import service as auth_service  # noqa: E402
from dam.collections import service as collections  # noqa: E402
from dam.collections.schemas import CollectionIn  # noqa: E402
from dam.config import Settings  # noqa: E402
from dam.context import build_context  # noqa: E402
from dam.db import create_db_engine, session_scope, upgrade  # noqa: E402
from dam.models import Asset, AssetVersion, ReviewState, Role  # noqa: E402
from dam.principal import SYSTEM  # noqa: E402

MIB = 1024 * 1024
RSS_BUDGET_MIB = 64
RATIO_BUDGET = 0.6


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise SystemExit(f"no {field} for {pid}")


def library(data: Path, *, files: int, size: int) -> tuple[str, str, str]:
    """Sparse originals in one collection; returns (admin key, collection id, first asset)."""
    settings = Settings(data_dir=data, taxonomy_dir=ROOT / "taxonomy", run_worker=False)
    engine = create_db_engine(f"sqlite:///{data / 'dam.sqlite3'}")
    upgrade(engine)
    ctx = build_context(settings, engine=engine)
    ctx.store.init()
    ids = []
    with session_scope(engine) as session:
        _, key = auth_service.create_key(
            session, role=Role.admin, name="bench", actor=SYSTEM, now=ctx.now()
        )
        for i in range(files):
            digest = f"{i:02x}" * 32
            blob_key = f"blobs/{digest[:2]}/{digest[2:4]}/{digest}"
            path = data / blob_key
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as out:
                out.truncate(size)
            asset = Asset(title=f"Reel {i}", current_version=1, published_version=1)
            session.add(asset)
            session.flush()
            session.add(
                AssetVersion(
                    asset_id=asset.id,
                    number=1,
                    blob_key=blob_key,
                    sha256=digest,
                    size=size,
                    mime_type="video/mp4",
                    format="mp4",
                    kind="video",
                    filename=f"reel-{i}.mp4",
                    review_state=ReviewState.approved,
                )
            )
            ids.append(asset.id)
        made = collections.create_collection(
            session, data=CollectionIn(name="Reels", asset_ids=ids), actor=SYSTEM, now=ctx.now()
        )
        collection_id = str(made.id)
    engine.dispose()
    return key, collection_id, str(ids[0])


def fetch(url: str, headers: dict[str, str]) -> tuple[int, float]:
    started = time.perf_counter()
    received = 0
    with httpx.stream("GET", url, headers=headers, timeout=600) as response:
        response.raise_for_status()
        for piece in response.iter_bytes(MIB):
            received += len(piece)
    return received, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--file-mib", type=int, default=256)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="dam-bench-zip-"))
    try:
        key, collection_id, first = library(data, files=args.files, size=args.file_mib * MIB)
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DAM_")},
            "PYTHONPATH": str(ROOT),
            "DAM_DATA_DIR": str(data),
            "DAM_DATABASE_URL": f"sqlite:///{data / 'dam.sqlite3'}",
            "DAM_TAXONOMY_DIR": str(ROOT / "taxonomy"),
            "DAM_RUN_WORKER": "false",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "dam.cli", "serve", "--port", str(port), "--no-worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {key}"}
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("dam serve did not come up")
                time.sleep(0.2)
            plain_bytes, plain_s = fetch(f"{base}/api/v1/assets/{first}/content", headers)
            Path(f"/proc/{server.pid}/clear_refs").write_text("5")
            idle_kib = status_kib(server.pid, "VmRSS")
            zip_bytes, zip_s = fetch(f"{base}/api/v1/collections/{collection_id}/zip", headers)
            peak_kib = status_kib(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait(timeout=20)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    plain_rate = plain_bytes / MIB / plain_s
    zip_rate = zip_bytes / MIB / zip_s
    grew = (peak_kib - idle_kib) / 1024
    load = os.getloadavg()[0]
    print(f"collection: {args.files} x {args.file_mib} MiB originals (sparse), load {load:.1f}")
    print(f"plain download: {plain_rate:7.0f} MiB/s ({plain_bytes / MIB:.0f} MiB)")
    print(
        f"zip download:   {zip_rate:7.0f} MiB/s ({zip_bytes / MIB:.0f} MiB); "
        f"ratio {zip_rate / plain_rate:.2f} (budget >= {RATIO_BUDGET})"
    )
    print(
        f"server RSS: {idle_kib / 1024:.0f} MiB idle, peak {peak_kib / 1024:.0f} MiB "
        f"(+{grew:.1f} MiB; budget +{RSS_BUDGET_MIB} MiB)"
    )


if __name__ == "__main__":
    main()
