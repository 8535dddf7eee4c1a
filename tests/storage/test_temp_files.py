"""Temp files a crash leaves behind: `dam storage check` reports them (the hidden `.tmp-*`
files of the blob store included) and `--repair` removes them; `dam serve` and `dam worker`
remove them at start; files still being written are left alone. One test kills a real
`dam serve` with SIGKILL in the middle of an upload to make the leftover the honest way."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dam.cli import app
from dam.config import get_settings
from dam.storage.base import blob_key
from dam.storage.check import check_temp_files, remove_stale_temp_files
from dam.storage.fs import FsBlobStore
from tests.support.live import free_port

ROOT = Path(__file__).resolve().parents[2]
HOUR = 3600


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    data = tmp_path / "data"
    monkeypatch.setenv("DAM_DATA_DIR", str(data))
    monkeypatch.setenv("DAM_TAXONOMY_DIR", str(ROOT / "taxonomy"))
    monkeypatch.delenv("DAM_DATABASE_URL", raising=False)
    monkeypatch.delenv("DAM_STORAGE", raising=False)
    get_settings.cache_clear()
    yield data
    get_settings.cache_clear()


def _age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def _leftovers(data: Path) -> tuple[FsBlobStore, list[Path], list[Path]]:
    """Stale and fresh temp files of every kind the service makes, and a real blob."""
    store = FsBlobStore(data)
    store.init()
    store.put_bytes(blob_key("ab" * 32), b"real blob", content_type="application/octet-stream")
    tmp = data / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    part = tmp / "upload-x1.part"
    part.write_bytes(b"\xff\xd8" * 1000)
    src = tmp / "tmpq9.src"
    src.write_bytes(b"copied original")
    fd, half = store._mkstemp(data / "blobs" / "ab" / "ab")
    os.write(fd, b"half a blob")
    os.close(fd)
    stale = [_age(part, 2 * HOUR), _age(src, 2 * HOUR), _age(Path(half), 2 * HOUR)]
    fresh = tmp / "upload-live.part"
    fresh.write_bytes(b"still arriving")
    other = tmp / "resumable-upload.bin"  # not ours to judge: left alone whatever its age
    other.write_bytes(b"partial")
    _age(other, 48 * HOUR)
    return store, sorted(stale), [fresh, other]


def test_check_reports_hidden_and_tmp_leftovers_and_repair_removes_only_them(
    tmp_path: Path,
) -> None:
    store, stale, keep = _leftovers(tmp_path)
    report = check_temp_files(tmp_path, store, repair=False, grace_seconds=HOUR)
    assert sorted(t.path for t in report.stale) == stale
    assert [t.path for t in report.recent] == [keep[0]]
    assert not report.ok
    assert any(".tmp-" in line for line in report.lines())
    assert all(p.exists() for p in stale)

    repaired = check_temp_files(tmp_path, store, repair=True, grace_seconds=HOUR)
    assert repaired.ok
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in keep)
    assert list(store.iter_keys("blobs/")) == [blob_key("ab" * 32)]


def test_storage_check_cli_reports_then_repairs_temp_files(data_dir: Path) -> None:
    run = CliRunner().invoke
    assert run(app, ["db", "upgrade"]).exit_code == 0
    _, stale, _ = _leftovers(data_dir)
    found = run(app, ["storage", "check"])
    assert found.exit_code == 1
    for path in stale:
        assert f"TEMP     {path}" in found.stdout
    assert "run with --repair" in found.stdout
    repaired = run(app, ["storage", "check", "--repair"])
    assert repaired.exit_code == 0, repaired.stdout
    assert not any(p.exists() for p in stale)
    assert run(app, ["storage", "check"]).exit_code == 0


def test_serve_removes_stale_temp_files_at_start(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: None)
    _, stale, keep = _leftovers(data_dir)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 0, result.stderr
    assert "removed 3 temp files left by a crash" in result.stderr
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in keep)


def test_start_up_cleaning_leaves_files_being_written(tmp_path: Path) -> None:
    store, stale, keep = _leftovers(tmp_path)
    later = datetime.now(UTC) + timedelta(minutes=5)
    removed = remove_stale_temp_files(tmp_path, store, grace_seconds=HOUR, now=later)
    assert sorted(t.path for t in removed) == stale
    assert all(p.exists() for p in keep)


def test_a_server_killed_mid_upload_leaves_a_part_file_that_check_finds(
    data_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = {**os.environ, "DAM_RUN_WORKER": "false"}
    server = subprocess.Popen(
        [sys.executable, "-c", "from dam.cli import app; app()", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        key = _wait_and_make_key(port, server)
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        head = (
            "POST /api/v1/assets HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {key}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {50 * 1024 * 1024}\r\n\r\n"
            '--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        )
        sock.sendall(head.encode() + b"\xff\xd8\xff" + b"\0" * (2 * 1024 * 1024))
        parts = _wait_for(lambda: list((data_dir / "tmp").glob("upload-*.part")))
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        sock.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
    (part,) = parts
    assert part.exists(), "the crash left its part file"
    _age(part, 2 * HOUR)
    found = CliRunner().invoke(app, ["storage", "check"])
    assert found.exit_code == 1
    assert f"TEMP     {part}" in found.stdout
    assert CliRunner().invoke(app, ["storage", "check", "--repair"]).exit_code == 0
    assert not part.exists()


def _wait_for(probe: object, timeout: float = 60) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()  # type: ignore[operator]
        if found:
            return list(found)
        time.sleep(0.1)
    raise AssertionError("timed out")


def _wait_and_make_key(port: int, server: subprocess.Popen[bytes]) -> str:
    import httpx

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        raise AssertionError("dam serve did not start")
    result = CliRunner().invoke(app, ["keys", "create", "--role", "designer", "--name", "crash"])
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()
