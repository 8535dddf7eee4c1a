"""Run a native metadata parser on untrusted bytes in a child process with a memory cap and a
deadline.

exiv2, c2pa-rs, FFmpeg and pypdf parse hostile input in C, C++ and Rust (pypdf in Python, but
with decompression that can balloon). A crash there must not take the API process with it, and
a 50 MB XMP packet (which exiv2 expands to ~1.5 GB while parsing) must not push the server past
its memory budget.

So each process that needs a parser starts one small *parser server* (``python -m
dam.media.isolate``) with the parsers already imported, talking over a Unix socket in a private
directory. Every call connects and the server forks a child for it (a fork of a warm,
single-threaded process costs ~10 ms; a new interpreter would cost ~100 ms). The child caps its
heap with ``RLIMIT_DATA``, arms ``SIGALRM`` with the default action so the kernel ends it at the
deadline even inside C code, runs the target and answers in JSON. A child that crashes, runs out
of memory or overruns makes :func:`run_isolated` raise :class:`IsolationFailed`; callers report
that as a problem with the file. Calls run in parallel: each has its own child.

Targets are allow-listed by name in :data:`TARGETS`; requests and answers are JSON, so nothing a
child sends is ever unpickled.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from typing import Any

__all__ = [
    "DEFAULT_MEMORY_BYTES",
    "DEFAULT_TIMEOUT_SECONDS",
    "TARGETS",
    "IsolationFailed",
    "run_isolated",
]

DEFAULT_TIMEOUT_SECONDS = 20.0
# Heap a child may add on top of the server's own (the parsers' libraries are already mapped).
DEFAULT_MEMORY_BYTES = 384 * 1024 * 1024
_MAX_ANSWER_BYTES = 64 * 1024 * 1024

# name -> "module:function"; the server imports these modules before it forks anything.
TARGETS = {
    "embedded.collect": "dam.media.embedded:collect_raw",
    "writeback.write": "dam.media.writeback:write_in_child",
}


class IsolationFailed(Exception):
    """The child crashed, ran out of memory, overran its deadline or raised."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- framing ------------------------------------------------------------------------------------


def _send(sock: socket.socket, payload: Any) -> None:
    data = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
    sock.sendall(struct.pack(">Q", len(data)) + data)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _recv(sock: socket.socket) -> Any:
    (size,) = struct.unpack(">Q", _recv_exact(sock, 8))
    if size > _MAX_ANSWER_BYTES:
        raise ValueError(f"answer of {size} bytes is too large")
    return json.loads(_recv_exact(sock, size))


# --- client side ---------------------------------------------------------------------------------


class _Server:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        self.directory: str | None = None
        self.address: str | None = None

    def ensure(self) -> str:
        with self.lock:
            if self.process is not None and self.process.poll() is None and self.address:
                return self.address
            self._stop()
            self.directory = tempfile.mkdtemp(prefix="dam-parsers-")
            self.address = os.path.join(self.directory, "socket")
            # stdin stays open for the server's whole life: EOF there means this process ended.
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "dam.media.isolate", self.address],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                close_fds=True,
            )
            assert self.process.stdout is not None
            ready, _, _ = select.select([self.process.stdout], [], [], 30)
            line = self.process.stdout.readline() if ready else b""
            if line.strip() != b"ready":
                self._stop()
                raise IsolationFailed("the parser server did not start")
            return self.address

    def _stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(OSError):
                if self.process.stdin is not None:
                    self.process.stdin.close()
            with contextlib.suppress(OSError):
                self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
            self.process = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
        self.address = None


_server = _Server()


