"""Review rounds and their stages: which stages a submission passes through, who may approve
each, when each is due, and how an approval or a rejection moves the round on.

A round's stages are copied from the pack when the version is submitted (a pack change never
re-routes work in flight). Stages of one step run in parallel; the next step becomes active
when every stage of the step is approved. `require: any` needs one approval from an eligible
approver; `require: all` needs one from each listed role and each listed user.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dam.context import Context
from dam.errors import Conflict, Forbidden, Invalid
from dam.models import (
    Asset,
    AssetVersion,
    ReviewDecision,
    ReviewRound,
    ReviewStageRun,
    RoundState,
    StageState,
    User,
)
from dam.principal import Principal
from dam.workflow.calendar import WorkCalendar

_CARRY_FROM = frozenset({RoundState.rejected, RoundState.superseded})


def calendar(ctx: Context) -> WorkCalendar:
    return WorkCalendar.from_settings(ctx.settings)


def email_of(session: Session, actor: Principal) -> str | None:
    """Stages name users by email; an API key has none."""
    if actor.kind != "user":
        return None
    email = session.exec(select(User.email).where(col(User.id) == actor.id)).first()
    return None if email is None else email.casefold()


def runs_of(session: Session, round_id: uuid.UUID) -> list[ReviewStageRun]:
    return list(
        session.exec(
            select(ReviewStageRun)
            .where(col(ReviewStageRun.round_id) == round_id)
            .order_by(col(ReviewStageRun.step), col(ReviewStageRun.stage))
        )
    )


def open_round_of(session: Session, asset: Asset, version: int) -> ReviewRound | None:
    return session.exec(
        select(ReviewRound).where(
            col(ReviewRound.asset_id) == asset.id,
            col(ReviewRound.version) == version,
            col(ReviewRound.state) == RoundState.open,
        )
    ).first()


def latest_round(session: Session, asset_id: uuid.UUID) -> ReviewRound | None:
    return session.exec(
        select(ReviewRound)
        .where(col(ReviewRound.asset_id) == asset_id)
        .order_by(col(ReviewRound.number).desc())
        .limit(1)
    ).first()


def start_round(
    session: Session,
    *,
    ctx: Context,
    asset: Asset,
    version: AssetVersion,
    actor: Principal,
    now: datetime,
) -> tuple[ReviewRound, list[ReviewStageRun]]:
    """Open a round for the version with the pack's stages for its terms; returns the round
    and the stages that became active (each waits for its approvers)."""
    previous = latest_round(session, asset.id)
    _supersede_open(session, asset.id, now=now)
    kept: set[str] = set()
    if previous is not None and previous.state in _CARRY_FROM:
        kept = {
            run.stage
            for run in runs_of(session, previous.id)
            if run.keep_on_resubmit and run.state == StageState.approved
        }
    pack = ctx.governance.pack
    chosen = pack.review.stages_for(version.terms)
    if all(stage.id in kept for stage in chosen):
        kept = set()  # nothing is published without a reviewer acting on this submission
    round_ = ReviewRound(
        asset_id=asset.id,
        version=version.number,
        number=(previous.number if previous else 0) + 1,
        pack_revision=pack.revision,
        submitted_by=actor.id,
        submitted_at=now,
    )
    session.add(round_)
    session.flush()
    runs = []
    for stage in chosen:
        carried = stage.id in kept
        run = ReviewStageRun(
            round_id=round_.id,
            asset_id=asset.id,
            stage=stage.id,
            label=stage.label,
            step=stage.step,
            roles=list(stage.roles),
            users=list(stage.users),
            require=stage.require,
            sla_hours=stage.sla_hours,
            keep_on_resubmit=stage.keep_on_resubmit,
            state=StageState.approved if carried else StageState.waiting,
            carried=carried,
            started_at=now if carried else None,
            completed_at=now if carried else None,
        )
        session.add(run)
        runs.append(run)
    session.flush()
    return round_, _advance(ctx, runs, now=now)


def _supersede_open(session: Session, asset_id: uuid.UUID, *, now: datetime) -> None:
    for round_ in session.exec(
        select(ReviewRound).where(
            col(ReviewRound.asset_id) == asset_id, col(ReviewRound.state) == RoundState.open
        )
    ):
        close_round(session, round_, state=RoundState.superseded, now=now)


def close_round(
    session: Session,
    round_: ReviewRound,
    *,
    state: RoundState,
    now: datetime,
    actor: Principal | None = None,
    reason: str | None = None,
) -> None:
    round_.state = state
    round_.closed_at = now
    round_.closed_by = None if actor is None else actor.id
    round_.reason = reason
    session.add(round_)
    for run in runs_of(session, round_.id):
        if run.state in (StageState.waiting, StageState.active):
            if run.state == StageState.active:
                run.completed_at = now
            run.state = StageState.cancelled
            session.add(run)


def _advance(ctx: Context, runs: list[ReviewStageRun], *, now: datetime) -> list[ReviewStageRun]:
    """Activate the earliest step that still has stages to approve, if none of it is active
    yet; returns the stages activated now."""
    pending = [r for r in runs if r.state in (StageState.waiting, StageState.active)]
    if not pending:
        return []
    step = min(r.step for r in pending)
    started = []
    for run in pending:
        if run.step == step and run.state == StageState.waiting:
            run.state = StageState.active
            run.started_at = now
            if run.sla_hours is not None:
                run.due_at = calendar(ctx).add_working_hours(now, run.sla_hours)
                lead = ctx.settings.sla_warning_hours
                if 0 < lead < run.sla_hours:
                    run.warn_at = calendar(ctx).add_working_hours(now, run.sla_hours - lead)
            started.append(run)
    return started


def requirements(run: ReviewStageRun) -> list[str]:
    """What a stage needs approved: one entry for `any`, one per role and user for `all`."""
    if run.require == "any":
        return ["any"]
    return [*(f"role:{r}" for r in run.roles), *(f"user:{u}" for u in run.users)]


def may_approve(run: ReviewStageRun, *, role: str, email: str | None) -> bool:
    return role in run.roles or (email is not None and email in run.users)


def decisions_of(session: Session, run_ids: list[uuid.UUID]) -> list[ReviewDecision]:
    if not run_ids:
        return []
    return list(
        session.exec(
            select(ReviewDecision)
            .where(col(ReviewDecision.stage_run_id).in_(run_ids))
            .order_by(col(ReviewDecision.id))
        )
    )


def _counts_for(run: ReviewStageRun, done: set[str], *, role: str, email: str | None) -> str | None:
    """Which of the stage's open requirements this approver's approval satisfies."""
    if run.require == "any":
        return None if "any" in done else "any"
    if email is not None and email in run.users and f"user:{email}" not in done:
        return f"user:{email}"
    if role in run.roles and f"role:{role}" not in done:
        return f"role:{role}"
    return None


@dataclass
class StageOutcome:
    run: ReviewStageRun
    completed: bool  # the stage has every approval it needs
    final: bool  # and it was the round's last: the version is approved
    started: list[ReviewStageRun]  # stages of the next step, active now


def approve_stage(
    session: Session,
    *,
    ctx: Context,
    round_: ReviewRound,
    actor: Principal,
    stage: str | None,
    now: datetime,
) -> StageOutcome:
    runs = runs_of(session, round_.id)
    active = [r for r in runs if r.state == StageState.active]
    email = email_of(session, actor)
    role = actor.role.value
    done: dict[uuid.UUID, set[str]] = {r.id: set() for r in active}
    acted: dict[uuid.UUID, set[uuid.UUID | None]] = {r.id: set() for r in active}
    for decision in decisions_of(session, [r.id for r in active]):
        if decision.verdict == "approved":
            done[decision.stage_run_id].add(decision.counts_for)
            acted[decision.stage_run_id].add(decision.actor_id)
    run = _target(active, runs, stage=stage, role=role, email=email)
    if actor.id in acted[run.id]:
        raise Conflict(
            f"you already approved stage '{run.stage}'; it waits for other approvers",
            code="already_approved",
            stage=run.stage,
        )
    counts_for = _counts_for(run, done[run.id], role=role, email=email)
    if counts_for is None:
        raise Conflict(
            f"stage '{run.stage}' needs approvals from {', '.join(_missing(run, done[run.id]))}; "
            "yours is already counted",
            code="approval_not_needed",
            stage=run.stage,
        )
    session.add(
        ReviewDecision(
            stage_run_id=run.id,
            round_id=round_.id,
            actor_id=actor.id,
            actor_name=actor.name,
            actor_role=role,
            counts_for=counts_for,
            verdict="approved",
            at=now,
        )
    )
    done[run.id].add(counts_for)
    completed = not _missing(run, done[run.id])
    started: list[ReviewStageRun] = []
    final = False
    if completed:
        run.state = StageState.approved
        run.completed_at = now
        session.add(run)
        started = _advance(ctx, runs, now=now)
        final = all(r.state == StageState.approved for r in runs)
    session.flush()
    return StageOutcome(run=run, completed=completed, final=final, started=started)


def _missing(run: ReviewStageRun, done: set[str]) -> list[str]:
    return [
        "any approver" if need == "any" else need.replace(":", " ")
        for need in requirements(run)
        if need not in done
    ]


def _target(
    active: list[ReviewStageRun],
    runs: list[ReviewStageRun],
    *,
    stage: str | None,
    role: str,
    email: str | None,
) -> ReviewStageRun:
    if stage is not None:
        named = next((r for r in runs if r.stage == stage), None)
        if named is None:
            raise Invalid(
                f"this review has no stage '{stage}'; its stages are "
                f"{', '.join(r.stage for r in runs)}",
                code="unknown_stage",
                stage=stage,
            )
        if named.state != StageState.active:
            raise Conflict(
                f"stage '{stage}' is {named.state.value}, not waiting for approval",
                code="stage_not_active",
                stage=stage,
            )
        if not may_approve(named, role=role, email=email):
            raise Forbidden(f"stage '{stage}' is approved by {_who(named)}", code="not_an_approver")
        return named
    mine = [r for r in active if may_approve(r, role=role, email=email)]
    if not mine:
        waiting = "; ".join(f"'{r.stage}' by {_who(r)}" for r in active)
        raise Forbidden(
            f"you approve none of the stages waiting now ({waiting})", code="not_an_approver"
        )
    return mine[0]


def _who(run: ReviewStageRun) -> str:
    return ", ".join([*run.roles, *run.users]) or "nobody"


def reject_round(
    session: Session,
    *,
    round_: ReviewRound,
    actor: Principal,
    stage: str | None,
    reason: str,
    now: datetime,
) -> ReviewStageRun:
    """Any approver of a stage waiting now may reject; the round ends and every undecided
    stage is cancelled."""
    runs = runs_of(session, round_.id)
    active = [r for r in runs if r.state == StageState.active]
    email = email_of(session, actor)
    run = _target(active, runs, stage=stage, role=actor.role.value, email=email)
    session.add(
        ReviewDecision(
            stage_run_id=run.id,
            round_id=round_.id,
            actor_id=actor.id,
            actor_name=actor.name,
            actor_role=actor.role.value,
            verdict="rejected",
            reason=reason,
            at=now,
        )
    )
    run.state = StageState.rejected
    run.completed_at = now
    session.add(run)
    close_round(session, round_, state=RoundState.rejected, now=now, actor=actor, reason=reason)
    session.flush()
    return run


def breached_stages(session: Session, *, now: datetime, limit: int = 200) -> list[ReviewStageRun]:
    """Active stages past their due time whose breach is not recorded yet."""
    return list(
        session.exec(
            select(ReviewStageRun)
            .join(ReviewRound, col(ReviewRound.id) == col(ReviewStageRun.round_id))
            .where(
                col(ReviewStageRun.state) == StageState.active,
                col(ReviewStageRun.due_at) < now,
                col(ReviewStageRun.breached_at).is_(None),
                col(ReviewRound.state) == RoundState.open,
            )
            .order_by(col(ReviewStageRun.due_at))
            .limit(limit)
            # Several workers may sweep at once on PostgreSQL: each takes different stages,
            # so no breach is announced twice.
            .with_for_update(skip_locked=True, of=ReviewStageRun)
        )
    )


def stages_to_warn(session: Session, *, now: datetime, limit: int = 200) -> list[ReviewStageRun]:
    """Active stages whose warning time has come, not warned yet and not breached."""
    return list(
        session.exec(
            select(ReviewStageRun)
            .join(ReviewRound, col(ReviewRound.id) == col(ReviewStageRun.round_id))
            .where(
                col(ReviewStageRun.state) == StageState.active,
                col(ReviewStageRun.warn_at) <= now,
                col(ReviewStageRun.due_at) > now,  # past due, the breach says it
                col(ReviewStageRun.warned_at).is_(None),
                col(ReviewStageRun.breached_at).is_(None),
                col(ReviewRound.state) == RoundState.open,
            )
            .order_by(col(ReviewStageRun.warn_at))
            .limit(limit)
            .with_for_update(skip_locked=True, of=ReviewStageRun)
        )
    )


def round_count(session: Session, asset_id: uuid.UUID) -> int:
    return int(
        session.exec(
            select(sa.func.count())
            .select_from(ReviewRound)
            .where(col(ReviewRound.asset_id) == asset_id)
        ).one()
    )
