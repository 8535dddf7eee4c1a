"""Each command, in process, with one broken setting: a clear message naming what to fix."""

from __future__ import annotations

import os
import sqlite3

import pytest

from dam.cli.errors import describe
from tests.cli.conftest import CliEnv, assert_clean_failure

PASSWORD = "a long enough password 1\n"
PG_URL = os.environ.get("DAM_TEST_DATABASE_URL")  # read before cli_env clears DAM_*

# Every command that reads or writes the database (serve and worker: tests/cli/test_entry_point).
DATABASE_COMMANDS = [
    ("keys", "create", "--role", "admin", "--name", "ops"),
    ("keys", "list"),
    ("keys", "revoke", "dam_nosuchkey"),
    ("users", "create", "ada@example.com", "--role", "admin", "--password-stdin"),
    ("users", "list"),
    ("users", "update", "ada@example.com", "--role", "designer"),
    ("db", "upgrade"),
    ("search", "reindex"),
    ("search", "check"),
    ("governance", "recheck"),
    ("storage", "check"),
    ("renditions", "rebuild"),
]
# The commands that judge or index assets, and so need the governance pack.
PACK_COMMANDS = [
    ("governance", "check"),
    ("governance", "recheck"),
    ("search", "reindex"),
    ("search", "check"),
]
# Commands that need neither the pack nor the blob store.
DATABASE_ONLY_COMMANDS = [
    ("keys", "create", "--role", "admin", "--name", "ops"),
    ("keys", "list"),
    ("users", "create", "ada@example.com", "--role", "admin", "--password-stdin"),
    ("users", "list"),
    ("db", "upgrade"),
]


