"""Where DAM_DATA_DIR and DAM_TAXONOMY_DIR come from when they are not set."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import dam.config
from dam.config import Settings, project_dir
from tests.cli.conftest import ROOT, CliEnv, assert_clean_failure


def test_the_checkout_running_the_tests_is_the_project_dir() -> None:
    assert project_dir() == ROOT


def test_defaults_are_the_checkouts_directories_whatever_the_working_directory(
    cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAM_DATA_DIR")
    monkeypatch.delenv("DAM_TAXONOMY_DIR")
    settings = Settings()
    assert settings.data_dir == ROOT / "storage"
    assert settings.taxonomy_dir == ROOT / "taxonomy"
    assert "data_dir" not in settings.model_fields_set


def _fake_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A second checkout: `dam` installed from it finds its directories there."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text('[project]\nname = "dam"\n')
    shutil.copytree(ROOT / "taxonomy", checkout / "taxonomy")
    monkeypatch.setattr(dam.config, "project_dir", lambda: checkout)
    return checkout


def test_after_the_first_start_in_the_checkout_dam_works_from_anywhere(
    cli_env: CliEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = _fake_checkout(tmp_path, monkeypatch)
    monkeypatch.delenv("DAM_DATA_DIR")
    monkeypatch.delenv("DAM_TAXONOMY_DIR")
    # Before the first start: the default database is not there; the refusal names the setting.
    refused = cli_env.invoke("keys", "list")
    assert_clean_failure(
        refused,
        f"error: no database at {checkout / 'storage' / 'dam.sqlite3'} (DAM_DATA_DIR is not set",
        "set DAM_DATA_DIR (or DAM_DATABASE_URL)",
    )
    assert not (checkout / "storage").exists()
    # What ./scripts/serve does first (from the checkout: `dam serve` migrates the same way).
    monkeypatch.chdir(checkout)
    assert cli_env.invoke("db", "upgrade").code == 0
    monkeypatch.chdir(cli_env.cwd)
    created = cli_env.invoke("keys", "create", "--role", "admin", "--name", "ops")
    assert created.code == 0, created.output
    assert created.stdout.strip()[:12] in cli_env.invoke("keys", "list").stdout
    recheck = cli_env.invoke("governance", "recheck")
    assert recheck.code == 0, recheck.output
    assert (checkout / "storage" / "dam.sqlite3").is_file()
    assert list(cli_env.cwd.iterdir()) == []


def test_outside_a_checkout_the_defaults_are_the_working_directorys(
    cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dam.config, "project_dir", lambda: None)
    monkeypatch.delenv("DAM_DATA_DIR")
    monkeypatch.delenv("DAM_TAXONOMY_DIR")
    assert Settings().data_dir == Path("storage")
    missing_pack = cli_env.invoke("governance", "check")
    assert_clean_failure(
        missing_pack,
        f"error: governance pack directory not found: {cli_env.cwd / 'taxonomy'}",
        "set DAM_TAXONOMY_DIR",
    )
    assert_clean_failure(cli_env.invoke("users", "list"), "DAM_DATA_DIR is not set")


def test_an_explicit_data_dir_is_created_on_demand(cli_env: CliEnv) -> None:
    assert not cli_env.data.exists()
    result = cli_env.invoke("keys", "list")
    assert result.code == 0, result.output
    assert (cli_env.data / "dam.sqlite3").is_file()
