"""The pages people outside open from a share link (`/s/{token}`): no account, the published
view only, every view and download recorded (dam.collections.shares). An expired, revoked or
unknown link gets a page that says so, never the asset."""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated, Any, TypedDict

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session

from dam.api.content import blob_response, derivative_response
from dam.api.deps import ContextDep, SessionDep
from dam.api.middleware import BodyKind, body_kind
from dam.assets import delivery, derivatives
from dam.assets.metadata import Metadata
from dam.collections import service as collections
from dam.collections import shares, zips
from dam.context import Context
from dam.errors import DamError, NotFound
from dam.media import content_disposition
from dam.models import ShareLink
from dam.web.pages import templates

router = APIRouter(include_in_schema=False)

UNLOCK_COOKIE = "dam_share"
FORM_COOKIE = "dam_share_form"
UNLOCK_MAX_AGE = 12 * 3600
PAGE_SIZE = 60
PRIVATE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


class Visitor(TypedDict):
    client: str | None
    user_agent: str | None


def _client(request: Request) -> Visitor:
    return {
        "client": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent"),
    }


def _unlocks(ctx: Context) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ctx.settings.secret_key, salt="dam.share.unlock")


def _unlocked(request: Request, ctx: Context, link: ShareLink) -> bool:
    if link.password_hash is None:
        return True
    raw = request.cookies.get(UNLOCK_COOKIE)
    if not raw:
        return False
    try:
        value = _unlocks(ctx).loads(raw, max_age=UNLOCK_MAX_AGE)
    except BadSignature:
        return False
    return bool(value == link.id.hex)


