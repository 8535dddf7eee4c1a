"""Perceptual-hash neighbours, for `GET /assets/{id}/similar` and upload duplicate hints.

Look-ups go through the band index (`phash_bands`, migration 0010): every 64-bit hash is four
16-bit bands, and two hashes within distance r share a band within r // 4 of each other, so a
search reads only the versions one of whose bands is among the few hundred values near the
target's — a cost set by how many look alike, not by the library's size. Distances above
`MAX_INDEXED_DISTANCE` ask for a large part of any library; they read every hash.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dam.media import hash_distance
from dam.models import AssetVersion, PhashBand

DEFAULT_MAX_DISTANCE = 10
MAX_RESULTS = 50
BANDS = 4
BAND_BITS = 16
# Up to 3 bits of difference per band: at most 697 band values per band to look up.
MAX_INDEXED_DISTANCE = 4 * 3 + 3


def band_values(chunk: int, radius: int) -> list[str]:
    """Every 16-bit value within Hamming distance `radius` of `chunk`, as 4 hex digits."""
    values = [chunk]
    for flips in range(1, radius + 1):
        for bits in itertools.combinations(range(BAND_BITS), flips):
            mask = 0
            for bit in bits:
                mask |= 1 << bit
            values.append(chunk ^ mask)
    return [f"{v:04x}" for v in values]


def _candidates(
    session: Session, target: int, max_distance: int
) -> Iterable[tuple[uuid.UUID, int, str]]:
    if max_distance > MAX_INDEXED_DISTANCE:
        return session.exec(
            select(AssetVersion.asset_id, AssetVersion.number, AssetVersion.phash).where(
                col(AssetVersion.phash).is_not(None)
            )
        ).all()  # type: ignore[return-value]
    radius = max_distance // BANDS
    near = sa.or_(
        *(
            sa.and_(
                col(PhashBand.band) == band,
                col(PhashBand.chunk).in_(
                    band_values((target >> (BAND_BITS * (BANDS - 1 - band))) & 0xFFFF, radius)
                ),
            )
            for band in range(BANDS)
        )
    )
    hits = select(PhashBand.asset_id, PhashBand.number).where(near).distinct().subquery()
    return session.execute(
        sa.select(
            col(AssetVersion.asset_id), col(AssetVersion.number), col(AssetVersion.phash)
        ).join(
            hits,
            sa.and_(
                hits.c.asset_id == col(AssetVersion.asset_id),
                hits.c.number == col(AssetVersion.number),
            ),
        )
    ).all()


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
    best: dict[tuple[uuid.UUID, int], tuple[int, int]] = {}
    for asset_id, number, value in _candidates(session, target, max_distance):
        if asset_id == exclude_asset_id or not value or len(value) != 16:
            continue
        try:
            distance = (int(value, 16) ^ target).bit_count()
        except ValueError:
            continue
        if distance > max_distance:
            continue
        slot = (asset_id, 0 if best_per_asset else number)
        current = best.get(slot)
        if current is None or (distance, -number) < (current[1], -current[0]):
            best[slot] = (number, distance)
    ranked = sorted(
        ((aid, number, distance) for (aid, _), (number, distance) in best.items()),
        key=lambda item: (item[2], -item[1], str(item[0])),
    )
    return ranked[:limit]
