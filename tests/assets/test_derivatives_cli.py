"""`dam derivatives presets` and `dam derivatives render` against a real SQLite database and
filesystem store: rendering ahead of requests, then finding everything cached."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dam.app import create_app
from dam.cli import app
from dam.config import get_settings
from dam.context import Context, build_context
from dam.db import upgrade
from dam.models import Role
from tests.campaigns.support import new_asset, publish
from tests.conftest import Keys

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Context]:
    monkeypatch.setenv("DAM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAM_TAXONOMY_DIR", str(ROOT / "taxonomy"))
    monkeypatch.delenv("DAM_DATABASE_URL", raising=False)
    monkeypatch.delenv("DAM_STORAGE", raising=False)
    get_settings.cache_clear()
    ctx = build_context(get_settings())
    upgrade(ctx.engine)
    ctx.store.init()
    yield ctx
    ctx.engine.dispose()
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str, str]:
    get_settings.cache_clear()
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_presets_lists_the_pack(cli_ctx: Context) -> None:
    code, out, _ = run("derivatives", "presets")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["email-600", "1200x*", "inside", "jpeg"]
    assert any(line.startswith("iab-leaderboard") and "728x90" in line for line in lines)
    assert lines[-1].startswith("17 presets; ad hoc:")


def test_render_makes_the_presets_of_published_assets_once(cli_ctx: Context) -> None:
    with TestClient(create_app(ctx=cli_ctx, run_worker=False)) as client:
        designer = Keys(cli_ctx).headers(Role.designer)
        email = new_asset(client, designer, seed=21, channel=["email"])
        new_asset(client, designer, seed=22, channel=["instagram"])  # a draft: left alone
    publish(cli_ctx, email)
    code, out, err = run("derivatives", "render")
    assert (code, err) == (0, "")
    assert out == "1 assets, 2 derivatives (2 rendered now, 0 cached), 0 refused\n"
    code, out, _ = run("derivatives", "render", "--asset", email)
    assert out == "1 assets, 2 derivatives (0 rendered now, 2 cached), 0 refused\n"
    code, _, _ = run("derivatives", "render", "--asset", "not-a-uuid")
    assert code == 2
