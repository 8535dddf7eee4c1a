"""Rendering, flash messages, CSRF checks and page context builders shared by the routes."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeSerializer
from sqlmodel import Session
from starlette.datastructures import QueryParams

from dam.campaigns.schemas import InsightsReport, PerformanceReport
from dam.context import Context
from dam.errors import DamError, Forbidden
from dam.governance.pack import GovernancePack
from dam.models import Campaign, Role, User
from dam.principal import Principal
from dam.search.schemas import FacetCount, SearchPage
from dam.web import auth, restricted
from dam.web import service as web

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters.update(
    size=web.human_size,
    wait=web.human_wait,
    percent=web.percent,
    money=web.money,
    in_currencies=web.in_currencies,
    amount=web.amount,
    when=web.when,
    last_day=web.last_day,
)
restricted.install(templates.env)
templates.env.globals.update(
    STATE_LABELS={k.value: v for k, v in web.STATE_LABELS.items()},
    COMPLIANCE_LABELS=web.COMPLIANCE_LABELS,
    PLATFORM_LABELS=web.PLATFORM_LABELS,
)

FLASH_COOKIE = "dam_flash"
SIGN_IN_COOKIE = "dam_signin"
MAX_FLASH_DETAILS = 8


def _secure(request: Request) -> bool:
    """Production cookies are always Secure; elsewhere when the request came over https,
    directly or through a proxy named in DAM_TRUSTED_PROXIES (see `dam.app`)."""
    ctx: Context = request.app.state.ctx
    return ctx.settings.is_production or request.url.scheme == "https"


def safe_next(url: str | None) -> str:
    """Only local paths: an open redirect after sign-in would hand phishers a trusted link."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/library"
    return url


# --- CSRF ----------------------------------------------------------------------------------


async def verify_csrf(request: Request) -> None:
    """Every state-changing form carries the session's token (the sign-in form carries the
    token of its own pre-session cookie). Sets a flag the cookie-session principal honours."""
    if request.method in auth.SAFE_METHODS:
        return
    form = await request.form()
    token = form.get(auth.CSRF_FIELD)
    token = token if isinstance(token, str) else None
    if request.url.path == "/sign-in":
        expected = request.cookies.get(SIGN_IN_COOKIE)
        if not expected or not token or not secrets.compare_digest(expected, token):
            raise Forbidden(
                "the sign-in form expired; reload the page and try again", code="csrf_failed"
            )
        return
    ctx: Context = request.app.state.ctx
    found = auth.session_user(ctx, request)
    if found is not None and not auth.csrf_matches(found[1], token):
        raise Forbidden("the form expired; reload the page and try again", code="csrf_failed")
    request.state.csrf_checked = found is not None


# --- flash messages ------------------------------------------------------------------------


def _flash_serializer(request: Request) -> URLSafeSerializer:
    ctx: Context = request.app.state.ctx
    return URLSafeSerializer(ctx.settings.secret_key, salt="dam.web.flash")


def redirect_with(
    to: str, *, kind: str, text: str, details: Sequence[str] = (), secret: str
) -> RedirectResponse:
    response = RedirectResponse(to, status_code=303)
    payload = {"k": kind, "t": text[:500], "d": [d[:300] for d in details[:MAX_FLASH_DETAILS]]}
    value = URLSafeSerializer(secret, salt="dam.web.flash").dumps(payload)
    response.set_cookie(FLASH_COOKIE, value, httponly=True, samesite="lax", path="/")
    return response


