"""Who is told what. Each domain event that concerns people becomes one notification per
recipient: a line in their inbox, a `notification.created` event (webhooks), and an email
when SMTP is configured and the recipient has an address.

| event | kind | recipients |
|---|---|---|
| review.stage_started | review_waiting | the stage's approvers (users of its roles, named users) |
| review.sla_warning | sla_warning | the stage's approvers |
| review.sla_breached | sla_breached | the stage's approvers |
| asset.rejected | rejected | the version's uploader and whoever submitted it |
| asset.approved | approved | the version's uploader and whoever submitted it |
| comment.created | mention | the users mentioned |
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dam.context import Context
from dam.events import emit
from dam.jobs.outbox import enqueue
from dam.models import Asset, AssetVersion, Notification, ReviewRound, User
from dam.notifications.schemas import NotificationOut, NotificationPage
from dam.principal import Principal

EMAIL_JOB = "notification.email"


def notify_event(ctx: Context, session: Session, event: dict[str, Any]) -> None:
    """Event reaction (dam.worker): the notifications an event causes."""
    kind = _KINDS.get(str(event.get("type")))
    if kind is None or not event.get("asset_id"):
        return
    asset = session.get(Asset, uuid.UUID(str(event["asset_id"])))
    if asset is None:
        return
    data = dict(event.get("data") or {})
    number = event.get("version")
    version = (
        None
        if number is None
        else session.exec(
            select(AssetVersion).where(
                col(AssetVersion.asset_id) == asset.id, col(AssetVersion.number) == number
            )
        ).first()
    )
    title = (version.title if version is not None else asset.title) or "Untitled"
    recipients: list[uuid.UUID]
    if kind in ("review_waiting", "sla_warning", "sla_breached"):
        recipients = _approvers(session, data.get("roles") or [], data.get("users") or [])
        label = data.get("label") or data.get("stage")
        if kind == "review_waiting":
            head = f"“{title}” waits for your {label} review"
            due = data.get("due_at")
            text = f"Due {due}." if due else "No due time."
        elif kind == "sla_warning":
            head = f"The {label} review of “{title}” is due soon"
            text = f"It is due {data.get('due_at')}."
        else:
            head = f"The {label} review of “{title}” is overdue"
            text = f"It was due {data.get('due_at')}."
    elif kind in ("rejected", "approved"):
        recipients = _authors(session, asset.id, version)
        if kind == "rejected":
            head = f"“{title}” was sent back at the {data.get('stage')} review"
            text = str(data.get("reason") or "")
        else:
            head = f"“{title}” was approved and published"
            text = f"Version {number} is live."
    elif kind == "saved_search":
        # The owner of the saved search (dam.collections.saved announces each new match once).
        recipients = [uuid.UUID(str(data["owner_id"]))] if data.get("owner_id") else []
        head = f"“{title}” matches your saved search “{data.get('saved_search')}”"
        text = ""
    else:  # mention
        recipients = [uuid.UUID(m) for m in data.get("mentions") or []]
        author = (data.get("author") or {}).get("name") or "Someone"
        head = f"{author} mentioned you on “{title}” (version {number})"
        text = str(data.get("body") or "")
    for recipient in dict.fromkeys(recipients):
        create(
            session,
            ctx=ctx,
            recipient_id=recipient,
            kind=kind,
            title=head,
            body=text,
            asset=asset,
            version=number,
            data=data,
            event_id=uuid.UUID(str(event["event_id"])),
            now=ctx.now(),
        )


_KINDS = {
    "review.stage_started": "review_waiting",
    "review.sla_warning": "sla_warning",
    "review.sla_breached": "sla_breached",
    "asset.rejected": "rejected",
    "asset.approved": "approved",
    "comment.created": "mention",
    "saved_search.matched": "saved_search",
}


def _approvers(session: Session, roles: Iterable[str], emails: Iterable[str]) -> list[uuid.UUID]:
    roles, emails = list(roles), [e.casefold() for e in emails]
    if not roles and not emails:
        return []
    return list(
        session.exec(
            select(User.id)
            .where(
                sa.or_(col(User.role).in_(roles), col(User.email).in_(emails)),
                col(User.disabled).is_(False),
            )
            .order_by(col(User.email))
        )
    )


def _authors(
    session: Session, asset_id: uuid.UUID, version: AssetVersion | None
) -> list[uuid.UUID]:
    out = []
    if version is not None and version.created_by is not None:
        out.append(version.created_by)
        submitter = session.exec(
            select(ReviewRound.submitted_by)
            .where(
                col(ReviewRound.asset_id) == asset_id,
                col(ReviewRound.version) == version.number,
            )
            .order_by(col(ReviewRound.number).desc())
        ).first()
        if submitter is not None:
            out.append(submitter)
    return out


def create(
    session: Session,
    *,
    ctx: Context,
    recipient_id: uuid.UUID,
    kind: str,
    title: str,
    body: str,
    asset: Asset | None,
    version: int | None,
    data: dict[str, Any],
    event_id: uuid.UUID | None,
    now: datetime,
) -> Notification | None:
    if event_id is not None:
        seen = session.exec(
            select(Notification.id).where(
                col(Notification.event_id) == event_id,
                col(Notification.recipient_id) == recipient_id,
            )
        ).first()
        if seen is not None:
            return None  # this event was already turned into this notification
    user = session.get(User, recipient_id)
    email = None if user is None or user.disabled else user.email
    notification = Notification(
        recipient_id=recipient_id,
        kind=kind,
        title=title[:500],
        body=body,
        asset_id=None if asset is None else asset.id,
        version=version,
        event_id=event_id,
        data=data,
        created_at=now,
        email_status="queued" if email and ctx.settings.smtp_host else None,
    )
    session.add(notification)
    session.flush()
    if notification.email_status == "queued":
        enqueue(session, EMAIL_JOB, {"notification_id": str(notification.id)}, now=now)
    # Not tied to the asset: an asset event makes the worker re-index it, and one event can
    # notify a whole team. The asset is named in the data.
    emit(
        session,
        "notification.created",
        asset=None,
        version=version,
        now=now,
        data={
            "notification_id": str(notification.id),
            "asset_id": None if asset is None else str(asset.id),
            "kind": kind,
            "recipient": {"id": str(recipient_id), "email": email},
            "title": notification.title,
            "body": body,
        },
    )
    return notification


def inbox(
    session: Session, *, principal: Principal, unread_only: bool = False, limit: int = 50
) -> NotificationPage:
    mine = col(Notification.recipient_id) == principal.id
    query = select(Notification).where(mine)
    if unread_only:
        query = query.where(col(Notification.read_at).is_(None))
    total = session.exec(select(sa.func.count()).select_from(query.subquery())).one()
    unread = session.exec(
        select(sa.func.count())
        .select_from(Notification)
        .where(mine, col(Notification.read_at).is_(None))
    ).one()
    rows = session.exec(query.order_by(col(Notification.id).desc()).limit(limit))
    return NotificationPage(total=total, unread=unread, items=[_out(n) for n in rows])


def mark_read(
    session: Session, *, principal: Principal, ids: list[uuid.UUID] | None, now: datetime
) -> int:
    query = sa.update(Notification).where(
        col(Notification.recipient_id) == principal.id, col(Notification.read_at).is_(None)
    )
    if ids is not None:
        query = query.where(col(Notification.id).in_(ids))
    result = session.execute(query.values(read_at=now))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _out(n: Notification) -> NotificationOut:
    return NotificationOut(
        id=n.id,
        kind=n.kind,
        title=n.title,
        body=n.body,
        asset_id=n.asset_id,
        version=n.version,
        data=n.data,
        created_at=n.created_at,
        read_at=n.read_at,
        email_status=n.email_status,
    )
