"""`dam storage check` and resumable uploads: partial ones listed, expired ones and part files
without an upload removed by --repair, recorded bytes missing from disk reported as lost."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dam.assets import resumable
from dam.cli import app as cli
from dam.config import get_settings
from dam.context import Context
from tests.conftest import ROOT, Clock, count_rows
from tests.factories import GOOD_METADATA
from tests.support.tus import create, patch


@pytest.fixture
def db_backend() -> str:
    return "sqlite"


def _started(client: TestClient, headers: dict[str, str], sent: int) -> str:
    location = create(client, headers, 10_000, metadata=GOOD_METADATA).headers["location"]
    assert patch(client, headers, location, 0, b"x" * sent).status_code == 204
    return location.rsplit("/", 1)[1]


def test_check_lists_partial_and_repairs_expired_and_orphans(
    client: TestClient,
    designer: dict[str, str],
    ctx: Context,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = _started(client, designer, 300)  # at the test clock's date: long expired by now
    clock.now = datetime.now(UTC)
    live = _started(client, designer, 1200)
    lost = _started(client, designer, 500)
    resumable.part_path(ctx, uuid.UUID(lost)).write_bytes(b"x" * 10)
    orphan = ctx.settings.data_dir / resumable.UPLOADS_DIR / f"{uuid.uuid4()}.part"
    orphan.write_bytes(b"left by a crash")
    an_hour_ago = time.time() - 7200
    os.utime(orphan, (an_hour_ago, an_hour_ago))

    db = Path(str(ctx.engine.url.database))
    monkeypatch.setenv("DAM_DATA_DIR", str(ctx.settings.data_dir))
    monkeypatch.setenv("DAM_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("DAM_TAXONOMY_DIR", str(ROOT / "taxonomy"))

    def run(*args: str) -> tuple[int, str]:
        get_settings.cache_clear()
        result = CliRunner().invoke(cli, ["storage", "check", *args])
        get_settings.cache_clear()
        return result.exit_code, result.stdout

    code, out = run()
    assert code == 1
    assert f"UPLOAD   {live}: 1200 of 10000 bytes received" in out
    assert f"EXPIRED  upload {old} (receiving, 300 of 10000 bytes)" in out
    assert f"LOST     upload {lost}: 10 bytes on disk, 500 recorded as received" in out
    assert f"ORPHAN   {orphan}: partial upload without an upload record" in out
    assert "(run with --repair)" in out

    code, out = run("--repair")
    assert f"EXPIRED  upload {old} (receiving, 300 of 10000 bytes) (removed)" in out
    assert f"{orphan}: partial upload without an upload record (removed)" in out
    assert code == 1  # the lost upload is still a problem: its bytes cannot be repaired
    assert not orphan.exists()
    assert not resumable.part_path(ctx, uuid.UUID(old)).exists()
    assert resumable.part_path(ctx, uuid.UUID(live)).stat().st_size == 1200
    assert count_rows(ctx.engine, "resumable_uploads") == 2


def test_a_patch_on_an_upload_whose_bytes_are_lost_is_refused(
    client: TestClient, designer: dict[str, str], ctx: Context
) -> None:
    location = create(client, designer, 10_000, metadata=GOOD_METADATA).headers["location"]
    patch(client, designer, location, 0, b"x" * 500)
    resumable.part_path(ctx, uuid.UUID(location.rsplit("/", 1)[1])).unlink()
    again = patch(client, designer, location, 500, b"x" * 500)
    assert (again.status_code, again.json()["error"]) == (409, "upload_bytes_lost")
    # The same in a process that never saw the earlier bytes (it re-reads them first).
    ctx.extras.pop(resumable.HASHERS_KEY)
    again = patch(client, designer, location, 500, b"x" * 500)
    assert (again.status_code, again.json()["error"]) == (409, "upload_bytes_lost")
