"""Run a rendering function in a child process with a wall-clock deadline and memory limits.

Decoders are the part of the service that hostile files attack: a PDF whose content stream loops,
an SVG filter that allocates gigabytes, a video whose frames claim more than they hold. The
worker never decodes in its own process; each job forks a child from a ``forkserver`` (a clean,
single-threaded process that imported the decoders once, so a fork costs milliseconds, not an
interpreter start), the child caps its address space and CPU time before it touches the file,
and the parent kills it at the deadline. A failure comes back as :class:`RenderFailed` with a
reason a person can read; it never takes the worker with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import multiprocessing
import resource
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_PRELOAD = ["dam.media.previews"]
_context_lock = threading.Lock()
_context: Any = None
_M_ARENA_MAX = -8  # glibc mallopt(): each extra arena reserves 64 MiB of address space


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


def _forkserver() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(_PRELOAD)
            _context = ctx
        return _context


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _limit_self(limits: Limits) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, 2)
    # The cap is on what the child may add to what the forkserver already mapped (the decoder
    # libraries), so the budget means the same whatever is preloaded.
    address_space = _status_kib("VmSize") * 1024 + limits.memory_mib * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    cpu = math.ceil(limits.seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))


def _child(conn: Any, fn: Callable[..., Any], kwargs: dict[str, Any], limits: Limits) -> None:
    try:
        _limit_self(limits)
        value = fn(**kwargs)
        conn.send(("ok", value, _status_kib("VmHWM")))
    except MemoryError:
        conn.send(
            (
                "error",
                {
                    "code": "render_out_of_memory",
                    "reason": f"rendering needed more than {limits.memory_mib} MiB of memory",
                },
                _status_kib("VmHWM"),
            )
        )
    except Exception as exc:
        code = getattr(exc, "code", None)
        detail = getattr(exc, "detail", None)
        reason = str(detail if detail is not None else exc) or type(exc).__name__
        conn.send(
            (
                "error",
                {"code": code if isinstance(code, str) else "render_failed", "reason": reason},
                _status_kib("VmHWM"),
            )
        )
    finally:
        conn.close()


def _signal_reason(exitcode: int, limits: Limits) -> str:
    number = -exitcode
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
    ctx = _forkserver()
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(sender, fn, kwargs, limits), daemon=True)
    proc.start()
    sender.close()
    try:
        if not receiver.poll(limits.seconds):
            proc.kill()
            proc.join()
            raise RenderFailed(
                f"rendering took longer than {limits.seconds:g} s and was stopped",
                code="render_timeout",
            )
        try:
            status, value, peak = receiver.recv()
        except (EOFError, OSError):
            proc.join(5)
            exitcode = proc.exitcode
            if exitcode is not None and exitcode < 0:
                raise RenderFailed(
                    _signal_reason(exitcode, limits), code="render_crashed"
                ) from None
            raise RenderFailed(
                f"the renderer exited (code {exitcode}) without a result", code="render_crashed"
            ) from None
    finally:
        receiver.close()
    proc.join(5)
    if proc.is_alive():
        proc.kill()
        proc.join()
    if status != "ok":
        raise RenderFailed(value["reason"], code=value["code"])
    return Outcome(value=value, peak_rss_kib=peak)
