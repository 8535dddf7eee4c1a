from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response

from dam.api.deps import (
    Analyst,
    AssetDep,
    ContextDep,
    PrincipalDep,
    Reviewer,
    SessionDep,
    Uploader,
)
from dam.api.openapi import errors
from dam.assets.service import etag
from dam.bounds import SafeDate, VersionNumber
from dam.errors import Invalid
from dam.views.assets import asset_for
from dam.views.schemas import AssetOut
from dam.views.turnaround import turnaround_report
from dam.workflow import comments, service
from dam.workflow.schemas import (
    ApproveIn,
    CommentIn,
    CommentList,
    CommentOut,
    CommentPatch,
    RejectIn,
    ReviewOut,
    ReviewQueuePage,
    TurnaroundReport,
)

router = APIRouter(prefix="/api/v1", tags=["review"])

IfMatch = Annotated[str | None, Header(alias="If-Match")]

# The role dependency comes before AssetDep in each signature so that a role which may never do
# this gets 403 whether or not it can see the asset.


@router.post("/assets/{asset_id}/submit", response_model=AssetOut, responses=errors(409, 412))
def submit(
    actor: Uploader,
    asset: AssetDep,
    ctx: ContextDep,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> AssetOut:
    """Submit the current version for review (draft or rejected → in_review). Refused with 409
    while its compliance status is `fail`."""
    service.submit(session, ctx=ctx, asset=asset, actor=actor, if_match=if_match)
    response.headers["ETag"] = etag(asset)
    return asset_for(session, asset, principal=actor, pack=ctx.governance.pack)


@router.post("/assets/{asset_id}/approve", response_model=AssetOut, responses=errors(403, 409, 412))
def approve(
    actor: Reviewer,
    asset: AssetDep,
    ctx: ContextDep,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
    body: ApproveIn | None = None,
) -> AssetOut:
    """Approve a review stage of the current version: `stage`, or the first stage waiting
    now that you approve (403 `not_an_approver` if none). When the last stage is approved the
    version is approved and becomes the published version. The uploader may not approve
    their own version unless they are an admin."""
    service.approve(
        session,
        ctx=ctx,
        asset=asset,
        actor=actor,
        if_match=if_match,
        stage=None if body is None else body.stage,
    )
    response.headers["ETag"] = etag(asset)
    return asset_for(session, asset, principal=actor, pack=ctx.governance.pack)


@router.post("/assets/{asset_id}/reject", response_model=AssetOut, responses=errors(403, 409, 412))
def reject(
    body: RejectIn,
    actor: Reviewer,
    asset: AssetDep,
    ctx: ContextDep,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> AssetOut:
    """Reject the current version (in_review → rejected) with a reason, at `stage` or the
    first stage waiting now that you approve. Its resubmission starts at the first stage."""
    service.reject(
        session,
        ctx=ctx,
        asset=asset,
        actor=actor,
        reason=body.reason,
        if_match=if_match,
        stage=body.stage,
    )
    response.headers["ETag"] = etag(asset)
    return asset_for(session, asset, principal=actor, pack=ctx.governance.pack)


@router.get("/review-queue", response_model=ReviewQueuePage)
def review_queue(
    actor: Reviewer,
    ctx: ContextDep,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ReviewQueuePage:
    """Versions waiting for review, soonest due first (overdue work on top), each with the
    stages waiting now, their due times and how long the version has waited."""
    return service.review_queue(session, now=ctx.now(), page=page, page_size=page_size)


@router.get("/assets/{asset_id}/review", response_model=ReviewOut)
def review(actor: Uploader, asset: AssetDep, ctx: ContextDep, session: SessionDep) -> ReviewOut:
    """The asset's review rounds, newest first: each stage with its approvers, due time and
    decisions."""
    return service.review_of(session, asset=asset, now=ctx.now())


@router.get("/review-stages")
def review_stages(actor: PrincipalDep, ctx: ContextDep) -> dict[str, Any]:
    """The review stages of the governance pack in force (`review.yaml`)."""
    return {"revision": ctx.governance.pack.revision, **ctx.governance.pack.review.to_json()}


@router.post(
    "/assets/{asset_id}/versions/{number}/comments",
    response_model=CommentOut,
    status_code=201,
    responses=errors(404, 422),
)
def add_comment(
    body: CommentIn,
    actor: Uploader,
    asset: AssetDep,
    number: Annotated[VersionNumber, Path()],
    ctx: ContextDep,
    session: SessionDep,
) -> CommentOut:
    """Comment on a version, optionally pinned (`pin`: a point x, y or a box x, y, w, h as
    fractions of the preview; `page` of a PDF; `time` in a video). Users mentioned (`mentions`
    by email, or `@email` in the text) are notified; an unknown one is a 422."""
    comment = comments.add_comment(
        session, asset=asset, number=number, actor=actor, body=body, now=ctx.now()
    )
    return comments.comment_out(comment)


@router.get("/assets/{asset_id}/comments", response_model=CommentList)
def list_comments(
    actor: Uploader,
    asset: AssetDep,
    session: SessionDep,
    version: Annotated[VersionNumber | None, Query()] = None,
    resolved: bool | None = None,
) -> CommentList:
    """The asset's comments, oldest first; filter by version and by resolved."""
    return CommentList(
        items=comments.list_comments(session, asset=asset, version=version, resolved=resolved)
    )


@router.patch(
    "/assets/{asset_id}/comments/{comment_id}", response_model=CommentOut, responses=errors(404)
)
def patch_comment(
    body: CommentPatch,
    comment_id: uuid.UUID,
    actor: Uploader,
    asset: AssetDep,
    ctx: ContextDep,
    session: SessionDep,
) -> CommentOut:
    """Resolve a comment (`resolved: true`) or reopen it."""
    comment = comments.get_comment(session, asset=asset, comment_id=comment_id)
    comments.set_resolved(
        session, comment=comment, resolved=body.resolved, actor=actor, now=ctx.now()
    )
    return comments.comment_out(comment)


@router.get("/reports/turnaround", response_model=TurnaroundReport, responses=errors(422))
def turnaround(
    actor: Analyst,
    ctx: ContextDep,
    session: SessionDep,
    date_from: Annotated[SafeDate | None, Query(alias="from")] = None,
    date_to: Annotated[SafeDate | None, Query(alias="to")] = None,
    term: Annotated[
        list[str] | None,
        Query(max_length=20, description="`facet:term`, repeatable: assets carrying it (or below)"),
    ] = None,
    group_by: Annotated[str, Query(max_length=64)] = "channel",
) -> TurnaroundReport:
    """Review turnaround: per stage (cycle time p50/p90, SLA breach rate), overall and per
    term of `group_by` (asset cycle time p50/p90, time waiting vs working, first-pass
    approval rate, rework rounds per asset), and briefs delivered on time. The period is
    the first submission's date (UTC); see docs/workflow.md for each definition."""
    terms: dict[str, list[str]] = {}
    for item in term or []:
        facet, sep, value = item.partition(":")
        if not sep or not facet or not value:
            raise Invalid(f"term {item!r}: write it as facet:term", code="invalid_terms")
        terms.setdefault(facet, []).append(value)
    return turnaround_report(
        session,
        pack=ctx.governance.pack,
        now=ctx.now(),
        date_from=date_from,
        date_to=date_to,
        terms=terms,
        group_by=group_by,
    )
