"""Campaigns, asset↔campaign links, the automation feed and tracked deliveries."""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session, col, select

from dam.assets import delivery, derivatives
from dam.assets.campaign_ids import normalize_campaign_id, resolve_campaigns
from dam.assets.metadata import Metadata
from dam.assets.service import bump_revision, campaign_ids_of
from dam.audit.service import diff, record
from dam.campaigns import links
from dam.campaigns.attribution import zone
from dam.campaigns.schemas import (
    CampaignIn,
    CampaignPatch,
    FeedDerivative,
    FeedItem,
    FeedPage,
    RemovedItem,
    RemovedPage,
)
from dam.context import Context
from dam.db import insert_new
from dam.errors import Conflict, Forbidden, Invalid, NotFound
from dam.events import emit
from dam.governance.pack import GovernancePack
from dam.models import (
    ApiKey,
    Asset,
    AssetCampaign,
    AssetStatus,
    AssetVersion,
    AuditEvent,
    Campaign,
    DeliveryEvent,
    FocalPoint,
    ReviewState,
)
from dam.models.types import JSONType
from dam.principal import Principal

CHANNEL_FACET = "channel"


# --- campaigns -----------------------------------------------------------------------------


def check_scope(principal: Principal, campaign_id: str) -> None:
    """Keys restricted to campaigns get the same 404 outside them as for a missing campaign."""
    if principal.campaign_scope is not None and campaign_id not in principal.campaign_scope:
        raise NotFound(f"no campaign {campaign_id}", code="campaign_not_found")


def get_campaign(session: Session, campaign_id: str, *, principal: Principal) -> Campaign:
    try:
        cid = normalize_campaign_id(campaign_id)
    except Invalid:
        cid = campaign_id
    check_scope(principal, cid)
    campaign = session.get(Campaign, cid)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}", code="campaign_not_found")
    return campaign


def resolve_channel(pack: GovernancePack, text: str) -> str:
    """A channel as the taxonomy's term id, so reports group `IG` and `instagram` together."""
    cleaned = " ".join(text.split())
    if not pack.has_facet(CHANNEL_FACET):
        return cleaned.lower()
    facet = pack.facet(CHANNEL_FACET)
    term_id = facet.resolve(cleaned)
    if term_id is None:
        suggestions = facet.suggest(cleaned)
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        raise Invalid(f"unknown channel {text!r}{hint}", code="unknown_channel")
    term = facet.terms[term_id]
    return term.replaced_by if term.deprecated and term.replaced_by else term_id


def channel_family(pack: GovernancePack, channel: str) -> list[str]:
    """The channel and every channel below it: filtering on `social` includes `instagram`."""
    term_id = resolve_channel(pack, channel)
    if not pack.has_facet(CHANNEL_FACET):
        return [term_id]
    return sorted(pack.descendants(CHANNEL_FACET, term_id))


def _campaign_json(campaign: Campaign) -> dict[str, Any]:
    return {
        "name": campaign.name,
        "channel": campaign.channel,
        "objective": campaign.objective,
        "starts_on": campaign.starts_on.isoformat() if campaign.starts_on else None,
        "ends_on": campaign.ends_on.isoformat() if campaign.ends_on else None,
        "timezone": campaign.timezone,
    }


def _timezone(name: str) -> str:
    """A validated IANA name. Changing it changes how rows sent afterwards are attributed;
    rows already stored keep their version."""
    name = name.strip()
    zone(name)
    return name


def create_campaign(
    session: Session, *, ctx: Context, data: CampaignIn, actor: Principal
) -> Campaign:
    cid = normalize_campaign_id(data.id)
    now = ctx.now()
    values = {
        "id": cid,
        "name": data.name.strip(),
        "channel": resolve_channel(ctx.governance.pack, data.channel) if data.channel else None,
        "objective": (data.objective or "").strip() or None,
        "starts_on": data.starts_on,
        "ends_on": data.ends_on,
        "timezone": _timezone(data.timezone),
        "created_at": now,
        "updated_at": now,
    }
    # One atomic insert: of two requests creating the same id at once, the second gets 409.
    if not insert_new(session, Campaign, values, unique=("id",)):
        raise Conflict(f"campaign {cid} already exists", code="campaign_exists")
    campaign = session.get(Campaign, cid)
    assert campaign is not None
    record(
        session,
        actor=actor,
        action="campaign.created",
        target=cid,
        changes={"after": _campaign_json(campaign)},
        now=now,
    )
    return campaign


