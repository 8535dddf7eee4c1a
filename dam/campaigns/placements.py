"""Placements: where an asset version runs on a platform (an ad, a creative, an email image).

(platform, account, external_id) is unique and maps to one asset version at a time. Registering
the same key again with another asset or version re-points it from that moment: the open period
is closed and a new one opened, so rows already ingested keep their attribution and a day sent
later is attributed by the period that covered it. The same body again changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dam.audit.service import record
from dam.bounds import MAX_PLACEMENTS_PER_ASSET
from dam.campaigns.attribution import Period
from dam.campaigns.schemas import PlacementIn, PlacementOut, PlacementPeriodOut
from dam.campaigns.service import resolve_channel
from dam.context import Context
from dam.errors import Conflict, Invalid
from dam.models import Asset, AssetCampaign, Campaign, Placement, PlacementPeriod
from dam.principal import Principal


def periods_of(
    session: Session, placement_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[Period]]:
    found: dict[uuid.UUID, list[Period]] = {}
    ids = sorted(set(placement_ids))
    for start in range(0, len(ids), 500):
        rows = session.exec(
            select(PlacementPeriod)
            .where(col(PlacementPeriod.placement_id).in_(ids[start : start + 500]))
            .order_by(col(PlacementPeriod.placement_id), col(PlacementPeriod.valid_from))
        ).all()
        for row in rows:
            found.setdefault(row.placement_id, []).append(
                Period(row.valid_from, row.valid_to, row.asset_id, row.version)
            )
    return found


def _out(placement: Placement, periods: Sequence[Period]) -> PlacementOut:
    return PlacementOut(
        id=placement.id,
        campaign_id=placement.campaign_id,
        platform=placement.platform,
        account=placement.account or None,
        external_id=placement.external_id,
        external_name=placement.external_name,
        asset_id=placement.asset_id,
        version=placement.version,
        channel=placement.channel,
        first_seen=placement.first_seen,
        last_seen=placement.last_seen,
        created_at=placement.created_at,
        updated_at=placement.updated_at,
        history=[
            PlacementPeriodOut(
                asset_id=p.asset_id, version=p.version, valid_from=p.valid_from, valid_to=p.valid_to
            )
            for p in periods
        ],
    )


def placement_out(session: Session, placement: Placement) -> PlacementOut:
    return _out(placement, periods_of(session, [placement.id]).get(placement.id, []))


def find(session: Session, *, platform: str, account: str, external_id: str) -> Placement | None:
    return session.exec(
        select(Placement).where(
            col(Placement.platform) == platform,
            col(Placement.account) == account,
            col(Placement.external_id) == external_id,
        )
    ).first()


def _target(session: Session, campaign: Campaign, data: PlacementIn) -> tuple[Asset, int]:
    asset = session.get(Asset, data.asset_id)
    linked = session.get(AssetCampaign, (data.asset_id, campaign.id))
    if asset is None or linked is None:
        raise Invalid(
            f"asset {data.asset_id} is not in campaign {campaign.id}", code="invalid_placement"
        )
    version = data.version if data.version is not None else asset.published_version
    if version is None:
        raise Invalid(
            f"asset {asset.id} has no published version; give `version`",
            code="invalid_placement",
        )
    if version > asset.current_version:
        raise Invalid(f"asset {asset.id} has no version {version}", code="invalid_placement")
    return asset, version


def _check_room(session: Session, asset: Asset, placement_id: uuid.UUID | None) -> None:
    """An asset is the target of at most MAX_PLACEMENTS_PER_ASSET placements over time (which
    keeps every metric sum bounded)."""
    if placement_id is not None:
        already = session.exec(
            select(sa.func.count()).where(
                col(PlacementPeriod.asset_id) == asset.id,
                col(PlacementPeriod.placement_id) == placement_id,
            )
        ).one()
        if already:
            return
    targets = session.exec(
        select(sa.func.count(sa.distinct(col(PlacementPeriod.placement_id)))).where(
            col(PlacementPeriod.asset_id) == asset.id
        )
    ).one()
    if targets >= MAX_PLACEMENTS_PER_ASSET:
        raise Invalid(
            f"asset {asset.id} already has {MAX_PLACEMENTS_PER_ASSET} placements",
            code="too_many_placements",
        )


def register(
    session: Session,
    *,
    ctx: Context,
    campaign: Campaign,
    data: PlacementIn,
    actor: Principal,
    retried: bool = False,
) -> tuple[PlacementOut, bool]:
    """Create, re-point or confirm a placement; the flag says whether it changed (201) or the
    same mapping was sent again (200)."""
    asset, version = _target(session, campaign, data)
    channel = resolve_channel(ctx.governance.pack, data.channel) if data.channel else None
    account = (data.account or "").strip()
    now = ctx.now()
    existing = find(session, platform=data.platform, account=account, external_id=data.external_id)
    if existing is None or (existing.asset_id, existing.version) != (asset.id, version):
        _check_room(session, asset, existing.id if existing is not None else None)
    if existing is None:
        placement = Placement(
            campaign_id=campaign.id,
            asset_id=asset.id,
            version=version,
            external_name=data.external_name,
            channel=channel,
            created_at=now,
            updated_at=now,
            platform=data.platform,
            account=account,
            external_id=data.external_id,
        )
        try:
            with session.begin_nested():
                session.add(placement)
                session.flush()
        except IntegrityError:
            if retried:
                raise
            # Registered by a concurrent request a moment ago: answer as for a second POST.
            return register(
                session, ctx=ctx, campaign=campaign, data=data, actor=actor, retried=True
            )
        session.add(
            PlacementPeriod(
                placement_id=placement.id,
                valid_from=now,
                asset_id=asset.id,
                version=version,
                set_by=actor.id,
            )
        )
        _audit(session, actor, "campaign.placement_registered", campaign, placement, now)
        session.flush()
        return placement_out(session, placement), True
    if existing.campaign_id != campaign.id:
        raise Conflict(
            f"{data.platform} placement {data.external_id!r} is registered in another campaign",
            code="placement_in_other_campaign",
        )
    details_changed = False
    if data.external_name is not None and data.external_name != existing.external_name:
        existing.external_name, details_changed = data.external_name, True
    if channel is not None and channel != existing.channel:
        existing.channel, details_changed = channel, True
    if (existing.asset_id, existing.version) == (asset.id, version):
        if details_changed:
            existing.updated_at = now
            session.add(existing)
            session.flush()
        return placement_out(session, existing), False
    repoint(session, existing, asset_id=asset.id, version=version, now=now, actor=actor)
    return placement_out(session, existing), True


def repoint(
    session: Session,
    placement: Placement,
    *,
    asset_id: uuid.UUID,
    version: int,
    now: datetime,
    actor: Principal,
) -> None:
    """Point `placement` at another asset version from `now` on: the open period is closed and
    a new one opened (rows already ingested keep their attribution), audited."""
    open_period = session.exec(
        select(PlacementPeriod).where(
            col(PlacementPeriod.placement_id) == placement.id,
            col(PlacementPeriod.valid_to).is_(None),
        )
    ).first()
    if open_period is not None and open_period.valid_from == now:
        # Re-pointed twice in one instant: the first pointing never covered any time.
        open_period.asset_id, open_period.version = asset_id, version
        session.add(open_period)
    else:
        if open_period is not None:
            open_period.valid_to = now
            session.add(open_period)
        session.add(
            PlacementPeriod(
                placement_id=placement.id,
                valid_from=now,
                asset_id=asset_id,
                version=version,
                set_by=actor.id,
            )
        )
    campaign = session.get(Campaign, placement.campaign_id)
    placement.asset_id, placement.version, placement.updated_at = asset_id, version, now
    session.add(placement)
    assert campaign is not None
    _audit(session, actor, "campaign.placement_repointed", campaign, placement, now)
    session.flush()


def _audit(
    session: Session,
    actor: Principal,
    action: str,
    campaign: Campaign,
    placement: Placement,
    now: datetime,
) -> None:
    record(
        session,
        actor=actor,
        action=action,
        target=campaign.id,
        asset_id=placement.asset_id,
        changes={
            "platform": placement.platform,
            "account": placement.account,
            "external_id": placement.external_id,
            "version": placement.version,
        },
        now=now,
    )


def list_placements(
    session: Session, *, campaign: Campaign, asset_id: uuid.UUID | None = None
) -> list[PlacementOut]:
    query = select(Placement).where(col(Placement.campaign_id) == campaign.id)
    if asset_id is not None:
        query = query.where(col(Placement.asset_id) == asset_id)
    rows = session.exec(
        query.order_by(col(Placement.platform), col(Placement.account), col(Placement.external_id))
    ).all()
    history = periods_of(session, [p.id for p in rows])
    return [_out(p, history.get(p.id, [])) for p in rows]
