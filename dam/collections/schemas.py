from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dam.models import AssetStatus, Role

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
MAX_ADD = 500


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GrantIn(Strict):
    """One role (everyone who has it) or one person (a user's email); `can_edit` lets them
    add, remove and reorder assets."""

    role: Role | None = None
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)] | None = None
    can_edit: bool = False


class GrantOut(BaseModel):
    kind: str  # role | user
    role: Role | None = None
    user_id: uuid.UUID | None = None
    email: str | None = None
    can_edit: bool


class CollectionIn(Strict):
    name: Name
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    shared_with: list[GrantIn] = Field(default_factory=list, max_length=100)
    asset_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_ADD)


class CollectionPatch(Strict):
    """Only the fields sent change; `cover_asset_id: null` goes back to the first asset."""

    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    cover_asset_id: uuid.UUID | None = None
    shared_with: list[GrantIn] | None = Field(default=None, max_length=100)


class AssetIdsIn(Strict):
    asset_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_ADD)


class OrderIn(Strict):
    """Every asset of the collection, in the new order."""

    asset_ids: list[uuid.UUID] = Field(min_length=1, max_length=10_000)


class CollectionOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    owner_id: uuid.UUID
    owner_name: str
    # The cover as the reader may see it (the first visible asset when the chosen one is not).
    cover_asset_id: uuid.UUID | None
    cover_thumbnail_url: str | None
    # Assets the reader can see (marketers: published, live ones only).
    item_count: int
    can_edit: bool
    can_manage: bool
    shared_with: list[GrantOut]
    created_at: datetime
    updated_at: datetime


class CollectionPage(BaseModel):
    total: int
    items: list[CollectionOut]


class ItemOut(BaseModel):
    asset_id: uuid.UUID
    position: int
    title: str
    status: AssetStatus
    version: int
    published_version: int | None
    kind: str
    filename: str
    thumbnail_url: str | None
    added_at: datetime


class ItemPage(BaseModel):
    total: int
    page: int
    page_size: int
    items: list[ItemOut]


class AddResult(BaseModel):
    added: list[uuid.UUID]
    already_there: list[uuid.UUID]
    collection: CollectionOut


class ZipIn(Strict):
    """A selection to download as one zip."""

    asset_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_ADD)
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = "selection"
    # A derivative preset of the pack for the images it serves (None: the files as delivered).
    preset: Annotated[str, StringConstraints(max_length=64)] | None = None


# --- share links ---------------------------------------------------------------------------


class ShareLinkIn(Strict):
    """A link to one asset or one collection for people without an account."""

    asset_id: uuid.UUID | None = None
    collection_id: uuid.UUID | None = None
    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    # Hours from now until the link stops working (at most a year).
    expires_in_hours: int = Field(default=24 * 14, ge=1, le=24 * 366)
    password: Annotated[str, StringConstraints(max_length=200)] | None = None
    allow_download: bool = False
    preset: str = "original"
    watermark: bool = False


class ShareLinkOut(BaseModel):
    id: uuid.UUID
    url: str
    token: str
    asset_id: uuid.UUID | None
    collection_id: uuid.UUID | None
    label: str
    created_by_name: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    state: str  # active | expired | revoked
    has_password: bool
    allow_download: bool
    preset: str
    watermark: bool
    views: int
    downloads: int


class SharePresetOut(BaseModel):
    id: str  # `original` or a derivative preset of the pack
    label: str


class SharePresetPage(BaseModel):
    items: list[SharePresetOut]


class ShareLinkPage(BaseModel):
    total: int
    items: list[ShareLinkOut]


class ShareEventOut(BaseModel):
    at: datetime
    action: str
    asset_id: uuid.UUID | None
    version: int | None
    client: str | None
    user_agent: str | None
    detail: str | None


class ShareEventPage(BaseModel):
    total: int
    items: list[ShareEventOut]


# --- saved searches ------------------------------------------------------------------------


class SavedSearchIn(Strict):
    name: Name
    # As `GET /api/v1/search` takes them: q, status, review_state, type, campaign, tag,
    # compliance, orientation, sort, and any facet id of the pack (a list of term ids).
    query: dict[str, Any] = Field(default_factory=dict)
    notify: bool = False


class SavedSearchPatch(Strict):
    name: Name | None = None
    query: dict[str, Any] | None = None
    notify: bool | None = None


class SavedSearchOut(BaseModel):
    id: uuid.UUID
    name: str
    query: dict[str, Any]
    notify: bool
    checked_at: datetime | None
    created_at: datetime
    updated_at: datetime
    library_url: str


class SavedSearchPage(BaseModel):
    total: int
    items: list[SavedSearchOut]
