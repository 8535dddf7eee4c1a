"""Upload benchmark: large files through the API beside a peer that receives the same bytes in
the same run, one upload and four at once, with the server's peak RSS.

    python scripts/bench/upload.py                          # embedded: filesystem store
    python scripts/bench/upload.py --storage s3             # S3 (moto started here)
    python scripts/bench/upload.py --storage s3 --s3-endpoint http://localhost:9000  # MinIO

Embedded (`--storage fs`), the peers are HTTP sinks on the same machine that write the request
body to a file on the same disk and fsync it, as the DAM must:
- "plain sink": a socket server reading the body into one buffer (no HTTP framework);
- "uvicorn sink": a bare ASGI app on uvicorn with the same HTTP parser as `dam serve`.
With S3 the peer is a direct boto3 upload of the same file to the same endpoint.
Beside them (embedded), what the disk alone gives for the same sizes, with no HTTP at all: the
bytes written from memory by threads of this process and synced, once with the writeback started
while writing (every 8 MiB, as the DAM does) and once synced only at the end (as the sinks do).
A writer that already keeps the disk busy while it receives cannot gain more from four uploads at
once than the first of those lines does.

Every request is sent by the same client: headers and the multipart envelope with `sendall`, the
file with `sendfile`, so the client costs almost no CPU on a machine it shares with the server.
The server's peak RSS is reset before each run (`/proc/PID/clear_refs`, "5") and read as VmHWM
after it, so the figure is the upload's peak, not the start-up's. CPU seconds per GiB received are
read from `/proc` for each server (its main thread, which is the event loop of uvicorn and of the
DAM and only accepts connections in the plain sink, apart from all its other threads, those that
ended included, and its child processes) and for the client threads.

Budgets (DESIGN.md, issue 22): API >= 0.6x the plain sink (S3: direct boto3), four concurrent
uploads >= 1.5x one upload's throughput, server peak RSS <= 256 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import free_port, load_average, proc_kib, stat_seconds, wait_http

MIB = 1024 * 1024
RSS_BUDGET_MIB = 256
RATIO_BUDGET = 0.6
CONCURRENCY_BUDGET = 1.5
CONCURRENT = 4


# --- the files ---------------------------------------------------------------------------------


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


def write_mp4(path: Path, size: int, clip: bytes) -> None:
    """A decodable MP4 of exactly `size` bytes: the short clip, then one top-level `free` box
    (which every demuxer skips) filled with random bytes, so the upload is accepted as video,
    every file is distinct and the bytes do not compress."""
    pad = size - len(clip)
    if pad < 16:
        raise SystemExit(f"the file size is too small for the {len(clip)}-byte clip")
    with path.open("wb") as out:
        out.write(clip)
        # 64-bit box size: the padding may exceed 4 GiB.
        out.write(struct.pack(">I", 1) + b"free" + struct.pack(">Q", pad))
        left = pad - 16
        while left > 0:
            out.write(os.urandom(min(left, 4 * MIB)))
            left -= 4 * MIB


# --- the client ---------------------------------------------------------------------------------


@dataclass
class Target:
    port: int
    path: str
    headers: dict[str, str]


METADATA = json.dumps(
    {
        "title": "Upload benchmark clip",
        "description": "A large synthetic video for the upload benchmark.",
        "terms": {"asset_type": ["video"], "usage_rights": ["owned"], "brand": ["halden"]},
    }
)


def post_file(target: Target, file: Path) -> tuple[int, bytes]:
    """POST `file` as the 'file' part of a multipart form (with the metadata part), sent with
    sendfile; returns the status and the response body."""
    boundary = secrets.token_hex(16)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n'
        f'{METADATA}\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{file.name}"\r\nContent-Type: video/mp4\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = file.stat().st_size
    headers = {
        "Host": f"127.0.0.1:{target.port}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + size + len(tail)),
        "Connection": "close",
        **target.headers,
    }
    request = f"POST {target.path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    with socket.create_connection(("127.0.0.1", target.port)) as sock, file.open("rb") as fh:
        sock.sendall(request.encode() + b"\r\n" + head)
        offset = 0
        while offset < size:
            sent = os.sendfile(sock.fileno(), fh.fileno(), offset, size - offset)
            if sent == 0:
                raise SystemExit("the server closed the connection during the upload")
            offset += sent
        sock.sendall(tail)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    status_line, _, rest = response.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), payload


def timed_uploads(target: Target, files: list[Path], *, expect: int) -> float:
    """Upload `files` at once, one connection each; returns the wall time."""
    errors: list[str] = []

    def one(file: Path) -> None:
        status, payload = post_file(target, file)
        if status != expect:
            errors.append(f"{status} {payload[:300]!r}")

    threads = [threading.Thread(target=one, args=(f,)) for f in files]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"upload failed: {errors[0]}")
    return elapsed


# --- the peers ----------------------------------------------------------------------------------


def run_plain_sink(port: int, directory: Path) -> None:
    """A socket server that reads each request body into one reused buffer, writes it to a file
    on the given directory's disk, fsyncs it, answers 201 and deletes the file."""
    listener = socket.create_server(("127.0.0.1", port), backlog=64)

    def serve(conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, first = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            fd, name_ = tempfile.mkstemp(dir=directory, prefix="sink-")
            try:
                os.write(fd, first)
                left = length - len(first)
                buf = bytearray(MIB)
                view = memoryview(buf)
                while left > 0:
                    n = conn.recv_into(view, min(left, MIB))
                    if not n:
                        return
                    os.write(fd, view[:n])
                    left -= n
                os.fsync(fd)
            finally:
                os.close(fd)
                os.unlink(name_)
            conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def run_uvicorn_sink(port: int, directory: Path) -> None:
    """A bare ASGI app on uvicorn (httptools, as `dam serve`): body chunks written to a file by
    a thread, fsync, 201."""
    import asyncio

    import uvicorn

    async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        loop = asyncio.get_running_loop()
        fd, name_ = tempfile.mkstemp(dir=directory, prefix="sink-")
        try:
            more = True
            while more:
                message = await receive()
                body = message.get("body", b"")
                if body:
                    await loop.run_in_executor(None, os.write, fd, body)
                more = message.get("more_body", False)
            await loop.run_in_executor(None, os.fsync, fd)
        finally:
            os.close(fd)
            os.unlink(name_)
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", http="httptools")


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port}")


