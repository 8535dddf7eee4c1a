"""`dam governance …`: validate the governance pack from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dam.config import get_settings
from dam.governance.pack import PackInvalid, load_pack

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
    """Validate taxonomy.yaml and brand_rules.yaml; list every problem as file:line: message."""
    target = directory if directory is not None else get_settings().taxonomy_dir
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
    )
