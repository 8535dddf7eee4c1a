"""FastAPI dependencies shared by every router: context, session, principal, role checks, and
the asset path parameter (404 and visibility in one place)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from dam.assets.access import is_visible
from dam.auth import service as auth_service
from dam.context import Context
from dam.errors import Forbidden, NotFound, Unauthorized
from dam.models import Asset, Role
from dam.principal import Principal


async def get_context(request: Request) -> Context:
    # async: an attribute read, so it runs on the event loop instead of taking a trip through
    # the thread pool on every request (a sync dependency does).
    ctx: Context = request.app.state.ctx
    return ctx


ContextDep = Annotated[Context, Depends(get_context)]


async def get_session(ctx: ContextDep) -> AsyncIterator[Session]:
    """Commits after the route returns and before the response is sent, so a failed commit
    reaches the client as an error, never as a 2xx.

    async: creating a Session opens no connection, so it happens on the event loop; only the
    end of a transaction that was begun (commit or rollback, a round trip) goes through the
    thread pool. FastAPI shields this exit from cancellation, so the connection always goes
    back to the pool."""
    session = Session(ctx.engine, expire_on_commit=False)
    try:
        yield session
    except BaseException:
        await _end(session, commit=False)
        raise
    await _end(session, commit=True)


async def _end(session: Session, *, commit: bool) -> None:
    if session.in_transaction():
        await run_in_threadpool(_finish, session, commit)
    else:
        session.close()


def _finish(session: Session, commit: bool) -> None:
    # Closing rolls back whatever was not committed, a failed commit included.
    with session:
        if commit:
            session.commit()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_principal(request: Request, ctx: ContextDep, session: SessionDep) -> Principal:
    """A key is looked up in the request's own session: one connection per request."""
    return _principal(request, ctx, session)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _principal(request: Request, ctx: Context, session: Session | None) -> Principal:
    """The caller, cached on the request; `session=None` looks a key up in a session of its
    own (the body guard runs before the request has one)."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("use 'Authorization: Bearer <key>'", code="invalid_authorization")
        if session is None:
            with Session(ctx.engine) as own:
                principal = auth_service.authenticate(own, token=token.strip(), now=ctx.now())
        else:
            principal = auth_service.authenticate(session, token=token.strip(), now=ctx.now())
            if session.get_bind().dialect.name == "sqlite":
                # Every SQLite transaction here takes the write lock (BEGIN IMMEDIATE, see
                # dam.db): holding it from here on would lock out a route that works through a
                # session of its own. On PostgreSQL the read holds no lock anyone waits for.
                session.commit()
    else:
        session_principal: Callable[[Request], Principal | None] | None = (
            request.app.state.session_principal
        )
        principal_or_none = session_principal(request) if session_principal else None
        if principal_or_none is None:
            raise Unauthorized(
                "authentication required: send 'Authorization: Bearer <key>'", code="unauthorized"
            )
        principal = principal_or_none
    request.state.principal = principal
    return principal


def authenticate_before_body(request: Request, ctx: Context) -> None:
    """Refuses a stranger before a byte of their request body is read (`BodyGuard`). An API
    path needs what its routes need (a key, or a session cookie with its CSRF header); a page
    needs a session (its form carries the CSRF token, checked once the form is read)."""
    if request.url.path.startswith("/api/"):
        _principal(request, ctx, None)
        return
    present: Callable[[Request], bool] | None = getattr(request.app.state, "has_session", None)
    if present is None or not present(request):
        raise Unauthorized("sign in to continue", code="sign_in_required")


def require(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    allowed = frozenset(roles)

    # async: a comparison, so it runs on the event loop instead of a thread-pool trip.
    async def check(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(
                f"the {principal.role.value} role may not do this "
                f"(allowed: {', '.join(sorted(r.value for r in allowed))})",
                code="forbidden",
            )
        return principal

    return check


Uploader = Annotated[Principal, Depends(require(Role.admin, Role.brand_manager, Role.designer))]
Reviewer = Annotated[Principal, Depends(require(Role.admin, Role.brand_manager))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
# Campaign work: tagging assets and reading reports is open to designers; managing campaigns is not.
Manager = Annotated[Principal, Depends(require(Role.admin, Role.brand_manager, Role.marketer))]
Tagger = Annotated[
    Principal, Depends(require(Role.admin, Role.brand_manager, Role.designer, Role.marketer))
]
Reporter = Annotated[
    Principal,
    Depends(require(Role.admin, Role.brand_manager, Role.marketer, Role.automation)),
]
Analyst = Annotated[
    Principal, Depends(require(Role.admin, Role.brand_manager, Role.designer, Role.marketer))
]


def load_asset(asset_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Asset:
    asset = session.get(Asset, asset_id)
    # Invisible assets answer exactly like missing ones, so their existence does not leak.
    if asset is None or not is_visible(principal, asset):
        raise NotFound(f"no asset {asset_id}", code="asset_not_found")
    return asset


AssetDep = Annotated[Asset, Depends(load_asset)]