# --- peak RSS -------------------------------------------------------------------------------------


def reset_peak(pid: int) -> None:
    # "5" resets the peak resident set size (VmHWM) to the current RSS (Linux >= 4.0).
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def status_mib(pid: int, field: str) -> float:
    """A `/proc/PID/status` figure (VmRSS, VmHWM) in MiB."""
    return proc_kib(pid, field) / 1024


# --- CPU time -------------------------------------------------------------------------------------


def _stat_seconds(path: Path, *, children: bool = False) -> float:
    """`stat_seconds`, 0 for a thread or child that has gone meanwhile."""
    try:
        return stat_seconds(path, children=children)
    except OSError:
        return 0.0


def _child_pids(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


@dataclass
class Cpu:
    main: float = 0.0  # the server's main thread: uvicorn's event loop
    others: float = 0.0  # every other thread of the server, those that ended included
    children: float = 0.0  # the server's child processes (the DAM's metadata parser)
    client: float = 0.0  # this process: the client threads sending the bodies

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.main - other.main,
            self.others - other.others,
            self.children - other.children,
            self.client - other.client,
        )

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.main + other.main,
            self.others + other.others,
            self.children + other.children,
            self.client + other.client,
        )


def cpu_now(pid: int | None) -> Cpu:
    times = os.times()
    cpu = Cpu(client=times.user + times.system)
    if pid is None:
        return cpu
    cpu.main = _stat_seconds(Path(f"/proc/{pid}/task/{pid}/stat"))
    cpu.others = _stat_seconds(Path(f"/proc/{pid}/stat")) - cpu.main
    todo = _child_pids(pid)
    while todo:
        child = todo.pop()
        cpu.children += _stat_seconds(Path(f"/proc/{child}/stat"), children=True)
        todo += _child_pids(child)
    return cpu


