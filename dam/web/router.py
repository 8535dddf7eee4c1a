"""The web UI's pages. Reads go through the domain services; actions are HTML forms that call
the same service functions as the JSON API, then redirect back with a message (POST/redirect/GET).

Uploads, validation and type-ahead run in the browser against the JSON API with the session
cookie (see `dam.web.auth.session_principal`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from dam.api.deps import Analyst, AssetDep, ContextDep, Reviewer, SessionDep, Tagger, Uploader
from dam.api.middleware import BodyKind, body_kind
from dam.assets import derivatives as asset_derivatives
from dam.assets import service as asset_service
from dam.bounds import SafeDate, VersionNumber
from dam.campaigns import reports
from dam.campaigns import service as campaign_service
from dam.context import Context
from dam.errors import DamError, Unauthorized
from dam.models import Asset
from dam.principal import Principal
from dam.search import service as search_service
from dam.search.base import SortOrder
from dam.search.schemas import SearchParams
from dam.web import auth, edit_form, pages
from dam.web import collections as collection_pages
from dam.web import service as web
from dam.workflow import service as workflow

router = APIRouter(include_in_schema=False, dependencies=[Depends(pages.verify_csrf)])

LIBRARY_PAGE_SIZE = 24
# Query parameters of the library that are not taxonomy facets.
LIBRARY_FILTERS = ("type", "status", "review_state", "compliance", "campaign", "orientation")


def current_principal(request: Request, ctx: ContextDep) -> Principal:
    found = auth.session_user(ctx, request)
    if found is None:
        raise Unauthorized("sign in to continue", code="sign_in_required")
    return auth.principal_of(found[0])


WebPrincipal = Annotated[Principal, Depends(current_principal)]


# --- sign-in -------------------------------------------------------------------------------


@router.get("/")
def home(request: Request, ctx: ContextDep) -> RedirectResponse:
    signed_in = auth.session_user(ctx, request) is not None
    return RedirectResponse("/library" if signed_in else "/sign-in", status_code=303)


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "/library") -> Response:
    return pages.render_sign_in(request, next_url=pages.safe_next(next))


@router.post("/sign-in")
@body_kind(BodyKind.public)
def sign_in(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "/library",
) -> Response:
    try:
        user = auth.authenticate_user(session, email=email, password=password, now=ctx.now())
    except DamError as exc:
        return pages.render_sign_in(
            request,
            next_url=pages.safe_next(next),
            error=str(exc.detail),
            email=email,
            status_code=exc.status_code if exc.status_code == 429 else 400,
            retry_after=exc.extra.get("retry_after"),
        )
    return pages.start_session(request, ctx, user, next_url=pages.safe_next(next))


@router.post("/sign-out")
def sign_out(request: Request, session: SessionDep) -> Response:
    """Ends every session of the signed-in user (this browser's and any copy of its cookie)."""
    return pages.end_session(request, session)


# --- library -------------------------------------------------------------------------------


@router.get("/library")
def library(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    principal: WebPrincipal,
    q: Annotated[str | None, Query(max_length=500)] = None,
    sort: Annotated[str, Query(max_length=20)] = "",
    page: Annotated[int, Query(ge=1, le=400)] = 1,
) -> Response:
    # The sort menu's "Best match" submits an empty value; anything unknown means the default.
    order = SortOrder(sort) if sort in SortOrder.__members__ else None
    pack = ctx.governance.pack
    query = request.query_params
    facets = {name: query.getlist(name) for name in query if pack.has_facet(name)}
    filters: dict[str, Any] = {name: query.getlist(name) for name in LIBRARY_FILTERS}
    try:
        params = SearchParams(
            q=q, sort=order, page=page, page_size=LIBRARY_PAGE_SIZE, facets=facets, **filters
        )
        result = search_service.search_assets(session, ctx=ctx, principal=principal, params=params)
    except (DamError, ValueError) as exc:
        return pages.render(
            request,
            "library.html",
            principal,
            {"result": None, "error": str(getattr(exc, "detail", exc)), "q": q or ""},
            status_code=400,
        )
    context = pages.library_context(pack, query=query, result=result, q=q or "", sort=order)
    context["bulk_facets"] = [{"id": f.id, "label": f.label} for f in pack.facets]
    context.update(collection_pages.selection_context(session, principal=principal))
    return pages.render(request, "library.html", principal, context)


# --- asset page and its actions ------------------------------------------------------------


@router.get("/assets/{asset_id}")
def asset_page(
    request: Request, asset: AssetDep, ctx: ContextDep, session: SessionDep, principal: WebPrincipal
) -> Response:
    return render_asset_page(request, asset, ctx, session, principal)


def render_asset_page(
    request: Request,
    asset: Asset,
    ctx: Context,
    session: Session,
    principal: Principal,
    *,
    refused: dict[str, Any] | None = None,
) -> Response:
    """The asset page; `refused` (dam.web.edit_form.refused_context) shows a refused edit's
    problems with the form open, holding what was typed."""
    view = web.asset_view(session, ctx=ctx, principal=principal, asset=asset)
    choices = web.tag_choices(session, exclude=[c.id for c in view.campaigns])
    similar = search_service.similar_assets(
        session, principal=principal, asset=asset, max_distance=SIMILAR_DISTANCE, limit=6
    )
    extra: dict[str, Any] = {
        "v": view,
        "tag_choices": choices,
        "similar": similar.items,
        "placements": web.asset_placements(session, asset=asset),
        **collection_pages.asset_panel(request, ctx, session, principal=principal, asset=asset),
    }
    if view.can_edit:
        extra["etag"] = asset_service.etag(asset)
        extra["edit_facets"] = web.edit_facets(ctx.governance.pack, view.meta.terms)
    if view.version is not None and view.version.kind == "image":
        # Channel derivatives of the version shown, and where its focal point is.
        extra["derivatives"] = asset_derivatives.listing(
            session, ctx=ctx, asset=asset, version=view.version, base=""
        )
        extra["focal"] = asset_derivatives.focal_out(session, view.version)
        extra["adhoc"] = ctx.governance.pack.adhoc
    if refused is not None and view.can_edit:
        extra.update(refused)
        extra["edit_facets"] = web.edit_facets(ctx.governance.pack, refused["typed"]["terms"])
        return pages.render(request, "asset.html", principal, extra, status_code=422)
    return pages.render(request, "asset.html", principal, extra)


# Perceptual-hash distance for "looks similar" on the asset page (the API's default).
SIMILAR_DISTANCE = 10


def _back(asset_id: Any, next_url: str | None) -> str:
    return pages.safe_next(next_url) if next_url else f"/assets/{asset_id}"


@router.post("/assets/{asset_id}/submit")
def submit(
    actor: Uploader,
    asset: AssetDep,
    ctx: ContextDep,
    session: SessionDep,
    next: Annotated[str | None, Form()] = None,
) -> Response:
    return pages.act(
        session,
        ctx,
        lambda: workflow.submit(session, ctx=ctx, asset=asset, actor=actor),
        done=f"Version {asset.current_version} was submitted for review.",
        to=_back(asset.id, next),
    )


@router.post("/assets/{asset_id}/approve")
def approve(
    actor: Reviewer,
    asset: AssetDep,
    ctx: ContextDep,
    session: SessionDep,
    next: Annotated[str | None, Form()] = None,
) -> Response:
    return pages.act(
        session,
        ctx,
        lambda: workflow.approve(session, ctx=ctx, asset=asset, actor=actor),
        done=lambda version: (
            f"Approved version {asset.current_version} of “{asset.title}”; it is now published."
            if version.review_state == "approved"
            else f"Approved your review stage of version {asset.current_version} of "
            f"“{asset.title}”; it moves on to the next stage."
        ),
        to=_back(asset.id, next),
    )


@router.post("/assets/{asset_id}/reject")
def reject(
    actor: Reviewer,
    asset: AssetDep,
    ctx: ContextDep,
    session: SessionDep,
    reason: Annotated[str, Form(max_length=2000)] = "",
    next: Annotated[str | None, Form()] = None,
) -> Response:
    return pages.act(
        session,
        ctx,
        lambda: workflow.reject(session, ctx=ctx, asset=asset, actor=actor, reason=reason),
        done=f"Rejected version {asset.current_version} of “{asset.title}”.",
        to=_back(asset.id, next),
    )


@router.post("/assets/{asset_id}/versions/{number}/restore")
def restore(
    number: Annotated[VersionNumber, Path()],
    actor: Uploader,
    asset: AssetDep,
    ctx: ContextDep,
    session: SessionDep,
) -> Response:
    return pages.act(
        session,
        ctx,
        lambda: asset_service.restore_version(
            session, ctx=ctx, asset=asset, number=number, actor=actor, if_match=None
        ),
        done=f"Version {number} was restored as a new version (a draft until it is approved).",
        to=f"/assets/{asset.id}",
    )


@router.post("/assets/{asset_id}/edit")
def edit_metadata(
    request: Request,
    actor: Uploader,
    asset: AssetDep,
    ctx: ContextDep,
    session: SessionDep,
    etag: Annotated[str, Form(max_length=100)],
    title: Annotated[str, Form(max_length=1000)] = "",
    description: Annotated[str, Form(max_length=40_000)] = "",
    tags: Annotated[str, Form(max_length=10_000)] = "",
    rights_end: Annotated[str, Form(max_length=40)] = "",
    terms: Annotated[list[str], Form(max_length=500)] = [],  # noqa: B006 (FastAPI copies it)
) -> Response:
    """The metadata form: the same rules as PATCH, and refused if someone changed the asset
    since the page was loaded (the page's ETag). A refusal shows the page again with every
    problem, the fields marked and what was typed kept."""
    pack = ctx.governance.pack
    typed = edit_form.EditForm(
        title=title, description=description, tags=tags, rights_end=rights_end, terms=terms
    )
    problems = edit_form.check(pack, typed)
    if not problems:
        try:
            current = asset_service.get_version(session, asset, asset.current_version)
            patch = web.metadata_patch(
                pack,
                current.terms,
                title=title,
                description=description,
                tags=tags,
                rights_end=rights_end,
                terms=terms,
                current_rights=current.rights_expire_at,
            )
            asset_service.update_metadata(
                session, ctx=ctx, asset=asset, patch=patch, actor=actor, if_match=etag
            )
        except DamError as exc:
            session.rollback()
            problems = edit_form.from_error(pack, exc)
    if problems:
        refused = edit_form.refused_context(pack, problems, typed)
        return render_asset_page(request, asset, ctx, session, actor, refused=refused)
    return pages.redirect_with(
        f"/assets/{asset.id}", kind="ok", text="Metadata saved.", secret=ctx.settings.secret_key
    )


@router.post("/assets/{asset_id}/archive")
def archive(actor: Uploader, asset: AssetDep, ctx: ContextDep, session: SessionDep) -> Response:
    return pages.act(
        session,
        ctx,
        lambda: asset_service.archive_asset(session, ctx=ctx, asset=asset, actor=actor),
        done=f"“{asset.title}” was archived: marketers and automation no longer see it.",
        to=f"/assets/{asset.id}",
    )


@router.post("/assets/{asset_id}/unarchive")
def unarchive(actor: Uploader, asset: AssetDep, ctx: ContextDep, session: SessionDep) -> Response:
    return pages.act(
        session,
        ctx,
        lambda: asset_service.unarchive_asset(session, ctx=ctx, asset=asset, actor=actor),
        done=f"“{asset.title}” is back from the archive.",
        to=f"/assets/{asset.id}",
    )


@router.post("/assets/{asset_id}/campaigns")
def tag_campaign(
    actor: Tagger,
    asset: AssetDep,
    ctx: ContextDep,
    session: SessionDep,
    campaign_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    return pages.act(
        session,
        ctx,
        lambda: campaign_service.add_asset_campaigns(
            session, ctx=ctx, asset=asset, campaign_ids=[campaign_id], actor=actor
        ),
        done=f"Tagged with campaign {campaign_id.strip().upper()}.",
        to=f"/assets/{asset.id}",
    )


@router.post("/assets/{asset_id}/campaigns/{campaign_id}/remove")
def untag_campaign(
    campaign_id: str, actor: Tagger, asset: AssetDep, ctx: ContextDep, session: SessionDep
) -> Response:
    return pages.act(
        session,
        ctx,
        lambda: campaign_service.remove_asset_campaign(
            session, ctx=ctx, asset=asset, campaign_id=campaign_id, actor=actor
        ),
        done=f"Removed from campaign {campaign_id}.",
        to=f"/assets/{asset.id}",
    )


# --- upload --------------------------------------------------------------------------------


@router.get("/upload")
def upload_page(request: Request, ctx: ContextDep, actor: Uploader) -> Response:
    return pages.render(request, "upload.html", actor, pages.upload_context(ctx.governance.pack))


# --- review queue --------------------------------------------------------------------------


@router.get("/review")
def review_queue(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    actor: Reviewer,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    total, items = web.review_items(session, ctx=ctx, principal=actor, page=page, page_size=20)
    return pages.render(
        request,
        "review.html",
        actor,
        {"total": total, "items": items, "page": page, "pages": max(1, -(-total // 20))},
    )


# --- campaigns -----------------------------------------------------------------------------


@router.get("/campaigns")
def campaigns(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    principal: Analyst,
    q: Annotated[str | None, Query(max_length=200)] = None,
    facet: Annotated[str, Query(max_length=64)] = "visual_style",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    total, rows = campaign_service.list_campaigns(
        session, principal=principal, page=page, page_size=50, q=q, pack=ctx.governance.pack
    )
    insights = reports.creative_insights(session, pack=ctx.governance.pack, facet=facet)
    return pages.render(
        request,
        "campaigns.html",
        principal,
        pages.campaigns_context(
            ctx.governance.pack, total=total, rows=rows, q=q, page=page, insights=insights
        ),
    )


@router.get("/campaigns/{campaign_id}")
def campaign_page(
    campaign_id: str,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    principal: Analyst,
    metric: Annotated[str, Query(pattern="^(impressions|clicks|conversions)$")] = "impressions",
    date_from: Annotated[SafeDate | None, Query(alias="from")] = None,
    date_to: Annotated[SafeDate | None, Query(alias="to")] = None,
) -> Response:
    campaign = campaign_service.get_campaign(session, campaign_id, principal=principal)
    report = reports.campaign_performance(
        session,
        campaign=campaign,
        pack=ctx.governance.pack,
        date_from=date_from,
        date_to=date_to,
    )
    series = web.daily_series(session, campaign=campaign, metric=metric, report=report)
    return pages.render(
        request,
        "campaign.html",
        principal,
        {
            "campaign": campaign,
            "report": report,
            "chart": web.line_chart(series),
            "thumbs": web.performance_thumbs(session, report.items, principal=principal),
            "metric": metric,
            "placements": web.campaign_placements(session, campaign=campaign),
            **pages.export_context(principal, report=report, pack=ctx.governance.pack),
        },
    )


# --- governance ----------------------------------------------------------------------------


@router.get("/governance")
def governance(
    request: Request, ctx: ContextDep, session: SessionDep, principal: WebPrincipal
) -> Response:
    pack = ctx.governance.pack
    return pages.render(
        request,
        "governance.html",
        principal,
        {
            "pack": pack,
            "rules": web.rules_in_words(pack),
            "overview": web.compliance_overview(session, pack=pack)
            if not principal.sees_only_published
            else None,
        },
    )
