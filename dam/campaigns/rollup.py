"""The term-level rollups behind creative insights, kept exact in the writing transaction.

`campaign_metric_months` (one row per campaign, asset, month, channel and currency) is what
the metrics upsert keeps; creative insights group it by the assets' terms, which at 1M metric
rows was a join of ~270k rows per request. Three tables make that a read of a few thousand:

- `campaign_term_months`: the rollup summed per (facet, term, month, channel, campaign,
  currency), with `assets` = how many rollup rows (assets) are behind it. The sums and the
  distinct campaign count of a report are read from it for whole months.
- `campaign_asset_cells`: per asset, the (month, channel) cells it has figures in (its
  pattern), and `campaign_term_cells`: how many assets of a term have each pattern. The number
  of distinct assets of a term with figures under a month range and a channel filter is the
  sum over the patterns that meet the filter: exact, without reading an asset.

Who keeps them: the metrics upsert (`refresh`, called by `metrics.refresh_rollup` in the same
transaction) recounts `campaign_term_months` for the touched campaign months from the rollup
and `asset_terms` (a recount, so exact whatever was there) and re-derives the touched assets'
patterns; triggers on `asset_terms` (migration 0021) move an asset's figures and pattern
between terms when its terms change, so every write path of `assets.terms` is covered.

On PostgreSQL every writer takes one transaction-level advisory lock (`lock`) before it
reads `asset_terms` or a pattern: the upsert for its rollup work, the trigger for an asset that
has figures or campaigns. Concurrent ingests queue only for that part (about 0.1 s of a 50k-row
batch) and the commit; a term edit of a tagged asset waits for it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import date as Date
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from dam.models import (
    AssetTerm,
    CampaignAssetCells,
    CampaignMetricMonth,
    CampaignTermCells,
    CampaignTermMonth,
)

EMAIL = ("sends", "deliveries", "opens", "unique_opens", "unsubscribes", "bounces")
FIGURES = (
    "impressions",
    "clicks",
    "conversion_hundredths",
    "spend_cents",
    "revenue_cents",
    *EMAIL,
)
TERM_KEY = ("facet", "term", "month", "channel", "campaign_id", "currency")
CHUNK = 500
# The advisory lock of every writer of the term rollups on PostgreSQL ("dam_ctr1"); the same
# number is in migration 0021's trigger.
LOCK_KEY = 0x64616D5F63747231

rollup = CampaignMetricMonth.__table__  # type: ignore[attr-defined]
term_months = CampaignTermMonth.__table__  # type: ignore[attr-defined]
asset_cells = CampaignAssetCells.__table__  # type: ignore[attr-defined]
term_cells = CampaignTermCells.__table__  # type: ignore[attr-defined]
terms = AssetTerm.__table__  # type: ignore[attr-defined]


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def pattern(cells: Iterable[tuple[Date, str]]) -> tuple[str, str]:
    """(digest, cells as JSON) of a set of (month, channel) cells; the same set always gives
    the same text."""
    text = json.dumps(sorted({(m.isoformat(), c) for m, c in cells}), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32], text


@lru_cache(maxsize=65_536)
def parse_cells(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((m, c) for m, c in json.loads(text))


def meets(
    text: str, first: Date | None, after: Date | None, channels: frozenset[str] | None
) -> bool:
    """Whether a pattern has a cell in months [first, after) on one of `channels` (None: any)."""
    lo = first.isoformat() if first is not None else None
    hi = after.isoformat() if after is not None else None
    for month, channel in parse_cells(text):
        if lo is not None and month < lo:
            continue
        if hi is not None and month >= hi:
            continue
        if channels is None or channel in channels:
            return True
    return False


def _term_sums(where: list[Any]) -> Any:
    """The rollup joined with asset_terms and summed per term key (plain sums: each row is a
    bounded monthly sum of one asset, see `metrics._rebuild`)."""
    return (
        sa.select(
            terms.c.facet,
            terms.c.term,
            rollup.c.month,
            rollup.c.channel,
            rollup.c.campaign_id,
            rollup.c.currency,
            sa.func.count(),
            *(sa.func.sum(rollup.c[name]) for name in FIGURES),
        )
        .select_from(rollup.join(terms, terms.c.asset_id == rollup.c.asset_id))
        .where(*where)
        .group_by(
            terms.c.facet,
            terms.c.term,
            rollup.c.month,
            rollup.c.channel,
            rollup.c.campaign_id,
            rollup.c.currency,
        )
    )


def lock(session: Session) -> None:
    """PostgreSQL: the term rollups' transaction lock (`LOCK_KEY`), taken before anything here
    reads `asset_terms` or a pattern; the `asset_terms` trigger takes it too for an asset with
    figures or campaigns. One lock for every writer of these tables: a term edit and an ingest
    never count from each other's half-written state, and the shared per-term counters are
    never locked in two orders (no deadlocks between a bulk edit and an ingest)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def refresh_terms(session: Session, campaign_id: str, start: Date, end: Date) -> None:
    """Recount `campaign_term_months` of one campaign for months [start, end)."""
    session.execute(
        sa.delete(term_months).where(
            term_months.c.campaign_id == campaign_id,
            term_months.c.month >= start,
            term_months.c.month < end,
        )
    )
    session.execute(
        sa.insert(term_months).from_select(
            [*TERM_KEY, "assets", *FIGURES],
            _term_sums(
                [
                    rollup.c.campaign_id == campaign_id,
                    rollup.c.month >= start,
                    rollup.c.month < end,
                ]
            ),
        )
    )


