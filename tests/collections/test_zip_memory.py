"""A 2 GiB collection zips with bounded memory: the real `dam serve` in a child process
streams the zip to this test, which reads it in pieces; the server's peak RSS is reset before
the download (/proc/PID/clear_refs) and read as VmHWM after it, so no spike is missed.

The eight 256 MiB originals are sparse files (no disk space, no time to write them) placed in
the blob store under their keys, with their asset rows written directly: the zip path reads
them like any other blob. Uploading 2 GiB through the API is the upload benchmark's business.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dam.collections import service as collections
from dam.collections.schemas import CollectionIn
from dam.config import Settings
from dam.context import build_context
from dam.db import create_db_engine, session_scope
from dam.models import Asset, AssetVersion, ReviewState, Role
from dam.principal import Principal
from tests.conftest import ROOT, Keys
from tests.support.live import free_port

MIB = 1024 * 1024
FILES = 8
FILE_SIZE = 256 * MIB
# What the download may add to the server's resident memory, whatever the zip's size.
BUDGET_MIB = 64

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to read peak RSS"
)


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def _library(settings: Settings, db: Path) -> tuple[str, str]:
    """FILES sparse originals in one collection; returns (admin key, collection id)."""
    ctx = build_context(settings, engine=create_db_engine(f"sqlite:///{db}"))
    ctx.store.init()
    key = Keys(ctx).create(Role.admin)
    asset_ids = []
    with session_scope(ctx.engine) as session:
        for i in range(FILES):
            digest = f"{i:02x}" * 32
            blob_key = f"blobs/{digest[:2]}/{digest[2:4]}/{digest}"
            path = Path(ctx.store.root) / blob_key  # type: ignore[attr-defined]
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as out:
                out.truncate(FILE_SIZE)
            asset = Asset(title=f"Reel {i}", current_version=1, published_version=1)
            session.add(asset)
            session.flush()
            session.add(
                AssetVersion(
                    asset_id=asset.id,
                    number=1,
                    blob_key=blob_key,
                    sha256=digest,
                    size=FILE_SIZE,
                    mime_type="video/mp4",
                    format="mp4",
                    kind="video",
                    filename=f"reel-{i}.mp4",
                    review_state=ReviewState.approved,
                    title=f"Reel {i}",
                )
            )
            asset_ids.append(asset.id)
        owner = Principal(id=asset_ids[0], name="admin", role=Role.admin)
        collection = collections.create_collection(
            session,
            data=CollectionIn(name="Reels", asset_ids=asset_ids),
            actor=owner,
            now=ctx.now(),
        )
        collection_id = str(collection.id)
    ctx.engine.dispose()
    return key, collection_id


def test_a_2_gib_collection_zips_with_bounded_rss(
    tmp_path: Path, sqlite_template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = data / "dam.sqlite3"
    shutil.copy(sqlite_template, db)
    settings = Settings(data_dir=data, taxonomy_dir=ROOT / "taxonomy", run_worker=False)
    key, collection_id = _library(settings, db)

    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DAM_DATA_DIR": str(data),
        "DAM_DATABASE_URL": f"sqlite:///{db}",
        "DAM_TAXONOMY_DIR": str(ROOT / "taxonomy"),
        "DAM_RUN_WORKER": "false",
    }
    log = tmp_path / "server.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "dam.cli", "serve", "--port", str(port), "--no-worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "dam serve did not come up"
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {key}"}
        # Warm the route (imports, first queries) so the peak measures the stream alone.
        warm = httpx.get(f"{base}/api/v1/collections/{collection_id}", headers=headers)
        assert warm.status_code == 200, warm.text
        Path(f"/proc/{server.pid}/clear_refs").write_text("5")
        before_kib = _status_kib(server.pid, "VmRSS")
        received = 0
        tail = b""
        with httpx.stream(
            "GET", f"{base}/api/v1/collections/{collection_id}/zip", headers=headers, timeout=120
        ) as response:
            assert response.status_code == 200
            assert response.headers["x-dam-files"] == str(FILES)
            for piece in response.iter_bytes(MIB):
                received += len(piece)
                tail = (tail + piece)[-65536:]
        peak_kib = _status_kib(server.pid, "VmHWM")
    except Exception:
        print(log.read_text())
        raise
    finally:
        server.terminate()
        server.wait(timeout=20)
    grew_mib = (peak_kib - before_kib) / 1024
    with capsys.disabled():
        print(
            f"\nzip of {FILES * FILE_SIZE / MIB / 1024:.1f} GiB: {received / MIB:.0f} MiB sent; "
            f"server RSS {before_kib / 1024:.0f} MiB before, peak {peak_kib / 1024:.0f} MiB "
            f"(+{grew_mib:.1f} MiB; budget +{BUDGET_MIB} MiB)"
        )
    assert received > FILES * FILE_SIZE
    # The archive ends with the ZIP64 end records and the classic end record.
    assert b"PK\x06\x06" in tail and b"PK\x06\x07" in tail and b"PK\x05\x06" in tail
    assert grew_mib <= BUDGET_MIB
