"""The renditions job: what it stores, and that it decodes outside any database transaction."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from fastapi.testclient import TestClient

import dam.assets.previews as previews
from dam.context import Context
from dam.worker import run_pending
from tests.factories import image_bytes, upload


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_renditions_are_decoded_without_holding_the_sqlite_write_lock(
    client: TestClient, designer: dict[str, str], ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A large raster takes seconds to decode; if the job kept its transaction open meanwhile,
    # every upload and request would wait on SQLite's single write lock.
    asset_id = upload(client, designer, image_bytes(size=(2000, 1000))).json()["id"]
    database = ctx.engine.url.database
    assert database is not None
    probes: list[str] = []
    real = previews.run_isolated

    def probing(*args: Any, **kwargs: Any) -> Any:
        other = sqlite3.connect(database, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            probes.append("free")
        except sqlite3.OperationalError as exc:
            probes.append(str(exc))
        finally:
            other.close()
        return real(*args, **kwargs)

    # The stills are drawn in one sandboxed child call; the lock must be free meanwhile.
    monkeypatch.setattr(previews, "run_isolated", probing)
    assert run_pending(ctx) >= 1
    assert probes == ["free"]
    body = client.get(f"/api/v1/assets/{asset_id}", headers=designer).json()
    assert body["current_version"]["renditions"] == ["preview", "thumb"]
