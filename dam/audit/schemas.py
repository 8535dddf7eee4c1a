from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditEventOut(BaseModel):
    id: uuid.UUID
    at: datetime
    actor_id: uuid.UUID | None
    actor_name: str
    actor_role: str
    action: str
    asset_id: uuid.UUID | None
    version: int | None
    target: str | None
    changes: dict[str, Any]
    request_id: str | None
    # True when the change concerns the published view (what marketers and automation see).
    published: bool = False


class AuditPage(BaseModel):
    total: int
    page: int
    page_size: int
    items: list[AuditEventOut]
