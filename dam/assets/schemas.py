from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from dam.bounds import SafeDatetime
from dam.models import ReviewState

MAX_TAGS = 100
# A governed field's value: text, a list of texts (creator), or null to clear it.
ExtraValue = (
    Annotated[str, StringConstraints(max_length=2000)]
    | list[Annotated[str, StringConstraints(max_length=500)]]
    | None
)


def clean_tags(tags: list[str], *, strict: bool = True) -> list[str]:
    """Tags folded to lower case, whitespace collapsed, duplicates dropped. `strict` (what a
    person sent): a bad tag is an error; otherwise (read from a file) it is left out."""
    seen: dict[str, None] = {}
    for tag in tags:
        cleaned = " ".join(str(tag).split()).lower()
        problem = (
            "tags must not be empty"
            if not cleaned
            else f"tag {cleaned[:20]!r}… is longer than 100 characters"
            if len(cleaned) > 100
            else None
        )
        if problem is not None:
            if strict:
                raise ValueError(problem)
            continue
        seen.setdefault(cleaned, None)
    return list(seen)[:MAX_TAGS] if not strict else list(seen)


class AssetMetadataIn(BaseModel):
    """The `metadata` JSON of an upload. Unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=20_000)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    terms: dict[str, list[str]] = Field(default_factory=dict)
    campaign_ids: list[str] = Field(default_factory=list, max_length=200)
    rights_expire_at: SafeDatetime | None = None
    # The pack's governed fields (metadata.yaml): creator, credit, copyright, usage_terms …
    extra: dict[str, ExtraValue] = Field(default_factory=dict, max_length=50)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return clean_tags(value)


class AssetPatch(BaseModel):
    """PATCH body: only the fields present are changed; `null` clears a nullable field."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=20_000)
    tags: list[str] | None = Field(default=None, max_length=MAX_TAGS)
    terms: dict[str, list[str]] | None = None
    rights_expire_at: SafeDatetime | None = None
    extra: dict[str, ExtraValue] | None = Field(default=None, max_length=50)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else clean_tags(value)


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
    extra: dict[str, Any] = {}


class PublishedOut(MetadataOut):
    """In the working view: what marketers and automation see now, to compare with the draft."""

    version: int


class EmbeddedOut(BaseModel):
    fields: dict[str, Any]
    problems: list[str]
    blocks: list[str]
    prefilled: dict[str, str]


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
    # The stored pixels when EXIF orientation turns them (width/height are the display size).
    stored_width: int | None = None
    stored_height: int | None = None
    bit_depth: int | None = None
    # What the file carries (EXIF/IPTC/XMP/PDF/container/C2PA), normalised; location only for
    # the roles the pack allows. `prefilled`: the asset fields the upload took from it.
    embedded: EmbeddedOut | None = None
    renditions: list[str]
    # Page count, encryption, duration, codecs ... of documents, video and audio.
    media: dict[str, Any] = {}
    # {"status": none|pending|ready|failed, "error", "placeholders", "pending"}
    previews: dict[str, Any] = {}
    created_at: datetime
    created_by: uuid.UUID | None


class VersionDetailOut(VersionOut):
    """A version in the history that uploaders and reviewers see: with its metadata."""

    metadata: MetadataOut


# --- derivatives (dam.assets.derivatives) -------------------------------------------------------

Unit = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class FocalPointIn(BaseModel):
    """Where the subject is, normalised on the upright image (0,0 top left; 1,1 bottom right),
    and optional crop boxes per preset ([x0, y0, x1, y1], normalised, containing the point)."""

    model_config = ConfigDict(extra="forbid")

    x: Unit
    y: Unit
    crops: dict[Annotated[str, StringConstraints(max_length=64)], list[Unit]] = Field(
        default_factory=dict, max_length=100
    )


class FocalPointOut(BaseModel):
    version: int
    x: float | None  # None: no focal point set; derivatives use the content-aware default
    y: float | None
    crops: dict[str, list[float]] = Field(default_factory=dict)
    source: str  # set | auto
    set_by: uuid.UUID | None = None
    set_at: datetime | None = None


class DerivativeOut(BaseModel):
    """One preset as it applies to a version: where to fetch it and, once rendered, its size."""

    preset: str
    label: str
    fit: str
    format: str  # the preset's format (auto: negotiated per request)
    width: int | None  # the size it renders to (None: the version has no pixel size)
    height: int | None
    url: str
    # The cache key and, once rendered, the bytes served to a client without Accept.
    key: str
    rendered_format: str
    size: int | None = None
    sha256: str | None = None
    compliance: str | None = None


class DerivativeListOut(BaseModel):
    asset_id: uuid.UUID
    version: int
    derivatives: list[DerivativeOut]


class DerivativeLinkOut(BaseModel):
    url: str
    preset: str
    version: int
    expires_at: datetime
