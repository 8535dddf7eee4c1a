from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dam.models import ReviewState

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


class MetadataOut(BaseModel):
    """The reviewed metadata: of a version (what it was submitted with) or of the published
    view."""

    title: str
    description: str
    tags: list[str]
    terms: dict[str, list[str]]
    rights_expire_at: datetime | None


class PublishedOut(MetadataOut):
    """In the working view: what marketers and automation see now, to compare with the draft."""

    version: int


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
    # Made by a metadata edit: version `edited_from`'s file with new metadata.
    edited_from: int | None = None
    renditions: list[str]
    created_at: datetime
    created_by: uuid.UUID | None


class VersionDetailOut(VersionOut):
    """A version in the history that uploaders and reviewers see: with its metadata."""

    metadata: MetadataOut
