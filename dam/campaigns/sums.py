"""Sums over metric columns that cannot overflow on either database.

PostgreSQL's `sum` of a `bigint` is a `numeric`: exact and unbounded. SQLite's `sum` of
integers raises "integer overflow" past 2^63 - 1, and its `total` is a float that loses
exactness past 2^53. So on SQLite each sum is taken in two parts, the quotient and the
remainder by 10^9, each far from overflowing (the quotient of a bounded row is at most 10, of
any 64-bit value under 10^10; the remainder under 10^9), and joined in Python, where integers
have no limit. A report is then exact whatever was stored, and no number of rows can make an
asset's performance summary fail.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

SPLIT = 10**9
_HIGH = "__high"


def cents(column: Any) -> Any:
    """A money column as whole cents (an integer), so money sums exactly like counts."""
    return sa.cast(sa.func.round(column * 100), sa.BigInteger)


def exact_sum(column: Any, name: str, dialect: str) -> list[Any]:
    """The labelled select columns that `sum_of(row, name)` reads back as one exact sum
    (0 when there are no rows). `column` must hold integers."""
    if dialect == "postgresql":
        return [sa.func.coalesce(sa.func.sum(column), 0).label(name)]
    return [
        sa.func.coalesce(sa.func.sum(column // SPLIT), 0).label(name + _HIGH),
        sa.func.coalesce(sa.func.sum(column % SPLIT), 0).label(name),
    ]


def sum_of(row: Any, name: str) -> int:
    low = int(row._mapping[name])
    high = row._mapping.get(name + _HIGH)
    return low if high is None else int(high) * SPLIT + low


def money_of(row: Any, name: str) -> Decimal:
    """A sum of `cents(...)` as an amount with two decimals."""
    return Decimal(sum_of(row, name)).scaleb(-2)
