"""Pages for collections, share links and saved searches, for people who are signed in.
Forms call the same services as the JSON API (dam.api.collections, dam.api.shares), then
redirect back with a message."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlmodel import Session

from dam.api.deps import AssetDep, ContextDep, SessionDep
from dam.assets import service as asset_service
from dam.collections import saved, shares, zips
from dam.collections import service as collections
from dam.collections.schemas import (
    CollectionIn,
    CollectionPatch,
    GrantIn,
    SavedSearchIn,
    SavedSearchPatch,
    ShareLinkIn,
)
from dam.context import Context
from dam.errors import DamError, Invalid, Unauthorized
from dam.media import content_disposition
from dam.models import Asset, Collection, Role
from dam.principal import Principal
from dam.web import auth, pages

router = APIRouter(include_in_schema=False, dependencies=[Depends(pages.verify_csrf)])
# The share form's download choices when a page does not say (pages pass `share_presets`:
# the original and the derivative presets of the pack that serve the asset).
pages.templates.env.globals["share_presets"] = list(shares.PRESET_LABELS.items())

Many = Annotated[list[str], Form(max_length=500)]
SHARE_ROLES = [
    (Role.brand_manager, "Brand managers"),
    (Role.designer, "Designers"),
    (Role.marketer, "Marketers"),
    (Role.automation, "Automation keys"),
]


def current_principal(request: Request, ctx: ContextDep) -> Principal:
    found = auth.session_user(ctx, request)
    if found is None:
        raise Unauthorized("sign in to continue", code="sign_in_required")
    return auth.principal_of(found[0])


WebPrincipal = Annotated[Principal, Depends(current_principal)]


def load_collection(
    collection_id: uuid.UUID, session: SessionDep, principal: WebPrincipal
) -> Collection:
    return collections.get_collection(session, collection_id, principal=principal)


CollectionDep = Annotated[Collection, Depends(load_collection)]


def _uuids(values: list[str], field: str) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(v) for v in values if v]
    except ValueError as exc:
        raise Invalid(
            f"{field} holds something that is not an asset id", code="invalid_id"
        ) from exc


def _link_url(request: Request, ctx: Context, link_id: uuid.UUID) -> str:
    token = shares.token_for(link_id, secret=ctx.settings.secret_key)
    return f"{str(request.base_url).rstrip('/')}/s/{token}"


def _links(
    request: Request, ctx: Context, session: Session, principal: Principal, **where: Any
) -> list[Any]:
    rows = shares.list_links(session, principal=principal, **where)
    return [
        shares.link_out(
            session,
            r,
            secret=ctx.settings.secret_key,
            base_url=str(request.base_url),
            now=ctx.now(),
        )
        for r in rows
    ]


def asset_panel(
    request: Request, ctx: Context, session: Session, *, principal: Principal, asset: Asset
) -> dict[str, Any]:
    """What the asset page's "Collections and sharing" card shows."""
    _, mine = collections.list_collections(session, principal=principal)
    holding = collections.collections_holding(session, asset_id=asset.id, principal=principal)
    return {
        "panel_collections": holding,
        "panel_choices": [c for c in mine if collections.rights_of(session, principal, c).edit],
        "panel_links": _links(request, ctx, session, principal, asset_id=asset.id),
        "panel_can_share": principal.may(shares.CREATORS) and asset.published_version is not None,
        "panel_can_collect": principal.may(collections.CURATORS),
        "share_presets": shares.preset_choices(session, pack=ctx.governance.pack, asset=asset),
    }


def selection_context(session: Session, *, principal: Principal) -> dict[str, Any]:
    """The collections the library's selection bar can add to."""
    _, mine = collections.list_collections(session, principal=principal)
    return {
        "selection_collections": [
            c for c in mine if collections.rights_of(session, principal, c).edit
        ]
    }


# --- collections ---------------------------------------------------------------------------


