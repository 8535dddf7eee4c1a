"""The pack loads on first use, so commands that never judge an asset work without one, while
`dam serve` (through `prepare`) still refuses to start on a broken pack."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dam.app import prepare
from dam.config import Settings
from dam.context import build_context
from dam.governance import PackInvalid
from dam.governance.holder import GovernanceHolder

ROOT = Path(__file__).resolve().parents[2]


def test_holder_without_a_pack_directory_builds_and_fails_on_first_use(tmp_path: Path) -> None:
    holder = GovernanceHolder(tmp_path / "missing")

    with pytest.raises(PackInvalid, match="governance pack directory not found"):
        holder.load()


def test_holder_loads_once_and_keeps_the_pack(tmp_path: Path) -> None:
    pack_dir = tmp_path / "taxonomy"
    shutil.copytree(ROOT / "taxonomy", pack_dir)
    holder = GovernanceHolder(pack_dir)

    first = holder.pack
    shutil.rmtree(pack_dir)

    assert holder.pack is first
    assert holder.load() is first


def test_reload_before_first_use_returns_the_fresh_pack_twice(tmp_path: Path) -> None:
    holder = GovernanceHolder(ROOT / "taxonomy")

    previous, current = holder.reload()

    assert previous is current is holder.pack


def test_context_builds_without_a_pack_but_prepare_refuses_to_serve(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", taxonomy_dir=tmp_path / "no-pack")
    ctx = build_context(settings)

    with pytest.raises(PackInvalid, match="governance pack directory not found"):
        prepare(ctx)

    # Refused before anything was written: not even the schema was created.
    assert not (tmp_path / "data" / "dam.sqlite3").exists()
    ctx.engine.dispose()
