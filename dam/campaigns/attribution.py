"""Which version was live on a reporting day: placement periods and the publication history.

A metric row's date is the platform's reporting day, a day in the campaign's timezone (a
campaign setting, default UTC). The version attributed to it is the one live for the larger
part of that day; a day before the first period goes to the first period's version (an ad
often runs before its placement is registered, a creative is reported before its approval is
recorded); ties go to the earlier period. Nothing here reads the time of ingest, so re-sending
a day always attributes it the same way.

The publication history of an asset comes from its approved versions: approval publishes the
newest approved version (`dam.workflow.service.approve`), so from each version's `reviewed_at`
on, the published version is the highest number approved by then. (An approved version without
a `reviewed_at`, which no code path writes, counts from its `created_at`.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from datetime import date as Date
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlmodel import Session, col, select

from dam.errors import Invalid
from dam.models import AssetVersion, ReviewState


@dataclass(frozen=True)
class Period:
    valid_from: datetime
    valid_to: datetime | None
    asset_id: uuid.UUID
    version: int


@cache
def _known_zones() -> frozenset[str]:
    # Some systems list the machine's own zone file, which is not a name of the database.
    return frozenset(available_timezones()) - {"localtime", "posixrules", "Factory"}


def zone(name: str) -> tzinfo:
    """An IANA timezone by name; 422 for a name the timezone database does not list."""
    if name == "UTC":
        return UTC
    if name in _known_zones():
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):  # pragma: no cover - listed but unreadable
            pass
    raise Invalid(
        f"unknown timezone {name!r}: give an IANA name such as UTC, Europe/Berlin or "
        "America/New_York",
        code="invalid_timezone",
    )


def day_span(day: Date, tz: tzinfo) -> tuple[datetime, datetime]:
    """The day from local midnight to the next local midnight, in UTC (23 or 25 hours on a
    daylight-saving change)."""
    start = datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
    return start, end


def live_on(periods: Sequence[Period], day: Date, tz: tzinfo = UTC) -> Period:
    """The period that covered most of `day` in `tz`. `periods` is in order and not empty."""
    if len(periods) == 1:
        return periods[0]
    start, end = day_span(day, tz)
    best, best_overlap = periods[0], timedelta(0)
    for period in periods:
        lo = max(start, period.valid_from)
        hi = min(end, period.valid_to) if period.valid_to is not None else end
        if hi - lo > best_overlap:
            best, best_overlap = period, hi - lo
    return best


def publication_periods(
    session: Session, asset_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[Period]]:
    """Per asset, when each version was the published one, in order; an asset never approved
    has no entry."""
    ids = sorted(set(asset_ids))
    approvals: dict[uuid.UUID, list[tuple[datetime, int]]] = {}
    for start in range(0, len(ids), 500):
        rows = session.exec(
            select(
                col(AssetVersion.asset_id),
                col(AssetVersion.reviewed_at),
                col(AssetVersion.created_at),
                col(AssetVersion.number),
            ).where(
                col(AssetVersion.asset_id).in_(ids[start : start + 500]),
                col(AssetVersion.review_state) == ReviewState.approved,
            )
        ).all()
        for asset_id, reviewed_at, created_at, number in rows:
            approvals.setdefault(asset_id, []).append((reviewed_at or created_at, number))
    found: dict[uuid.UUID, list[Period]] = {}
    for asset_id, events in approvals.items():
        events.sort()
        periods: list[Period] = []
        published = 0
        for when, number in events:
            if number <= published:
                continue  # approving an older number never unpublishes a newer one
            published = number
            if periods and periods[-1].valid_from == when:
                periods[-1] = Period(when, None, asset_id, number)
                continue
            if periods:
                last = periods[-1]
                periods[-1] = Period(last.valid_from, when, asset_id, last.version)
            periods.append(Period(when, None, asset_id, number))
        found[asset_id] = periods
    return found
