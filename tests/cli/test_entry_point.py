"""The installed `dam` console script, run as a child process from a foreign directory."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli.conftest import DAM, ROOT, CliEnv, assert_clean_failure

BAD_DATABASE = "postgresql://dam@127.0.0.1:1/dam"


def test_console_script_exists() -> None:
    assert DAM.is_file(), f"{DAM} missing: install the project (scripts/setup)"


def test_keys_work_from_a_foreign_directory(cli_env: CliEnv) -> None:
    created = cli_env.run("keys", "create", "--role", "admin", "--name", "ops")
    assert created.code == 0, created.output
    key = created.stdout.strip()
    listing = cli_env.run("keys", "list")
    assert listing.code == 0, listing.output
    assert key[:12] in listing.stdout
    assert list(cli_env.cwd.iterdir()) == []


def test_serve_with_an_unreachable_database_fails_in_two_lines(
    cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_env.set(monkeypatch, DAM_DATABASE_URL=BAD_DATABASE)
    result = cli_env.run("serve", "--port", "1", timeout=60)
    assert_clean_failure(
        result, f"error: cannot use the database at {BAD_DATABASE}", "check DAM_DATABASE_URL"
    )


def test_worker_without_its_pack_says_which_variable_to_set(
    cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_env.set(monkeypatch, DAM_TAXONOMY_DIR=str(cli_env.cwd / "missing"))
    result = cli_env.run("worker", timeout=60)
    assert_clean_failure(result, "governance pack directory not found", "set DAM_TAXONOMY_DIR")


def test_serve_in_production_without_a_secret_is_one_line(
    cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_env.set(monkeypatch, DAM_ENV="production")
    result = cli_env.run("serve", "--port", "1", timeout=60)
    assert_clean_failure(result, "error: DAM_SECRET_KEY must be set outside DAM_ENV=dev")


def test_storage_init_against_an_unreachable_endpoint_is_one_line(
    cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_env.set(monkeypatch, DAM_STORAGE="s3", DAM_S3_ENDPOINT_URL="http://127.0.0.1:1")
    result = cli_env.run("storage", "init")
    assert_clean_failure(result, "http://127.0.0.1:1 is not reachable", "DAM_S3_ENDPOINT_URL")


def test_invalid_setting_is_named(cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_env.set(monkeypatch, DAM_JOB_LEASE_SECONDS="-3")
    result = cli_env.run("users", "list")
    assert_clean_failure(result, "error: invalid setting DAM_JOB_LEASE_SECONDS='-3'")


def test_debug_shows_the_traceback(cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_env.set(monkeypatch, DAM_DATABASE_URL=BAD_DATABASE)
    quiet = cli_env.run("users", "list")
    assert_clean_failure(quiet, "check DAM_DATABASE_URL")
    loud = cli_env.run("--debug", "users", "list")
    assert loud.code == 1
    assert "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.rstrip().endswith("check DAM_DATABASE_URL")


def test_pack_defaults_to_the_checkout_from_any_directory(cli_env: CliEnv) -> None:
    result = cli_env.run("governance", "check", unset=("DAM_TAXONOMY_DIR",))
    assert result.code == 0, result.output
    assert result.stdout.startswith(f"{ROOT / 'taxonomy'}: revision ")


def test_data_dir_defaults_to_the_checkout_from_any_directory(cli_env: CliEnv) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from dam.config import Settings; s = Settings(); print(s.data_dir)",
        ],
        cwd=cli_env.cwd,
        env=cli_env.child_env(unset=("DAM_DATA_DIR",)),
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == str(ROOT / "storage")
