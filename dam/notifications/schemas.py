from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class NotificationOut(BaseModel):
    id: uuid.UUID
    kind: str  # review_waiting | rejected | approved | mention | sla_breached
    title: str
    body: str
    asset_id: uuid.UUID | None
    version: int | None
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None
    email_status: str | None


class NotificationPage(BaseModel):
    total: int
    unread: int
    items: list[NotificationOut]


class MarkReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[uuid.UUID] | None = None  # none: every notification of yours
