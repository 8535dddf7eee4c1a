from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="http or https URL that receives the POSTs.")
    events: list[str] = Field(
        max_length=50, description="Event types to receive, or `*` for all of them."
    )
    secret: str = Field(
        max_length=200, description="At least 16 characters; signs each body (HMAC-SHA256)."
    )


class WebhookOut(BaseModel):
    """The secret is write-only: it is never returned."""

    id: uuid.UUID
    url: str
    events: list[str]
    active: bool
    created_at: datetime
    created_by: uuid.UUID | None


class DeliveryOut(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    attempt: int
    succeeded: bool
    status_code: int | None
    error: str | None
    duration_ms: int | None
    at: datetime
    next_attempt_at: datetime | None


class DeliveryPage(BaseModel):
    total: int
    page: int
    page_size: int
    items: list[DeliveryOut]
