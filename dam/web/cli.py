"""`dam users`: local accounts for the web UI."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from dam.auth.principal import SYSTEM
from dam.config import get_settings
from dam.context import build_context
from dam.db import session_scope, upgrade
from dam.errors import DamError
from dam.models import Role

app = typer.Typer(help="Web UI users.", no_args_is_help=True)


@app.command("create")
def create(
    email: Annotated[str, typer.Argument(help="Sign-in email.")],
    role: Annotated[Role, typer.Option(help="What the user may do.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin (scripts).")
    ] = False,
) -> None:
    """Create a user; the password is prompted for (twice) unless --password-stdin."""
    from dam.web import auth

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    ctx = build_context(get_settings())
    upgrade(ctx.engine)
    try:
        with session_scope(ctx.engine) as session:
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
    except DamError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
