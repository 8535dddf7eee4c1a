from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=2000, description="Why the version was rejected; required.")
    stage: str | None = Field(
        default=None,
        max_length=64,
        description="The stage rejecting; default: the first stage waiting now that you approve.",
    )


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str | None = Field(
        default=None,
        max_length=64,
        description="The stage to approve; default: the first stage waiting now that you approve.",
    )


class UploaderOut(BaseModel):
    id: uuid.UUID | None
    name: str | None


class ApproversOut(BaseModel):
    roles: list[str]
    users: list[str]


class DecisionOut(BaseModel):
    verdict: str
    actor_id: uuid.UUID | None
    actor_name: str
    actor_role: str
    reason: str | None
    at: datetime


class StageOut(BaseModel):
    stage: str
    label: str
    step: int  # stages of one step run in parallel
    state: str  # waiting | active | approved | rejected | cancelled
    approvers: ApproversOut
    require: str  # any | all
    sla_hours: float | None
    carried: bool  # approved in an earlier round and kept (keep_on_resubmit)
    started_at: datetime | None
    due_at: datetime | None
    completed_at: datetime | None
    breached_at: datetime | None
    overdue: bool
    decisions: list[DecisionOut] = []


class RoundOut(BaseModel):
    number: int
    version: int
    state: str  # open | approved | rejected | superseded
    pack_revision: str
    submitted_at: datetime
    closed_at: datetime | None
    reason: str | None
    stages: list[StageOut]


class ReviewOut(BaseModel):
    asset_id: uuid.UUID
    rounds: list[RoundOut]


class ReviewQueueItem(BaseModel):
    asset_id: uuid.UUID
    title: str  # the version's own (the metadata under review)
    # Fields whose value in review differs from the published view (empty for a new asset).
    pending_changes: list[str] = []
    version: int
    round: int
    submitted_at: datetime
    waited_seconds: int
    # The soonest due time of the stages waiting now; null when none has an SLA.
    due_at: datetime | None
    overdue: bool
    stages: list[StageOut]  # the stages waiting now
    compliance_status: str | None
    uploader: UploaderOut


class ReviewQueuePage(BaseModel):
    total: int
    page: int
    page_size: int
    items: list[ReviewQueueItem]


class PinIn(BaseModel):
    """A point (x, y) or a box (x, y, w, h) on the preview, as fractions of its width and
    height from the top left; optionally a PDF page (from 1) or a video time in seconds."""

    model_config = ConfigDict(extra="forbid")

    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)
    w: float | None = Field(default=None, gt=0, le=1)
    h: float | None = Field(default=None, gt=0, le=1)
    page: int | None = Field(default=None, ge=1, le=100_000)
    time: float | None = Field(default=None, ge=0, le=86_400)


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=10_000)
    pin: PinIn | None = None
    # Users to notify, by email (an `@name@example.com` in the body mentions too).
    mentions: list[str] = Field(default_factory=list, max_length=50)


class CommentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolved: bool


class CommentOut(BaseModel):
    id: uuid.UUID
    version: int
    author_id: uuid.UUID | None
    author_name: str
    body: str
    pin: dict[str, Any] | None
    mentions: list[uuid.UUID]
    resolved: bool
    resolved_by: uuid.UUID | None
    resolved_at: datetime | None
    created_at: datetime


class CommentList(BaseModel):
    items: list[CommentOut]


class DurationStats(BaseModel):
    count: int
    p50_hours: float | None
    p90_hours: float | None
    mean_hours: float | None


class StageTurnaround(BaseModel):
    stage: str
    label: str
    decided: int
    approved: int
    rejected: int
    cycle_time: DurationStats  # active → decided
    with_sla: int
    sla_breaches: int
    sla_breach_rate: float | None


class TurnaroundGroup(BaseModel):
    key: str
    label: str
    assets: int
    approved: int
    cycle_time: DurationStats  # first submission → first approval
    waiting_hours: float  # in review
    working_hours: float  # with the designers (before the first submission, after rejections)
    first_pass_rate: float | None
    rework_rounds_per_asset: float | None


class BriefsOnTime(BaseModel):
    with_due_date: int
    delivered: int
    delivered_on_time: int
    on_time_rate: float | None  # delivered on time / delivered


class TurnaroundReport(BaseModel):
    date_from: date | None
    date_to: date | None
    terms: dict[str, list[str]]
    group_by: str
    overall: TurnaroundGroup
    stages: list[StageTurnaround]
    groups: list[TurnaroundGroup]
    briefs: BriefsOnTime | None = None
