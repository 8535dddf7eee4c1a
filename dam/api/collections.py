"""Collections, zip downloads and saved searches (`dam.collections`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse
from sqlmodel import col, select

from dam.api.deps import AssetDep, ContextDep, PrincipalDep, SessionDep
from dam.api.openapi import binary, errors
from dam.collections import saved, zips
from dam.collections import service as collections
from dam.collections.schemas import (
    AddResult,
    AssetIdsIn,
    CollectionIn,
    CollectionOut,
    CollectionPage,
    CollectionPatch,
    ItemPage,
    OrderIn,
    SavedSearchIn,
    SavedSearchOut,
    SavedSearchPage,
    SavedSearchPatch,
    ZipIn,
)
from dam.context import Context
from dam.media import content_disposition
from dam.models import Asset, AssetVersion, Collection, SavedSearch
from dam.principal import Principal
from dam.search.schemas import MAX_PAGE_SIZE, SearchPage

router = APIRouter(prefix="/api/v1", tags=["collections"])


def load_collection(
    collection_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Collection:
    return collections.get_collection(session, collection_id, principal=principal)


CollectionDep = Annotated[Collection, Depends(load_collection)]


@router.post("/collections", status_code=201, response_model=CollectionOut, responses=errors(404))
def create_collection(
    data: CollectionIn, ctx: ContextDep, session: SessionDep, actor: PrincipalDep
) -> CollectionOut:
    """A new collection, private to its maker unless `shared_with` names roles or people;
    `asset_ids` adds assets at once, in that order."""
    collection = collections.create_collection(session, data=data, actor=actor, now=ctx.now())
    return collections.collection_out(session, collection, principal=actor)


@router.get("/collections", response_model=CollectionPage)
def list_collections(
    session: SessionDep,
    principal: PrincipalDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> CollectionPage:
    """The collections the caller owns or that are shared with their role or with them,
    most recently changed first (at most 200)."""
    total, rows = collections.list_collections(session, principal=principal, q=q)
    return CollectionPage(
        total=total,
        items=[collections.collection_out(session, c, principal=principal) for c in rows],
    )


@router.get("/collections/{collection_id}", response_model=CollectionOut)
def get_collection(
    collection: CollectionDep, session: SessionDep, principal: PrincipalDep
) -> CollectionOut:
    return collections.collection_out(session, collection, principal=principal)


@router.patch("/collections/{collection_id}", response_model=CollectionOut)
def patch_collection(
    collection: CollectionDep,
    patch: CollectionPatch,
    ctx: ContextDep,
    session: SessionDep,
    actor: PrincipalDep,
) -> CollectionOut:
    """Rename, describe, choose the cover (an asset of the collection), or replace whom it
    is shared with. Sharing and renaming are for the owner and admins; editors set the cover."""
    collections.update_collection(
        session, collection=collection, patch=patch, actor=actor, now=ctx.now()
    )
    return collections.collection_out(session, collection, principal=actor)


@router.delete("/collections/{collection_id}", status_code=204)
def delete_collection(
    collection: CollectionDep, ctx: ContextDep, session: SessionDep, actor: PrincipalDep
) -> Response:
    """Deletes the collection (never its assets) and revokes its share links at once."""
    collections.delete_collection(session, collection=collection, actor=actor, now=ctx.now())
    return Response(status_code=204)


@router.get("/collections/{collection_id}/items", response_model=ItemPage)
def list_items(
    collection: CollectionDep,
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ItemPage:
    """The assets in order, as the caller sees them: marketers and automation only the
    published, live ones, at their published version."""
    published_only = principal.sees_only_published
    total, rows = collections.entries(
        session,
        collection_id=collection.id,
        published_only=published_only,
        offset=(page - 1) * page_size,
        limit=page_size,
    )
    return ItemPage(
        total=total,
        page=page,
        page_size=page_size,
        items=[collections.item_out(e, published_only=published_only) for e in rows],
    )


@router.post("/collections/{collection_id}/items", response_model=AddResult)
def add_items(
    collection: CollectionDep,
    data: AssetIdsIn,
    ctx: ContextDep,
    session: SessionDep,
    actor: PrincipalDep,
) -> AddResult:
    """Appends assets (up to 500 at once, in the order given); assets already in the
    collection stay where they are. One asset the caller cannot see refuses them all (404)."""
    added, present = collections.add_items(
        session, collection=collection, asset_ids=data.asset_ids, actor=actor, now=ctx.now()
    )
    return AddResult(
        added=added,
        already_there=present,
        collection=collections.collection_out(session, collection, principal=actor),
    )


@router.delete("/collections/{collection_id}/items/{asset_id}", response_model=CollectionOut)
def remove_item(
    collection: CollectionDep,
    asset_id: uuid.UUID,
    ctx: ContextDep,
    session: SessionDep,
    actor: PrincipalDep,
) -> CollectionOut:
    collections.remove_item(
        session, collection=collection, asset_id=asset_id, actor=actor, now=ctx.now()
    )
    return collections.collection_out(session, collection, principal=actor)


@router.put("/collections/{collection_id}/order", response_model=CollectionOut)
def reorder(
    collection: CollectionDep,
    data: OrderIn,
    ctx: ContextDep,
    session: SessionDep,
    actor: PrincipalDep,
) -> CollectionOut:
    """Every asset of the collection, in the new order."""
    collections.reorder(
        session, collection=collection, asset_ids=data.asset_ids, actor=actor, now=ctx.now()
    )
    return collections.collection_out(session, collection, principal=actor)


@router.get("/assets/{asset_id}/collections", response_model=CollectionPage)
def asset_collections(
    asset: AssetDep, session: SessionDep, principal: PrincipalDep
) -> CollectionPage:
    """The caller's collections (own or shared with them) that hold this asset."""
    rows = collections.collections_holding(session, asset_id=asset.id, principal=principal)
    return CollectionPage(
        total=len(rows),
        items=[collections.collection_out(session, c, principal=principal) for c in rows],
    )


