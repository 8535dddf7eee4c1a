"""Resumable upload benchmark: a large MP4 through tus (POST /api/v1/uploads, PATCH in chunks)
to `dam serve` on the embedded default (SQLite + filesystem), with the connection cut in the
middle of a chunk `--interruptions` times; after each cut the client asks HEAD for the offset
and resumes from there.

Prints the bytes re-sent per interruption (budget: at most one chunk) and the server's peak RSS
(VmHWM of the `dam serve` process; budget <= 256 MiB), with the machine's load.

    python scripts/bench/resumable.py --size-mib 4096 --chunk-mib 64 --interruptions 3
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, wait_http
from upload import MIB, RSS_BUDGET_MIB, short_clip, status_mib, write_mp4

TUS = {"Tus-Resumable": "1.0.0"}


class Cut(Exception):
    """The benchmark's own interruption of a chunk in flight."""


def chunk_body(path: Path, offset: int, size: int, cut_after: int | None) -> Iterator[bytes]:
    with path.open("rb") as f:
        f.seek(offset)
        sent = 0
        while sent < size:
            block = f.read(min(MIB, size - sent))
            if cut_after is not None and sent + len(block) > cut_after:
                yield block[: cut_after - sent]
                raise Cut
            sent += len(block)
            yield block


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=4096)
    parser.add_argument("--chunk-mib", type=int, default=64)
    parser.add_argument("--interruptions", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="dam-bench-tus-"))
    admin_key = "dam_" + secrets.token_urlsafe(24)
    port = free_port()
    env = {
        **os.environ,
        "DAM_DATA_DIR": str(workdir / "data"),
        "DAM_BOOTSTRAP_ADMIN_KEY": admin_key,
    }
    server = subprocess.Popen(
        ["dam", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz")
        idle = status_mib(server.pid, "VmHWM")
        path = workdir / "bench.mp4"
        write_mp4(path, args.size_mib * MIB, short_clip())
        size = path.stat().st_size
        chunk = args.chunk_mib * MIB
        metadata = json.dumps(
            {
                "title": "Resumable benchmark clip",
                "description": "A large synthetic video for the resumable upload benchmark.",
                "terms": {"asset_type": ["video"], "usage_rights": ["owned"], "brand": ["halden"]},
            }
        )
        encoded = ",".join(
            f"{k} {base64.b64encode(v.encode()).decode()}"
            for k, v in {
                "filename": "bench.mp4",
                "filetype": "video/mp4",
                "metadata": metadata,
            }.items()
        )
        auth = {"Authorization": f"Bearer {admin_key}"}
        client = httpx.Client(base_url=base, headers=auth, timeout=None)
        created = client.post(
            "/api/v1/uploads",
            headers={**TUS, "Upload-Length": str(size), "Upload-Metadata": encoded},
        )
        if created.status_code != 201:
            raise SystemExit(f"creation refused: {created.status_code} {created.text}")
        location = created.headers["location"]
        # Cut at the middle of evenly spaced chunks.
        chunks = -(-size // chunk)
        cut_chunks = {
            (i + 1) * chunks // (args.interruptions + 1) for i in range(args.interruptions)
        }
        sent_total = 0
        resent: list[int] = []
        offset = 0
        index = 0
        started = time.perf_counter()
        answer: httpx.Response | None = None
        while offset < size:
            length = min(chunk, size - offset)
            cut = length // 2 if index in cut_chunks else None
            if cut is not None:
                cut_chunks.discard(index)
            try:
                answer = client.patch(
                    location,
                    headers={
                        **TUS,
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                        "Content-Length": str(length),
                    },
                    content=chunk_body(path, offset, length, cut),
                )
                sent_total += length
                if answer.status_code != 204:
                    raise SystemExit(f"PATCH refused: {answer.status_code} {answer.text}")
                offset = int(answer.headers["upload-offset"])
                index += 1
            except (Cut, httpx.TransportError):
                sent_total += cut or 0
                client.close()
                client = httpx.Client(base_url=base, headers=auth, timeout=None)
                # The server lets go once it sees the drop; until then the upload is held.
                while True:
                    head = client.head(location, headers=TUS)
                    probe = client.patch(
                        location,
                        headers={
                            **TUS,
                            "Upload-Offset": head.headers["upload-offset"],
                            "Content-Type": "application/offset+octet-stream",
                        },
                        content=b"",
                    )
                    if probe.status_code == 204:
                        break
                    time.sleep(0.1)
                resumed = int(head.headers["upload-offset"])
                resent.append(offset + (cut or 0) - resumed)
                offset = resumed
        elapsed = time.perf_counter() - started
        assert answer is not None
        outcome = answer.headers.get("dam-asset-id") or answer.headers.get("dam-upload-error")
        rss = status_mib(server.pid, "VmHWM")
        load = os.getloadavg()
        print(
            f"file: {size / MIB:.0f} MiB MP4 in {args.chunk_mib} MiB chunks, "
            f"{len(resent)} interruptions; load {load[0]:.1f} on {os.cpu_count()} cores"
        )
        print(f"outcome             : {outcome}")
        print(f"elapsed             : {elapsed:.1f} s, {size / MIB / elapsed:.1f} MiB/s")
        worst = max(resent) if resent else 0
        verdict = "OK" if worst <= chunk else "OVER BUDGET"
        print(
            f"re-sent per cut     : {', '.join(f'{r / MIB:.1f}' for r in resent)} MiB "
            f"(budget <= one chunk, {args.chunk_mib} MiB)  {verdict}"
        )
        print(f"bytes sent in all   : {sent_total / MIB:.0f} MiB for {size / MIB:.0f} MiB")
        verdict = "OK" if rss <= RSS_BUDGET_MIB else "OVER BUDGET"
        print(
            f"server peak RSS     : {rss:.0f} MiB (idle {idle:.0f} MiB)   "
            f"(budget <= {RSS_BUDGET_MIB} MiB)  {verdict}"
        )
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        subprocess.run(["rm", "-rf", str(workdir)], check=False)


if __name__ == "__main__":
    main()
