"""`dam users`: local accounts for the web UI."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from sqlmodel import Session, col, select

from dam.cli.contexts import command_context
from dam.context import Context
from dam.db import session_scope
from dam.models import Role, User
from dam.principal import SYSTEM
from dam.web import auth

app = typer.Typer(help="Web UI users.", no_args_is_help=True)


def _read_password(*, from_stdin: bool, prompt: str) -> str:
    """From stdin (scripts), else prompted twice without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True))


@contextmanager
def _users_session() -> Iterator[tuple[Context, Session]]:
    """A migrated database's session, committed on success (a refusal: see dam.cli.errors)."""
    ctx = command_context()
    with session_scope(ctx.engine) as session:
        yield ctx, session


@app.command("create")
def create(
    email: Annotated[str, typer.Argument(help="Sign-in email.")],
    role: Annotated[Role, typer.Option(help="What the user may do.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin (scripts).")
    ] = False,
) -> None:
    """Create a user. The password (at least 10 characters) is prompted for twice, or read
    from the first line of stdin with --password-stdin (no terminal needed):
    `printf '%s\\n' "$PASSWORD" | dam users create EMAIL --role ROLE --password-stdin`."""
    password = _read_password(
        from_stdin=password_stdin,
        prompt=f"Password (at least {auth.MIN_PASSWORD_LENGTH} characters)",
    )
    with _users_session() as (ctx, session):
        user = auth.create_user(
            session,
            email=email,
            password=password,
            role=role,
            name=name,
            actor=SYSTEM,
            now=ctx.now(),
        )
        typer.echo(f"created {user.email} ({user.role.value}) {user.id}", err=True)


@app.command("list")
def list_users() -> None:
    """Every user: email, role, disabled, last sign-in."""
    with _users_session() as (_, session):
        for user in session.exec(select(User).order_by(col(User.email))):
            state = "disabled" if user.disabled else "active"
            last = user.last_login_at.isoformat() if user.last_login_at else "never"
            typer.echo(f"{user.email}\t{user.role.value}\t{state}\tlast sign-in {last}")


@app.command("update")
def update(
    email: Annotated[str, typer.Argument(help="The user's sign-in email.")],
    role: Annotated[Role | None, typer.Option(help="New role.")] = None,
    disable: Annotated[
        bool | None,
        typer.Option("--disable/--enable", help="Refuse (or allow again) sign-in and sessions."),
    ] = None,
    password: Annotated[
        bool, typer.Option("--password", help="Set a new password (prompted twice).")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from stdin.")
    ] = False,
) -> None:
    """Change a user's role, disable or enable them (offboarding ends their open sessions), or
    set a new password."""
    new_password = (
        _read_password(from_stdin=password_stdin, prompt="New password")
        if password_stdin or password
        else None
    )
    with _users_session() as (ctx, session):
        user = auth.update_user(
            session,
            email=email,
            role=role,
            disabled=disable,
            password=new_password,
            actor=SYSTEM,
            now=ctx.now(),
        )
        state = "disabled" if user.disabled else "active"
        typer.echo(f"updated {user.email} ({user.role.value}, {state})", err=True)
