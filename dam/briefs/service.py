"""Briefs: filing one, linking assets to its deliverables (at upload or later), and the state
of each deliverable, read from the linked assets' reviews."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dam.assets.campaign_ids import resolve_campaigns
from dam.assets.schemas import AssetMetadataIn
from dam.assets.service import create_asset
from dam.assets.upload import ReceivedUpload
from dam.audit.service import record
from dam.briefs.schemas import BriefIn, BriefOut, BriefPage, DeliverableOut, LinkIn
from dam.context import Context
from dam.errors import Conflict, Invalid, NotFound
from dam.events import emit
from dam.governance.pack import GovernancePack
from dam.models import (
    Asset,
    AssetVersion,
    Brief,
    BriefAsset,
    ReviewRound,
    ReviewState,
    RoundState,
)
from dam.principal import Principal


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")[:64] or "deliverable"


def brief_terms(pack: GovernancePack, raw: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Facet and term ids for what the brief names (ids, labels or synonyms); unlike an
    asset's, a brief's terms may leave facets out."""
    out: dict[str, list[str]] = {}
    problems = []
    for raw_facet, values in raw.items():
        facet = pack.resolve_facet(raw_facet)
        if facet is None:
            problems.append(f"unknown facet {raw_facet!r}")
            continue
        for value in values:
            term = pack.resolve(facet, value)
            if term is None:
                close = pack.facet(facet).suggest(value)
                hint = f" (closest: {', '.join(close)})" if close else ""
                problems.append(f"{facet}: unknown term {value!r}{hint}")
            elif term not in out.setdefault(facet, []):
                out[facet].append(term)
    if problems:
        raise Invalid("; ".join(problems), code="invalid_terms", field="terms")
    return {facet: terms for facet, terms in out.items() if terms}