def update_campaign(
    session: Session, *, ctx: Context, campaign: Campaign, patch: CampaignPatch, actor: Principal
) -> Campaign:
    fields = patch.model_dump(exclude_unset=True)
    for required in ("name", "timezone"):
        if required in fields and fields[required] is None:
            raise Invalid(f"{required} cannot be cleared", code="invalid_campaign")
    before = _campaign_json(campaign)
    for name, value in fields.items():
        if name == "channel" and value is not None:
            value = resolve_channel(ctx.governance.pack, value)
        if name in {"name", "objective"} and value is not None:
            value = value.strip() or None
        if name == "timezone":
            value = _timezone(value)
        setattr(campaign, name, value)
    if campaign.starts_on and campaign.ends_on and campaign.ends_on < campaign.starts_on:
        raise Invalid("ends_on must not be before starts_on", code="invalid_campaign")
    after = _campaign_json(campaign)
    changes = diff(before, after)
    if not changes:
        return campaign
    now = ctx.now()
    campaign.updated_at = now
    session.add(campaign)
    record(
        session,
        actor=actor,
        action="campaign.updated",
        target=campaign.id,
        changes=changes,
        now=now,
    )
    return campaign


def list_campaigns(
    session: Session,
    *,
    principal: Principal,
    page: int,
    page_size: int,
    channel: str | None = None,
    active_on: date | None = None,
    q: str | None = None,
    pack: GovernancePack | None = None,
) -> tuple[int, list[Campaign]]:
    query = select(Campaign)
    if principal.campaign_scope is not None:
        query = query.where(col(Campaign.id).in_(principal.campaign_scope))
    if channel:
        family = channel_family(pack, channel) if pack else [channel]
        query = query.where(col(Campaign.channel).in_(family))
    if active_on is not None:
        query = query.where(
            sa.or_(col(Campaign.starts_on).is_(None), col(Campaign.starts_on) <= active_on),
            sa.or_(col(Campaign.ends_on).is_(None), col(Campaign.ends_on) >= active_on),
        )
    if q:
        pattern = f"%{q.strip().lower()}%"
        query = query.where(
            sa.or_(
                sa.func.lower(Campaign.id).like(pattern), sa.func.lower(Campaign.name).like(pattern)
            )
        )
    total = session.exec(select(sa.func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(Campaign.id)).offset((page - 1) * page_size).limit(page_size)
    )
    return total, list(rows)


# --- asset ↔ campaign links ----------------------------------------------------------------


def _campaigns_changed(
    session: Session,
    *,
    ctx: Context,
    asset: Asset,
    actor: Principal,
    before: list[str],
    after: list[str],
) -> None:
    """Audit, event and a revision bump, so `updated_since` feeds and ETags see the change."""
    now = ctx.now()
    bump_revision(session, asset, now=now)
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    record(
        session,
        actor=actor,
        action="asset.campaigns_changed",
        asset_id=asset.id,
        version=asset.current_version,
        changes={"campaign_ids": {"before": before, "after": after}},
        now=now,
        published=True,
    )
    emit(
        session,
        "asset.campaigns_changed",
        asset=asset,
        version=asset.published_version,
        now=now,
        data={"campaign_ids": after, "added": added, "removed": removed},
    )


def add_asset_campaigns(
    session: Session, *, ctx: Context, asset: Asset, campaign_ids: Sequence[str], actor: Principal
) -> list[str]:
    """Link the asset to campaigns (idempotent); returns the asset's campaign ids."""
    now = ctx.now()
    ids = resolve_campaigns(
        session, list(campaign_ids), auto_create=ctx.settings.campaign_auto_create, now=now
    )
    before = campaign_ids_of(session, asset.id)
    new = [cid for cid in ids if cid not in before]
    if not new:
        return before
    for cid in new:
        session.add(
            AssetCampaign(asset_id=asset.id, campaign_id=cid, added_by=actor.id, added_at=now)
        )
    session.flush()
    after = sorted([*before, *new])
    _campaigns_changed(session, ctx=ctx, asset=asset, actor=actor, before=before, after=after)
    return after


