"""Domain events. Emitting one writes an `event` outbox job in the caller's transaction; the
worker hands it to every reaction listed in `dam.worker` (the search index, webhook
subscriptions), so the domain that emits knows none of the domains that react."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session

from dam.jobs.outbox import enqueue
from dam.models import Asset

# The outbox job kind every event is written as.
EVENT_JOB = "event"

EVENT_TYPES = (
    "asset.created",
    "asset.version_created",
    "asset.updated",
    "asset.submitted",
    "asset.approved",
    "asset.rejected",
    "asset.archived",
    "asset.unarchived",
    "asset.expiring",
    "asset.expired",
    "asset.campaigns_changed",
    # An asset newly matches a saved search with notifications on (dam.collections.saved).
    "saved_search.matched",
    # Review stages (dam.workflow): a stage waits for its approvers, a stage was approved (the
    # last stage's approval is also `asset.approved`), a stage's SLA ran out.
    "review.stage_started",
    "review.stage_approved",
    "review.sla_warning",
    "review.sla_breached",
    "comment.created",
    # Someone's inbox got a line (dam.notifications); carries the recipient and the kind.
    "notification.created",
    "brief.created",
    "brief.asset_linked",
)


def emit(
    session: Session,
    event_type: str,
    *,
    asset: Asset | None,
    now: datetime,
    version: int | None = None,
    data: dict[str, Any] | None = None,
) -> uuid.UUID:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    event_id = uuid.uuid4()
    enqueue(
        session,
        EVENT_JOB,
        {
            "event_id": str(event_id),
            "type": event_type,
            "time": now.isoformat(),
            "asset_id": None if asset is None else str(asset.id),
            "version": version,
            "data": data or {},
        },
        now=now,
    )
    return event_id