def create_brief(session: Session, *, ctx: Context, body: BriefIn, actor: Principal) -> Brief:
    now = ctx.now()
    deliverables: list[dict[str, Any]] = []
    for item in body.deliverables:
        ident = item.id or _slug(item.label)
        if any(d["id"] == ident for d in deliverables):
            raise Invalid(
                f"two deliverables have the id {ident!r}; give them distinct ids",
                code="duplicate_deliverable",
            )
        deliverables.append({"id": ident, "label": item.label, "quantity": item.quantity})
    campaign_id = None
    if body.campaign_id:
        [campaign_id] = resolve_campaigns(session, [body.campaign_id], auto_create=False, now=now)
    brief = Brief(
        title=body.title.strip(),
        objective=body.objective.strip(),
        campaign_id=campaign_id,
        terms=brief_terms(ctx.governance.pack, body.terms),
        deliverables=deliverables,
        due_at=body.due_at,
        notes=body.notes,
        kpi=body.kpi,
        created_by=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(brief)
    session.flush()
    record(
        session,
        actor=actor,
        action="brief.created",
        target=str(brief.id),
        changes={"title": brief.title, "deliverables": deliverables},
        now=now,
    )
    emit(
        session,
        "brief.created",
        asset=None,
        now=now,
        data={"brief_id": str(brief.id), "title": brief.title, "due_at": _iso(brief.due_at)},
    )
    return brief


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def get_brief(session: Session, brief_id: uuid.UUID) -> Brief:
    brief = session.get(Brief, brief_id)
    if brief is None:
        raise NotFound(f"no brief {brief_id}", code="brief_not_found")
    return brief


def _check_deliverable(brief: Brief, deliverable: str) -> None:
    if not any(d["id"] == deliverable for d in brief.deliverables):
        known = ", ".join(d["id"] for d in brief.deliverables)
        raise Invalid(
            f"brief {brief.id} has no deliverable {deliverable!r}; its deliverables are {known}",
            code="unknown_deliverable",
        )


def link_asset(
    session: Session,
    *,
    brief: Brief,
    asset: Asset,
    deliverable: str,
    actor: Principal,
    now: datetime,
) -> BriefAsset:
    _check_deliverable(brief, deliverable)
    existing = session.get(BriefAsset, (brief.id, asset.id))
    if existing is not None:
        if existing.deliverable == deliverable:
            return existing
        raise Conflict(
            f"asset {asset.id} is already linked to deliverable {existing.deliverable!r}",
            code="already_linked",
        )
    link = BriefAsset(
        brief_id=brief.id,
        asset_id=asset.id,
        deliverable=deliverable,
        linked_by=actor.id,
        linked_at=now,
    )
    session.add(link)
    record(
        session,
        actor=actor,
        action="brief.asset_linked",
        asset_id=asset.id,
        target=str(brief.id),
        changes={"deliverable": deliverable},
        now=now,
    )
    emit(
        session,
        "brief.asset_linked",
        asset=asset,
        now=now,
        data={"brief_id": str(brief.id), "deliverable": deliverable},
    )
    return link


def link_existing(
    session: Session, *, brief: Brief, body: LinkIn, actor: Principal, now: datetime
) -> BriefAsset:
    _check_deliverable(brief, body.deliverable)
    asset = session.get(Asset, body.asset_id)
    if asset is None:
        raise NotFound(f"no asset {body.asset_id}", code="asset_not_found")
    return link_asset(
        session, brief=brief, asset=asset, deliverable=body.deliverable, actor=actor, now=now
    )


def upload_against(
    session: Session,
    *,
    ctx: Context,
    brief: Brief,
    upload: ReceivedUpload,
    metadata: AssetMetadataIn,
    deliverable: str,
    actor: Principal,
) -> Asset:
    """A new asset made for a deliverable of the brief: facets the upload leaves out take the
    brief's terms, and the brief's campaign is added to its campaigns."""
    _check_deliverable(brief, deliverable)
    terms = {**brief.terms, **metadata.terms}
    campaigns = list(metadata.campaign_ids)
    if brief.campaign_id and brief.campaign_id not in campaigns:
        campaigns.append(brief.campaign_id)
    metadata = metadata.model_copy(update={"terms": terms, "campaign_ids": campaigns})
    asset = create_asset(session, ctx=ctx, upload=upload, metadata=metadata, actor=actor)
    link_asset(
        session, brief=brief, asset=asset, deliverable=deliverable, actor=actor, now=ctx.now()
    )
    return asset


def first_approvals(session: Session, asset_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    """When each asset was first approved (its first approved review round)."""
    if not asset_ids:
        return {}
    rows = session.exec(
        select(ReviewRound.asset_id, sa.func.min(ReviewRound.closed_at))
        .where(
            col(ReviewRound.asset_id).in_(list(asset_ids)),
            col(ReviewRound.state) == RoundState.approved,
        )
        .group_by(col(ReviewRound.asset_id))
    ).all()
    return {asset_id: at for asset_id, at in rows if at is not None}


def brief_out(session: Session, brief: Brief) -> BriefOut:
    links = list(
        session.exec(
            select(BriefAsset)
            .where(col(BriefAsset.brief_id) == brief.id)
            .order_by(col(BriefAsset.linked_at), col(BriefAsset.asset_id))
        )
    )
    ids = [link.asset_id for link in links]
    states: dict[uuid.UUID, ReviewState] = {}
    if ids:
        for asset_id, state in session.exec(
            select(Asset.id, AssetVersion.review_state)
            .join(
                AssetVersion,
                sa.and_(
                    col(AssetVersion.asset_id) == col(Asset.id),
                    col(AssetVersion.number) == col(Asset.current_version),
                ),
            )
            .where(col(Asset.id).in_(ids))
        ):
            states[asset_id] = ReviewState(state)
    approved_at = first_approvals(session, ids)
    deliverables = []
    for d in brief.deliverables:
        mine = [link.asset_id for link in links if link.deliverable == d["id"]]
        times = sorted(approved_at[a] for a in mine if a in approved_at)
        delivered = len(times)
        in_review = sum(1 for a in mine if states.get(a) == ReviewState.in_review)
        quantity = int(d["quantity"])
        if delivered >= quantity:
            state = "delivered"
        elif delivered + in_review >= quantity:
            state = "in_review"
        elif mine:
            state = "in_progress"
        else:
            state = "open"
        deliverables.append(
            DeliverableOut(
                id=d["id"],
                label=d["label"],
                quantity=quantity,
                linked=len(mine),
                in_review=in_review,
                delivered=delivered,
                state=state,
                delivered_at=times[quantity - 1] if delivered >= quantity else None,
                assets=mine,
            )
        )
    order = ("open", "in_progress", "in_review", "delivered")
    state = min((d.state for d in deliverables), key=order.index, default="open")
    delivered_at = (
        max(d.delivered_at for d in deliverables if d.delivered_at is not None)
        if state == "delivered"
        else None
    )
    on_time = None if delivered_at is None or brief.due_at is None else delivered_at <= brief.due_at
    if state == "open" and links:
        state = "in_progress"
    return BriefOut(
        id=brief.id,
        title=brief.title,
        objective=brief.objective,
        campaign_id=brief.campaign_id,
        terms=brief.terms,
        kpi=brief.kpi,
        due_at=brief.due_at,
        notes=brief.notes,
        status=brief.status.value,
        state=state,
        delivered_at=delivered_at,
        on_time=on_time,
        deliverables=deliverables,
        created_by=brief.created_by,
        created_at=brief.created_at,
    )


def list_briefs(session: Session, *, limit: int = 100) -> BriefPage:
    briefs = list(session.exec(select(Brief).order_by(col(Brief.created_at).desc()).limit(limit)))
    total = session.exec(select(sa.func.count()).select_from(Brief)).one()
    return BriefPage(total=total, items=[brief_out(session, b) for b in briefs])


def briefs_of_asset(session: Session, asset_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        session.exec(select(BriefAsset.brief_id).where(col(BriefAsset.asset_id) == asset_id))
    )
