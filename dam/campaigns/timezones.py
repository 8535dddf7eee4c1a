"""Changing a campaign's timezone re-attributes its stored rows.

A row's reporting date is a day in the campaign's timezone (`dam.campaigns.attribution`), so
the zone decides which version was live for the larger part of it. When the zone changes
(usually: it was set wrong, and the platforms report in another one), every row whose version
the service worked out — from a placement's periods, or from the publication history for rows
sent per asset without a `version` — is attributed again under the new zone, in the same
transaction as the change, with its figures unchanged. Rows sent with an explicit `version`
keep it. Re-sending a day afterwards attributes it the same way, so the report never depends
on when a row arrived.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from dam.audit.service import record
from dam.campaigns import service
from dam.campaigns.attribution import live_on, publication_periods, zone
from dam.campaigns.metrics import KEY, VALUES, refresh_rollup, upsert_rows
from dam.campaigns.placements import periods_of
from dam.campaigns.schemas import CampaignPatch
from dam.context import Context
from dam.models import Campaign, CampaignMetric
from dam.principal import Principal


def update_campaign(
    session: Session, *, ctx: Context, campaign: Campaign, patch: CampaignPatch, actor: Principal
) -> Campaign:
    """`service.update_campaign`; when the timezone changes, the stored rows follow it."""
    before = campaign.timezone
    updated = service.update_campaign(session, ctx=ctx, campaign=campaign, patch=patch, actor=actor)
    if updated.timezone != before:
        reattribute(session, ctx=ctx, campaign=updated, actor=actor, previous=before)
    return updated


def reattribute(
    session: Session, *, ctx: Context, campaign: Campaign, actor: Principal, previous: str
) -> int:
    """Attribute the campaign's worked-out rows again in its (new) timezone; returns how many
    changed version or asset."""
    table = CampaignMetric.__table__  # type: ignore[attr-defined]
    rows = [
        dict(row._mapping)
        for row in session.execute(
            sa.select(*(table.c[name] for name in (*KEY, *VALUES))).where(
                table.c.campaign_id == campaign.id, table.c.attributed.is_(True)
            )
        )
    ]
    tz = zone(campaign.timezone)
    placements = periods_of(
        session, {uuid.UUID(hex=r["placement"]) for r in rows if r["placement"]}
    )
    history = publication_periods(session, {r["asset_id"] for r in rows if not r["placement"]})
    versions: list[dict[str, Any]] = []
    moved: list[dict[str, Any]] = []
    for row in rows:
        day: date = row["date"]
        version: int | None
        if row["placement"]:
            periods = placements.get(uuid.UUID(hex=row["placement"]))
            if not periods:
                continue
            period = live_on(periods, day, tz)
            asset_id, version = period.asset_id, period.version
        else:
            periods = history.get(row["asset_id"])
            asset_id = row["asset_id"]
            version = live_on(periods, day, tz).version if periods else None
        if asset_id != row["asset_id"]:
            moved.append({**row, "asset_id": asset_id, "version": version, "_from": row})
        elif version != row["version"]:
            versions.append({**{k: row[k] for k in KEY}, "new_version": version})
    if versions:
        session.execute(
            sa.update(table)
            .where(*(table.c[k] == sa.bindparam(f"k_{k}") for k in KEY))
            .values(version=sa.bindparam("new_version")),
            [
                {f"k_{k}": item[k] for k in KEY} | {"new_version": item["new_version"]}
                for item in versions
            ],
        )
    if moved:
        # A placement pointed at another asset on that day under the new zone: the row moves
        # to that asset (its key changes), and the rollup of both assets is recounted.
        session.execute(
            sa.delete(table).where(*(table.c[k] == sa.bindparam(f"k_{k}") for k in KEY)),
            [{f"k_{k}": item["_from"][k] for k in KEY} for item in moved],
        )
        upsert_rows(session, [{k: v for k, v in item.items() if k != "_from"} for item in moved])
        refresh_rollup(session, [item["_from"] for item in moved])
    changed = len(versions) + len(moved)
    record(
        session,
        actor=actor,
        action="campaign.metrics_reattributed",
        target=campaign.id,
        changes={
            "timezone": [previous, campaign.timezone],
            "rows": len(rows),
            "changed": changed,
        },
        now=ctx.now(),
    )
    return changed
