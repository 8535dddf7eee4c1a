"""Turnaround: where review time goes, from the review rounds and their stages.

Definitions (every duration in clock hours):

- a stage's cycle time: from when it became active to its decision (approved or rejected);
  stages carried over (`keep_on_resubmit`) or cancelled are not counted;
- an asset's cycle time: from its first submission to its first approval;
- waiting: time in review (each round from submission to its verdict); working: time in the
  designers' hands before the approval (from the first version's upload to the first
  submission, and from each rejection to the next submission);
- first-pass approval: the asset's first round was approved (assets whose first round was
  decided);
- rework rounds: rounds before the approving one, per approved asset;
- SLA breach: a stage with a due time decided after it (or still waiting past it), of the
  stages with a due time that were decided or are past due;
- percentiles: nearest rank (the p-th percentile of n sorted values is the value at rank
  ceil(p * n / 100)), so every figure is one that happened.

The period filters on the first submission of an asset (and of the round, for stages); term
filters keep assets carrying the term or one below it.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, col, select

from dam.errors import Invalid
from dam.governance.pack import GovernancePack
from dam.models import Asset, AssetVersion, ReviewRound, ReviewStageRun, RoundState, StageState
from dam.workflow.schemas import (
    DurationStats,
    StageTurnaround,
    TurnaroundGroup,
    TurnaroundReport,
)


def percentile(values: Sequence[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p * len(ordered) / 100))
    return ordered[rank - 1]


def stats(values: Sequence[float]) -> DurationStats:
    return DurationStats(
        count=len(values),
        p50_hours=_round(percentile(values, 50)),
        p90_hours=_round(percentile(values, 90)),
        mean_hours=_round(sum(values) / len(values)) if values else None,
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _hours(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600


@dataclass
class _AssetHistory:
    asset: Asset
    created_at: datetime
    rounds: list[ReviewRound] = field(default_factory=list)


@dataclass
class TurnaroundData:
    """What the report is computed from, filtered."""

    assets: list[_AssetHistory]
    stages: list[tuple[ReviewStageRun, _AssetHistory]]


def load(
    session: Session,
    *,
    pack: GovernancePack,
    date_from: date | None,
    date_to: date | None,
    terms: Mapping[str, Sequence[str]],
) -> TurnaroundData:
    rounds = list(session.exec(select(ReviewRound).order_by(col(ReviewRound.number))))
    by_asset: dict[uuid.UUID, list[ReviewRound]] = {}
    for round_ in rounds:
        by_asset.setdefault(round_.asset_id, []).append(round_)
    if not by_asset:
        return TurnaroundData(assets=[], stages=[])
    assets = {a.id: a for a in session.exec(select(Asset).where(col(Asset.id).in_(list(by_asset))))}
    first_upload = dict(
        session.exec(
            select(AssetVersion.asset_id, AssetVersion.created_at).where(
                col(AssetVersion.asset_id).in_(list(by_asset)), col(AssetVersion.number) == 1
            )
        ).all()
    )
    start = None if date_from is None else datetime.combine(date_from, time(), tzinfo=UTC)
    end = (
        None
        if date_to is None
        else datetime.combine(date_to + timedelta(days=1), time(), tzinfo=UTC)
    )
    wanted = {
        facet: set().union(
            *(pack.descendants(facet, t) for t in values if t in pack.facet(facet).terms)
        )
        for facet, values in terms.items()
    }
    histories: dict[uuid.UUID, _AssetHistory] = {}
    for asset_id, asset_rounds in by_asset.items():
        asset = assets.get(asset_id)
        if asset is None:
            continue
        if any(wanted[f].isdisjoint(asset.terms.get(f) or ()) for f in wanted):
            continue
        histories[asset_id] = _AssetHistory(
            asset=asset,
            created_at=first_upload.get(asset_id, asset.created_at),
            rounds=asset_rounds,
        )

    def in_period(moment: datetime) -> bool:
        return (start is None or moment >= start) and (end is None or moment < end)

    chosen = [h for h in histories.values() if in_period(h.rounds[0].submitted_at)]
    round_ids = {
        r.id: histories[r.asset_id]
        for h in histories.values()
        for r in h.rounds
        if in_period(r.submitted_at)
    }
    runs = (
        list(
            session.exec(
                select(ReviewStageRun).where(col(ReviewStageRun.round_id).in_(list(round_ids)))
            )
        )
        if round_ids
        else []
    )
    return TurnaroundData(assets=chosen, stages=[(run, round_ids[run.round_id]) for run in runs])


def group_figures(
    histories: Sequence[_AssetHistory], *, now: datetime, label: str, key: str
) -> TurnaroundGroup:
    cycle: list[float] = []
    waiting = working = 0.0
    first_pass = decided_first = 0
    rework: list[int] = []
    for h in histories:
        first = h.rounds[0]
        if first.state in (RoundState.approved, RoundState.rejected):
            decided_first += 1
            first_pass += first.state == RoundState.approved
        approved = next((r for r in h.rounds if r.state == RoundState.approved), None)
        if approved is None or approved.closed_at is None:
            continue
        cycle.append(_hours(first.submitted_at, approved.closed_at))
        upto = h.rounds[: h.rounds.index(approved) + 1]
        rework.append(len(upto) - 1)
        working += max(0.0, _hours(h.created_at, first.submitted_at))
        for previous, current in itertools.pairwise(upto):
            if previous.closed_at is not None:
                working += max(0.0, _hours(previous.closed_at, current.submitted_at))
        for r in upto:
            waiting += _hours(r.submitted_at, r.closed_at or now)
    return TurnaroundGroup(
        key=key,
        label=label,
        assets=len(histories),
        approved=len(cycle),
        cycle_time=stats(cycle),
        waiting_hours=_round(waiting) or 0.0,
        working_hours=_round(working) or 0.0,
        first_pass_rate=_round(first_pass / decided_first) if decided_first else None,
        rework_rounds_per_asset=_round(sum(rework) / len(rework)) if rework else None,
    )


def stage_figures(
    runs: Sequence[tuple[ReviewStageRun, _AssetHistory]], *, now: datetime
) -> list[StageTurnaround]:
    by_stage: dict[str, list[ReviewStageRun]] = {}
    labels: dict[str, str] = {}
    for run, _ in runs:
        by_stage.setdefault(run.stage, []).append(run)
        labels.setdefault(run.stage, run.label or run.stage)
    out = []
    for stage_id in sorted(by_stage, key=lambda s: (min(r.step for r in by_stage[s]), s)):
        stage_runs = by_stage[stage_id]
        decided = [
            r
            for r in stage_runs
            if r.state in (StageState.approved, StageState.rejected)
            and not r.carried
            and r.started_at is not None
            and r.completed_at is not None
        ]
        durations = [_hours(r.started_at, r.completed_at) for r in decided]  # type: ignore[arg-type]
        decided_ids = {r.id for r in decided}
        with_sla = [
            r
            for r in stage_runs
            if r.due_at is not None
            and not r.carried
            and (r.id in decided_ids or (r.state == StageState.active and r.due_at < now))
        ]
        breached = [
            r
            for r in with_sla
            if r.breached_at is not None
            or (r.completed_at is not None and r.due_at is not None and r.completed_at > r.due_at)
            or r.state == StageState.active
        ]
        out.append(
            StageTurnaround(
                stage=stage_id,
                label=labels[stage_id],
                decided=len(decided),
                approved=sum(r.state == StageState.approved for r in decided),
                rejected=sum(r.state == StageState.rejected for r in decided),
                cycle_time=stats(durations),
                with_sla=len(with_sla),
                sla_breaches=len(breached),
                sla_breach_rate=_round(len(breached) / len(with_sla)) if with_sla else None,
            )
        )
    return out


def turnaround(
    session: Session,
    *,
    pack: GovernancePack,
    now: datetime,
    date_from: date | None = None,
    date_to: date | None = None,
    terms: Mapping[str, Sequence[str]] | None = None,
    group_by: str = "channel",
) -> TurnaroundReport:
    if date_from is not None and date_to is not None and date_from > date_to:
        raise Invalid("`from` is after `to`", code="invalid_range")
    if not pack.has_facet(group_by):
        raise Invalid(f"unknown facet {group_by!r} to group by", code="unknown_facet")
    chosen = _checked_terms(pack, terms or {})
    data = load(session, pack=pack, date_from=date_from, date_to=date_to, terms=chosen)
    groups: dict[str, list[_AssetHistory]] = {}
    for h in data.assets:
        for term in h.asset.terms.get(group_by) or ["none"]:
            groups.setdefault(term, []).append(h)
    facet = pack.facet(group_by)
    by_group = [
        group_figures(
            groups[term],
            now=now,
            key=term,
            label=facet.terms[term].label if term in facet.terms else term,
        )
        for term in sorted(groups)
    ]
    return TurnaroundReport(
        date_from=date_from,
        date_to=date_to,
        terms={k: list(v) for k, v in chosen.items()},
        group_by=group_by,
        overall=group_figures(data.assets, now=now, key="all", label="All"),
        stages=stage_figures(data.stages, now=now),
        groups=by_group,
    )


def _checked_terms(
    pack: GovernancePack, terms: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for raw_facet, values in terms.items():
        facet = pack.resolve_facet(raw_facet)
        if facet is None:
            raise Invalid(f"unknown facet {raw_facet!r}", code="invalid_terms")
        for value in values:
            term = pack.resolve(facet, value)
            if term is None:
                raise Invalid(f"{facet}: unknown term {value!r}", code="invalid_terms")
            out.setdefault(facet, []).append(term)
    return out
