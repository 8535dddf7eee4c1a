"""The `dam` command against a real SQLite database and filesystem store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dam.auth import service as auth_service
from dam.cli import app
from dam.config import get_settings
from dam.db import create_db_engine, session_scope
from dam.storage import blob_key
from dam.storage.fs import FsBlobStore

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    data = tmp_path / "data"
    monkeypatch.setenv("DAM_DATA_DIR", str(data))
    monkeypatch.setenv("DAM_TAXONOMY_DIR", str(ROOT / "taxonomy"))
    monkeypatch.delenv("DAM_DATABASE_URL", raising=False)
    monkeypatch.delenv("DAM_STORAGE", raising=False)
    get_settings.cache_clear()
    yield data
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_keys_create_prints_only_the_key_and_it_authenticates(env: Path) -> None:
    code, out, _ = run("keys", "create", "--role", "designer", "--name", "Dana")
    assert code == 0
    key = out.strip()
    assert out == key + "\n"
    assert key.startswith("dam_")
    engine = create_db_engine(f"sqlite:///{env / 'dam.sqlite3'}")
    with session_scope(engine) as session:
        principal = auth_service.authenticate(session, token=key, now=datetime.now(UTC))
    assert principal.name == "Dana"
    assert principal.role.value == "designer"


def test_keys_list_and_revoke(env: Path) -> None:
    _, out, _ = run("keys", "create", "--role", "marketer", "--name", "Mia")
    prefix = out.strip()[:12]
    code, listing, _ = run("keys", "list")
    assert code == 0
    assert prefix in listing and "marketer" in listing and "active" in listing
    code, _, err = run("keys", "revoke", prefix)
    assert code == 0
    assert "revoked" in err
    _, listing, _ = run("keys", "list")
    assert "revoked" in listing
    code, _, err = run("keys", "revoke", "dam_nosuchkey")
    assert code == 1
    assert "no API key" in err


def test_keys_create_refuses_unknown_role(env: Path) -> None:
    code, _, _ = run("keys", "create", "--role", "superuser", "--name", "x")
    assert code == 2


def test_storage_check_reports_and_repairs_orphans(env: Path) -> None:
    code, out, _ = run("storage", "check")
    assert code == 0
    store = FsBlobStore(env)
    orphan = blob_key("ab" * 32)
    store.put_bytes(orphan, b"orphan", content_type="application/octet-stream")
    code, out, _ = run("storage", "check", "--grace-minutes", "0")
    assert code == 1
    assert orphan in out
    code, out, _ = run("storage", "check", "--repair", "--grace-minutes", "0")
    assert not store.exists(orphan)
    code, out, _ = run("storage", "check", "--deep", "--grace-minutes", "0")
    assert code == 0


def test_governance_check_on_shipped_pack(env: Path) -> None:
    code, out, _ = run("governance", "check")
    assert code == 0
    assert "is valid" in out


def test_db_upgrade_is_idempotent(env: Path) -> None:
    assert run("db", "upgrade")[0] == 0
    assert run("db", "upgrade")[0] == 0
    assert (env / "dam.sqlite3").exists()


def test_renditions_rebuild_draws_missing_renditions_with_a_summary(env: Path) -> None:
    from dam.context import build_context
    from dam.db import upgrade
    from dam.models import Asset, AssetVersion

    svg = (ROOT / "tests" / "media" / "files" / "feather-camera.svg").read_bytes()
    import hashlib

    sha = hashlib.sha256(svg).hexdigest()
    ctx = build_context(get_settings())
    upgrade(ctx.engine)
    ctx.store.put_bytes(blob_key(sha), svg, content_type="image/svg+xml")
    with session_scope(ctx.engine) as session:
        asset = Asset(title="Camera", current_version=1)
        session.add(asset)
        session.flush()
        session.add(
            AssetVersion(
                asset_id=asset.id,
                number=1,
                blob_key=blob_key(sha),
                sha256=sha,
                size=len(svg),
                mime_type="image/svg+xml",
                format="SVG",
                kind="vector",
                filename="camera.svg",
                media={"kind": "vector", "format": "SVG"},
            )
        )
    code, out, _ = run("renditions", "rebuild", "--missing")
    assert code == 0, out
    assert "1 versions, 1 redrawn, 2 renditions, 0 failed" in out
    code, out, _ = run("renditions", "rebuild", "--missing", "--kind", "vector")
    assert "1 versions, 0 redrawn, 0 renditions, 0 failed" in out
    code, _, err = run("renditions", "rebuild", "--kind", "audio")
    assert code == 2
    assert "unknown kind 'audio'" in err


@pytest.mark.parametrize(
    ("setting", "flag", "expected"),
    [
        (None, None, True),
        ("false", None, False),
        ("true", None, True),
        ("false", "--worker", True),
        ("true", "--no-worker", False),
    ],
)
def test_serve_runs_the_worker_as_the_setting_says_unless_the_flag_is_given(
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    setting: str | None,
    flag: str | None,
    expected: bool,
) -> None:
    import uvicorn

    if setting is None:
        monkeypatch.delenv("DAM_RUN_WORKER", raising=False)
    else:
        monkeypatch.setenv("DAM_RUN_WORKER", setting)
    get_settings.cache_clear()
    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: served.append(application))
    code, _, err = run("serve", *([flag] if flag else []))
    assert code == 0, err
    (application,) = served
    assert application.state.run_worker is expected  # type: ignore[attr-defined]
