"""Column types and helpers shared by every table."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite hands back naive values otherwise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC-aware values")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


_order_lock = threading.Lock()
_order_last = (0, -1)  # (unix ms, counter) of the last ordered id made by this process


def new_ordered_id() -> uuid.UUID:
    """A UUIDv7 (RFC 9562) that sorts after every id made before it in this process: the
    time in ms, then a 12-bit counter within the ms, then random bits. Rows written in one
    transaction (several audit events at the same `now`) so keep the order they were made in."""
    global _order_last
    with _order_lock:
        ms, counter = time.time_ns() // 1_000_000, 0
        last_ms, last_counter = _order_last
        if ms <= last_ms:
            ms, counter = last_ms, last_counter + 1
            if counter > 0xFFF:  # 4096 ids in one ms: borrow the next ms
                ms, counter = ms + 1, 0
        _order_last = (ms, counter)
    value = (ms & (2**48 - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62
    return uuid.UUID(int=value | secrets.randbits(62))


def dt_column(*, nullable: bool = False, index: bool = False, **kw: Any) -> sa.Column[Any]:
    return sa.Column(UTCDateTime(), nullable=nullable, index=index, **kw)


def json_column(*, nullable: bool = False, default: Any = None) -> sa.Column[Any]:
    return sa.Column(JSONType, nullable=nullable, default=default)