# --- the disk alone -------------------------------------------------------------------------------

WRITEBACK_EVERY = 8 * MIB


def _sync_file_range() -> Any:
    import ctypes

    fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    return fn


def disk_alone(
    directory: Path, big: list[Path], small: list[list[Path]], *, early_writeback: bool
) -> Figures:
    """The same sizes written from memory to files in `directory` and synced, by one thread per
    file, with no HTTP: the disk's own throughput for one file and for four at once."""
    source = memoryview(os.urandom(64 * MIB))
    start_writeback = _sync_file_range() if early_writeback else None

    def write(size: int, name: str) -> None:
        fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            written = flushed = 0
            while written < size:
                offset = written % len(source)
                written += os.write(fd, source[offset : offset + min(MIB, size - written)])
                if start_writeback is not None and written - flushed >= WRITEBACK_EVERY:
                    start_writeback(fd, flushed, written - flushed, 2)  # SYNC_FILE_RANGE_WRITE
                    flushed = written
            os.fdatasync(fd)
        finally:
            os.close(fd)
            (directory / name).unlink()

    def timed(sizes: list[int]) -> float:
        threads = [
            threading.Thread(target=write, args=(size, f"disk-{n}")) for n, size in enumerate(sizes)
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(sizes) / MIB / (time.perf_counter() - started)

    figures = Figures([], [])
    for n, file in enumerate(big):
        figures.single.append(timed([file.stat().st_size]))
        figures.concurrent.append(timed([f.stat().st_size for f in small[n]]))
    return figures


# --- the run --------------------------------------------------------------------------------------


@dataclass
class Figures:
    single: list[float]  # MiB/s per round
    concurrent: list[float]  # aggregate MiB/s per round
    # CPU seconds over the rounds, and the GiB they received, for one upload and for four at once
    single_cpu: Cpu = field(default_factory=Cpu)
    concurrent_cpu: Cpu = field(default_factory=Cpu)
    single_gib: float = 0.0
    concurrent_gib: float = 0.0


def measure(
    target: Target,
    big: list[Path],
    small: list[list[Path]],
    *,
    warm_up: Path,
    expect: int,
    pid: int | None,
) -> tuple[Figures, float]:
    figures = Figures([], [])
    peak = 0.0
    # A first small upload, not counted: what a server loads on its first request.
    timed_uploads(target, [warm_up], expect=expect)
    for n, file in enumerate(big):
        if pid is not None:
            reset_peak(pid)
        before = cpu_now(pid)
        seconds = timed_uploads(target, [file], expect=expect)
        figures.single_cpu += cpu_now(pid) - before
        figures.single_gib += file.stat().st_size / 1024 / MIB
        figures.single.append(file.stat().st_size / MIB / seconds)
        files = small[n]
        before = cpu_now(pid)
        seconds = timed_uploads(target, files, expect=expect)
        figures.concurrent_cpu += cpu_now(pid) - before
        figures.concurrent_gib += sum(f.stat().st_size for f in files) / 1024 / MIB
        figures.concurrent.append(sum(f.stat().st_size for f in files) / MIB / seconds)
        if pid is not None:
            peak = max(peak, status_mib(pid, "VmHWM"))
    return figures, peak


def verdict(ok: bool) -> str:
    return "OK" if ok else "OVER BUDGET"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="the single upload's size")
    parser.add_argument(
        "--concurrent-mib", type=int, default=256, help=f"size of each of the {CONCURRENT} files"
    )
    parser.add_argument("--rounds", type=int, default=2, help="alternating peer/API rounds")
    parser.add_argument("--storage", choices=["fs", "s3"], default="fs")
    parser.add_argument("--s3-endpoint", default=None, help="use this S3 endpoint (else moto)")
    parser.add_argument("--chunk-mib", type=int, default=16, help="server multipart part size")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp dir")
    # Internal: the peers run as their own processes.
    parser.add_argument("--plain-sink", nargs=2, metavar=("PORT", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--uvicorn-sink", nargs=2, metavar=("PORT", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_sink:
        run_plain_sink(int(args.plain_sink[0]), Path(args.plain_sink[1]))
        return
    if args.uvicorn_sink:
        run_uvicorn_sink(int(args.uvicorn_sink[0]), Path(args.uvicorn_sink[1]))
        return

    print(f"start: {load_average()}  ({os.cpu_count()} cores)")
    env = dict(os.environ)
    procs: list[subprocess.Popen[bytes]] = []
    workdir = Path(tempfile.mkdtemp(prefix="dam-bench-upload-", dir=args.workdir))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    try:
        clip = short_clip()
        inputs = workdir / "inputs"
        inputs.mkdir()
        big = [inputs / f"big-{r}.mp4" for r in range(args.rounds)]
        small = [
            [inputs / f"small-{r}-{i}.mp4" for i in range(CONCURRENT)] for r in range(args.rounds)
        ]
        for f in big:
            write_mp4(f, args.size_mib * MIB, clip)
        for group in small:
            for f in group:
                write_mp4(f, args.concurrent_mib * MIB, clip)
        warm = inputs / "warm-up.mp4"
        write_mp4(warm, MIB, clip)

        admin_key = "dam_" + secrets.token_urlsafe(24)
        api_port = free_port()
        env.update(
            DAM_DATA_DIR=str(workdir / "data"),
            DAM_BOOTSTRAP_ADMIN_KEY=admin_key,
            DAM_MAX_UPLOAD_MIB=str(max(args.size_mib, args.concurrent_mib) + 64),
        )
        peers: dict[str, Figures] = {}
        ceilings: dict[str, Figures] = {}  # the disk alone, no HTTP
        if args.storage == "s3":
            endpoint = start_s3(args, env, procs)
            env.update(
                DAM_STORAGE="s3",
                DAM_S3_ENDPOINT_URL=endpoint,
                DAM_S3_BUCKET=f"bench-{secrets.token_hex(4)}",
                DAM_S3_MULTIPART_CHUNK_MIB=str(args.chunk_mib),
            )
            peers["direct boto3"] = boto3_peer(args, env, endpoint, big, small)
        else:
            env["DAM_STORAGE"] = "fs"
            sink_dir = workdir / "data" / "sink"
            sink_dir.mkdir(parents=True)
            for name, flag in (("plain sink", "--plain-sink"), ("uvicorn sink", "--uvicorn-sink")):
                port = free_port()
                sink = subprocess.Popen(
                    [sys.executable, __file__, flag, str(port), str(sink_dir)], **quiet
                )
                procs.append(sink)
                wait_port(port)
                peers[name], _ = measure(
                    Target(port, "/", {}), big, small, warm_up=warm, expect=201, pid=sink.pid
                )
                sink.terminate()
                sink.wait(timeout=10)
            for name, early in (("disk, writeback", True), ("disk, sync at end", False)):
                ceilings[name] = disk_alone(sink_dir, big, small, early_writeback=early)

        cli = [sys.executable, "-m", "dam.cli"]
        subprocess.run([*cli, "storage", "init"], env=env, check=True, capture_output=True)
        server = subprocess.Popen(
            [*cli, "serve", "--host", "127.0.0.1", "--port", str(api_port), "--no-worker"],
            env=env,
            **quiet,
        )
        procs.append(server)
        wait_http(f"http://127.0.0.1:{api_port}/healthz")
        idle = status_mib(server.pid, "VmRSS")
        start_hwm = status_mib(server.pid, "VmHWM")
        api = Target(api_port, "/api/v1/assets", {"Authorization": f"Bearer {admin_key}"})
        figures, peak = measure(api, big, small, warm_up=warm, expect=201, pid=server.pid)

        report(args, peers, ceilings, figures, peak=peak, idle=idle, start_hwm=start_hwm)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run(["rm", "-rf", str(workdir)], check=False)


def start_s3(args: argparse.Namespace, env: dict[str, str], procs: list) -> str:  # type: ignore[type-arg]
    if args.s3_endpoint:
        return str(args.s3_endpoint)
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
    return endpoint


def boto3_peer(
    args: argparse.Namespace,
    env: dict[str, str],
    endpoint: str,
    big: list[Path],
    small: list[list[Path]],
) -> Figures:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

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
    bucket = f"bench-direct-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=bucket)
    transfer = TransferConfig(
        multipart_threshold=args.chunk_mib * MIB,
        multipart_chunksize=args.chunk_mib * MIB,
        max_concurrency=4,
    )
    figures = Figures([], [])
    for n, file in enumerate(big):
        started = time.perf_counter()
        s3.upload_file(str(file), bucket, f"direct/{file.name}", Config=transfer)
        figures.single.append(file.stat().st_size / MIB / (time.perf_counter() - started))
        files = small[n]
        threads = [
            threading.Thread(
                target=s3.upload_file,
                args=(str(f), bucket, f"direct/{f.name}"),
                kwargs={"Config": transfer},
            )
            for f in files
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = sum(f.stat().st_size for f in files) / MIB
        figures.concurrent.append(total / (time.perf_counter() - started))
    return figures


def report(
    args: argparse.Namespace,
    peers: dict[str, Figures],
    ceilings: dict[str, Figures],
    api: Figures,
    *,
    peak: float,
    idle: float,
    start_hwm: float,
) -> None:
    med = statistics.median
    print(
        f"files: one of {args.size_mib} MiB, then {CONCURRENT} x {args.concurrent_mib} MiB at "
        f"once; {args.rounds} rounds, storage {args.storage}; MiB/s per round, median"
    )
    print(f"{'':<16}{'one upload':>24}{f'{CONCURRENT} at once':>24}{'gain':>8}")

    def line(name: str, f: Figures) -> None:
        one = " ".join(f"{v:6.0f}" for v in f.single) + f" | {med(f.single):5.0f}"
        many = " ".join(f"{v:6.0f}" for v in f.concurrent) + f" | {med(f.concurrent):5.0f}"
        print(f"{name:<16}{one:>24}{many:>24}{med(f.concurrent) / med(f.single):>7.2f}x")

    for name, figures in peers.items():
        line(name, figures)
    line("DAM API", api)
    for name, figures in ceilings.items():
        line(name, figures)
    if ceilings:
        print("(disk: the same sizes written from memory and synced, no HTTP)")
    print(
        "CPU s per GiB received, one upload | 4 at once: server main thread (the event loop), "
        "its other threads, its child processes; the client"
    )
    for name, figures in [*peers.items(), ("DAM API", api)]:
        if not figures.single_gib:
            continue
        one = figures.single_cpu
        many = figures.concurrent_cpu
        a, b = figures.single_gib, figures.concurrent_gib
        print(
            f"{name:<16}main {one.main / a:4.2f} | {many.main / b:4.2f}   "
            f"others {one.others / a:4.2f} | {many.others / b:4.2f}   "
            f"children {one.children / a:4.2f} | {many.children / b:4.2f}   "
            f"client {one.client / a:4.2f} | {many.client / b:4.2f}"
        )
    reference_name = next(iter(peers))
    reference = peers[reference_name]
    ratio = med(api.single) / med(reference.single)
    print(
        f"API / {reference_name}, one upload: {ratio:.2f}x  (budget >= {RATIO_BUDGET})  "
        f"{verdict(ratio >= RATIO_BUDGET)}"
    )
    for name, figures in list(peers.items())[1:]:
        print(f"API / {name}, one upload: {med(api.single) / med(figures.single):.2f}x")
    gain = med(api.concurrent) / med(api.single)
    print(
        f"API {CONCURRENT} at once / one: {gain:.2f}x  (budget >= {CONCURRENCY_BUDGET})  "
        f"{verdict(gain >= CONCURRENCY_BUDGET)}"
    )
    print(
        f"server peak RSS during the uploads (VmHWM after clear_refs): {peak:.0f} MiB  "
        f"(idle RSS {idle:.0f} MiB, VmHWM at start-up {start_hwm:.0f} MiB)  "
        f"(budget <= {RSS_BUDGET_MIB} MiB)  {verdict(peak <= RSS_BUDGET_MIB)}"
    )
    print(f"end: {load_average()}")


if __name__ == "__main__":
    main()
