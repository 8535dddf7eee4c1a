"""Admin pages: users (create, role, disable, a one-time link to set a password), API keys
(create, scope to campaigns, revoke), webhooks (create, remove, deliveries), the audit trail,
and reloading the governance pack. Each form calls the same service as the JSON API and the
CLI (dam.web.auth, dam.auth.service, dam.webhooks.service, dam.audit.queries,
dam.governance.service), then redirects back with a message.

A password link (`/password/{token}`) is signed with the service secret and names the user,
their session generation and a digest of their current password hash: setting a password
changes both, so a link works once, and for 48 hours at most."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session, col, select

from dam.api.deps import ContextDep, SessionDep
from dam.api.middleware import BodyKind, body_kind
from dam.assets.campaign_ids import normalize_campaign_id
from dam.audit import queries as audit_queries
from dam.audit.service import record
from dam.auth import service as keys
from dam.context import Context
from dam.errors import DamError, Forbidden, Invalid, NotFound, Unauthorized
from dam.governance import service as governance
from dam.models import ApiKey, Campaign, Role, User
from dam.principal import Principal
from dam.web import auth, pages
from dam.webhooks import service as webhooks

RESET_MAX_AGE = 48 * 3600
ROLES = [r for r in Role]
USER_ROLES = [r for r in Role if r != Role.automation]
ADMIN_NAV = [
    ("/admin/users", "Users"),
    ("/admin/keys", "API keys"),
    ("/admin/webhooks", "Webhooks"),
    ("/admin/audit", "Audit trail"),
    ("/admin/governance", "Governance pack"),
]


def current_admin(request: Request, ctx: ContextDep) -> Principal:
    found = auth.session_user(ctx, request)
    if found is None:
        raise Unauthorized("sign in to continue", code="sign_in_required")
    principal = auth.principal_of(found[0])
    if principal.role != Role.admin:
        raise Forbidden("the admin pages are for admins", code="forbidden")
    return principal


AdminUser = Annotated[Principal, Depends(current_admin)]
router = APIRouter(
    prefix="/admin", include_in_schema=False, dependencies=[Depends(pages.verify_csrf)]
)
public = APIRouter(include_in_schema=False)


def _render(request: Request, name: str, principal: Principal, context: dict[str, Any]) -> Response:
    return pages.render(request, name, principal, {"admin_nav": ADMIN_NAV, **context})


def _done(ctx: Context, to: str, text: str) -> Response:
    return pages.redirect_with(to, kind="ok", text=text, secret=ctx.settings.secret_key)


def _refused(session: Session, ctx: Context, to: str, exc: DamError) -> Response:
    session.rollback()
    return pages.redirect_with(
        to, kind="error", text=str(exc.detail), secret=ctx.settings.secret_key
    )


# --- password links ------------------------------------------------------------------------


class LinkGone(DamError):
    status_code = 410
    code = "password_link_invalid"


def _resets(ctx: Context) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ctx.settings.secret_key, salt="dam.password.link")


def _hash_digest(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:24]


def password_link(request: Request, ctx: Context, user: User) -> str:
    token = _resets(ctx).dumps(
        {"u": user.id.hex, "g": user.session_generation, "h": _hash_digest(user)}
    )
    return f"{str(request.base_url).rstrip('/')}/password/{token}"


def _user_of_link(session: Session, ctx: Context, token: str) -> User:
    try:
        data = _resets(ctx).loads(token, max_age=RESET_MAX_AGE)
        user = session.get(User, uuid.UUID(hex=str(data["u"])))
    except (BadSignature, KeyError, ValueError, TypeError):
        user = None
        data = {}
    if (
        user is None
        or user.disabled
        or data.get("g") != user.session_generation
        or data.get("h") != _hash_digest(user)
    ):
        raise LinkGone(
            "this password link was used already, has expired (48 hours) or was replaced; "
            "ask an admin for a new one"
        )
    return user


def _password_page(
    request: Request, *, token: str, user: User | None, error: str | None, status: int
) -> Response:
    response = pages.templates.TemplateResponse(
        request,
        "admin/password.html",
        {
            "me": None,
            "nav": [],
            "flash": None,
            "csrf": "",
            "path": request.url.path,
            "token": token,
            "user": user,
            "error": error,
            "min_length": auth.MIN_PASSWORD_LENGTH,
        },
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@public.get("/password/{token}")
def password_page(token: str, request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    try:
        user = _user_of_link(session, ctx, token)
    except DamError as exc:
        return _password_page(request, token=token, user=None, error=exc.detail, status=410)
    return _password_page(request, token=token, user=user, error=None, status=200)


@public.post("/password/{token}")
@body_kind(BodyKind.public)
def set_password(
    token: str,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    password: Annotated[str, Form(max_length=1000)],
    again: Annotated[str, Form(max_length=1000)],
) -> Response:
    """The link's token is the credential (unguessable, signed, good once)."""
    try:
        user = _user_of_link(session, ctx, token)
    except DamError as exc:
        return _password_page(request, token=token, user=None, error=exc.detail, status=410)
    if password != again:
        return _password_page(
            request, token=token, user=user, error="The two passwords differ.", status=400
        )
    actor = Principal(id=user.id, name=user.email, role=user.role, kind="user")
    try:
        auth.update_user(session, email=user.email, actor=actor, now=ctx.now(), password=password)
    except DamError as exc:
        session.rollback()
        return _password_page(request, token=token, user=user, error=exc.detail, status=400)
    session.commit()
    return pages.redirect_with(
        "/sign-in?next=/library",
        kind="ok",
        text="Password set: sign in with it.",
        secret=ctx.settings.secret_key,
    )