def _render(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> Response:
    response = templates.TemplateResponse(
        request, name, {"me": None, **context}, status_code=status_code
    )
    response.headers.update(PRIVATE)
    return response


def _unavailable(request: Request, exc: DamError) -> Response:
    titles = {
        "link_expired": "This link has expired",
        "link_revoked": "This link was withdrawn",
        "link_not_found": "This link does not exist",
        "too_many_attempts": "Too many attempts",
    }
    response = _render(
        request,
        "shares/unavailable.html",
        {"title": titles.get(exc.code, "Not available"), "detail": exc.detail, "code": exc.code},
        status_code=exc.status_code,
    )
    if "retry_after" in exc.extra:
        response.headers["Retry-After"] = str(exc.extra["retry_after"])
    return response


def _open(request: Request, ctx: Context, session: Session, token: str) -> ShareLink | Response:
    """The usable, unlocked link, or the page to answer with instead."""
    try:
        link = shares.usable(session, token, secret=ctx.settings.secret_key, now=ctx.now())
    except DamError as exc:
        return _unavailable(request, exc)
    if not _unlocked(request, ctx, link):
        return _password_page(request, token=token, link=link)
    return link


def _password_page(
    request: Request, *, token: str, link: ShareLink, error: str | None = None
) -> Response:
    form_token = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(24)
    response = _render(
        request,
        "shares/password.html",
        {"token": token, "link": link, "error": error, "form_token": form_token},
        status_code=401 if error is None else 400,
    )
    response.set_cookie(
        FORM_COOKIE,
        form_token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=f"/s/{token}",
    )
    return response


def _view(entry: collections.Entry) -> dict[str, Any]:
    live = Metadata.of(entry.asset)
    extra = live.extra

    def text(name: str) -> str:
        value = extra.get(name)
        if isinstance(value, list):
            return "; ".join(str(v) for v in value)
        return str(value) if value else ""

    return {
        "id": entry.asset.id,
        "title": live.title or entry.version.filename,
        "description": live.description,
        "filename": entry.version.filename,
        "kind": entry.version.kind,
        "size": entry.version.size,
        "width": entry.version.width,
        "height": entry.version.height,
        "has_thumb": "thumb" in (entry.version.renditions or {}),
        "has_preview": "preview" in (entry.version.renditions or {}),
        "credit": text("credit") or text("creator"),
        "copyright": text("copyright"),
        "usage_terms": text("usage_terms"),
        "rights_expire_at": live.rights_expire_at,
    }


@router.get("/s/{token}")
def share_page(
    token: str, request: Request, ctx: ContextDep, session: SessionDep, page: int = 1
) -> Response:
    opened = _open(request, ctx, session, token)
    if isinstance(opened, Response):
        return opened
    link = opened
    page = max(1, min(page, 10_000))
    total, rows = shares.shared_entries(
        session, link=link, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    shares.note(session, link=link, action="view", now=ctx.now(), **_client(request))
    collection = shares.collection_of(session, link)
    items = [_view(e) for e in rows]
    return _render(
        request,
        "shares/share.html",
        {
            "token": token,
            "link": link,
            "collection": collection,
            "items": items,
            "single": items[0] if link.asset_id is not None and items else None,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
        },
    )


@router.post("/s/{token}")
@body_kind(BodyKind.public)
def unlock(
    token: str,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    password: Annotated[str, Form(max_length=200)] = "",
    form_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """The password form: a right password sets a cookie for this link only (12 hours)."""
    try:
        link = shares.usable(session, token, secret=ctx.settings.secret_key, now=ctx.now())
    except DamError as exc:
        return _unavailable(request, exc)
    expected = request.cookies.get(FORM_COOKIE)
    if not expected or not secrets.compare_digest(expected, form_token):
        return _password_page(
            request, token=token, link=link, error="The form expired; enter the password again."
        )
    try:
        ok = shares.check_password(
            session, link=link, password=password, now=ctx.now(), **_client(request)
        )
    except DamError as exc:
        session.commit()
        return _unavailable(request, exc)
    if not ok:
        session.commit()  # the wrong attempt stays recorded
        return _password_page(request, token=token, link=link, error="That password is not right.")
    response = RedirectResponse(f"/s/{token}", status_code=303)
    response.set_cookie(
        UNLOCK_COOKIE,
        _unlocks(ctx).dumps(link.id.hex),
        max_age=UNLOCK_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path=f"/s/{token}",
    )
    response.delete_cookie(FORM_COOKIE, path=f"/s/{token}")
    return response


def _entry(
    request: Request, ctx: Context, session: Session, token: str, asset_id: uuid.UUID
) -> tuple[ShareLink, collections.Entry] | Response:
    opened = _open(request, ctx, session, token)
    if isinstance(opened, Response):
        return opened
    try:
        return opened, shares.shared_entry(session, link=opened, asset_id=asset_id)
    except NotFound as exc:
        return _render(
            request,
            "shares/unavailable.html",
            {"title": "Not in this link", "detail": exc.detail, "code": exc.code},
            status_code=404,
        )


@router.get("/s/{token}/assets/{asset_id}")
def shared_asset_page(
    token: str, asset_id: uuid.UUID, request: Request, ctx: ContextDep, session: SessionDep
) -> Response:
    found = _entry(request, ctx, session, token, asset_id)
    if isinstance(found, Response):
        return found
    link, entry = found
    shares.note(
        session,
        link=link,
        action="view",
        now=ctx.now(),
        asset_id=entry.asset.id,
        version=entry.version.number,
        **_client(request),
    )
    return _render(
        request,
        "shares/asset.html",
        {
            "token": token,
            "link": link,
            "collection": shares.collection_of(session, link),
            "item": _view(entry),
        },
    )


@router.get("/s/{token}/assets/{asset_id}/{kind}.webp")
def shared_rendition(
    token: str,
    asset_id: uuid.UUID,
    kind: str,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
) -> Response:
    """The published version's thumbnail or preview (watermarked when the link says so)."""
    found = _entry(request, ctx, session, token, asset_id)
    if isinstance(found, Response):
        return found
    link, entry = found
    key = (entry.version.renditions or {}).get(kind) if kind in ("thumb", "preview") else None
    if key is None:
        return JSONResponse(
            {"error": "rendition_not_found", "detail": f"no {kind} image for this asset (yet)"},
            status_code=404,
            headers=PRIVATE,
        )
    data = b"".join(ctx.store.open(key))
    if link.watermark:
        data = shares.watermarked(data, text=link.label or "Preview")
    return Response(
        data,
        media_type="image/webp",
        headers={**PRIVATE, "X-Content-Type-Options": "nosniff"},
    )


@router.get("/s/{token}/assets/{asset_id}/download")
def shared_download(
    token: str, asset_id: uuid.UUID, request: Request, ctx: ContextDep, session: SessionDep
) -> Response:
    found = _entry(request, ctx, session, token, asset_id)
    if isinstance(found, Response):
        return found
    link, entry = found
    if not link.allow_download:
        return _render(
            request,
            "shares/unavailable.html",
            {
                "title": "Downloads are not offered",
                "detail": "this link lets you view the files; ask for a link with downloads",
                "code": "download_not_allowed",
            },
            status_code=403,
        )
    preset = zips.serving_preset(
        session, ctx=ctx, asset=entry.asset, version=entry.version, preset_id=link.preset
    )
    response: Response
    if preset is not None:
        # The link's derivative preset, rendered from the published version (cached).
        try:
            made = derivatives.derivative(
                session, ctx=ctx, asset=entry.asset, version=entry.version, preset=preset
            )
        except DamError as exc:
            return _render(
                request,
                "shares/unavailable.html",
                {"title": "This file cannot be made", "detail": exc.detail, "code": exc.code},
                status_code=exc.status_code,
            )
        response = derivative_response(
            made, ctx, if_none_match=None, cache_control="no-store", vary_accept=False
        )
        filename = made.filename
    else:
        sent = delivery.served(
            session, ctx=ctx, asset=entry.asset, version=entry.version, audience=shares.AUDIENCE
        )
        response = blob_response(
            ctx, sent, range_header=request.headers.get("range"), extra_headers=sent.headers()
        )
        filename = sent.filename
    shares.note(
        session,
        link=link,
        action="download",
        now=ctx.now(),
        asset_id=entry.asset.id,
        version=entry.version.number,
        detail=preset.id if preset is not None else shares.ORIGINAL,
        **_client(request),
    )
    response.headers["Content-Disposition"] = content_disposition(filename, inline=False)
    response.headers.update(PRIVATE)
    return response


@router.get("/s/{token}/zip")
def shared_zip(token: str, request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    """Every file of a collection link as one zip (when the link allows downloads)."""
    opened = _open(request, ctx, session, token)
    if isinstance(opened, Response):
        return opened
    link = opened
    if not link.allow_download or link.collection_id is None:
        return _render(
            request,
            "shares/unavailable.html",
            {
                "title": "Downloads are not offered",
                "detail": "this link lets you view the files, not download them",
                "code": "download_not_allowed",
            },
            status_code=403,
        )
    _, rows = shares.shared_entries(session, link=link)
    plan = zips.plan(
        session,
        ctx=ctx,
        items=[(e.asset, e.version) for e in rows],
        audience=shares.AUDIENCE,
        preset=None if link.preset == shares.ORIGINAL else link.preset,
    )
    shares.note(
        session,
        link=link,
        action="zip",
        now=ctx.now(),
        detail=f"{len(plan.members)} files",
        **_client(request),
    )
    collection = shares.collection_of(session, link)
    name = zips.zip_name(collection.name if collection else "shared")
    return StreamingResponse(
        zips.stream(ctx.store, plan, now=ctx.now()),
        media_type="application/zip",
        headers={**PRIVATE, "Content-Disposition": content_disposition(name, inline=False)},
    )
