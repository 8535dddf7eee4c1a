"""Run a rendering function in a child process with a wall-clock deadline and memory limits.

Decoders are the part of the service that hostile files attack: a PDF whose content stream loops,
an SVG filter that allocates gigabytes, a video whose frames claim more than they hold. The
worker never decodes in its own process. Each job goes to a fresh child (``python -m
dam.media.sandbox``) that takes one job and exits; the child caps its own address space and CPU
time before it unpickles the job, and the parent kills it at the deadline. A failure comes back
as :class:`RenderFailed` with a reason a person can read; it never takes the worker with it.

Importing the decoders costs a fresh interpreter a few hundred milliseconds, so one spare child
is kept started and waiting: a job takes it, and the next one is started when the job is done
(not during it: on a busy machine the two would compete for the CPU). multiprocessing's
forkserver would fork faster, but every child it forks re-imports the parent's ``__main__``
(for ``dam worker``, the whole CLI), which costs more.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import pickle
import resource
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_M_ARENA_MAX = -8  # glibc mallopt(): each extra malloc arena reserves 64 MiB of address space
_spare_lock = threading.Lock()
_spare: subprocess.Popen[bytes] | None = None


@dataclass(frozen=True)
class Limits:
    seconds: float
    memory_mib: int


class RenderFailed(Exception):
    """Rendering did not produce a result; ``reason`` says why, for the job and for people."""

    def __init__(self, reason: str, *, code: str = "render_failed") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class Outcome:
    value: Any
    peak_rss_kib: int  # the child's VmHWM: what rendering this file cost in memory


def _start_child() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "dam.media.sandbox"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        close_fds=True,
    )


def _take_child() -> subprocess.Popen[bytes]:
    """The waiting spare, or a new child when there is none (or it died)."""
    global _spare
    with _spare_lock:
        child = _spare if _spare is not None and _spare.poll() is None else None
        _spare = None
    return child if child is not None else _start_child()


def _replace_spare() -> None:
    # Started once the job is done, so its imports do not compete with the job for the CPU.
    global _spare
    with _spare_lock:
        if _spare is None:
            _spare = _start_child()


def stop_spare() -> None:
    """End the waiting child (tests, shutdown); the next job starts another."""
    global _spare
    with _spare_lock:
        if _spare is not None:
            _spare.kill()
            _spare.wait()
            _spare = None


def _signal_reason(returncode: int, limits: Limits) -> str:
    number = -returncode
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    if number == signal.SIGXCPU:
        return f"rendering used more than {math.ceil(limits.seconds) + 1} s of CPU time"
    if number in (signal.SIGKILL, signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS):
        return (
            f"the renderer crashed ({name}), most likely out of its {limits.memory_mib} MiB "
            "memory limit"
        )
    return f"the renderer was stopped by {name}"


def run_isolated(fn: Callable[..., Any], kwargs: dict[str, Any], *, limits: Limits) -> Outcome:
    """``fn(**kwargs)`` in a child process; its (picklable) return value and peak memory.

    ``fn`` must be a module-level function. Raises :class:`RenderFailed` when the child raises,
    runs past ``limits.seconds``, exceeds ``limits.memory_mib`` or dies.
    """
    job = pickle.dumps((fn, kwargs, limits))
    # The child finds the function's module on the caller's path (tests, plugins).
    header = pickle.dumps(list(sys.path))
    message = struct.pack(">II", len(header), len(job)) + header + job
    child = _take_child()
    try:
        out, _ = child.communicate(message, timeout=limits.seconds)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise RenderFailed(
            f"rendering took longer than {limits.seconds:g} s and was stopped",
            code="render_timeout",
        ) from None
    finally:
        _replace_spare()
    if child.returncode < 0 and not out:
        raise RenderFailed(_signal_reason(child.returncode, limits), code="render_crashed")
    try:
        status, value, peak = pickle.loads(out)  # noqa: S301  (our own child's answer)
    except (pickle.UnpicklingError, EOFError, ValueError):
        if child.returncode < 0:
            reason = _signal_reason(child.returncode, limits)
            raise RenderFailed(reason, code="render_crashed") from None
        raise RenderFailed(
            f"the renderer exited (code {child.returncode}) without a result",
            code="render_crashed",
        ) from None
    if status != "ok":
        raise RenderFailed(value["reason"], code=value["code"])
    return Outcome(value=value, peak_rss_kib=peak)


# --- the child -------------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _limit_self(limits: Limits) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, 2)
    # The cap is on what the job may add to what the decoders already mapped, so the budget
    # means the same whatever is imported.
    address_space = _status_kib("VmSize") * 1024 + limits.memory_mib * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = math.ceil(used.ru_utime + used.ru_stime + limits.seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))


def _read_exactly(stream: Any, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise EOFError("the job was cut short")
        data += chunk
    return data


def _child_main() -> None:
    # The answer goes out on the original stdout; anything a library prints goes to stderr.
    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    import dam.media.previews  # noqa: F401  (decoders imported before a job arrives)

    source = sys.stdin.buffer
    try:
        header_len, job_len = struct.unpack(">II", _read_exactly(source, 8))
    except EOFError:
        return  # a spare that was never used
    sys.path[:0] = [p for p in pickle.loads(_read_exactly(source, header_len)) if p not in sys.path]  # noqa: S301
    job = _read_exactly(source, job_len)
    limits: Limits | None = None
    try:
        fn, kwargs, limits = pickle.loads(job)  # noqa: S301  (sent by our own parent)
        _limit_self(limits)
        value = fn(**kwargs)
        result: tuple[str, Any, int] = ("ok", value, _status_kib("VmHWM"))
    except MemoryError:
        budget = limits.memory_mib if limits is not None else 0
        result = (
            "error",
            {
                "code": "render_out_of_memory",
                "reason": f"rendering needed more than {budget} MiB of memory",
            },
            _status_kib("VmHWM"),
        )
    except Exception as exc:
        code = getattr(exc, "code", None)
        detail = getattr(exc, "detail", None)
        reason = str(detail if detail is not None else exc) or type(exc).__name__
        result = (
            "error",
            {"code": code if isinstance(code, str) else "render_failed", "reason": reason},
            _status_kib("VmHWM"),
        )
    answer.write(pickle.dumps(result))
    answer.flush()


if __name__ == "__main__":
    _child_main()
    # Tearing down the decoder libraries costs a busy machine a few hundred milliseconds that
    # the caller would wait for; the answer is out and the outputs are on disk.
    sys.stderr.flush()
    os._exit(0)
