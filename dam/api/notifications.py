"""The inbox: what waits for me, and my notifications."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from dam.api.deps import ContextDep, PrincipalDep, SessionDep
from dam.notifications import service
from dam.notifications.schemas import MarkReadIn
from dam.views.inbox import InboxOut, inbox_for

router = APIRouter(prefix="/api/v1", tags=["notifications"])


@router.get("/inbox", response_model=InboxOut)
def inbox(
    actor: PrincipalDep,
    ctx: ContextDep,
    session: SessionDep,
    unread: Annotated[bool, Query(description="Only notifications not read yet.")] = False,
) -> InboxOut:
    """The review stages waiting for you (reviewers), soonest due first, and your newest 50
    notifications: reviews waiting, rejections and approvals of your work, mentions, SLA
    breaches."""
    return inbox_for(session, principal=actor, now=ctx.now(), unread_only=unread)


@router.post("/inbox/read")
def mark_read(
    body: MarkReadIn, actor: PrincipalDep, ctx: ContextDep, session: SessionDep
) -> dict[str, int]:
    """Mark your notifications read (`ids`, or all of them)."""
    return {"marked": service.mark_read(session, principal=actor, ids=body.ids, now=ctx.now())}