def remove_asset_campaign(
    session: Session, *, ctx: Context, asset: Asset, campaign_id: str, actor: Principal
) -> list[str]:
    cid = normalize_campaign_id(campaign_id)
    link = session.get(AssetCampaign, (asset.id, cid))
    if link is None:
        raise NotFound(f"asset {asset.id} is not in campaign {cid}", code="campaign_link_not_found")
    before = campaign_ids_of(session, asset.id)
    session.delete(link)
    session.flush()
    after = [c for c in before if c != cid]
    _campaigns_changed(session, ctx=ctx, asset=asset, actor=actor, before=before, after=after)
    return after


# --- the automation feed -------------------------------------------------------------------


@dataclass(frozen=True)
class FeedFilters:
    terms: dict[str, list[str]]  # facet id -> term ids, already widened to descendants
    kind: str | None = None
    updated_since: datetime | None = None


def parse_term_filters(pack: GovernancePack, raw: Sequence[str]) -> dict[str, list[str]]:
    """`facet:term` pairs (ids, labels or synonyms). Terms of one facet are alternatives,
    facets must all match; a parent term matches its descendants."""
    out: dict[str, set[str]] = {}
    for item in raw:
        facet_text, sep, term_text = item.partition(":")
        if not sep or not facet_text.strip() or not term_text.strip():
            raise Invalid(f"term filter {item!r} must look like facet:term", code="invalid_filter")
        facet_id = pack.resolve_facet(facet_text.strip())
        if facet_id is None:
            raise Invalid(f"unknown facet {facet_text.strip()!r}", code="invalid_filter")
        term_id = pack.resolve(facet_id, term_text.strip())
        if term_id is None:
            raise Invalid(
                f"unknown term {term_text.strip()!r} in facet {facet_id}", code="invalid_filter"
            )
        out.setdefault(facet_id, set()).update(pack.descendants(facet_id, term_id))
    return {facet: sorted(terms) for facet, terms in out.items()}


def has_any_term(dialect: str, facet: str, term_ids: Sequence[str]) -> sa.ColumnElement[bool]:
    """`assets.terms[facet]` shares an element with `term_ids`, in the dialect's JSON idiom."""
    if dialect == "postgresql":
        array = sa.cast(sa.literal(list(term_ids), sa.ARRAY(sa.Text)), sa.ARRAY(sa.Text))
        return sa.type_coerce(col(Asset.terms), JSONB)[facet].has_any(array)
    values = sa.func.json_each(col(Asset.terms), f"$.{facet}").table_valued("value")
    return sa.exists(sa.select(1).select_from(values).where(values.c.value.in_(list(term_ids))))


def encode_cursor(updated_at: datetime, asset_id: uuid.UUID) -> str:
    raw = f"{updated_at.isoformat()}|{asset_id.hex}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, hexid = raw.partition("|")
        at = datetime.fromisoformat(stamp)
        if at.tzinfo is None:
            raise ValueError("naive")
        return at, uuid.UUID(hex=hexid)
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise Invalid(
            "the cursor is not valid; start again without it", code="invalid_cursor"
        ) from exc


