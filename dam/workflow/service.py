"""Review transitions on an asset's current version, and the review queue.

Each transition bumps the asset's revision with a compare-and-set, so two reviewers acting at
once cannot both win, and writes its audit event and domain event in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dam.assets.metadata import Metadata, publish, snapshot
from dam.assets.service import bump_revision, campaign_ids_of, check_if_match, get_version
from dam.audit.service import diff, record
from dam.context import Context
from dam.errors import Conflict, Forbidden, Invalid
from dam.events import emit
from dam.governance.engine import ComplianceStatus
from dam.governance.service import assess_version, fields_of, store_report
from dam.models import (
    ApiKey,
    Asset,
    AssetStatus,
    AssetVersion,
    ReviewRound,
    ReviewStageRun,
    ReviewState,
    Role,
    RoundState,
    StageState,
    User,
)
from dam.principal import Principal
from dam.workflow import stages
from dam.workflow.schemas import (
    ApproversOut,
    DecisionOut,
    ReviewOut,
    ReviewQueueItem,
    ReviewQueuePage,
    RoundOut,
    StageOut,
    UploaderOut,
)

# Rejected versions may be resubmitted: their metadata can be edited in place, so fixing what
# the reviewer objected to does not always need new bytes.
SUBMITTABLE = frozenset({ReviewState.draft, ReviewState.rejected})
REVIEWABLE = frozenset({ReviewState.in_review})


def submit(
    session: Session, *, ctx: Context, asset: Asset, actor: Principal, if_match: str | None = None
) -> AssetVersion:
    """Put the current version up for review; refused while its compliance status is `fail`."""
    version = _current_for_transition(session, asset, if_match=if_match)
    _require_state(version, SUBMITTABLE, verb="submitted")
    if version.compliance_status == ComplianceStatus.failed.value:
        violations = (version.compliance or {}).get("violations", [])
        raise Conflict(
            f"version {version.number} fails the brand rules; fix the blocking violations "
            "(upload a new version or edit the metadata) before submitting",
            code="compliance_failed",
            violations=violations,
        )
    now = ctx.now()
    before = version.review_state
    bump_revision(session, asset, now=now)
    version.review_state = ReviewState.in_review
    version.submitted_at = now
    # A resubmitted version starts a fresh review; the earlier verdict stays on the audit trail.
    version.review_reason = None
    version.reviewed_by = None
    version.reviewed_at = None
    session.add(version)
    round_, started = stages.start_round(
        session, ctx=ctx, asset=asset, version=version, actor=actor, now=now
    )
    runs = stages.runs_of(session, round_.id)
    _audit_and_emit(
        session,
        asset=asset,
        version=version,
        actor=actor,
        now=now,
        before=before,
        extra={"round": round_.number, "stages": [r.stage for r in runs]},
        data={
            "round": round_.number,
            "stages": [r.stage for r in runs],
            "kept": [r.stage for r in runs if r.carried],
        },
    )
    _emit_started(session, asset=asset, version=version, round_=round_, started=started, now=now)
    return version


def _emit_started(
    session: Session,
    *,
    asset: Asset,
    version: AssetVersion,
    round_: ReviewRound,
    started: list[ReviewStageRun],
    now: datetime,
) -> None:
    for run in started:
        emit(
            session,
            "review.stage_started",
            asset=asset,
            version=version.number,
            now=now,
            data={
                "round": round_.number,
                "stage": run.stage,
                "label": run.label,
                "roles": list(run.roles),
                "users": list(run.users),
                "due_at": None if run.due_at is None else run.due_at.isoformat(),
            },
        )


def approve(
    session: Session,
    *,
    ctx: Context,
    asset: Asset,
    actor: Principal,
    if_match: str | None = None,
    stage: str | None = None,
) -> AssetVersion:
    """Approve a review stage of the version in review (`stage`, or the first stage waiting
    now that the actor approves). Each completed stage fires `review.stage_approved`; the
    last one's approval publishes the version, its metadata becomes the published view, and
    `asset.approved` fires. The metadata is judged again against the pack in force then (it
    may have changed since the submission): deprecated terms are stored as their
    replacements, a blocking violation refuses the approval with the reason."""
    version = _current_for_transition(session, asset, if_match=if_match)
    _require_state(version, REVIEWABLE, verb="approved")
    # Four eyes: an uploader cannot wave their own work through, except an admin.
    if version.created_by == actor.id and actor.role != Role.admin:
        raise Forbidden(
            f"you uploaded version {version.number}; another reviewer must approve it",
            code="self_approval",
        )
    now = ctx.now()
    # The compare-and-set first: of two reviewers acting at once, the second is refused here
    # rather than by whatever the first one's verdict changed.
    bump_revision(session, asset, now=now)
    round_ = _open_round(session, asset, version)
    outcome = stages.approve_stage(
        session, ctx=ctx, round_=round_, actor=actor, stage=stage, now=now
    )
    if not outcome.final:
        _stage_progress(
            session,
            asset=asset,
            version=version,
            round_=round_,
            actor=actor,
            outcome=outcome,
            now=now,
        )
        return version
    metadata = _judged_for_approval(session, ctx=ctx, asset=asset, version=version)
    round_.state = RoundState.approved
    round_.closed_at = now
    round_.closed_by = actor.id
    session.add(round_)
    _emit_stage_approved(
        session, asset=asset, version=version, round_=round_, actor=actor, outcome=outcome, now=now
    )
    version.review_state = ReviewState.approved
    version.reviewed_by = actor.id
    version.reviewed_at = now
    metadata.write_to(version)
    session.add(version)
    session.flush()
    published_before = asset.published_version
    status_before = asset.status
    asset.published_version = _newest_approved(session, asset.id)
    live_before = publish(asset, metadata, now=now)
    session.add(asset)
    changed = published_before != asset.published_version
    published = {"before": published_before, "after": asset.published_version}
    # What marketers and automation see change: the metadata, and the status when an approved
    # rights date puts an expired asset back in circulation.
    live = diff(
        snapshot(live_before, (), status=status_before),
        snapshot(metadata, (), status=asset.status),
    )
    _audit_and_emit(
        session,
        asset=asset,
        version=version,
        actor=actor,
        now=now,
        before=ReviewState.in_review,
        extra={
            "stage": outcome.run.stage,
            **({"published_version": published} if changed else {}),
            **({"published_metadata": live} if live else {}),
        },
        data={"published_version": asset.published_version, "round": round_.number},
    )
    return version


def _open_round(session: Session, asset: Asset, version: AssetVersion) -> ReviewRound:
    round_ = stages.open_round_of(session, asset, version.number)
    if round_ is None:
        raise Conflict(
            f"version {version.number} has no open review; submit it again",
            code="no_open_review",
            version=version.number,
        )
    return round_


def _stage_progress(
    session: Session,
    *,
    asset: Asset,
    version: AssetVersion,
    round_: ReviewRound,
    actor: Principal,
    outcome: stages.StageOutcome,
    now: datetime,
) -> None:
    """An approval that did not finish the review: the stage may have completed (and the
    next step started), or it still waits for other approvers (`require: all`)."""
    action = "review.stage_approved" if outcome.completed else "review.approval_recorded"
    record(
        session,
        actor=actor,
        action=action,
        asset_id=asset.id,
        version=version.number,
        changes={
            "stage": outcome.run.stage,
            "round": round_.number,
            **({"started": [r.stage for r in outcome.started]} if outcome.started else {}),
        },
        now=now,
    )
    if outcome.completed:
        _emit_stage_approved(
            session,
            asset=asset,
            version=version,
            round_=round_,
            actor=actor,
            outcome=outcome,
            now=now,
        )
        _emit_started(
            session,
            asset=asset,
            version=version,
            round_=round_,
            started=outcome.started,
            now=now,
        )


def _emit_stage_approved(
    session: Session,
    *,
    asset: Asset,
    version: AssetVersion,
    round_: ReviewRound,
    actor: Principal,
    outcome: stages.StageOutcome,
    now: datetime,
) -> None:
    emit(
        session,
        "review.stage_approved",
        asset=asset,
        version=version.number,
        now=now,
        data={
            "round": round_.number,
            "stage": outcome.run.stage,
            "label": outcome.run.label,
            "final": outcome.final,
            "approved_by": {"id": str(actor.id), "name": actor.name},
        },
    )


def _judged_for_approval(
    session: Session, *, ctx: Context, asset: Asset, version: AssetVersion
) -> Metadata:
    metadata = Metadata.of(version)
    try:
        assessment = assess_version(
            ctx.governance.pack,
            version=version,
            fields=fields_of(version, campaign_ids_of(session, asset.id)),
            now=ctx.now(),
        )
    except Invalid as exc:
        raise Conflict(
            f"version {version.number}'s terms are no longer valid in the governance pack "
            f"(revision {ctx.governance.pack.revision}): {exc.detail}; edit them and submit "
            "again",
            code="terms_no_longer_valid",
            problems=exc.extra.get("problems", []),
        ) from exc
    if assessment.report.blocking:
        raise Conflict(
            f"version {version.number} fails the brand rules in force (revision "
            f"{ctx.governance.pack.revision}); it cannot be approved",
            code="compliance_failed",
            violations=assessment.report.to_json()["violations"],
        )
    store_report(version, assessment.report)
    return replace(metadata, terms=assessment.terms)


def reject(
    session: Session,
    *,
    ctx: Context,
    asset: Asset,
    actor: Principal,
    reason: str,
    if_match: str | None = None,
    stage: str | None = None,
) -> AssetVersion:
    """Reject the version in review with a reason, at `stage` or the first stage waiting now
    that the actor approves; what is published does not change. The designer's resubmission
    starts again at the first stage (stages marked `keep_on_resubmit` keep their approval)."""
    reason = reason.strip()
    if not reason:
        raise Invalid("a rejection needs a reason the designer can act on", code="reason_required")
    version = _current_for_transition(session, asset, if_match=if_match)
    _require_state(version, REVIEWABLE, verb="rejected")
    now = ctx.now()
    bump_revision(session, asset, now=now)
    round_ = _open_round(session, asset, version)
    run = stages.reject_round(
        session, round_=round_, actor=actor, stage=stage, reason=reason, now=now
    )
    version.review_state = ReviewState.rejected
    version.review_reason = reason
    version.reviewed_by = actor.id
    version.reviewed_at = now
    session.add(version)
    _audit_and_emit(
        session,
        asset=asset,
        version=version,
        actor=actor,
        now=now,
        before=ReviewState.in_review,
        extra={"reason": reason, "stage": run.stage},
        data={"reason": reason, "stage": run.stage, "round": round_.number},
    )
    return version


def review_queue(
    session: Session, *, now: datetime, page: int = 1, page_size: int = 50
) -> ReviewQueuePage:
    """Current versions in review, the soonest due first (work without an SLA after work with
    one, oldest submission first), with the stages waiting now and whether they are overdue.
    A version superseded by a newer upload cannot be approved any more, so it is not listed."""
    due = (
        select(
            col(ReviewStageRun.round_id).label("round_id"),
            sa.func.min(ReviewStageRun.due_at).label("due_at"),
        )
        .where(col(ReviewStageRun.state) == StageState.active)
        .group_by(col(ReviewStageRun.round_id))
        .subquery()
    )
    query = (
        select(AssetVersion, Asset, ReviewRound, due.c.due_at)
        .join(
            Asset,
            sa.and_(
                col(Asset.id) == col(AssetVersion.asset_id),
                col(Asset.current_version) == col(AssetVersion.number),
            ),
        )
        .join(
            ReviewRound,
            sa.and_(
                col(ReviewRound.asset_id) == col(Asset.id),
                col(ReviewRound.version) == col(AssetVersion.number),
                col(ReviewRound.state) == RoundState.open,
            ),
        )
        .join(due, due.c.round_id == col(ReviewRound.id))
        .where(
            col(AssetVersion.review_state) == ReviewState.in_review,
            col(Asset.status) != AssetStatus.archived,
        )
    )
    total = session.exec(select(sa.func.count()).select_from(query.subquery())).one()
    rows = list(
        session.exec(
            query.order_by(
                sa.case((due.c.due_at.is_(None), 1), else_=0),
                due.c.due_at,
                col(ReviewRound.submitted_at),
                col(AssetVersion.id),
            )
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
    )
    names = _principal_names(session, (v.created_by for v, *_ in rows if v.created_by))
    active_runs: dict[uuid.UUID, list[ReviewStageRun]] = {}
    round_ids = [r.id for _, _, r, _ in rows]
    if round_ids:
        for run in session.exec(
            select(ReviewStageRun)
            .where(
                col(ReviewStageRun.round_id).in_(round_ids),
                col(ReviewStageRun.state) == StageState.active,
            )
            .order_by(col(ReviewStageRun.step), col(ReviewStageRun.stage))
        ):
            active_runs.setdefault(run.round_id, []).append(run)
    items = []
    for version, asset, round_, due_at in rows:
        submitted_at = round_.submitted_at
        items.append(
            ReviewQueueItem(
                asset_id=asset.id,
                title=version.title,
                pending_changes=_pending_fields(asset, version),
                version=version.number,
                round=round_.number,
                submitted_at=submitted_at,
                waited_seconds=max(0, int((now - submitted_at).total_seconds())),
                due_at=due_at,
                overdue=due_at is not None and due_at < now,
                stages=[_stage_out(run, now=now) for run in active_runs.get(round_.id, [])],
                compliance_status=version.compliance_status,
                uploader=UploaderOut(
                    id=version.created_by,
                    name=names.get(version.created_by) if version.created_by else None,
                ),
            )
        )
    return ReviewQueuePage(total=total, page=page, page_size=page_size, items=items)


def _stage_out(run: ReviewStageRun, *, now: datetime) -> StageOut:
    return StageOut(
        stage=run.stage,
        label=run.label,
        step=run.step,
        state=run.state.value,
        approvers=ApproversOut(roles=list(run.roles), users=list(run.users)),
        require=run.require,
        sla_hours=run.sla_hours,
        carried=run.carried,
        started_at=run.started_at,
        due_at=run.due_at,
        completed_at=run.completed_at,
        breached_at=run.breached_at,
        overdue=run.state == StageState.active and run.due_at is not None and run.due_at < now,
    )


def review_of(session: Session, *, asset: Asset, now: datetime) -> ReviewOut:
    """Every review round of the asset, newest first, with its stages and decisions."""
    rounds = list(
        session.exec(
            select(ReviewRound)
            .where(col(ReviewRound.asset_id) == asset.id)
            .order_by(col(ReviewRound.number).desc())
        )
    )
    out = []
    for round_ in rounds:
        runs = stages.runs_of(session, round_.id)
        by_run: dict[uuid.UUID, list[DecisionOut]] = {}
        for d in stages.decisions_of(session, [r.id for r in runs]):
            by_run.setdefault(d.stage_run_id, []).append(
                DecisionOut(
                    verdict=d.verdict,
                    actor_id=d.actor_id,
                    actor_name=d.actor_name,
                    actor_role=d.actor_role,
                    reason=d.reason,
                    at=d.at,
                )
            )
        out.append(
            RoundOut(
                number=round_.number,
                version=round_.version,
                state=round_.state.value,
                pack_revision=round_.pack_revision,
                submitted_at=round_.submitted_at,
                closed_at=round_.closed_at,
                reason=round_.reason,
                stages=[
                    _stage_out(r, now=now).model_copy(update={"decisions": by_run.get(r.id, [])})
                    for r in runs
                ],
            )
        )
    return ReviewOut(asset_id=asset.id, rounds=out)


def _pending_fields(asset: Asset, version: AssetVersion) -> list[str]:
    if asset.published_version is None:
        return []
    live, draft = Metadata.of(asset).to_json(), Metadata.of(version).to_json()
    return [name for name in live if live[name] != draft[name]]


def _current_for_transition(
    session: Session, asset: Asset, *, if_match: str | None
) -> AssetVersion:
    check_if_match(asset, if_match)
    if asset.status == AssetStatus.archived:
        raise Conflict(
            f"asset {asset.id} is archived; archived assets are not reviewed",
            code="asset_archived",
        )
    return get_version(session, asset, asset.current_version)


def _require_state(version: AssetVersion, allowed: frozenset[ReviewState], *, verb: str) -> None:
    if version.review_state in allowed:
        return
    expected = " or ".join(sorted(s.value for s in allowed))
    raise Conflict(
        f"version {version.number} is {version.review_state.value}; "
        f"only a version that is {expected} can be {verb}",
        code="invalid_transition",
        review_state=version.review_state.value,
        version=version.number,
    )


def _newest_approved(session: Session, asset_id: uuid.UUID) -> int | None:
    newest: int | None = session.exec(
        select(sa.func.max(AssetVersion.number)).where(
            col(AssetVersion.asset_id) == asset_id,
            col(AssetVersion.review_state) == ReviewState.approved,
        )
    ).one()
    return newest


_ACTIONS = {
    ReviewState.in_review: "asset.submitted",
    ReviewState.approved: "asset.approved",
    ReviewState.rejected: "asset.rejected",
}


def _audit_and_emit(
    session: Session,
    *,
    asset: Asset,
    version: AssetVersion,
    actor: Principal,
    now: datetime,
    before: ReviewState,
    extra: dict[str, object] | None = None,
    data: dict[str, object] | None = None,
) -> None:
    action = _ACTIONS[version.review_state]
    record(
        session,
        actor=actor,
        action=action,
        asset_id=asset.id,
        version=version.number,
        changes={
            "review_state": {"before": before.value, "after": version.review_state.value},
            **(extra or {}),
        },
        now=now,
        # Only an approval changes what marketers and automation see.
        published=version.review_state == ReviewState.approved,
    )
    emit(session, action, asset=asset, version=version.number, now=now, data=dict(data or {}))


def _principal_names(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Versions record who uploaded them by principal id, which is an API key or a user."""
    wanted = set(ids)
    if not wanted:
        return {}
    names: dict[uuid.UUID, str] = {}
    for key_id, name in session.exec(
        select(ApiKey.id, ApiKey.name).where(col(ApiKey.id).in_(wanted))
    ):
        names[key_id] = name
    for user_id, user_name, email in session.exec(
        select(User.id, User.name, User.email).where(col(User.id).in_(wanted))
    ):
        names[user_id] = user_name or email
    return names


def waiting_for(session: Session, *, actor: Principal, now: datetime) -> list[ReviewQueueItem]:
    """The review stages waiting now that `actor` may approve, soonest due first: the "waits
    for me" part of an inbox. Their own uploads are left out (they may not approve them)."""
    email = stages.email_of(session, actor)
    queue = review_queue(session, now=now, page=1, page_size=200).items
    out = []
    for item in queue:
        if item.uploader.id == actor.id and actor.role != Role.admin:
            continue
        mine = [
            s
            for s in item.stages
            if actor.role.value in s.approvers.roles
            or (email is not None and email in s.approvers.users)
        ]
        if mine:
            out.append(item.model_copy(update={"stages": mine}))
    return out