# --- users ---------------------------------------------------------------------------------


@router.get("")
def admin_home(principal: AdminUser) -> Response:
    return pages.RedirectResponse("/admin/users", status_code=303)


@router.get("/users")
def users_page(request: Request, session: SessionDep, principal: AdminUser) -> Response:
    users = list(session.exec(select(User).order_by(col(User.email))))
    return _render(
        request,
        "admin/users.html",
        principal,
        {"users": users, "roles": USER_ROLES, "min_length": auth.MIN_PASSWORD_LENGTH},
    )


@router.post("/users")
def create_user(
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    actor: AdminUser,
    email: Annotated[str, Form(max_length=320)],
    role: Annotated[Role, Form()],
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """With a password, the user signs in with it; without, the message holds a one-time link
    for the user to choose one (the account cannot be signed into before)."""
    to = "/admin/users"
    chosen = password or keys.generate_key()  # unknown to anyone: only the link opens it
    try:
        if role == Role.automation:
            raise Invalid("automation is a role for API keys, not people", code="invalid_user")
        user = auth.create_user(
            session, email=email, password=chosen, role=role, name=name, actor=actor, now=ctx.now()
        )
        session.flush()
    except DamError as exc:
        return _refused(session, ctx, to, exc)
    session.commit()
    if password:
        return _done(ctx, to, f"User {user.email} created; they can sign in now.")
    link = password_link(request, ctx, user)
    return _done(
        ctx,
        to,
        f"User {user.email} created. Send them this one-time link to set a password: {link}",
    )


def _user(session: Session, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}", code="user_not_found")
    return user


@router.post("/users/{user_id}/role")
def change_role(
    user_id: uuid.UUID,
    ctx: ContextDep,
    session: SessionDep,
    actor: AdminUser,
    role: Annotated[Role, Form()],
) -> Response:
    to = "/admin/users"
    try:
        user = _user(session, user_id)
        if user.id == actor.id and role != Role.admin:
            raise Invalid("you cannot take the admin role from yourself", code="invalid_user")
        auth.update_user(session, email=user.email, actor=actor, now=ctx.now(), role=role)
    except DamError as exc:
        return _refused(session, ctx, to, exc)
    session.commit()
    return _done(ctx, to, f"{user.email} is now {role.value.replace('_', ' ')}.")


@router.post("/users/{user_id}/access")
def change_access(
    user_id: uuid.UUID,
    ctx: ContextDep,
    session: SessionDep,
    actor: AdminUser,
    disabled: Annotated[bool, Form()],
) -> Response:
    to = "/admin/users"
    try:
        user = _user(session, user_id)
        if user.id == actor.id and disabled:
            raise Invalid("you cannot disable your own account", code="invalid_user")
        auth.update_user(session, email=user.email, actor=actor, now=ctx.now(), disabled=disabled)
    except DamError as exc:
        return _refused(session, ctx, to, exc)
    session.commit()
    state = "disabled (signed out everywhere)" if disabled else "enabled again"
    return _done(ctx, to, f"{user.email} is {state}.")


@router.post("/users/{user_id}/password-link")
def reset_link(
    user_id: uuid.UUID, request: Request, ctx: ContextDep, session: SessionDep, actor: AdminUser
) -> Response:
    to = "/admin/users"
    try:
        user = _user(session, user_id)
        if user.disabled:
            raise Invalid(f"{user.email} is disabled; enable them first", code="invalid_user")
    except DamError as exc:
        return _refused(session, ctx, to, exc)
    record(
        session,
        actor=actor,
        action="user.password_link_issued",
        target=str(user.id),
        changes={"email": user.email},
        now=ctx.now(),
    )
    session.commit()
    link = password_link(request, ctx, user)
    return _done(
        ctx,
        to,
        f"Send {user.email} this one-time link to set a new password (48 hours; their current "
        f"password works until then): {link}",
    )


# --- API keys ------------------------------------------------------------------------------


@router.get("/keys")
def keys_page(request: Request, session: SessionDep, principal: AdminUser) -> Response:
    rows: list[ApiKey] = keys.list_keys(session)
    campaigns = list(session.exec(select(Campaign).order_by(col(Campaign.name))))
    return _render(
        request,
        "admin/keys.html",
        principal,
        {"keys": rows, "roles": ROLES, "campaigns": campaigns},
    )


@router.post("/keys")
def create_key(
    ctx: ContextDep,
    session: SessionDep,
    actor: AdminUser,
    name: Annotated[str, Form(max_length=200)],
    role: Annotated[Role, Form()],
    campaign_ids: Annotated[list[str], Form(max_length=200)] = [],  # noqa: B006
    expires_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    to = "/admin/keys"
    try:
        expires_at = (
            datetime.fromisoformat(expires_on).replace(tzinfo=ctx.now().tzinfo)
            if expires_on
            else None
        )
    except ValueError:
        return _refused(
            session, ctx, to, Invalid(f"{expires_on!r} is not a date", code="invalid_key")
        )
    scope = [normalize_campaign_id(c) for c in campaign_ids if c] or None
    try:
        key, plaintext = keys.create_key(
            session,
            role=role,
            name=name,
            actor=actor,
            now=ctx.now(),
            expires_at=expires_at,
            campaign_scope=scope,
        )
    except DamError as exc:
        return _refused(session, ctx, to, exc)
    session.commit()
    return _done(
        ctx,
        to,
        f"Key {key.name!r} created. Copy it now, it is not shown again: {plaintext}",
    )


@router.post("/keys/{key_id}/revoke")
def revoke_key(
    key_id: uuid.UUID, ctx: ContextDep, session: SessionDep, actor: AdminUser
) -> Response:
    to = "/admin/keys"
    try:
        key = keys.find_key(session, str(key_id))
        keys.revoke_key(session, key=key, actor=actor, now=ctx.now())
    except DamError as exc:
        return _refused(session, ctx, to, exc)
    session.commit()
    return _done(ctx, to, f"Key {key.name!r} revoked: it stops working at once.")


# --- webhooks ------------------------------------------------------------------------------


@router.get("/webhooks")
def webhooks_page(
    request: Request,
    session: SessionDep,
    principal: AdminUser,
    deliveries: Annotated[uuid.UUID | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    shown = None
    if deliveries is not None:
        shown = (
            webhooks.get_webhook(session, deliveries),
            webhooks.list_deliveries(session, webhook_id=deliveries, page=page, page_size=50),
        )
    return _render(
        request,
        "admin/webhooks.html",
        principal,
        {"hooks": webhooks.list_webhooks(session), "shown": shown, "page": page},
    )


@router.post("/webhooks")
def create_webhook(
    ctx: ContextDep,
    session: SessionDep,
    actor: AdminUser,
    url: Annotated[str, Form(max_length=2000)],
    secret: Annotated[str, Form(max_length=200)],
    events: Annotated[str, Form(max_length=2000)] = "*",
) -> Response:
    to = "/admin/webhooks"
    names = [e.strip() for e in events.replace("\n", ",").split(",") if e.strip()]
    try:
        hook = webhooks.create_webhook(
            session,
            url=url,
            events=names,
            secret=secret,
            actor=actor,
            now=ctx.now(),
            allow_private=ctx.settings.webhook_allow_private_networks,
        )
    except DamError as exc:
        return _refused(session, ctx, to, exc)
    session.commit()
    return _done(ctx, to, f"Webhook to {hook.url} created.")


@router.post("/webhooks/{webhook_id}/delete")
def delete_webhook(
    webhook_id: uuid.UUID, ctx: ContextDep, session: SessionDep, actor: AdminUser
) -> Response:
    to = "/admin/webhooks"
    try:
        hook = webhooks.delete_webhook(session, webhook_id=webhook_id, actor=actor, now=ctx.now())
    except DamError as exc:
        return _refused(session, ctx, to, exc)
    session.commit()
    return _done(ctx, to, f"Webhook to {hook.url} removed; its past deliveries stay readable.")


# --- audit trail ---------------------------------------------------------------------------


def _when(value: str, what: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{what} {value!r} is not a date", code="invalid_date") from None


@router.get("/audit")
def audit_page(
    request: Request,
    session: SessionDep,
    principal: AdminUser,
    actor: Annotated[str, Query(max_length=200)] = "",
    action: Annotated[str, Query(max_length=100)] = "",
    asset_id: Annotated[uuid.UUID | None, Query()] = None,
    since: Annotated[str, Query(max_length=32)] = "",
    until: Annotated[str, Query(max_length=32)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    found = audit_queries.search_events(
        session,
        asset_id=asset_id,
        actor=actor or None,
        action=action or None,
        since=_when(since, "since"),
        until=_when(until, "until"),
        page=page,
        page_size=50,
    )
    query = {
        k: v
        for k, v in {
            "actor": actor,
            "action": action,
            "asset_id": str(asset_id) if asset_id else "",
            "since": since,
            "until": until,
        }.items()
        if v
    }
    return _render(
        request,
        "admin/audit.html",
        principal,
        {
            "events": found,
            "filters": query,
            "page": page,
            "pages": max(1, -(-found.total // 50)),
        },
    )


# --- governance pack -----------------------------------------------------------------------


@router.get("/governance")
def governance_page(request: Request, ctx: ContextDep, principal: AdminUser) -> Response:
    return _render(request, "admin/governance.html", principal, {"pack": ctx.governance.pack})


@router.post("/governance/reload")
def reload_pack(ctx: ContextDep, session: SessionDep, actor: AdminUser) -> Response:
    to = "/admin/governance"
    try:
        previous, current = governance.reload_pack(
            session, holder=ctx.governance, actor=actor, now=ctx.now()
        )
    except DamError as exc:
        session.rollback()
        problems = [str(p) for p in exc.extra.get("problems") or []]
        return pages.redirect_with(
            to,
            kind="error",
            text=f"The pack was not reloaded; revision {ctx.governance.pack.revision} stays in "
            f"force. {exc.detail}",
            details=problems,
            secret=ctx.settings.secret_key,
        )
    session.commit()
    if previous.digest == current.digest:
        return _done(ctx, to, f"Reloaded: nothing changed (revision {current.revision}).")
    return _done(
        ctx, to, f"Reloaded: revision {previous.revision} → {current.revision} is in force."
    )


__all__ = ["password_link", "public", "router"]
