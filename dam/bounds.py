"""The bounds every value from outside is held to where it enters, in one place.

Integers, dates and JSON from a request, a form or a file are checked here, by the types that
routes and schemas declare, so a value no part of the system can hold (a version number past
the database's integer, a date whose UTC conversion overflows, JSON nested until the parser
recurses to death) is refused with a 4xx naming it instead of failing later as a 500.
"""

from __future__ import annotations

import json
import re
from array import array
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import accumulate
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

# Version numbers, counts and pages are stored in 32-bit integer columns on PostgreSQL.
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1

# Every date in the system (rights, campaigns, audit filters, reports) lies well inside these
# years; within them an offset of up to a day can never push a UTC conversion, or a report's
# "day after `to`", outside what `datetime` can hold.
MIN_YEAR = 1900
MAX_YEAR = 9000

# Deeper than any body the API defines (metadata nests three levels, metric rows two), far
# shallower than where the JSON parser or validation would exhaust the stack.
MAX_JSON_DEPTH = 32

# One metric row is one day of one asset on one channel (of one campaign). No platform reports
# more than this for a day: ten billion impressions is several times the daily traffic of the
# largest ad networks, a billion in any currency more than the largest daily campaign budgets.
# Beyond these a value is an error or an attack. A monthly rollup row sums one row per day and
# placement of one asset, and an asset can be the target of at most MAX_PLACEMENTS_PER_ASSET
# placements (plus the rows reported per asset), so a month of rows at the limits still sums far
# inside a 64-bit integer and the rollup can never overflow.
MAX_METRIC_COUNT = 10**10
MAX_METRIC_MONEY = Decimal(10**9)
MAX_PLACEMENTS_PER_ASSET = 10_000
_MONTH_ROWS = 31 * (MAX_PLACEMENTS_PER_ASSET + 1)
if (
    _MONTH_ROWS * max(MAX_METRIC_COUNT, int(MAX_METRIC_MONEY) * 100) >= MAX_INT64
):  # pragma: no cover
    raise RuntimeError("metric bounds too wide for the 64-bit rollup")

VersionNumber = Annotated[int, Field(ge=1, le=MAX_INT32)]
PageNumber = Annotated[int, Field(ge=1, le=100_000)]

_NUMBER = re.compile(r"\s*[+-]?\d+(\.\d*)?\s*")


def _no_epoch(value: Any) -> Any:
    """Dates are ISO 8601 text; a number would silently be read as seconds since 1970."""
    if isinstance(value, bool | int | float) or (
        isinstance(value, str) and _NUMBER.fullmatch(value)
    ):
        raise ValueError("give the date as ISO 8601 text (e.g. 2027-01-31T00:00:00Z), not a number")
    return value


def _safe_datetime(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("give a timezone, e.g. 2027-01-31T00:00:00Z")
    # Checked before converting: the conversion itself is what overflows near year 1 or 9999.
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    value = value.astimezone(UTC)
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR} (in UTC)")
    return value


def _safe_date(value: date) -> date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


def check_metric_count(value: int) -> int:
    if not 0 <= value <= MAX_METRIC_COUNT:
        raise ValueError(f"must be between 0 and {MAX_METRIC_COUNT:_} for one daily row")
    return value


def check_metric_money(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if not 0 <= value <= MAX_METRIC_MONEY:
        raise ValueError(f"must be between 0 and {MAX_METRIC_MONEY:_} for one daily row")
    return value


# A count in one daily metric row (impressions, clicks, conversions …).
MetricCount = Annotated[int, AfterValidator(check_metric_count)]


def check_metric_amount(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if not 0 <= value <= MAX_METRIC_COUNT:
        raise ValueError(f"must be between 0 and {MAX_METRIC_COUNT:_} for one daily row")
    return value


# A count platforms report with fractions (conversions under data-driven attribution).
MetricAmount = Annotated[Decimal, AfterValidator(check_metric_amount)]
# An amount of money in one daily metric row (spend, revenue), before rounding to cents.
MetricMoney = Annotated[Decimal, AfterValidator(check_metric_money)]

# A timezone-aware instant within the safe years, normalised to UTC; numbers are refused.
SafeDatetime = Annotated[datetime, BeforeValidator(_no_epoch), AfterValidator(_safe_datetime)]
# A calendar day within the safe years; numbers are refused.
SafeDate = Annotated[date, BeforeValidator(_no_epoch), AfterValidator(_safe_date)]


class JsonTooDeep(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels")
        self.limit = limit


# Maps [ and { to 1, ] and } to 255 (-1 as a signed byte).
_DEPTH_STEPS = bytes(1 if b in b"[{" else 255 if b in b"]}" else 0 for b in range(256))
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')


def json_depth(raw: bytes | str) -> int:
    """How deeply `raw` nests arrays and objects, found without parsing it and in C loops
    (tens of MiB per second). Escaped backslashes, then escaped quotes, are dropped; of the
    rest only brackets and quotes matter, and brackets between quotes are string content.
    Exact for every valid JSON prefix, so a parser can never descend deeper than this says."""
    data = raw.encode() if isinstance(raw, str) else raw
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = data.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in structure:
        structure = b"".join(structure.split(b'"')[::2])
    if not structure:
        return 0
    return max(0, *accumulate(array("b", structure.translate(_DEPTH_STEPS))))


def check_json_depth(raw: bytes | str, *, limit: int = MAX_JSON_DEPTH) -> None:
    if json_depth(raw) > limit:
        raise JsonTooDeep(limit)


def loads_json(raw: bytes | str, *, limit: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads` for text from outside: the depth is bounded before parsing (raises
    `JsonTooDeep`); malformed text raises `json.JSONDecodeError` as usual."""
    check_json_depth(raw, limit=limit)
    return json.loads(raw)