def campaign_feed(
    session: Session,
    *,
    ctx: Context,
    campaign: Campaign,
    principal: Principal,
    base_url: str,
    limit: int,
    terms: Sequence[str] = (),
    kind: str | None = None,
    updated_since: datetime | None = None,
    cursor: str | None = None,
    channel: str | None = None,
) -> FeedPage:
    """The campaign's live, published assets, oldest change first, keyset-paginated on
    (updated_at, id) so concurrent edits never skip or repeat an item within one sync.
    `channel` is signed into each download link and recorded with the delivery."""
    now = ctx.now()
    if updated_since is not None and updated_since.tzinfo is None:
        raise Invalid("updated_since needs a timezone, e.g. 2026-11-01T00:00:00Z")
    pack = ctx.governance.pack
    filters = FeedFilters(
        terms=parse_term_filters(pack, terms), kind=kind, updated_since=updated_since
    )
    channel = resolve_channel(pack, channel) if channel else None
    dialect = session.get_bind().dialect.name
    query = (
        sa.select(
            col(Asset.id),
            col(Asset.title),
            col(Asset.terms),
            col(Asset.updated_at),
            col(AssetVersion.number),
            col(AssetVersion.sha256),
            col(AssetVersion.size),
            col(AssetVersion.mime_type),
            col(AssetVersion.kind),
            col(AssetVersion.width),
            col(AssetVersion.height),
            col(AssetVersion.renditions),
            # The published view's governed fields: the delivered copy's cache key (tags are
            # none of them, nor what presets are chosen by).
            col(Asset.description),
            col(Asset.rights_expire_at),
            col(Asset.extra),
            col(AssetVersion.id).label("version_id"),
            # Only whether it has transparency (what `format: auto` falls back to), not the blob.
            sa.type_coerce(col(AssetVersion.media), JSONType)["has_alpha"]
            .as_boolean()
            .label("has_alpha"),
            # The focal point the derivatives crop around (their cache keys), in the same trip.
            col(FocalPoint.version_id).label("focal_version"),
            col(FocalPoint.x).label("focal_x"),
            col(FocalPoint.y).label("focal_y"),
            col(FocalPoint.crops).label("focal_crops"),
        )
        .join(AssetCampaign, col(AssetCampaign.asset_id) == col(Asset.id))
        .join(
            AssetVersion,
            sa.and_(
                col(AssetVersion.asset_id) == col(Asset.id),
                col(AssetVersion.number) == col(Asset.published_version),
            ),
        )
        .outerjoin(FocalPoint, col(FocalPoint.version_id) == col(AssetVersion.id))
        .where(
            col(AssetCampaign.campaign_id) == campaign.id,
            col(Asset.status) == AssetStatus.active,
            col(AssetVersion.review_state) == ReviewState.approved,
            # The expiry job may not have run yet; an asset past its rights date is never served.
            sa.or_(col(Asset.rights_expire_at).is_(None), col(Asset.rights_expire_at) > now),
        )
    )
    for facet, term_ids in filters.terms.items():
        query = query.where(has_any_term(dialect, facet, term_ids))
    if filters.kind:
        query = query.where(col(AssetVersion.kind) == filters.kind)
    if filters.updated_since is not None:
        # Inclusive: a repeated item is harmless to a sync, a missed one is not.
        query = query.where(col(Asset.updated_at) >= filters.updated_since)
    if cursor:
        after_at, after_id = decode_cursor(cursor)
        query = query.where(
            sa.or_(
                col(Asset.updated_at) > after_at,
                sa.and_(col(Asset.updated_at) == after_at, col(Asset.id) > after_id),
            )
        )
    rows = session.execute(
        query.order_by(col(Asset.updated_at), col(Asset.id)).limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    expires_at = now + timedelta(seconds=ctx.settings.download_link_ttl_seconds)
    base = base_url.rstrip("/")
    # A link serves the delivered copy made for this campaign (dam.assets.delivery); the
    # worker makes it when the version is published or tagged. Until then the feed says null.
    # The values as read (fresh objects of this query: nothing else holds them to mutate).
    live = {
        row.id: Metadata(
            title=row.title,
            description=row.description,
            terms=row.terms or {},
            rights_expire_at=row.rights_expire_at,
            extra=row.extra or {},
        )
        for row in rows
    }
    copy_keys = {
        row.id: delivery.copy_key(
            ctx,
            asset_id=row.id,
            version=row.number,
            source_sha256=row.sha256,
            live=live[row.id],
            audience=delivery.DELIVERY_LINK_AUDIENCE,
            campaign_id=campaign.id,
        )
        for row in rows
    }
    # The presets that serve each item, by its terms and the campaign's channel.
    plans = derivatives.plan(
        ctx,
        session,
        [
            derivatives.Source(
                asset_id=row.id,
                version=row.number,
                version_id=row.version_id,
                sha256=row.sha256,
                width=row.width,
                height=row.height,
                alpha=bool(row.has_alpha),
                live=live[row.id],
            )
            for row in rows
            if row.kind == "image"
        ],
        channels=[campaign.channel] if campaign.channel else [],
        focal={
            row.version_id: derivatives.Focal(x=row.focal_x, y=row.focal_y, crops=row.focal_crops)
            for row in rows
            if row.focal_version is not None
        },
    )
    # What of it is made already: the derivatives and the delivered copies, in one query.
    made, copies = derivatives.stored_and_copies(session, plans.keys(), copy_keys.values())
    presets = plans.resolve(made)
    # Every link of the page names the same campaign, consumer, channel and expiry.
    sign = links.signer(
        campaign_id=campaign.id,
        consumer_id=principal.id,
        channel=channel,
        expires_at=expires_at,
        secret=ctx.settings.secret_key,
    )
    deliveries = f"{base}/api/v1/deliveries/"
    items = []
    for row in rows:
        copy = copies.get(copy_keys[row.id])
        items.append(
            FeedItem(
                id=row.id,
                title=row.title,
                version=row.number,
                sha256=row.sha256,
                size=row.size,
                mime_type=row.mime_type,
                kind=row.kind,
                width=row.width,
                height=row.height,
                terms=live[row.id].terms,
                renditions={
                    name: f"{base}/api/v1/assets/{row.id}/renditions/{name}?version={row.number}"
                    for name in sorted(row.renditions or {})
                },
                download_url=deliveries + sign(row.id, row.number, None),
                download_sha256=copy.sha256 if copy else None,
                download_size=copy.size if copy else None,
                download_expires_at=expires_at,
                updated_at=row.updated_at,
                derivatives=[
                    FeedDerivative(
                        preset=item.preset.id,
                        label=item.preset.label,
                        format=item.format,
                        width=item.made.width if item.made else item.width,
                        height=item.made.height if item.made else item.height,
                        url=deliveries + sign(row.id, row.number, item.preset.id),
                        sha256=item.made.sha256 if item.made else None,
                        size=item.made.size if item.made else None,
                    )
                    for item in presets.get(row.id, ())
                ],
            )
        )
    last = rows[-1] if rows else None
    return FeedPage(
        campaign_id=campaign.id,
        items=items,
        next_cursor=encode_cursor(last.updated_at, last.id) if more and last else None,
    )


def campaign_removals(
    session: Session,
    *,
    ctx: Context,
    campaign: Campaign,
    since: datetime,
    limit: int,
    cursor: str | None = None,
) -> RemovedPage:
    """The assets that left the campaign's feed at or after `since`, oldest first, so a client
    syncing with `updated_since` can drop them: taken off the campaign (from the audit trail),
    archived, expired (by status or by passing their rights date, which changes no row), or no
    longer published. It may name assets the client never received (a draft that was tagged);
    dropping an unknown id is a no-op. An asset that left and came back is not listed."""
    if since.tzinfo is None:
        raise Invalid("since needs a timezone, e.g. 2026-11-01T00:00:00Z")
    now = ctx.now()
    left: dict[uuid.UUID, tuple[datetime, str]] = {}

    # Still on the campaign, but no longer served (the feed's own conditions, inverted).
    tagged = session.execute(
        sa.select(
            col(Asset.id),
            col(Asset.status),
            col(Asset.rights_expire_at),
            col(Asset.updated_at),
            col(AssetVersion.review_state),
        )
        .join(AssetCampaign, col(AssetCampaign.asset_id) == col(Asset.id))
        .outerjoin(
            AssetVersion,
            sa.and_(
                col(AssetVersion.asset_id) == col(Asset.id),
                col(AssetVersion.number) == col(Asset.published_version),
            ),
        )
        .where(
            col(AssetCampaign.campaign_id) == campaign.id,
            sa.or_(
                col(Asset.updated_at) >= since,
                sa.and_(col(Asset.rights_expire_at) >= since, col(Asset.rights_expire_at) <= now),
            ),
        )
    )
    for asset_id, status, rights_end, updated_at, review_state in tagged:
        rights_passed = rights_end is not None and rights_end <= now
        served_but_for_rights = (
            status == AssetStatus.active and review_state == ReviewState.approved
        )
        if updated_at < since:
            # Unchanged since `since`: only its rights date passing can have taken it out.
            if served_but_for_rights and rights_passed:
                left[asset_id] = (rights_end, "expired")
            continue
        if status == AssetStatus.archived:
            left[asset_id] = (updated_at, "archived")
        elif status == AssetStatus.expired:
            left[asset_id] = (updated_at, "expired")
        elif review_state != ReviewState.approved:
            left[asset_id] = (updated_at, "unpublished")
        elif rights_passed:
            left[asset_id] = (max(updated_at, rights_end), "expired")

    # Taken off the campaign: the link row is gone, its audit event is not.
    untagged: dict[uuid.UUID, datetime] = {}
    events = session.execute(
        sa.select(col(AuditEvent.asset_id), col(AuditEvent.at), col(AuditEvent.changes)).where(
            col(AuditEvent.action) == "asset.campaigns_changed", col(AuditEvent.at) >= since
        )
    )
    for asset_id, at, changes in events:
        ids = (changes or {}).get("campaign_ids", {})
        if (
            asset_id
            and campaign.id in ids.get("before", [])
            and campaign.id not in ids.get("after", [])
        ):
            untagged[asset_id] = max(at, untagged.get(asset_id, at))
    if untagged:
        back = set(
            session.exec(
                select(AssetCampaign.asset_id).where(
                    AssetCampaign.campaign_id == campaign.id,
                    col(AssetCampaign.asset_id).in_(list(untagged)),
                )
            )
        )
        for asset_id, at in untagged.items():
            if asset_id not in back:
                left[asset_id] = (at, "untagged")

    ordered = sorted((at, asset_id, reason) for asset_id, (at, reason) in left.items())
    if cursor:
        after = decode_cursor(cursor)
        ordered = [row for row in ordered if (row[0], row[1]) > after]
    page = ordered[:limit]
    more = len(ordered) > limit
    return RemovedPage(
        campaign_id=campaign.id,
        since=since,
        items=[RemovedItem(id=i, reason=r, at=at) for at, i, r in page],
        next_cursor=encode_cursor(page[-1][0], page[-1][1]) if more else None,
    )


# --- tracked deliveries --------------------------------------------------------------------


def _first_byte_requested(range_header: str | None) -> bool:
    """Resumed or chunked downloads send several ranged requests; only the one that starts at
    byte 0 (or no range) counts as a delivery."""
    if not range_header:
        return True
    spec = range_header.strip().removeprefix("bytes=")
    return spec.startswith("0-")


def follow_delivery_link(
    session: Session,
    *,
    ctx: Context,
    token: str,
    range_header: str | None = None,
    client: str | None = None,
    placement_id: uuid.UUID | None = None,
) -> tuple[AssetVersion, links.DeliveryLink]:
    """Check a delivery link and record the delivery; returns the version whose bytes to send
    and the link (its campaign is written into the delivered copy). `placement_id`: the
    placement the fetch was for (checked by `dam.campaigns.deliveries`), recorded with it.

    The link pins a version; it is served only while that version is still the asset's
    published one and the asset is live and still in the campaign, so a link cannot outlive
    the approval it was issued under.

    A delivery is counted once per link and client (its address) within
    `DAM_DELIVERY_WINDOW_SECONDS`, and only for a fetch from the first byte: a player's or
    download manager's many ranged requests, retries and re-fetches are one delivery.
    """
    now = ctx.now()
    link = links.verify(token, secret=ctx.settings.secret_key, now=now)
    if link.consumer_id is not None:
        key = session.get(ApiKey, link.consumer_id)
        if key is not None:
            if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
                raise Forbidden(
                    "the key this link was issued to is no longer valid", code="invalid_link"
                )
            if key.campaign_scope is not None and link.campaign_id not in key.campaign_scope:
                raise NotFound("no such delivery", code="delivery_not_found")
    asset = session.get(Asset, link.asset_id)
    linked = session.get(AssetCampaign, (link.asset_id, link.campaign_id)) is not None
    if (
        asset is None
        or not linked
        or asset.status != AssetStatus.active
        or asset.published_version != link.version
        or (asset.rights_expire_at is not None and asset.rights_expire_at <= now)
    ):
        raise NotFound(
            "this asset version is no longer delivered for the campaign; fetch the feed again",
            code="delivery_not_found",
        )
    version = session.exec(
        select(AssetVersion).where(
            AssetVersion.asset_id == asset.id, AssetVersion.number == link.version
        )
    ).one()
    # One link fetched for two placements is two deliveries.
    scope = f"{token}\n{client or ''}" + (f"\n{placement_id.hex}" if placement_id else "")
    client_key = hashlib.sha256(scope.encode()).hexdigest()
    window = timedelta(seconds=ctx.settings.delivery_window_seconds)
    counted = session.exec(
        select(DeliveryEvent.id)
        .where(DeliveryEvent.client_key == client_key, col(DeliveryEvent.at) > now - window)
        .limit(1)
    ).first()
    if _first_byte_requested(range_header) and counted is None:
        session.add(
            DeliveryEvent(
                asset_id=asset.id,
                version=link.version,
                campaign_id=link.campaign_id,
                consumer_id=link.consumer_id,
                channel=link.channel,
                placement_id=placement_id,
                preset=link.preset,
                client_key=client_key,
                at=now,
            )
        )
    return version, link
