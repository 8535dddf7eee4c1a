"""`dam search reindex` and `dam search check`."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from dam.cli.contexts import command_context
from dam.cli.progress import progress
from dam.db import session_scope
from dam.search import service

app = typer.Typer(help="Search index.", no_args_is_help=True)


@app.command("reindex")
def reindex() -> None:
    """Rebuild the index from the database while searches keep using the current one."""
    ctx = command_context()
    started = time.perf_counter()
    with progress("indexing") as report, session_scope(ctx.engine) as session:
        count = service.reindex(session, ctx=ctx, on_progress=report)
    typer.echo(
        f"indexed {count} assets with {ctx.settings.search} in "
        f"{time.perf_counter() - started:.1f} s",
        err=True,
    )


@app.command("check")
def check(
    show: Annotated[int, typer.Option(help="List at most this many ids per problem.")] = 20,
) -> None:
    """Compare the index with the database: missing, stale and extra documents."""
    ctx = command_context()
    with session_scope(ctx.engine) as session:
        report = service.check_index(session, ctx=ctx)
    typer.echo(f"assets: {report.assets}  documents: {report.documents}")
    problems = {"missing": report.missing, "stale": report.stale, "extra": report.extra}
    for name, ids in problems.items():
        typer.echo(f"{name}: {len(ids)}")
        for asset_id in ids[:show]:
            typer.echo(f"  {asset_id}")
    if not report.ok:
        typer.echo("run `dam search reindex` to repair", err=True)
        raise typer.Exit(1)