@router.get("/collections")
def collections_page(
    request: Request,
    session: SessionDep,
    principal: WebPrincipal,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    total, rows = collections.list_collections(session, principal=principal, q=q)
    cards = [collections.collection_out(session, c, principal=principal) for c in rows]
    return pages.render(
        request,
        "collections/list.html",
        principal,
        {
            "cards": cards,
            "total": total,
            "q": q or "",
            "can_create": principal.may(collections.CURATORS),
            "searches": [saved.saved_out(r) for r in saved.list_for(session, principal=principal)],
        },
    )


@router.post("/collections")
def create_collection(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    actor: WebPrincipal,
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    made: dict[str, uuid.UUID] = {}

    def create() -> None:
        if not name.strip():
            raise Invalid("give the collection a name", code="invalid_request")
        data = CollectionIn(name=name, description=description)
        made["id"] = collections.create_collection(
            session, data=data, actor=actor, now=ctx.now()
        ).id

    response = pages.act(
        session, ctx, create, done=f"Collection “{name.strip()}” created.", to="/collections"
    )
    if "id" in made:
        response.headers["location"] = f"/collections/{made['id']}"
    return response


@router.get("/collections/{collection_id}")
def collection_page(
    request: Request,
    collection: CollectionDep,
    ctx: ContextDep,
    session: SessionDep,
    principal: WebPrincipal,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    size = 100
    published_only = principal.sees_only_published
    total, rows = collections.entries(
        session,
        collection_id=collection.id,
        published_only=published_only,
        offset=(page - 1) * size,
        limit=size,
    )
    out = collections.collection_out(session, collection, principal=principal)
    rights = collections.rights_of(session, principal, collection)
    return pages.render(
        request,
        "collections/detail.html",
        principal,
        {
            "c": out,
            "items": [collections.item_out(e, published_only=published_only) for e in rows],
            "total": total,
            "page": page,
            "pages": max(1, -(-total // size)),
            "offset": (page - 1) * size,
            "rights": rights,
            "share_roles": SHARE_ROLES,
            "shared_roles": {g.role.value for g in out.shared_with if g.role},
            "edit_roles": {g.role.value for g in out.shared_with if g.role and g.can_edit},
            "shared_people": "\n".join(
                f"{g.email}{' (edit)' if g.can_edit else ''}"
                for g in out.shared_with
                if g.kind == "user" and g.email
            ),
            "links": _links(request, ctx, session, principal, collection_id=collection.id)
            if rights.edit
            else [],
            "can_share_out": rights.edit and principal.may(shares.CREATORS),
            "share_presets": shares.preset_choices(session, pack=ctx.governance.pack),
        },
    )


def _back(collection: Collection) -> str:
    return f"/collections/{collection.id}"


@router.post("/collections/add")
def add_to_collection(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    actor: WebPrincipal,
    asset_ids: Many = [],  # noqa: B006 (FastAPI copies it)
    collection_id: Annotated[str, Form(max_length=64)] = "",
    new_name: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/collections",
) -> Response:
    """From the asset page and the library's selection: into a collection, or a new one."""
    to = pages.safe_next(next)
    done: dict[str, str] = {}

    def add() -> None:
        ids = _uuids(asset_ids, "asset_ids")
        if not ids:
            raise Invalid("select at least one asset first", code="invalid_request")
        if new_name.strip():
            made = collections.create_collection(
                session,
                data=CollectionIn(name=new_name, asset_ids=ids),
                actor=actor,
                now=ctx.now(),
            )
            done["text"] = f"Added {len(ids)} asset{'' if len(ids) == 1 else 's'} to the new "
            done["text"] += f"collection “{made.name}”."
            return
        if not collection_id:
            raise Invalid("choose a collection or name a new one", code="invalid_request")
        target = collections.get_collection(
            session, _uuids([collection_id], "collection_id")[0], principal=actor
        )
        added, present = collections.add_items(
            session, collection=target, asset_ids=ids, actor=actor, now=ctx.now()
        )
        text = f"Added {len(added)} asset{'' if len(added) == 1 else 's'} to “{target.name}”"
        done["text"] = text + (f" ({len(present)} already there)." if present else ".")

    secret = ctx.settings.secret_key
    try:
        add()
    except DamError as exc:
        session.rollback()
        return pages.redirect_with(to, kind="error", text=str(exc.detail), secret=secret)
    return pages.redirect_with(to, kind="ok", text=done["text"], secret=secret)


@router.post("/collections/zip")
def selection_zip(
    ctx: ContextDep,
    session: SessionDep,
    actor: WebPrincipal,
    asset_ids: Many = [],  # noqa: B006
) -> Response:
    """The library's "Download selected": the same zip as POST /api/v1/zip."""
    ids = _uuids(asset_ids, "asset_ids")
    if not ids:
        raise Invalid("select at least one asset first", code="invalid_request")
    assets = collections.visible_assets(session, principal=actor, asset_ids=ids[:500])
    items = []
    for asset in assets:
        number = asset.published_version if actor.sees_only_published else asset.current_version
        assert number is not None
        items.append((asset, asset_service.get_version(session, asset, number)))
    return _zip(session, ctx, actor, items, name="selection", target=f"selection:{len(items)}")


def _zip(
    session: Session,
    ctx: Context,
    actor: Principal,
    items: list[Any],
    *,
    name: str,
    target: str,
) -> Response:
    plan = zips.prepare(session, ctx=ctx, principal=actor, items=items, target=target)
    return StreamingResponse(
        zips.stream(ctx.store, plan, now=ctx.now()),
        media_type="application/zip",
        headers={
            "Content-Disposition": content_disposition(zips.zip_name(name), inline=False),
            "Cache-Control": "no-store",
        },
    )


@router.post("/collections/{collection_id}/items/{asset_id}/remove")
def remove_item(
    asset_id: uuid.UUID,
    _asset: AssetDep,  # 404 for an asset the user may not see
    collection: CollectionDep,
    ctx: ContextDep,
    session: SessionDep,
    actor: WebPrincipal,
) -> Response:
    return pages.act(
        session,
        ctx,
        lambda: collections.remove_item(
            session, collection=collection, asset_id=asset_id, actor=actor, now=ctx.now()
        ),
        done="Removed from the collection (the asset itself is unchanged).",
        to=_back(collection),
    )


@router.post("/collections/{collection_id}/items/{asset_id}/move")
def move_item(
    asset_id: uuid.UUID,
    _asset: AssetDep,  # 404 for an asset the user may not see
    collection: CollectionDep,
    ctx: ContextDep,
    session: SessionDep,
    actor: WebPrincipal,
    direction: Annotated[str, Form(pattern="^(earlier|later|first)$")] = "earlier",
) -> Response:
    def move() -> None:
        _, rows = collections.entries(session, collection_id=collection.id, published_only=False)
        order = [e.asset.id for e in rows]
        if asset_id not in order:
            raise Invalid("that asset is not in this collection", code="item_not_found")
        i = order.index(asset_id)
        order.pop(i)
        j = 0 if direction == "first" else max(0, i - 1) if direction == "earlier" else i + 1
        order.insert(min(j, len(order)), asset_id)
        collections.reorder(
            session, collection=collection, asset_ids=order, actor=actor, now=ctx.now()
        )

    return pages.act(session, ctx, move, done="Order saved.", to=_back(collection))


@router.post("/collections/{collection_id}/cover/{asset_id}")
def set_cover(
    asset_id: uuid.UUID,
    _asset: AssetDep,  # 404 for an asset the user may not see
    collection: CollectionDep,
    ctx: ContextDep,
    session: SessionDep,
    actor: WebPrincipal,
) -> Response:
    patch = CollectionPatch(cover_asset_id=asset_id)
    return pages.act(
        session,
        ctx,
        lambda: collections.update_collection(
            session, collection=collection, patch=patch, actor=actor, now=ctx.now()
        ),
        done="Cover chosen.",
        to=_back(collection),
    )


@router.post("/collections/{collection_id}/settings")
def collection_settings(
    collection: CollectionDep,
    ctx: ContextDep,
    session: SessionDep,
    actor: WebPrincipal,
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=5000)] = "",
    roles: Many = [],  # noqa: B006
    edit_roles: Many = [],  # noqa: B006
    people: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """Name, description and whom it is shared with (one email a line; "(edit)" after an
    email lets that person add and reorder)."""

    def save() -> None:
        grants = [GrantIn(role=Role(r), can_edit=r in edit_roles) for r in roles]
        for line in people.splitlines():
            text = line.strip()
            if not text:
                continue
            can_edit = text.lower().endswith("(edit)")
            email = text[: -len("(edit)")].strip() if can_edit else text
            grants.append(GrantIn(email=email, can_edit=can_edit))
        if not name.strip():
            raise Invalid("the collection needs a name", code="invalid_request")
        patch = CollectionPatch(name=name, description=description, shared_with=grants)
        collections.update_collection(
            session, collection=collection, patch=patch, actor=actor, now=ctx.now()
        )

    return pages.act(session, ctx, save, done="Collection saved.", to=_back(collection))


@router.post("/collections/{collection_id}/delete")
def delete_collection(
    collection: CollectionDep, ctx: ContextDep, session: SessionDep, actor: WebPrincipal
) -> Response:
    name = collection.name
    return pages.act(
        session,
        ctx,
        lambda: collections.delete_collection(
            session, collection=collection, actor=actor, now=ctx.now()
        ),
        done=f"Collection “{name}” deleted; its share links no longer work.",
        to="/collections",
    )


@router.get("/collections/{collection_id}/zip")
def collection_zip(
    collection: CollectionDep, ctx: ContextDep, session: SessionDep, principal: WebPrincipal
) -> Response:
    _, rows = collections.entries(
        session, collection_id=collection.id, published_only=principal.sees_only_published
    )
    return _zip(
        session,
        ctx,
        principal,
        [(e.asset, e.version) for e in rows],
        name=collection.name,
        target=f"collection:{collection.id}",
    )


# --- share links ---------------------------------------------------------------------------


@router.post("/share-links")
def create_share_link(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    actor: WebPrincipal,
    asset_id: Annotated[str, Form(max_length=64)] = "",
    collection_id: Annotated[str, Form(max_length=64)] = "",
    label: Annotated[str, Form(max_length=200)] = "",
    days: Annotated[int, Form(ge=1, le=366)] = 14,
    password: Annotated[str, Form(max_length=200)] = "",
    allow_download: Annotated[bool, Form()] = False,
    watermark: Annotated[bool, Form()] = False,
    preset: Annotated[str, Form(max_length=64)] = "original",
    next: Annotated[str, Form(max_length=2000)] = "/collections",
) -> Response:
    to = pages.safe_next(next)
    secret = ctx.settings.secret_key
    try:
        data = ShareLinkIn(
            asset_id=_uuids([asset_id], "asset_id")[0] if asset_id else None,
            collection_id=_uuids([collection_id], "collection_id")[0] if collection_id else None,
            label=label,
            expires_in_hours=days * 24,
            password=password or None,
            allow_download=allow_download,
            preset=preset,
            watermark=watermark,
        )
        link = shares.create_link(
            session, data=data, actor=actor, now=ctx.now(), pack=ctx.governance.pack
        )
    except DamError as exc:
        session.rollback()
        return pages.redirect_with(to, kind="error", text=str(exc.detail), secret=secret)
    url = _link_url(request, ctx, link.id)
    return pages.redirect_with(
        to,
        kind="ok",
        text=f"Share link made; send it to whoever needs it: {url}",
        secret=secret,
    )


@router.post("/share-links/{link_id}/revoke")
def revoke_share_link(
    link_id: uuid.UUID,
    ctx: ContextDep,
    session: SessionDep,
    actor: WebPrincipal,
    next: Annotated[str, Form(max_length=2000)] = "/collections",
) -> Response:
    def revoke() -> None:
        link = shares.get_link(session, link_id, principal=actor)
        shares.revoke_link(session, link=link, actor=actor, now=ctx.now())

    return pages.act(
        session,
        ctx,
        revoke,
        done="Share link revoked: it stopped working.",
        to=pages.safe_next(next),
    )


@router.get("/share-links/{link_id}")
def share_link_page(
    link_id: uuid.UUID,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    principal: WebPrincipal,
) -> Response:
    link = shares.get_link(session, link_id, principal=principal)
    total, events = shares.events(session, link=link, limit=500)
    out = shares.link_out(
        session, link, secret=ctx.settings.secret_key, base_url=str(request.base_url), now=ctx.now()
    )
    return pages.render(
        request,
        "collections/link.html",
        principal,
        {"link": out, "events": events, "total": total},
    )


# --- saved searches ------------------------------------------------------------------------


def _query_of(raw: str) -> dict[str, Any]:
    """The library's query string as a saved search's query (repeated keys become lists)."""
    query: dict[str, Any] = {}
    for name, value in parse_qsl(raw, keep_blank_values=False):
        if name == "page":
            continue
        if name in ("q", "sort"):
            query[name] = value
        else:
            query.setdefault(name, []).append(value)
    return query


@router.post("/saved-searches")
def save_search(
    ctx: ContextDep,
    session: SessionDep,
    actor: WebPrincipal,
    name: Annotated[str, Form(max_length=200)] = "",
    query: Annotated[str, Form(max_length=4000)] = "",
    notify: Annotated[bool, Form()] = False,
) -> Response:
    back = "/library" + (f"?{query}" if query else "")

    def create() -> None:
        if not name.strip():
            raise Invalid("give the search a name", code="invalid_request")
        data = SavedSearchIn(name=name, query=_query_of(query), notify=notify)
        saved.create(session, ctx=ctx, data=data, actor=actor)

    return pages.act(
        session, ctx, create, done=f"Search saved as “{name.strip()}”.", to=pages.safe_next(back)
    )


@router.post("/saved-searches/{saved_id}/notify")
def toggle_notify(
    saved_id: uuid.UUID,
    ctx: ContextDep,
    session: SessionDep,
    actor: WebPrincipal,
    notify: Annotated[bool, Form()] = False,
) -> Response:
    def toggle() -> None:
        row = saved.get(session, saved_id, principal=actor)
        saved.update(session, ctx=ctx, row=row, patch=SavedSearchPatch(notify=notify), actor=actor)

    return pages.act(
        session,
        ctx,
        toggle,
        done="Notifications on." if notify else "Notifications off.",
        to="/collections#saved",
    )


@router.post("/saved-searches/{saved_id}/delete")
def delete_search(
    saved_id: uuid.UUID, ctx: ContextDep, session: SessionDep, actor: WebPrincipal
) -> Response:
    def delete() -> None:
        saved.delete(
            session, ctx=ctx, row=saved.get(session, saved_id, principal=actor), actor=actor
        )

    return pages.act(
        session,
        ctx,
        delete,
        done="Saved search deleted.",
        to="/collections#saved",
    )


__all__ = ["asset_panel", "router", "selection_context"]
