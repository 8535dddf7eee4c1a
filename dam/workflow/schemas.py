from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=2000, description="Why the version was rejected; required.")


class UploaderOut(BaseModel):
    id: uuid.UUID | None
    name: str | None


class ReviewQueueItem(BaseModel):
    asset_id: uuid.UUID
    title: str  # the version's own (the metadata under review)
    # Fields whose value in review differs from the published view (empty for a new asset).
    pending_changes: list[str] = []
    version: int
    submitted_at: datetime
    waited_seconds: int
    compliance_status: str | None
    uploader: UploaderOut


class ReviewQueuePage(BaseModel):
    total: int
    page: int
    page_size: int
    items: list[ReviewQueueItem]
