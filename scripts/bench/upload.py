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


def short_clip() -> bytes:
    """A real 2 s 1920x1080 H.264 MP4 (moov first), encoded here with PyAV's FFmpeg."""
    import av

    # +faststart rewrites the file to put moov first, so it needs a real file.
    out = Path(tempfile.mkdtemp(prefix="dam-bench-clip-")) / "clip.mp4"
    with av.open(str(out), mode="w", format="mp4", options={"movflags": "+faststart"}) as sink:
        stream = sink.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "30"}
        for n in range(50):
            frame = av.VideoFrame(1920, 1080, "yuv420p")
            for plane, value in zip(frame.planes, (16 + 4 * n, 128, 128), strict=True):
                plane.update(bytes([value]) * plane.buffer_size)
            frame.pts = n
            sink.mux(stream.encode(frame))
        sink.mux(stream.encode(None))
    data = out.read_bytes()
    out.unlink()
    out.parent.rmdir()
    return data


def write_mp4(path: Path, size: int) -> None:
    """A decodable MP4 of exactly `size` bytes: the short clip, then one top-level `free` box
    (which every demuxer skips) filled with random bytes, so the upload is accepted as video and
    the bytes do not compress."""
    clip = short_clip()
    pad = size - len(clip)
    if pad < 16:
        raise SystemExit(f"--size-mib is too small for the {len(clip)}-byte clip")
    chunk = os.urandom(MIB)
    with path.open("wb") as out:
        out.write(clip)
        # 64-bit box size: the padding may exceed 4 GiB.
        out.write(struct.pack(">I", 1) + b"free" + struct.pack(">Q", pad))
        left = pad - 16
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
