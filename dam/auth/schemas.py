from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from dam.bounds import SafeDatetime
from dam.models import Role


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    role: Role
    expires_at: SafeDatetime | None = None
    campaign_ids: list[str] | None = Field(
        default=None, description="Automation keys only: restrict the key to these campaigns."
    )


class KeyOut(BaseModel):
    id: uuid.UUID
    name: str
    role: Role
    prefix: str
    campaign_ids: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The secret. Shown once; store it now.")


class Me(BaseModel):
    id: uuid.UUID
    name: str
    role: Role
    kind: str
