"""Reading the audit trail: filtered, newest first, paginated."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dam.audit.schemas import AuditEventOut, AuditPage
from dam.errors import Invalid
from dam.models import AuditEvent


def search_events(
    session: Session,
    *,
    asset_id: uuid.UUID | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    page_size: int = 50,
) -> AuditPage:
    """`actor` matches the actor's id, or else their name exactly; `since` is inclusive and
    `until` exclusive."""
    query = select(AuditEvent)
    if asset_id is not None:
        query = query.where(col(AuditEvent.asset_id) == asset_id)
    if actor:
        try:
            query = query.where(col(AuditEvent.actor_id) == uuid.UUID(actor))
        except ValueError:
            query = query.where(col(AuditEvent.actor_name) == actor)
    if action:
        query = query.where(col(AuditEvent.action) == action)
    if since is not None:
        query = query.where(col(AuditEvent.at) >= _aware("since", since))
    if until is not None:
        query = query.where(col(AuditEvent.at) < _aware("until", until))
    return _page(session, query, page=page, page_size=page_size)


def asset_history(
    session: Session,
    *,
    asset_id: uuid.UUID,
    published_only: bool = False,
    page: int = 1,
    page_size: int = 50,
) -> AuditPage:
    """`published_only` (marketers, automation): only the changes of the published view, so
    no draft's before/after is shown."""
    query = select(AuditEvent).where(col(AuditEvent.asset_id) == asset_id)
    if published_only:
        query = query.where(col(AuditEvent.published))
    return _page(session, query, page=page, page_size=page_size)


def _page(session: Session, query: Any, *, page: int, page_size: int) -> AuditPage:
    total = session.exec(select(sa.func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return AuditPage(
        total=total,
        page=page,
        page_size=page_size,
        items=[AuditEventOut.model_validate(row, from_attributes=True) for row in rows],
    )


def _aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None:
        raise Invalid(
            f"{name} needs a timezone, e.g. 2026-01-31T00:00:00Z", code="invalid_query", field=name
        )
    return value
