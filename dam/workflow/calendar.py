"""Working time: due dates from SLAs in working hours, in the team's timezone.

A working day is a weekday of DAM_WORKING_DAYS that is not in DAM_HOLIDAYS; its working hours
(DAM_WORKING_HOURS) are wall-clock times in DAM_TEAM_TIMEZONE, so a daylight-saving change
moves them in UTC, never in the team's day.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dam.config import Settings, holiday_dates, working_span, working_weekdays

# Ten years of days: a calendar with working days always finds one long before this.
_MAX_DAYS = 3660


@dataclass(frozen=True)
class WorkCalendar:
    tz: ZoneInfo
    start: time
    end: time
    weekdays: frozenset[int]
    holidays: frozenset[date]

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkCalendar:
        start, end = working_span(settings.working_hours)
        return cls(
            tz=ZoneInfo(settings.team_timezone),
            start=start,
            end=end,
            weekdays=working_weekdays(settings.working_days),
            holidays=holiday_dates(settings.holidays),
        )

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays

    def _windows(self, since: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The working windows (UTC) that end after `since`, in order."""
        day = since.astimezone(self.tz).date() - timedelta(days=1)
        for _ in range(_MAX_DAYS):
            day += timedelta(days=1)
            if not self.is_working_day(day):
                continue
            opens = datetime.combine(day, self.start, self.tz).astimezone(UTC)
            closes = datetime.combine(day, self.end, self.tz).astimezone(UTC)
            if closes > since:
                yield opens, closes
        raise ValueError("no working day within ten years: check DAM_WORKING_DAYS/HOLIDAYS")

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` working hours after `start`. Work submitted outside working
        hours starts counting when the next working window opens."""
        remaining = timedelta(hours=hours)
        for opens, closes in self._windows(start):
            begin = max(opens, start)
            available = closes - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise AssertionError("unreachable")  # _windows raises first

    def working_hours_between(self, start: datetime, end: datetime) -> float:
        if end <= start:
            return 0.0
        total = timedelta()
        for opens, closes in self._windows(start):
            if opens >= end:
                break
            total += min(closes, end) - max(opens, start)
        return total.total_seconds() / 3600