def run_isolated(
    target: str,
    *args: Any,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    memory: int = DEFAULT_MEMORY_BYTES,
    **kwargs: Any,
) -> Any:
    """Call the allow-listed ``target`` with JSON-able arguments in a fresh child; its result.

    Raises :class:`IsolationFailed` when the child crashed, ran out of ``memory`` bytes of heap,
    did not answer within ``timeout`` seconds, or raised (the reason names which).
    """
    if target not in TARGETS:
        raise ValueError(f"unknown isolated target {target!r}")
    for attempt in (1, 2):
        address = _server.ensure()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                sock.connect(address)
            except OSError as exc:
                if attempt == 1:
                    # The server died between calls (killed, OOM): start a new one once.
                    with _server.lock:
                        _server._stop()
                    continue
                raise IsolationFailed(f"could not reach the parser server: {exc}") from exc
            sock.settimeout(timeout + 5)
            _send(
                sock,
                {
                    "target": target,
                    "args": args,
                    "kwargs": kwargs,
                    "timeout": timeout,
                    "memory": memory,
                },
            )
            try:
                answer = _recv(sock)
            except TimeoutError as exc:
                raise IsolationFailed(f"took longer than {timeout:g} s") from exc
            except (EOFError, OSError, ValueError) as exc:
                raise IsolationFailed(_death_reason(timeout)) from exc
        finally:
            sock.close()
        if answer.get("status") == "ok":
            return answer.get("value")
        raise IsolationFailed(str(answer.get("error", "failed")))
    raise IsolationFailed("could not reach the parser server")  # pragma: no cover


def _death_reason(timeout: float) -> str:
    return (
        f"process ended without an answer (crashed, ran out of memory or took longer than "
        f"{timeout:g} s)"
    )


# --- server side (python -m dam.media.isolate SOCKET) --------------------------------------------


def _vm_data() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _handle(conn: socket.socket, functions: dict[str, Any]) -> None:
    """In the forked child: read one request, run it under limits, answer."""
    try:
        request = _recv(conn)
        timeout = float(request.get("timeout", DEFAULT_TIMEOUT_SECONDS))
        memory = int(request.get("memory", DEFAULT_MEMORY_BYTES))
        # Default action: the kernel ends the child at the deadline even inside C code.
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(max(1, int(timeout + 0.999)))
        _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        limit = _vm_data() + memory
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
        function = functions.get(request["target"])
        if function is None:
            _send(conn, {"status": "error", "error": f"target {request['target']} unavailable"})
            return
        try:
            value = function(*request.get("args", []), **request.get("kwargs", {}))
            answer: dict[str, Any] = {"status": "ok", "value": value}
        except MemoryError:
            answer = {"status": "error", "error": "ran out of memory"}
        except Exception as exc:
            answer = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        _send(conn, answer)
    finally:
        conn.close()


def _serve(address: str) -> None:
    functions: dict[str, Any] = {}
    for name, spec in TARGETS.items():
        module_name, function_name = spec.split(":")
        try:
            functions[name] = getattr(importlib.import_module(module_name), function_name)
        except (ImportError, AttributeError) as exc:
            sys.stderr.write(f"dam.media.isolate: {name} unavailable: {exc}\n")
    for module_name in {spec.split(":")[0] for spec in TARGETS.values()}:
        warm = getattr(sys.modules.get(module_name), "warm_up", None)
        if warm is not None:
            try:
                warm()
            except Exception as exc:
                sys.stderr.write(f"dam.media.isolate: warming {module_name} failed: {exc}\n")
    if threading.active_count() > 1 or len(os.listdir("/proc/self/task")) > 1:
        sys.stderr.write("dam.media.isolate: the parser server is not single-threaded\n")
    # Keep the imported modules out of the collector's reach, so children do not touch (and
    # copy) their pages.
    gc.collect()
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    os.chmod(address, 0o600)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    stdin = sys.stdin.fileno()
    while True:
        readable, _, _ = select.select([listener, stdin], [], [])
        if stdin in readable and not os.read(stdin, 1024):
            break  # the owning process is gone
        if listener in readable:
            conn, _ = listener.accept()
            pid = os.fork()
            if pid == 0:
                listener.close()
                code = 0
                try:
                    _handle(conn, functions)
                except BaseException:
                    code = 1
                os._exit(code)
            conn.close()
    listener.close()
    with contextlib.suppress(OSError):
        os.unlink(address)


if __name__ == "__main__":
    _serve(sys.argv[1])
