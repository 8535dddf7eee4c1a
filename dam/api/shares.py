"""Share links for people outside (`dam.collections.shares`): create, list, revoke, and the
record of every view and download. The links themselves are pages (`/s/{token}`, dam.web)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from dam.api.deps import ContextDep, PrincipalDep, SessionDep
from dam.api.openapi import errors
from dam.assets.access import is_visible
from dam.collections import shares
from dam.collections.schemas import (
    ShareEventPage,
    ShareLinkIn,
    ShareLinkOut,
    ShareLinkPage,
    SharePresetOut,
    SharePresetPage,
)
from dam.errors import NotFound
from dam.models import Asset, ShareLink

router = APIRouter(prefix="/api/v1", tags=["share links"])


def load_link(link_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> ShareLink:
    return shares.get_link(session, link_id, principal=principal)


LinkDep = Annotated[ShareLink, Depends(load_link)]


def _out(request: Request, ctx: ContextDep, session: SessionDep, link: ShareLink) -> ShareLinkOut:
    return shares.link_out(
        session,
        link,
        secret=ctx.settings.secret_key,
        base_url=str(request.base_url),
        now=ctx.now(),
    )


@router.post(
    "/share-links", status_code=201, response_model=ShareLinkOut, responses=errors(404, 409)
)
def create_link(
    data: ShareLinkIn,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    actor: PrincipalDep,
) -> ShareLinkOut:
    """A link to one published asset or one collection for people without an account:
    it shows only the published view, expires after `expires_in_hours`, may need a
    password (hashed like user passwords), may allow downloads (`preset`: `original`, the
    published file as delivered, or a derivative preset of the pack that serves the asset;
    for a collection, any preset: each image it serves goes as that derivative, the rest as
    originals) and may watermark its previews. `url` is the link to send."""
    link = shares.create_link(
        session, data=data, actor=actor, now=ctx.now(), pack=ctx.governance.pack
    )
    return _out(request, ctx, session, link)


@router.get("/share-links/presets", response_model=SharePresetPage, responses=errors(404))
def link_presets(
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    asset_id: Annotated[uuid.UUID | None, Query()] = None,
) -> SharePresetPage:
    """What a link's downloads may be: `original`, then the derivative presets that serve the
    asset (`asset_id`), or every preset of the pack (for a collection link)."""
    asset = None
    if asset_id is not None:
        asset = session.get(Asset, asset_id)
        if asset is None or not is_visible(principal, asset):
            raise NotFound(f"no asset {asset_id}", code="asset_not_found")
    choices = shares.preset_choices(session, pack=ctx.governance.pack, asset=asset)
    return SharePresetPage(items=[SharePresetOut(id=v, label=label) for v, label in choices])


@router.get("/share-links", response_model=ShareLinkPage)
def list_links(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    asset_id: Annotated[uuid.UUID | None, Query()] = None,
    collection_id: Annotated[uuid.UUID | None, Query()] = None,
) -> ShareLinkPage:
    """The links the caller manages (made by them; admins: all; a collection's owner: its
    links), newest first, with their view and download counts."""
    rows = shares.list_links(
        session, principal=principal, asset_id=asset_id, collection_id=collection_id
    )
    return ShareLinkPage(total=len(rows), items=[_out(request, ctx, session, r) for r in rows])


@router.get("/share-links/{link_id}", response_model=ShareLinkOut)
def get_link(link: LinkDep, request: Request, ctx: ContextDep, session: SessionDep) -> ShareLinkOut:
    return _out(request, ctx, session, link)


@router.post("/share-links/{link_id}/revoke", response_model=ShareLinkOut)
def revoke_link(
    link: LinkDep, request: Request, ctx: ContextDep, session: SessionDep, actor: PrincipalDep
) -> ShareLinkOut:
    """Stops the link at once; its page then says it was withdrawn."""
    shares.revoke_link(session, link=link, actor=actor, now=ctx.now())
    return _out(request, ctx, session, link)


@router.get("/share-links/{link_id}/events", response_model=ShareEventPage)
def link_events(
    link: LinkDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> ShareEventPage:
    """Every view, preview, download, unlock and wrong password through the link, newest
    first: when, which asset and version, the client's address and browser."""
    total, items = shares.events(session, link=link, limit=limit)
    return ShareEventPage(total=total, items=items)