# --- zip downloads -------------------------------------------------------------------------


def zip_response(
    session: SessionDep,
    *,
    ctx: Context,
    principal: Principal,
    items: list[tuple[Asset, AssetVersion]],
    name: str,
    target: str,
    preset: str | None = None,
) -> StreamingResponse:
    plan = zips.prepare(
        session, ctx=ctx, principal=principal, items=items, target=target, preset=preset
    )
    filename = zips.zip_name(name)
    return StreamingResponse(
        zips.stream(ctx.store, plan, now=ctx.now()),
        media_type="application/zip",
        headers={
            "Content-Disposition": content_disposition(filename, inline=False),
            "Cache-Control": "no-store",
            "X-DAM-Files": str(len(plan.members)),
            "X-DAM-Omitted": str(plan.omitted),
        },
    )


@router.get("/collections/{collection_id}/zip", responses=binary(404, media="application/zip"))
def collection_zip(
    collection: CollectionDep,
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    preset: Annotated[str | None, Query(max_length=64)] = None,
) -> StreamingResponse:
    """The collection's assets as one zip, streamed: the files the caller would download one
    by one (originals for uploaders and reviewers; for marketers and automation the published
    versions as delivered, location stripped), in the collection's order, with
    `manifest.csv` first. `preset` (a derivative preset of the pack): each image the preset
    serves goes as that derivative, the other files as above."""
    _, rows = collections.entries(
        session, collection_id=collection.id, published_only=principal.sees_only_published
    )
    return zip_response(
        session,
        ctx=ctx,
        principal=principal,
        items=[(e.asset, e.version) for e in rows],
        name=collection.name,
        target=f"collection:{collection.id}",
        preset=preset,
    )


@router.post("/zip", responses=binary(404, media="application/zip"))
def selection_zip(
    data: ZipIn, ctx: ContextDep, session: SessionDep, principal: PrincipalDep
) -> StreamingResponse:
    """A selection of assets (up to 500) as one zip, like a collection's zip."""
    assets = collections.visible_assets(session, principal=principal, asset_ids=data.asset_ids)
    items = []
    for asset in assets:
        number = asset.published_version if principal.sees_only_published else asset.current_version
        version = session.exec(
            select(AssetVersion).where(
                col(AssetVersion.asset_id) == asset.id, col(AssetVersion.number) == number
            )
        ).one()
        items.append((asset, version))
    return zip_response(
        session,
        ctx=ctx,
        principal=principal,
        items=items,
        name=data.name,
        target=f"selection:{len(items)}",
        preset=data.preset,
    )


# --- saved searches ------------------------------------------------------------------------


def load_saved(saved_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> SavedSearch:
    return saved.get(session, saved_id, principal=principal)


SavedDep = Annotated[SavedSearch, Depends(load_saved)]


@router.post("/saved-searches", status_code=201, response_model=SavedSearchOut)
def create_saved_search(
    data: SavedSearchIn, ctx: ContextDep, session: SessionDep, actor: PrincipalDep
) -> SavedSearchOut:
    """Save a query and its filters under a name (`query` takes what `GET /search` takes,
    e.g. `{"q": "sunset", "region": ["emea"]}`). With `notify`, the worker announces every
    asset that newly matches as a `saved_search.matched` event (subscribe a webhook to it)."""
    return saved.saved_out(saved.create(session, ctx=ctx, data=data, actor=actor))


@router.get("/saved-searches", response_model=SavedSearchPage)
def list_saved_searches(session: SessionDep, principal: PrincipalDep) -> SavedSearchPage:
    rows = saved.list_for(session, principal=principal)
    return SavedSearchPage(total=len(rows), items=[saved.saved_out(r) for r in rows])


@router.get("/saved-searches/{saved_id}", response_model=SavedSearchOut)
def get_saved_search(row: SavedDep) -> SavedSearchOut:
    return saved.saved_out(row)


@router.patch("/saved-searches/{saved_id}", response_model=SavedSearchOut)
def patch_saved_search(
    row: SavedDep,
    patch: SavedSearchPatch,
    ctx: ContextDep,
    session: SessionDep,
    actor: PrincipalDep,
) -> SavedSearchOut:
    return saved.saved_out(saved.update(session, ctx=ctx, row=row, patch=patch, actor=actor))


@router.delete("/saved-searches/{saved_id}", status_code=204)
def delete_saved_search(
    row: SavedDep, ctx: ContextDep, session: SessionDep, actor: PrincipalDep
) -> Response:
    saved.delete(session, ctx=ctx, row=row, actor=actor)
    return Response(status_code=204)


@router.get("/saved-searches/{saved_id}/results", response_model=SearchPage)
def run_saved_search(
    row: SavedDep,
    ctx: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[int, Query(ge=1, le=400)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 25,
) -> SearchPage:
    """Run the saved search now, as `GET /search` would with its query."""
    return saved.run(session, ctx=ctx, row=row, principal=principal, page=page, page_size=page_size)