def _pop_flash(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = _flash_serializer(request).loads(raw)
    except BadSignature:
        return None
    return {"kind": data.get("k"), "text": data.get("t"), "details": data.get("d", [])}


def _violation_lines(violations: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(v.get("message", v)) for v in violations]


def act(
    session: Session,
    ctx: Context,
    action: Callable[[], Any],
    *,
    done: str | Callable[[Any], str],
    to: str,
) -> Response:
    """Run one service call for a form; a refusal goes back to the page as a message (with the
    violations or term problems when there are any) and nothing it may have touched is
    committed."""
    secret = ctx.settings.secret_key
    try:
        result = action()
    except DamError as exc:
        session.rollback()
        # Brand-rule violations, or the problems of refused taxonomy terms.
        details = _violation_lines(exc.extra.get("violations") or exc.extra.get("problems") or [])
        return redirect_with(to, kind="error", text=str(exc.detail), details=details, secret=secret)
    text = done if isinstance(done, str) else done(result)
    return redirect_with(to, kind="ok", text=text, secret=secret)


# --- rendering -----------------------------------------------------------------------------


def render(
    request: Request,
    name: str,
    principal: Principal | None,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> Response:
    ctx: Context = request.app.state.ctx
    found = auth.session_user(ctx, request)
    flash = _pop_flash(request)
    response = templates.TemplateResponse(
        request,
        name,
        {
            "me": principal,
            "csrf": found[1].csrf if found else "",
            "flash": flash,
            "nav": nav_for(principal),
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
    )
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    response.headers["Cache-Control"] = "no-store"
    return response


def nav_for(principal: Principal | None) -> list[tuple[str, str]]:
    """Only the pages this role can use: the UI never offers what the role cannot do."""
    if principal is None:
        return []
    items = [("/library", "Library")]
    if web.may_upload(principal):
        items.append(("/upload", "Upload"))
    if web.may_review(principal):
        items.append(("/review", "Review"))
    if principal.may(web.CAMPAIGN_TAGGERS):
        items.append(("/campaigns", "Campaigns"))
        items.append(("/briefs", "Briefs"))
        items.append(("/turnaround", "Turnaround"))
    items.append(("/collections", "Collections"))
    items.append(("/inbox", "Inbox"))
    items.append(("/governance", "Governance"))
    if principal.role == Role.admin:
        items.append(("/admin", "Admin"))
    return items


def render_sign_in(
    request: Request,
    *,
    next_url: str,
    error: str | None = None,
    email: str = "",
    status_code: int = 400,
    retry_after: int | None = None,
) -> Response:
    token = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)
    response = templates.TemplateResponse(
        request,
        "sign_in.html",
        {
            "me": None,
            "nav": [],
            "flash": _pop_flash(request),
            "csrf": token,
            "next": next_url,
            "error": error,
            "email": email,
            "path": "/sign-in",
        },
        status_code=status_code if error else 200,
    )
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/sign-in",
    )
    response.delete_cookie(FLASH_COOKIE, path="/")
    response.headers["Cache-Control"] = "no-store"
    return response


def start_session(request: Request, ctx: Context, user: User, *, next_url: str) -> Response:
    value, _ = auth.issue_session(ctx, user)
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        auth.SESSION_COOKIE,
        value,
        max_age=auth.SESSION_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(SIGN_IN_COOKIE, path="/sign-in")
    return response


def end_session(request: Request, session: Session) -> Response:
    ctx: Context = request.app.state.ctx
    found = auth.session_user(ctx, request)
    if found is not None:
        auth.end_sessions(session, user_id=found[0].id)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


def error_page(request: Request, exc: DamError) -> Response:
    ctx: Context = request.app.state.ctx
    found = auth.session_user(ctx, request)
    principal = auth.principal_of(found[0]) if found else None
    titles = {403: "Not allowed", 404: "Not found"}
    return render(
        request,
        "error.html",
        principal,
        {"title": titles.get(exc.status_code, "Something is wrong"), "detail": exc.detail},
        status_code=exc.status_code,
    )


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/sign-in?" + urlencode({"next": target}), status_code=303)


# --- page contexts -------------------------------------------------------------------------

FIXED_FACETS = [
    ("type", "File type"),
    ("review_state", "Review state"),
    ("compliance", "Compliance"),
    ("status", "Lifecycle"),
    ("campaign", "Campaign"),
    ("orientation", "Orientation"),
]


def as_tree(
    group: dict[str, Any], pack: GovernancePack, facet_id: str, facets: Any
) -> dict[str, Any]:
    """A taxonomy facet's entries as a tree: each term under the nearest ancestor that is
    listed too (`children`), the roots in the order counted. The flat `entries` stay."""
    facet = pack.facet(facet_id)
    counted = [c.term for c in facets.get(facet_id, [])]
    by_term = dict(zip(counted, group["entries"], strict=True))
    roots: list[dict[str, Any]] = []
    for term_id, entry in by_term.items():
        entry["children"] = []
        entry["term"] = term_id
    for term_id, entry in by_term.items():
        term = facet.terms.get(term_id)
        parent = term.parent if term else None
        while parent is not None and parent not in by_term:
            above = facet.terms.get(parent)
            parent = above.parent if above else None
        if parent is None:
            roots.append(entry)
        else:
            by_term[parent]["children"].append(entry)
    return {**group, "tree": roots}


def library_context(
    pack: GovernancePack, *, query: QueryParams, result: SearchPage, q: str, sort: Any
) -> dict[str, Any]:
    """Facet groups with links that toggle one value, keeping every other filter."""
    chosen = [(k, v) for k, v in query.multi_items() if k not in ("page",)]

    def toggle(name: str, value: str) -> tuple[str, bool]:
        on = (name, value) in chosen
        items = [p for p in chosen if p != (name, value)] if on else [*chosen, (name, value)]
        return "/library?" + urlencode(items), on

    def group(name: str, label: str, counts: list[FacetCount]) -> dict[str, Any]:
        entries = []
        for c in counts:
            href, on = toggle(name, c.term)
            entries.append({"label": c.label, "count": c.count, "href": href, "on": on})
        return {"name": name, "label": label, "entries": entries}

    groups = [
        as_tree(group(f.id, f.label, result.facets.get(f.id, [])), pack, f.id, result.facets)
        for f in pack.facets
    ]
    groups += [group(name, label, result.facets.get(name, [])) for name, label in FIXED_FACETS]
    active = []
    for name, value in chosen:
        if name in ("q", "sort"):
            continue
        label = value
        for g in groups:
            if g["name"] == name:
                label = next(
                    (e["label"] for e in g["entries"] if toggle(name, value)[0] == e["href"]),
                    value,
                )
        active.append({"name": name, "value": label, "href": toggle(name, value)[0]})
    pages = max(1, -(-result.total // result.page_size))

    def page_href(n: int) -> str:
        return "/library?" + urlencode([*chosen, ("page", str(n))])

    return {
        "result": result,
        "q": q,
        "sort": sort.value if sort else "",
        "groups": [g for g in groups if g["entries"]],
        "active": active,
        "pages": pages,
        "prev_href": page_href(result.page - 1) if result.page > 1 else None,
        "next_href": page_href(result.page + 1) if result.page < pages else None,
        "hidden": [(k, v) for k, v in chosen if k not in ("q", "sort")],
        "error": None,
    }


def upload_context(pack: GovernancePack) -> dict[str, Any]:
    facets = [
        {
            "id": f.id,
            "label": f.label,
            "description": f.description,
            "required": f.required,
            "multi": f.multi,
            "options": web.taxonomy_options(f),
        }
        for f in pack.facets
    ]
    return {"facets": facets, "facets_json": json.dumps([f["id"] for f in facets])}


def campaigns_context(
    pack: GovernancePack,
    *,
    total: int,
    rows: list[Campaign],
    q: str | None,
    page: int,
    insights: InsightsReport,
) -> dict[str, Any]:
    bars = web.bars(
        [
            (
                row.label,
                row.ctr,
                f"CTR {web.percent(row.ctr)} · {row.assets} assets, {row.campaigns} campaigns",
            )
            for row in insights.items
        ]
    )
    facet_choices = [(f.id, f.label) for f in pack.facets]
    return {
        "total": total,
        "rows": rows,
        "q": q or "",
        "page": page,
        "pages": max(1, -(-total // 50)),
        "insights": insights,
        "bars": bars,
        "facet_choices": facet_choices,
    }


def export_context(
    principal: Principal, *, report: PerformanceReport, pack: GovernancePack
) -> dict[str, Any]:
    """What the campaign page's export upload and placement form need: the built-in sources
    and locales, and the campaign's assets (id → title) the placement form can point at."""
    titles: dict[str, str] = {}
    for item in report.items:
        titles.setdefault(str(item.asset_id), item.title or str(item.asset_id))
    return {
        "can_report": principal.may(web.METRIC_REPORTERS),
        "export_sources": web.export_sources(pack),
        "export_locales": web.export_locales(),
        "campaign_assets": sorted(titles.items(), key=lambda kv: kv[1].lower()),
        "titles_json": json.dumps(titles),
    }
