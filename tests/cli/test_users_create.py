"""`dam users create` for a newcomer: the password rule is stated up front, and
`--password-stdin` makes the first web user without a terminal (the README's quick start)."""

from __future__ import annotations

from tests.cli.conftest import CliEnv, assert_clean_failure


def test_help_states_the_password_rule_and_stdin(cli_env: CliEnv) -> None:
    result = cli_env.invoke("users", "create", "--help")
    assert result.code == 0
    assert "at least 10 characters" in result.stdout
    assert "--password-stdin" in result.stdout


def test_first_user_from_stdin_then_a_short_password_is_refused(cli_env: CliEnv) -> None:
    made = cli_env.invoke(
        "users",
        "create",
        "ada@example.com",
        "--role",
        "admin",
        "--password-stdin",
        input="a long enough password\n",
    )
    assert made.code == 0, made.output
    assert "created ada@example.com (admin)" in made.stderr
    listed = cli_env.invoke("users", "list")
    assert listed.stdout.startswith("ada@example.com\tadmin\tactive")
    short = cli_env.invoke(
        "users",
        "create",
        "bo@example.com",
        "--role",
        "designer",
        "--password-stdin",
        input="short\n",
    )
    assert_clean_failure(short, "at least 10 characters")