def _patterns_of(session: Session, asset_ids: Sequence[Any]) -> dict[Any, tuple[str, str]]:
    cells: dict[Any, set[tuple[Date, str]]] = {}
    for asset_id, month, channel in session.execute(
        sa.select(rollup.c.asset_id, rollup.c.month, rollup.c.channel)
        .where(rollup.c.asset_id.in_(list(asset_ids)))
        .distinct()
    ):
        cells.setdefault(asset_id, set()).add((month, channel))
    return {asset_id: pattern(found) for asset_id, found in cells.items()}


def refresh_cells(session: Session, asset_ids: Iterable[uuid.UUID]) -> None:
    """Re-derive the patterns of these assets from the rollup and move the term counts of
    those that changed (applied once, in key order)."""
    delta: dict[tuple[str, str, str], list[Any]] = {}
    for chunk in _chunks(sorted(set(asset_ids)), CHUNK):
        new = _patterns_of(session, chunk)
        old = {
            row.asset_id: (row.digest, row.cells)
            for row in session.execute(
                sa.select(asset_cells.c.asset_id, asset_cells.c.digest, asset_cells.c.cells).where(
                    asset_cells.c.asset_id.in_(list(chunk))
                )
            )
        }
        changed = sorted(a for a in set(new) | set(old) if new.get(a) != old.get(a))
        if not changed:
            continue
        for asset_id, facet, term in session.execute(
            sa.select(terms.c.asset_id, terms.c.facet, terms.c.term).where(
                terms.c.asset_id.in_(changed)
            )
        ):
            for side, sign in ((old, -1), (new, 1)):
                if asset_id in side:
                    digest, text = side[asset_id]
                    entry = delta.setdefault((facet, term, digest), [text, 0])
                    entry[1] += sign
        session.execute(sa.delete(asset_cells).where(asset_cells.c.asset_id.in_(changed)))
        rows = [
            {"asset_id": a, "digest": new[a][0], "cells": new[a][1]} for a in changed if a in new
        ]
        if rows:
            session.execute(sa.insert(asset_cells), rows)
    _apply_term_cells(session, delta)


def _apply_term_cells(session: Session, delta: dict[tuple[str, str, str], list[Any]]) -> None:
    """Add the (facet, term, pattern) count changes, in key order (so two writers lock the
    rows in the same order), dropping the rows that reach 0."""
    changes = [(key, text, n) for key, (text, n) in sorted(delta.items()) if n]
    if not changes:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(term_cells)
    stmt = stmt.on_conflict_do_update(
        index_elements=[term_cells.c.facet, term_cells.c.term, term_cells.c.digest],
        set_={"assets": term_cells.c.assets + stmt.excluded.assets},
    )
    session.execute(
        stmt,
        [
            {"facet": f, "term": t, "digest": d, "cells": text, "assets": n}
            for (f, t, d), text, n in changes
        ],
    )
    gone = [(f, t, d) for (f, t, d), _, n in changes if n < 0]
    for chunk in _chunks(gone, CHUNK):
        session.execute(
            sa.delete(term_cells).where(
                term_cells.c.assets <= 0,
                sa.tuple_(term_cells.c.facet, term_cells.c.term, term_cells.c.digest).in_(
                    list(chunk)
                ),
            )
        )


def refresh(
    session: Session, campaign_id: str, start: Date, end: Date, asset_ids: Sequence[uuid.UUID]
) -> None:
    """After the rollup of (campaign, assets, months [start, end)) was rebuilt."""
    refresh_terms(session, campaign_id, start, end)
    refresh_cells(session, asset_ids)


def rebuild(session: Session) -> None:
    """Recount all three tables from the rollup and asset_terms (a bulk load, a repair)."""
    session.execute(sa.delete(term_months))
    session.execute(
        sa.insert(term_months).from_select([*TERM_KEY, "assets", *FIGURES], _term_sums([]))
    )
    session.execute(sa.delete(term_cells))
    session.execute(sa.delete(asset_cells))
    last: Any = None
    while True:
        page = sa.select(rollup.c.asset_id).distinct().order_by(rollup.c.asset_id).limit(CHUNK)
        if last is not None:
            page = page.where(rollup.c.asset_id > last)
        chunk = list(session.scalars(page))
        if not chunk:
            break
        last = chunk[-1]
        found = _patterns_of(session, chunk)
        session.execute(
            sa.insert(asset_cells),
            [{"asset_id": a, "digest": d, "cells": text} for a, (d, text) in found.items()],
        )
    session.execute(
        sa.insert(term_cells).from_select(
            ["facet", "term", "digest", "cells", "assets"],
            sa.select(
                terms.c.facet,
                terms.c.term,
                asset_cells.c.digest,
                sa.func.min(asset_cells.c.cells),
                sa.func.count(),
            )
            .select_from(asset_cells.join(terms, terms.c.asset_id == asset_cells.c.asset_id))
            .group_by(terms.c.facet, terms.c.term, asset_cells.c.digest),
        )
    )
