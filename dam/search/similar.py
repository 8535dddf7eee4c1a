"""Perceptual-hash neighbours, for `GET /assets/{id}/similar` and upload duplicate hints.

Versions are immutable and append-only, so every version's hash is cached per engine and the
cache only ever fetches rows it has not seen. A scan of 100k 64-bit ints takes a few
milliseconds; a final query confirms the candidates exist, because the cache may hold rows of a
transaction that later rolled back.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dam.media import hash_distance
from dam.models import AssetVersion

DEFAULT_MAX_DISTANCE = 10
MAX_RESULTS = 50
LOOK_BACK = timedelta(minutes=10)


@dataclass
class _Cache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: set[tuple[uuid.UUID, int]] = field(default_factory=set)
    rows: list[tuple[uuid.UUID, int, int]] = field(default_factory=list)
    high_water: datetime | None = None


_CACHES: weakref.WeakKeyDictionary[Engine, _Cache] = weakref.WeakKeyDictionary()
_CACHES_GUARD = threading.Lock()


def _cache_for(session: Session) -> _Cache:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with _CACHES_GUARD:
        cache = _CACHES.get(engine)
        if cache is None:
            cache = _CACHES[engine] = _Cache()
        return cache


def clear_cache() -> None:
    """Forget every cached hash: for code that rewrites hashes in place (a re-hash migration,
    tests); the application itself only ever adds versions."""
    with _CACHES_GUARD:
        _CACHES.clear()


def _refresh(session: Session, cache: _Cache) -> None:
    everything = select(
        AssetVersion.asset_id, AssetVersion.number, AssetVersion.phash, AssetVersion.created_at
    ).where(col(AssetVersion.phash).is_not(None))
    if cache.high_water is None:
        _absorb(cache, session.exec(everything))
        return
    # A version's created_at is taken before its transaction commits, so rows may appear
    # behind the high-water mark: look back a margin, and de-duplicate with `seen`.
    _absorb(
        cache,
        session.exec(
            everything.where(col(AssetVersion.created_at) >= cache.high_water - LOOK_BACK)
        ),
    )
    total = session.exec(
        select(sa.func.count())
        .select_from(AssetVersion)
        .where(col(AssetVersion.phash).is_not(None))
    ).one()
    if total != len(cache.seen):
        # Rows arrived later than the margin, or were removed: start over from a full scan.
        cache.seen.clear()
        cache.rows.clear()
        _absorb(cache, session.exec(everything))


def _absorb(cache: _Cache, rows: Any) -> None:
    for asset_id, number, phash, created_at in rows:
        if (asset_id, number) in cache.seen or not phash or len(phash) != 16:
            continue
        try:
            value = int(phash, 16)
        except ValueError:
            continue
        cache.seen.add((asset_id, number))
        cache.rows.append((asset_id, number, value))
        if cache.high_water is None or created_at > cache.high_water:
            cache.high_water = created_at


def find_similar(
    session: Session,
    *,
    phash: str,
    exclude_asset_id: uuid.UUID | None,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    limit: int = MAX_RESULTS,
    best_per_asset: bool = True,
) -> list[tuple[uuid.UUID, int, int]]:
    """(asset id, version, distance) of the nearest version of each other asset within
    `max_distance`, nearest first (ties: newest version, then asset id). With
    `best_per_asset=False`, every version within the distance (callers that may only show some
    versions filter and de-duplicate themselves)."""
    hash_distance(phash, phash)  # validates the format
    target = int(phash, 16)
    cache = _cache_for(session)
    with cache.lock:
        _refresh(session, cache)
        rows = list(cache.rows)
    best: dict[tuple[uuid.UUID, int], int] = {}
    for asset_id, number, value in rows:
        if asset_id == exclude_asset_id:
            continue
        distance = (value ^ target).bit_count()
        if distance > max_distance:
            continue
        slot = (asset_id, 0 if best_per_asset else number)
        current = best.get(slot)
        if current is None or (distance, -number) < (current & 0xFF, -(current >> 8)):
            best[slot] = (number << 8) | distance
    ranked = sorted(
        ((aid, packed >> 8, packed & 0xFF) for (aid, _), packed in best.items()),
        key=lambda item: (item[2], -item[1], str(item[0])),
    )
    candidates = ranked[: limit * 2]
    if not candidates:
        return []
    pairs = [(aid, number) for aid, number, _ in candidates]
    existing = set(
        session.exec(
            select(AssetVersion.asset_id, AssetVersion.number).where(
                sa.tuple_(col(AssetVersion.asset_id), col(AssetVersion.number)).in_(pairs)
            )
        ).all()
    )
    return [(aid, n, d) for aid, n, d in candidates if (aid, n) in existing][:limit]
