from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from dam.api.deps import AssetDep, PrincipalDep, Reviewer, SessionDep
from dam.audit import queries
from dam.audit.schemas import AuditPage
from dam.bounds import SafeDatetime

router = APIRouter(prefix="/api/v1", tags=["audit"])

Page = Annotated[int, Query(ge=1, le=100_000)]
PageSize = Annotated[int, Query(ge=1, le=200)]


@router.get("/audit", response_model=AuditPage)
def audit_events(
    principal: Reviewer,
    session: SessionDep,
    asset_id: uuid.UUID | None = None,
    actor: Annotated[
        str | None, Query(max_length=320, description="The actor's id, or their exact name.")
    ] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[SafeDatetime | None, Query(description="Inclusive; needs a timezone.")] = None,
    until: Annotated[SafeDatetime | None, Query(description="Exclusive; needs a timezone.")] = None,
    page: Page = 1,
    page_size: PageSize = 50,
) -> AuditPage:
    """The audit trail, newest first (admin and brand manager)."""
    return queries.search_events(
        session,
        asset_id=asset_id,
        actor=actor,
        action=action,
        since=since,
        until=until,
        page=page,
        page_size=page_size,
    )


@router.get("/assets/{asset_id}/history", response_model=AuditPage)
def asset_history(
    asset: AssetDep,
    session: SessionDep,
    principal: PrincipalDep,
    page: Page = 1,
    page_size: PageSize = 50,
) -> AuditPage:
    """Everything that happened to one asset, newest first; marketers and automation see only
    what changed the published view."""
    return queries.asset_history(
        session,
        asset_id=asset.id,
        published_only=principal.sees_only_published,
        page=page,
        page_size=page_size,
    )
