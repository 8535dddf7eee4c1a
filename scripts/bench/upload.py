"""Upload benchmark: a large file through the API to the S3 backend, beside a direct boto3
upload of the same file to the same endpoint, in one run.

Prints the API server's peak RSS (VmHWM of the `dam serve` process) and both throughputs next to
the budgets in DESIGN.md: peak RSS <= 256 MiB, API throughput >= 0.6x direct boto3.

    python scripts/bench/upload.py --size-mib 1024
    python scripts/bench/upload.py --size-mib 1024 --s3-endpoint http://localhost:9000  # MinIO

Without --s3-endpoint it starts moto's S3 server in a separate process on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

MIB = 1024 * 1024
RSS_BUDGET_MIB = 256
RATIO_BUDGET = 0.6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def write_mp4(path: Path, size: int) -> None:
    """A structurally valid MP4 (ftyp, moov with a 1920x1080 video track, then a big mdat)."""
    ftyp = box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    tkhd = box(
        b"tkhd",
        b"\x00\x00\x00\x03"
        + struct.pack(">IIIII", 0, 0, 1, 0, 1000)
        + b"\x00" * 8
        + struct.pack(">hhhH", 0, 0, 0, 0)
        + matrix
        + struct.pack(">II", 1920 << 16, 1080 << 16),
    )
    hdlr = box(b"hdlr", b"\x00" * 8 + b"vide" + b"\x00" * 12 + b"video\x00")
    mdia = box(b"mdia", hdlr)
    moov = box(b"moov", box(b"trak", tkhd + mdia))
    head = ftyp + moov
    body = size - len(head) - 16
    chunk = os.urandom(MIB)
    with path.open("wb") as out:
        out.write(head)
        out.write(struct.pack(">I", 1) + b"mdat" + struct.pack(">Q", body + 16))
        left = body
        while left > 0:
            out.write(chunk[: min(left, MIB)])
            left -= MIB


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(MIB):
            yield chunk


def multipart_body(path: Path, boundary: str, metadata: str) -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n'
        f'{metadata}\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="bench.mp4"\r\nContent-Type: video/mp4\r\n\r\n'
    ).encode()
    yield from file_chunks(path)
    yield f"\r\n--{boundary}--\r\n".encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--s3-endpoint", default=None, help="use this S3 endpoint (else moto)")
    parser.add_argument("--chunk-mib", type=int, default=16, help="server multipart part size")
    args = parser.parse_args()

    env = dict(os.environ)
    procs: list[subprocess.Popen[bytes]] = []
    workdir = Path(tempfile.mkdtemp(prefix="dam-bench-upload-"))
    try:
        endpoint = args.s3_endpoint
        if endpoint is None:
            port = free_port()
            env.update(
                AWS_ACCESS_KEY_ID="bench",
                AWS_SECRET_ACCESS_KEY="bench-secret",
                AWS_DEFAULT_REGION="us-east-1",
            )
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            endpoint = f"http://127.0.0.1:{port}"
            wait_http(endpoint)
        bucket = f"bench-{secrets.token_hex(4)}"
        admin_key = "dam_" + secrets.token_urlsafe(24)
        api_port = free_port()
        env.update(
            DAM_DATA_DIR=str(workdir / "data"),
            DAM_STORAGE="s3",
            DAM_S3_ENDPOINT_URL=endpoint,
            DAM_S3_BUCKET=bucket,
            DAM_BOOTSTRAP_ADMIN_KEY=admin_key,
            DAM_MAX_UPLOAD_MIB=str(args.size_mib + 64),
            DAM_S3_MULTIPART_CHUNK_MIB=str(args.chunk_mib),
        )
        subprocess.run(["dam", "storage", "init"], env=env, check=True, capture_output=True)
        server = subprocess.Popen(
            ["dam", "serve", "--host", "127.0.0.1", "--port", str(api_port), "--no-worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(server)
        base = f"http://127.0.0.1:{api_port}"
        wait_http(f"{base}/healthz")
        idle_rss = peak_rss_mib(server.pid)

        path = workdir / "bench.mp4"
        write_mp4(path, args.size_mib * MIB)
        size = path.stat().st_size

        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
            region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"),
            config=Config(
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                s3={"addressing_style": "path"},
            ),
        )
        transfer = TransferConfig(
            multipart_threshold=args.chunk_mib * MIB,
            multipart_chunksize=args.chunk_mib * MIB,
            max_concurrency=4,
        )
        started = time.perf_counter()
        s3.upload_file(str(path), bucket, "direct/bench.mp4", Config=transfer)
        direct_s = time.perf_counter() - started

        metadata = json.dumps(
            {
                "title": "Upload benchmark clip",
                "description": "A large synthetic video for the upload benchmark.",
                "terms": {"asset_type": ["video"], "usage_rights": ["owned"], "brand": ["halden"]},
            }
        )
        boundary = secrets.token_hex(16)
        started = time.perf_counter()
        response = httpx.post(
            f"{base}/api/v1/assets",
            headers={
                "Authorization": f"Bearer {admin_key}",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
            content=multipart_body(path, boundary, metadata),
            timeout=None,
        )
        api_s = time.perf_counter() - started
        if response.status_code != 201:
            raise SystemExit(f"upload failed: {response.status_code} {response.text[:500]}")
        rss = peak_rss_mib(server.pid)

        direct_mibs = size / MIB / direct_s
        api_mibs = size / MIB / api_s
        ratio = api_mibs / direct_mibs
        print(
            f"file: {size / MIB:.0f} MiB MP4, S3 endpoint {endpoint}, "
            f"part size {args.chunk_mib} MiB"
        )
        print(f"direct boto3 upload : {direct_s:7.2f} s  {direct_mibs:7.1f} MiB/s")
        print(f"API upload          : {api_s:7.2f} s  {api_mibs:7.1f} MiB/s")
        verdict = "OK" if ratio >= RATIO_BUDGET else "OVER BUDGET"
        print(f"throughput ratio    : {ratio:.2f}   (budget >= {RATIO_BUDGET})  {verdict}")
        verdict = "OK" if rss <= RSS_BUDGET_MIB else "OVER BUDGET"
        print(
            f"server peak RSS     : {rss:.0f} MiB (idle {idle_rss:.0f} MiB)   "
            f"(budget <= {RSS_BUDGET_MIB} MiB)  {verdict}"
        )
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run(["rm", "-rf", str(workdir)], check=False)


if __name__ == "__main__":
    main()
