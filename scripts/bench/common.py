"""What the benchmarks share: reading a process's memory, waiting for a server, the machine's
load to print beside every figure. Imported as `common` (the scripts run from this folder)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx


def proc_kib(pid: int, field: str) -> int:
    """A `/proc/PID/status` figure in KiB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit(f"no {field} in /proc/{pid}/status")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stat_seconds(path: Path, *, children: bool = False) -> float:
    """utime + stime (and the waited-for children's, when asked) from a /proc stat file."""
    fields = path.read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process on this machine so far."""
    return stat_seconds(Path(f"/proc/{pid}/stat"))


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


def uptime_line() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"
