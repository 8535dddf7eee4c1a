"""Following a delivery link for a placement (`GET /deliveries/{token}?placement=`).

An ad server or email renderer fetching a creative for one of its ads can say which: the
placement's id, or its external id (the platform's ad id) when that names one placement of the
link's campaign. The placement must be of the link's campaign and asset. The delivery is
recorded with it, and since the fetch shows which version that placement now serves, a
placement pointing at another version of the asset is re-pointed to the fetched one from that
moment (as a `POST …/placements` would; rows already ingested keep their attribution), so the
days that follow are attributed to what actually ran.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session, col, select

from dam.campaigns import links, placements, service
from dam.context import Context
from dam.errors import Conflict, NotFound
from dam.models import ApiKey, AssetVersion, Placement
from dam.principal import SYSTEM, Principal


def _placement(session: Session, link: links.DeliveryLink, ref: str) -> Placement:
    found: list[Placement] = []
    try:
        by_id = session.get(Placement, uuid.UUID(ref))
    except ValueError:
        by_id = None
    if by_id is not None and by_id.campaign_id == link.campaign_id:
        found = [by_id]
    else:
        found = list(
            session.exec(
                select(Placement).where(
                    col(Placement.campaign_id) == link.campaign_id,
                    col(Placement.external_id) == ref,
                )
            ).all()
        )
    if not found:
        raise NotFound(
            f"no placement {ref!r} in campaign {link.campaign_id}; register it with "
            "POST /campaigns/{id}/placements, or fetch without `placement`",
            code="unknown_placement",
        )
    if len(found) > 1:
        raise Conflict(
            f"external id {ref!r} names {len(found)} placements of campaign "
            f"{link.campaign_id} (several platforms or accounts); send the placement's id",
            code="ambiguous_placement",
        )
    (placement,) = found
    if placement.asset_id != link.asset_id:
        raise Conflict(
            f"placement {ref!r} shows asset {placement.asset_id}, not the asset of this link "
            f"({link.asset_id}); re-point it with POST /campaigns/{{id}}/placements first",
            code="placement_mismatch",
        )
    return placement


def _actor(session: Session, link: links.DeliveryLink) -> Principal:
    key = session.get(ApiKey, link.consumer_id) if link.consumer_id is not None else None
    if key is None:
        return SYSTEM
    return Principal(id=key.id, name=key.name, role=key.role)


def follow(
    session: Session,
    *,
    ctx: Context,
    token: str,
    range_header: str | None = None,
    client: str | None = None,
    placement: str | None = None,
) -> tuple[AssetVersion, links.DeliveryLink]:
    """`service.follow_delivery_link`, with the placement the fetch is for when given."""
    if placement is None:
        return service.follow_delivery_link(
            session, ctx=ctx, token=token, range_header=range_header, client=client
        )
    link = links.verify(token, secret=ctx.settings.secret_key, now=ctx.now())
    target = _placement(session, link, placement)
    version, link = service.follow_delivery_link(
        session,
        ctx=ctx,
        token=token,
        range_header=range_header,
        client=client,
        placement_id=target.id,
    )
    if target.version != link.version:
        placements.repoint(
            session,
            target,
            asset_id=link.asset_id,
            version=link.version,
            now=ctx.now(),
            actor=_actor(session, link),
        )
    return version, link
