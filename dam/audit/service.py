"""The append-only audit trail. Callers write an event in the same transaction as the change."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from dam.models import AuditEvent

if TYPE_CHECKING:
    from dam.principal import Principal

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def record(
    session: Session,
    *,
    actor: Principal,
    action: str,
    now: datetime,
    asset_id: uuid.UUID | None = None,
    version: int | None = None,
    target: str | None = None,
    changes: dict[str, Any] | None = None,
    published: bool = False,
) -> AuditEvent:
    """`published`: the change concerns the published view, which marketers and automation
    may see in an asset's history; every other event is about drafts."""
    event = AuditEvent(
        at=now,
        actor_id=actor.id,
        actor_name=actor.name,
        actor_role=actor.role.value,
        action=action,
        asset_id=asset_id,
        version=version,
        target=target,
        changes=changes or {},
        request_id=request_id_var.get(),
        published=published,
    )
    session.add(event)
    return event


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Before/after of the fields that changed, JSON-ready."""
    return {
        name: {"before": before.get(name), "after": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }
