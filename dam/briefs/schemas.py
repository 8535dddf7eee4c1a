from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dam.bounds import SafeDatetime

Kpi = Literal["roas", "ctr", "conversion_rate", "cost_per_conversion"]


class DeliverableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]{0,63}$",
        description="Stable id; default: made from the label.",
    )
    label: str = Field(min_length=1, max_length=200, description='e.g. "Instagram 4:5"')
    quantity: int = Field(default=1, ge=1, le=100)


class BriefIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    objective: str = Field(default="", max_length=5000)
    campaign_id: str | None = Field(default=None, max_length=64)
    # Channels, audience and any other taxonomy terms, by facet (ids, labels or synonyms).
    terms: dict[str, list[str]] = Field(default_factory=dict, max_length=30)
    deliverables: list[DeliverableIn] = Field(min_length=1, max_length=50)
    due_at: SafeDatetime | None = None
    notes: str = Field(default="", max_length=20_000)
    kpi: Kpi = Field(default="roas", description="What 'worked before' is ranked by.")


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asset_id: uuid.UUID
    deliverable: str = Field(max_length=64)


class DeliverableOut(BaseModel):
    id: str
    label: str
    quantity: int
    linked: int
    in_review: int
    delivered: int  # linked assets with an approved (published) version
    state: str  # open | in_progress | in_review | delivered
    delivered_at: datetime | None
    assets: list[uuid.UUID]


class BriefOut(BaseModel):
    id: uuid.UUID
    title: str
    objective: str
    campaign_id: str | None
    terms: dict[str, list[str]]
    kpi: str
    due_at: datetime | None
    notes: str
    status: str
    state: str  # open | in_progress | in_review | delivered
    delivered_at: datetime | None
    on_time: bool | None  # null until delivered or without a due date
    deliverables: list[DeliverableOut]
    created_by: uuid.UUID | None
    created_at: datetime


class BriefPage(BaseModel):
    total: int
    items: list[BriefOut]
