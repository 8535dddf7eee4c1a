"""FastAPI dependencies shared by every router: context, session, principal, role checks, and
the asset path parameter (404 and visibility in one place)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from dam.assets.access import is_visible
from dam.auth import service as auth_service
from dam.context import Context
from dam.db import session_scope
from dam.errors import Forbidden, NotFound, Unauthorized
from dam.models import Asset, Role
from dam.principal import Principal


async def get_context(request: Request) -> Context:
    # async: an attribute read, so it runs on the event loop instead of taking a trip through
    # the thread pool on every request (a sync dependency does).
    ctx: Context = request.app.state.ctx
    return ctx


ContextDep = Annotated[Context, Depends(get_context)]


def get_session(ctx: ContextDep) -> Iterator[Session]:
    """Commits after the route returns and before the response is sent, so a failed commit
    reaches the client as an error, never as a 2xx."""
    with session_scope(ctx.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_principal(request: Request, ctx: ContextDep) -> Principal:
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("use 'Authorization: Bearer <key>'", code="invalid_authorization")
        with Session(ctx.engine) as session:
            principal = auth_service.authenticate(session, token=token.strip(), now=ctx.now())
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


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def authenticate_before_body(request: Request, ctx: Context) -> None:
    """Refuses a stranger before a byte of their request body is read (`BodyGuard`). An API
    path needs what its routes need (a key, or a session cookie with its CSRF header); a page
    needs a session (its form carries the CSRF token, checked once the form is read)."""
    if request.url.path.startswith("/api/"):
        get_principal(request, ctx)
        return
    present: Callable[[Request], bool] | None = getattr(request.app.state, "has_session", None)
    if present is None or not present(request):
        raise Unauthorized("sign in to continue", code="sign_in_required")


def require(*roles: Role) -> Callable[[Principal], Principal]:
    allowed = frozenset(roles)

    def check(principal: PrincipalDep) -> Principal:
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
