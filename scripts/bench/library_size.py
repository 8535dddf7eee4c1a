"""Per-upload cost against library size: the same small uploads into a 1k and a 100k library on
PostgreSQL, through the HTTP API.

    python scripts/bench/library_size.py [--server postgresql://postgres@127.0.0.1:5432]
        [--sizes 1000,100000] [--uploads 60]

For each size a database `dam_size_<n>` is dropped and made again, filled by
scripts/generate_library.py with perceptual hashes clustered as a real library's are (shoots,
near-duplicates, shared studio looks; one shoot in ten centred near one of the files this bench
uploads, so the uploads have lookalikes to find), and indexed for PostgreSQL search. Then
`dam serve --no-worker` and one `dam worker` run on it (the PostgreSQL deployment) with the
filesystem blob store, and a client sends each of `--uploads` distinct 1600x1200 JPEGs (about
200 KB) twice, as the web form does: `POST /governance/prefill` when the file is picked (it
looks up near-duplicates through the band index) and `POST /assets`, one upload every
`--gap-ms`, so the worker's index updates and renditions run beside them as in use. The same
files go to every size. Five warm-up uploads are not counted.

Budget (issue 22): one small upload's p95 at 100k within 2x the same upload's at 1k.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from PIL import Image
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import free_port, load_average, wait_http
from freshness import jpeg, percentile
from generate_library import Phashes, generate

from dam.config import SearchKind, Settings
from dam.context import build_context
from dam.db import create_db_engine, upgrade
from dam.media.inspect import phash
from dam.search import service

RATIO_BUDGET = 2.0
WARM_UP = 5
METADATA = {
    "description": "A photo for the library-size benchmark.",
    "terms": {"asset_type": ["photo"], "usage_rights": ["owned"]},
}


def recreate(server: str, name: str) -> str:
    admin = create_db_engine(f"{server}/postgres")
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{server}/{name}"


def build_library(url: str, size: int, near: tuple[str, ...], data_dir: Path) -> None:
    settings = Settings(
        database_url=url,
        search=SearchKind.postgres,
        data_dir=data_dir,
        taxonomy_dir=Path("taxonomy"),
    )
    ctx = build_context(settings)
    upgrade(ctx.engine)
    started = time.perf_counter()
    generate(
        ctx.engine,
        pack=ctx.governance.pack,
        assets=size,
        campaigns=max(10, min(1000, size // 100)),
        seed=7,
        phashes=Phashes(7, near=near),
    )
    generated = time.perf_counter() - started
    with Session(ctx.engine) as session:
        service.reindex(session, ctx=ctx)
        session.commit()
    with ctx.engine.connect() as conn:
        conn.execute(sa.text("ANALYZE"))
        bands = conn.execute(sa.text("SELECT count(*) FROM phash_bands")).scalar_one()
    print(
        f"  library: {size} assets generated in {generated:.1f} s, indexed in "
        f"{time.perf_counter() - started - generated:.1f} s; {bands} hash bands"
    )
    ctx.engine.dispose()


def run_size(args: argparse.Namespace, size: int, files: list[bytes], near: tuple[str, ...]):  # type: ignore[no-untyped-def]
    url = recreate(args.server, f"dam_size_{size}")
    data_dir = Path(tempfile.mkdtemp(prefix=f"dam-size-{size}-"))
    print(f"\n== {size} assets ({load_average()})")
    build_library(url, size, near, data_dir)
    env = dict(os.environ)
    admin_key = "dam_" + secrets.token_urlsafe(24)
    env.update(
        DAM_DATABASE_URL=url,
        DAM_SEARCH="postgres",
        DAM_STORAGE="fs",
        DAM_DATA_DIR=str(data_dir),
        DAM_BOOTSTRAP_ADMIN_KEY=admin_key,
    )
    cli = [sys.executable, "-m", "dam.cli"]
    port = free_port()
    log = open(data_dir / "serve.log", "wb")  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [*cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"],
            env=env,
            stdout=log,
            stderr=log,
        )
    ]
    base = f"http://127.0.0.1:{port}"
    prefill_ms: list[float] = []
    upload_ms: list[float] = []
    lookalikes: list[int] = []
    try:
        wait_http(f"{base}/readyz")
        procs.append(subprocess.Popen([*cli, "worker"], env=env, stdout=log, stderr=log))
        headers = {"Authorization": f"Bearer {admin_key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            for n, body in enumerate(files):
                name = f"size-bench-{n:04d}.jpg"
                metadata = json.dumps({**METADATA, "title": f"Library size probe {n}"})
                started = time.perf_counter()
                prefill = client.post(
                    "/api/v1/governance/prefill",
                    files={"file": (name, body, "image/jpeg")},
                    data={"metadata": metadata},
                )
                picked = time.perf_counter()
                created = client.post(
                    "/api/v1/assets",
                    files={"file": (name, body, "image/jpeg")},
                    data={"metadata": metadata},
                )
                done = time.perf_counter()
                if prefill.status_code != 200 or created.status_code != 201:
                    raise SystemExit(
                        f"upload {n}: prefill {prefill.status_code} {prefill.text[:200]}; "
                        f"create {created.status_code} {created.text[:200]}"
                    )
                if n >= WARM_UP:
                    prefill_ms.append((picked - started) * 1000)
                    upload_ms.append((done - picked) * 1000)
                    lookalikes.append(len(prefill.json().get("similar", [])))
                time.sleep(args.gap_ms / 1000)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(
        f"  POST /assets       p50 {percentile(upload_ms, 0.5):6.1f}  p95 "
        f"{percentile(upload_ms, 0.95):6.1f} ms   ({len(upload_ms)} uploads)"
    )
    print(
        f"  POST /prefill      p50 {percentile(prefill_ms, 0.5):6.1f}  p95 "
        f"{percentile(prefill_ms, 0.95):6.1f} ms   (lookalikes found: mean "
        f"{sum(lookalikes) / len(lookalikes):.1f}, max {max(lookalikes)})  [{load_average()}]"
    )
    return upload_ms, prefill_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--uploads", type=int, default=60)
    parser.add_argument("--gap-ms", type=float, default=200.0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    files = [jpeg(900_000 + n) for n in range(args.uploads + WARM_UP)]
    near = tuple(phash(Image.open(io.BytesIO(body))) for body in files)
    print(f"start: {load_average()}  (2 cores)")
    results = {size: run_size(args, size, files, near) for size in sizes}
    small, large = min(sizes), max(sizes)
    for label, index in (("POST /assets", 0), ("prefill + POST", None)):
        if index is None:
            low = [a + b for a, b in zip(*results[small], strict=True)]
            high = [a + b for a, b in zip(*results[large], strict=True)]
        else:
            low, high = results[small][index], results[large][index]
        ratio = percentile(high, 0.95) / percentile(low, 0.95)
        verdict = "OK" if ratio <= RATIO_BUDGET else "OVER BUDGET"
        print(
            f"{label}: p95 at {large} / p95 at {small} = {ratio:.2f}x  "
            f"(budget <= {RATIO_BUDGET:.0f}x)  {verdict}"
        )
    print(f"end: {load_average()}")


if __name__ == "__main__":
    main()