def _name(command: tuple[str, ...]) -> str:
    return " ".join(command[:2])


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=_name)
def test_unreachable_database_names_the_url_and_the_setting(
    cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    cli_env.set(monkeypatch, DAM_DATABASE_URL="postgresql://dam:secret@127.0.0.1:1/dam")
    result = cli_env.invoke(*command, input=PASSWORD)
    assert_clean_failure(
        result,
        "error: cannot use the database at postgresql://dam:***@127.0.0.1:1/dam",
        "check DAM_DATABASE_URL",
    )
    assert "secret" not in result.output


@pytest.mark.parametrize("url", ["mysql2://x/y", "not a url"])
def test_malformed_database_url_is_named(
    cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    cli_env.set(monkeypatch, DAM_DATABASE_URL=url)
    result = cli_env.invoke("keys", "list")
    assert_clean_failure(result, f"error: invalid database URL {url}", "DAM_DATABASE_URL")


@pytest.mark.skipif(PG_URL is None, reason="needs DAM_TEST_DATABASE_URL (PostgreSQL)")
def test_missing_postgresql_database_is_named(
    cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert PG_URL is not None
    base = PG_URL.rsplit("/", 1)[0]
    cli_env.set(monkeypatch, DAM_DATABASE_URL=f"{base}/dam_no_such_database")
    result = cli_env.invoke("users", "list")
    assert_clean_failure(result, "dam_no_such_database", "does not exist", "DAM_DATABASE_URL")


@pytest.mark.parametrize("command", PACK_COMMANDS, ids=_name)
def test_missing_pack_directory_says_to_set_dam_taxonomy_dir(
    cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    missing = cli_env.cwd / "no-pack"
    cli_env.set(monkeypatch, DAM_TAXONOMY_DIR=str(missing))
    result = cli_env.invoke(*command)
    assert_clean_failure(
        result,
        f"error: governance pack directory not found: {missing}",
        "set DAM_TAXONOMY_DIR to the directory holding taxonomy.yaml and brand_rules.yaml",
    )


def test_broken_pack_is_summarised_in_two_lines(
    cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    pack = cli_env.cwd / "pack"
    pack.mkdir()
    (pack / "taxonomy.yaml").write_text("revision: [unclosed\n")
    cli_env.set(monkeypatch, DAM_TAXONOMY_DIR=str(pack))
    result = cli_env.invoke("governance", "recheck")
    assert_clean_failure(result, "error: the governance pack is invalid: ", "dam governance check")


@pytest.mark.parametrize("command", DATABASE_ONLY_COMMANDS, ids=_name)
def test_database_commands_need_neither_the_pack_nor_the_blob_store(
    cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    cli_env.set(
        monkeypatch,
        DAM_TAXONOMY_DIR=str(cli_env.cwd / "no-pack"),
        DAM_STORAGE="s3",
        DAM_S3_ENDPOINT_URL="not-a-url",
    )
    result = cli_env.invoke(*command, input=PASSWORD)
    assert result.code == 0, result.output
    assert list(cli_env.cwd.iterdir()) == []  # nothing made in the working directory


@pytest.mark.parametrize("command", [("storage", "init"), ("storage", "check")], ids=_name)
def test_invalid_s3_endpoint_is_named(
    cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    cli_env.set(monkeypatch, DAM_STORAGE="s3", DAM_S3_ENDPOINT_URL="not-a-url")
    result = cli_env.invoke(*command)
    assert_clean_failure(
        result, "error: blob storage: invalid S3 endpoint URL 'not-a-url'", "DAM_S3_ENDPOINT_URL"
    )


def test_unreachable_s3_endpoint_fails_storage_check_in_one_line(
    cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_env.set(monkeypatch, DAM_STORAGE="s3", DAM_S3_ENDPOINT_URL="http://127.0.0.1:1")
    result = cli_env.invoke("storage", "check")
    assert_clean_failure(result, "http://127.0.0.1:1 is not reachable", "check DAM_S3_ENDPOINT_URL")


@pytest.mark.parametrize(
    ("name", "value"),
    [("DAM_MAX_UPLOAD_MIB", "lots"), ("DAM_STORAGE", "tape"), ("DAM_S3_MULTIPART_CHUNK_MIB", "1")],
)
def test_invalid_setting_value_is_named_by_every_command(
    cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    cli_env.set(monkeypatch, **{name: value})
    for command in [("keys", "list"), ("storage", "init"), ("governance", "check")]:
        result = cli_env.invoke(*command)
        assert_clean_failure(result, f"error: invalid setting {name}={value!r}: ")


def test_data_dir_that_is_a_file_is_named(cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    occupied = cli_env.cwd / "occupied"
    occupied.write_text("not a directory")
    cli_env.set(monkeypatch, DAM_DATA_DIR=str(occupied))
    result = cli_env.invoke("db", "upgrade")
    assert_clean_failure(result, f"DAM_DATA_DIR is {occupied}")


def test_database_from_a_newer_release_is_a_migration_error(cli_env: CliEnv) -> None:
    assert cli_env.invoke("db", "upgrade").code == 0
    with sqlite3.connect(cli_env.data / "dam.sqlite3") as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    result = cli_env.invoke("keys", "list")
    assert_clean_failure(
        result, "error: database migration: Can't locate revision identified by '9999'"
    )


def test_refusals_of_the_service_are_one_line(cli_env: CliEnv) -> None:
    assert_clean_failure(cli_env.invoke("keys", "revoke", "dam_nosuchkey"), "no API key")
    assert_clean_failure(
        cli_env.invoke("keys", "create", "--role", "admin", "--name", "x", "--campaign", "c1"),
        "error: only automation keys can be restricted to campaigns",
    )
    assert_clean_failure(
        cli_env.invoke("users", "update", "nobody@example.com", "--role", "admin"),
        "error: ",
    )


def test_debug_flag_and_variable_show_the_traceback_then_the_message(
    cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_env.set(monkeypatch, DAM_DATABASE_URL="postgresql://dam@127.0.0.1:1/dam")
    with_flag = cli_env.invoke("--debug", "keys", "list")
    cli_env.set(monkeypatch, DAM_DEBUG="1")
    with_variable = cli_env.invoke("keys", "list")
    for result in (with_flag, with_variable):
        assert result.code == 1
        assert "Traceback (most recent call last)" in result.stderr
        assert "sqlalchemy.exc.OperationalError" in result.stderr
        assert result.stderr.rstrip().endswith("check DAM_DATABASE_URL")


def test_unexpected_errors_are_one_line_pointing_at_debug() -> None:
    assert describe(RuntimeError("the flux capacitor\nmelted")) == [
        "unexpected error: RuntimeError: the flux capacitor (run with --debug for the traceback)"
    ]


@pytest.mark.parametrize(
    "command",
    [("storage", "init"), ("storage", "check"), ("storage", "check", "--deep")],
    ids=" ".join,
)
def test_storage_commands_do_not_need_the_pack(
    cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    cli_env.set(monkeypatch, DAM_TAXONOMY_DIR=str(cli_env.cwd / "no-pack"))
    result = cli_env.invoke(*command)
    assert result.code == 0, result.output
    assert "is usable" in result.stdout
