from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from dam.assets.schemas import MAX_TAGS, AssetPatch, clean_tags

MAX_ASSETS = 500
CampaignId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
TermList = dict[Annotated[str, StringConstraints(max_length=100)], list[str]]


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EditAction(_Action):
    """Metadata: `set` replaces the fields it names (as PATCH /assets/{id}); `set_terms`
    replaces the terms of the facets it names; terms and tags are added to or removed from
    what each asset already has (in that order: set, set_terms, add, remove)."""

    action: Literal["edit"]
    set: AssetPatch | None = None
    set_terms: TermList = Field(default_factory=dict, max_length=50)
    add_terms: TermList = Field(default_factory=dict, max_length=50)
    remove_terms: TermList = Field(default_factory=dict, max_length=50)
    add_tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    remove_tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)

    @field_validator("add_tags", "remove_tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return clean_tags(value)


class CampaignsAction(_Action):
    action: Literal["tag_campaigns", "untag_campaigns"]
    campaign_ids: list[CampaignId] = Field(min_length=1, max_length=50)


class SubmitAction(_Action):
    action: Literal["submit"]


class ApproveAction(_Action):
    action: Literal["approve"]


class RejectAction(_Action):
    action: Literal["reject"]
    reason: str = Field(min_length=1, max_length=2000)


class ArchiveAction(_Action):
    action: Literal["archive"]


BulkAction = Annotated[
    EditAction | CampaignsAction | SubmitAction | ApproveAction | RejectAction | ArchiveAction,
    Field(discriminator="action"),
]


class BulkIn(BaseModel):
    """The assets and the actions to apply to each, in order. Each asset is done on its own:
    all of its actions, or none of them if one is refused."""

    model_config = ConfigDict(extra="forbid")

    asset_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_ASSETS)
    actions: list[BulkAction] = Field(min_length=1, max_length=20)

    @field_validator("asset_ids")
    @classmethod
    def _unique(cls, value: list[uuid.UUID]) -> list[uuid.UUID]:
        return list(dict.fromkeys(value))


class BulkItemOut(BaseModel):
    asset_id: uuid.UUID
    ok: bool
    # The HTTP status the single-asset route would have answered, and on a refusal its error
    # body (`error`, `detail` and what it adds: violations, problems …).
    status: int
    error: dict[str, Any] | None = None
    # The actions that changed something (an action with nothing to do is not listed).
    done: list[str] = []
    etag: str | None = None


class BulkOut(BaseModel):
    total: int
    succeeded: int
    failed: int
    items: list[BulkItemOut]
