"""`dam derivatives`: the pack's presets, and making derivatives ahead of the first request."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from sqlmodel import Session, col, select

from dam.assets import derivatives
from dam.cli.contexts import command_context
from dam.errors import DamError
from dam.governance.derivatives import Preset
from dam.models import Asset, AssetCampaign, AssetStatus

app = typer.Typer(
    help="Channel derivatives of the governance pack's presets.", no_args_is_help=True
)


@app.command("presets")
def presets() -> None:
    """List the pack's presets: id, size, fit, format, and the terms they serve."""
    ctx = command_context(migrate=False)
    pack = ctx.governance.pack
    for preset in pack.presets:
        width, height = preset.box
        size = f"{width}x{height}".replace("10000", "*")
        when = "; ".join(f"{facet}: {', '.join(t)}" for facet, t in preset.when.items()) or "all"
        budget = f" ≤{preset.max_bytes} B" if preset.max_bytes else ""
        typer.echo(f"{preset.id:24} {size:>11} {preset.fit:7} {preset.format:4}{budget}  [{when}]")
    typer.echo(f"{len(pack.presets)} presets; ad hoc: {pack.adhoc.to_json()}")


@app.command("render")
def render(
    asset: Annotated[list[str] | None, typer.Option(help="Only this asset id; repeatable.")] = None,
    campaign: Annotated[str | None, typer.Option(help="Only the assets of this campaign.")] = None,
) -> None:
    """Make the derivatives of every published image (or the ones named) for the presets that
    serve it, so the first request finds them cached. Exit 1 if a preset was refused."""
    ctx = command_context()
    refused: list[str] = []
    made = rendered = assets = 0
    with Session(ctx.engine) as session:
        query = select(Asset.id).where(
            col(Asset.status) == AssetStatus.active, col(Asset.published_version).is_not(None)
        )
        if asset:
            try:
                ids = [uuid.UUID(a) for a in asset]
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="--asset") from None
            query = query.where(col(Asset.id).in_(ids))
        if campaign:
            query = query.join(AssetCampaign, col(AssetCampaign.asset_id) == col(Asset.id)).where(
                AssetCampaign.campaign_id == campaign
            )
        asset_ids = list(session.exec(query.order_by(col(Asset.id))))

    for asset_id in asset_ids:
        assets += 1

        def note(preset: Preset, exc: DamError, asset_id: uuid.UUID = asset_id) -> None:
            refused.append(f"REFUSED  {asset_id} {preset.id}: {exc.code}: {exc.detail}")

        with Session(ctx.engine) as session:
            results = derivatives.render_presets(
                ctx, session, {"asset_id": str(asset_id)}, on_refused=note
            )
            session.commit()
        made += len(results)
        rendered += sum(r.rendered for r in results)
    typer.echo(
        f"{assets} assets, {made} derivatives ({rendered} rendered now, {made - rendered} "
        f"cached), {len(refused)} refused"
    )
    for line in refused:
        typer.echo(line, err=True)
    if refused:
        raise typer.Exit(1)
