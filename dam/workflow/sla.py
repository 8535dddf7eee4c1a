"""SLA warnings and breaches: a sweep the worker runs. A stage whose due time nears is warned
about once (`review.sla_warning`, DAM_SLA_WARNING_HOURS working hours before it); a stage still
waiting for its approvers after its due time is marked breached once, with an audit event and a
`review.sla_breached` event (both reach webhooks and the approvers' inboxes)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlmodel import Session

from dam.audit.service import record
from dam.context import Context
from dam.db import session_scope
from dam.events import emit
from dam.models import Asset, ReviewRound
from dam.principal import SYSTEM
from dam.workflow import stages

SWEEP_INTERVAL = timedelta(seconds=30)
_NEXT_SWEEP = "workflow.sla_sweep.next"


def sweep_warnings(session: Session, *, now: datetime, limit: int = 200) -> list[uuid.UUID]:
    """Warn once about each active stage whose due time nears (`review.sla_warning`)."""
    warned = []
    for run in stages.stages_to_warn(session, now=now, limit=limit):
        round_ = session.get(ReviewRound, run.round_id)
        asset = session.get(Asset, run.asset_id)
        assert round_ is not None and asset is not None and run.due_at is not None
        run.warned_at = now
        session.add(run)
        emit(
            session,
            "review.sla_warning",
            asset=asset,
            version=round_.version,
            now=now,
            data={
                "round": round_.number,
                "stage": run.stage,
                "label": run.label,
                "sla_hours": run.sla_hours,
                "due_at": run.due_at.isoformat(),
                "roles": list(run.roles),
                "users": list(run.users),
            },
        )
        warned.append(run.id)
    return warned


def sweep_breaches(session: Session, *, now: datetime, limit: int = 200) -> list[uuid.UUID]:
    """Mark every overdue active stage breached; returns the stage runs marked now."""
    marked = []
    for run in stages.breached_stages(session, now=now, limit=limit):
        round_ = session.get(ReviewRound, run.round_id)
        asset = session.get(Asset, run.asset_id)
        assert round_ is not None and asset is not None and run.due_at is not None
        run.breached_at = now
        session.add(run)
        details = {
            "round": round_.number,
            "stage": run.stage,
            "label": run.label,
            "sla_hours": run.sla_hours,
            "due_at": run.due_at.isoformat(),
            "roles": list(run.roles),
            "users": list(run.users),
        }
        record(
            session,
            actor=SYSTEM,
            action="review.sla_breached",
            asset_id=asset.id,
            version=round_.version,
            changes=details,
            now=now,
        )
        emit(
            session,
            "review.sla_breached",
            asset=asset,
            version=round_.version,
            now=now,
            data=details,
        )
        marked.append(run.id)
    return marked


def sla_sweep(ctx: Context) -> None:
    now = ctx.now()
    due: datetime | None = ctx.extras.get(_NEXT_SWEEP)
    if due is not None and now < due:
        return
    ctx.extras[_NEXT_SWEEP] = now + SWEEP_INTERVAL
    with session_scope(ctx.engine) as session:
        sweep_breaches(session, now=now)
        sweep_warnings(session, now=now)
