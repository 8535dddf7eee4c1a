"""The turnaround report: review figures (dam.workflow.analytics) and whether briefs were
delivered on time (dam.briefs), which neither domain can see of the other."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, col, select

from dam.briefs.service import brief_out
from dam.governance.pack import GovernancePack
from dam.models import Brief, BriefStatus
from dam.workflow.analytics import turnaround
from dam.workflow.schemas import BriefsOnTime, TurnaroundReport


def turnaround_report(
    session: Session,
    *,
    pack: GovernancePack,
    now: datetime,
    date_from: date | None = None,
    date_to: date | None = None,
    terms: Mapping[str, Sequence[str]] | None = None,
    group_by: str = "channel",
) -> TurnaroundReport:
    report = turnaround(
        session,
        pack=pack,
        now=now,
        date_from=date_from,
        date_to=date_to,
        terms=terms,
        group_by=group_by,
    )
    return report.model_copy(update={"briefs": _briefs_on_time(session, date_from, date_to)})


def _briefs_on_time(session: Session, date_from: date | None, date_to: date | None) -> BriefsOnTime:
    """Briefs due in the period (not cancelled): how many were delivered, and on time."""
    query = select(Brief).where(
        col(Brief.due_at).is_not(None), col(Brief.status) != BriefStatus.cancelled
    )
    if date_from is not None:
        query = query.where(col(Brief.due_at) >= datetime.combine(date_from, time(), tzinfo=UTC))
    if date_to is not None:
        end = datetime.combine(date_to + timedelta(days=1), time(), tzinfo=UTC)
        query = query.where(col(Brief.due_at) < end)
    briefs = [brief_out(session, b) for b in session.exec(query)]
    delivered = [b for b in briefs if b.delivered_at is not None]
    on_time = sum(1 for b in delivered if b.on_time)
    return BriefsOnTime(
        with_due_date=len(briefs),
        delivered=len(delivered),
        delivered_on_time=on_time,
        on_time_rate=round(on_time / len(delivered), 4) if delivered else None,
    )
