from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dam.campaigns.schemas import AssetPerformance
from dam.models import AssetStatus, ReviewState

MAX_TAGS = 100


def _clean_tags(tags: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        cleaned = " ".join(tag.split()).lower()
        if not cleaned:
            raise ValueError("tags must not be empty")
        if len(cleaned) > 100:
            raise ValueError(f"tag {cleaned[:20]!r}… is longer than 100 characters")
        seen.setdefault(cleaned, None)
    return list(seen)


class AssetMetadataIn(BaseModel):
    """The `metadata` JSON of an upload. Unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=20_000)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    terms: dict[str, list[str]] = Field(default_factory=dict)
    campaign_ids: list[str] = Field(default_factory=list, max_length=200)
    rights_expire_at: datetime | None = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return _clean_tags(value)

    @field_validator("rights_expire_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a timezone, e.g. 2027-01-31T00:00:00Z")
        return value


class AssetPatch(BaseModel):
    """PATCH body: only the fields present are changed; `null` clears a nullable field."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=20_000)
    tags: list[str] | None = Field(default=None, max_length=MAX_TAGS)
    terms: dict[str, list[str]] | None = None
    rights_expire_at: datetime | None = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _clean_tags(value)

    @field_validator("rights_expire_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a timezone, e.g. 2027-01-31T00:00:00Z")
        return value


class ComplianceOut(BaseModel):
    status: str
    violations: list[dict[str, Any]]
    revision: str | None = None


class VersionOut(BaseModel):
    number: int
    sha256: str
    size: int
    mime_type: str
    format: str
    kind: str
    filename: str
    width: int | None
    height: int | None
    color_mode: str | None
    icc_profile: str | None
    review_state: ReviewState
    review_reason: str | None
    compliance: ComplianceOut | None
    restored_from: int | None
    renditions: list[str]
    # Page count, encryption, duration, codecs ... of documents, video and audio.
    media: dict[str, Any] = {}
    # {"status": none|pending|ready|failed, "error", "placeholders", "pending"}
    previews: dict[str, Any] = {}
    created_at: datetime
    created_by: uuid.UUID | None


class AssetOut(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    tags: list[str]
    terms: dict[str, list[str]]
    campaign_ids: list[str]
    status: AssetStatus
    published_version: int | None
    rights_expire_at: datetime | None
    created_at: datetime
    updated_at: datetime
    current_version: VersionOut | None
    possible_duplicates: list[dict[str, Any]] | None = None
    # Lifetime figures across every campaign the asset ran in (dam.campaigns.reports).
    performance: AssetPerformance | None = None


class AssetPage(BaseModel):
    total: int
    page: int
    page_size: int
    items: list[AssetOut]
