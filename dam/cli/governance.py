"""`dam governance …`: validate the governance pack and re-judge assets against it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dam.assets.recheck import recheck_all
from dam.cli.contexts import command_context
from dam.cli.errors import PACK_DIRECTORY, CommandFailed
from dam.cli.progress import progress
from dam.config import get_settings
from dam.db import session_scope
from dam.governance.pack import PackInvalid, load_pack
from dam.search.service import queue_index

app = typer.Typer(help="Validate and apply the governance pack (taxonomy + brand rules).")


@app.callback()
def _governance() -> None:
    # A callback keeps `check` a named subcommand even while it is the only one.
    pass


@app.command()
def check(
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Pack directory (default: DAM_TAXONOMY_DIR)."),
    ] = None,
) -> None:
    """Validate taxonomy.yaml, brand_rules.yaml, metadata.yaml and derivatives.yaml (presets that
    can never satisfy their channel's rules included); list every problem as file:line: message."""
    target = directory if directory is not None else get_settings().taxonomy_dir
    if not target.is_dir():
        raise CommandFailed(
            f"governance pack directory not found: {target.resolve()}",
            None if directory is not None else f"set DAM_TAXONOMY_DIR to {PACK_DIRECTORY}",
        )
    try:
        pack = load_pack(target)
    except PackInvalid as exc:
        for error in exc.errors:
            typer.echo(str(error), err=True)
        count = len(exc.errors)
        typer.echo(f"{count} problem{'s' if count > 1 else ''} in {target}", err=True)
        raise typer.Exit(1) from None
    deprecated = sum(t.deprecated for f in pack.facets for t in f.terms.values())
    enabled = sum(r.enabled for r in pack.rules)
    typer.echo(
        f"{target}: revision {pack.revision} is valid: {len(pack.facets)} facets, "
        f"{pack.term_count} terms ({deprecated} deprecated), "
        f"{len(pack.rules)} rules ({enabled} enabled)"
        + (f", {len(pack.presets)} derivative presets" if pack.presets else "")
    )


@app.command()
def recheck(
    show: Annotated[int, typer.Option(help="List at most this many newly failing assets.")] = 50,
) -> None:
    """Evaluate every asset's current version against the pack on disk, store the new
    reports, and print how many pass / warn / fail and which assets newly fail."""
    ctx = command_context()
    pack = ctx.governance.pack  # refuses a broken pack (every problem: `dam governance check`)
    with progress("re-checking") as report, session_scope(ctx.engine) as session:
        result = recheck_all(session, pack=pack, now=ctx.now(), on_progress=report)
        # Search filters on compliance: changed assets are re-indexed, in the same transaction.
        queue_index(session, asset_ids=result.changed, now=ctx.now())
    counts = result.counts
    typer.echo(
        f"revision {result.revision}: {result.checked} assets checked: "
        f"{counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail"
    )
    if result.newly_failing:
        typer.echo(f"{len(result.newly_failing)} newly failing:")
        for asset_id, title, rules in result.newly_failing[:show]:
            typer.echo(f"  {asset_id}  {title[:60]}  ({', '.join(rules)})")
        if len(result.newly_failing) > show:
            typer.echo(f"  … and {len(result.newly_failing) - show} more")
