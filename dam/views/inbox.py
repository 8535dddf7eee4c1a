"""Someone's inbox: the review stages waiting for them (from the workflow, live) and their
notifications (rejections, approvals, mentions, SLA breaches)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session

from dam.notifications import service as notifications
from dam.notifications.schemas import NotificationPage
from dam.principal import REVIEWERS, Principal
from dam.workflow import service as workflow
from dam.workflow.schemas import ReviewQueueItem


class InboxOut(BaseModel):
    waiting: list[ReviewQueueItem]
    notifications: NotificationPage


def inbox_for(
    session: Session, *, principal: Principal, now: datetime, unread_only: bool = False
) -> InboxOut:
    waiting = (
        workflow.waiting_for(session, actor=principal, now=now) if principal.may(REVIEWERS) else []
    )
    return InboxOut(
        waiting=waiting,
        notifications=notifications.inbox(session, principal=principal, unread_only=unread_only),
    )
