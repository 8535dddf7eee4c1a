"""Tables of collections, share links and saved searches (dam/collections/). Kept beside the
other tables in `dam.models`; a module of its own so its lines never collide with theirs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from dam.models.types import dt_column, json_column, new_id, new_ordered_id, utcnow


class Collection(SQLModel, table=True):
    """A named, ordered set of assets (a lightbox, a campaign kit, a press pack). Private to
    its owner until shared with roles or people (`CollectionGrant`)."""

    __tablename__ = "collections"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=200)
    description: str = Field(default="")
    # A user or an API key: whoever made it.
    owner_id: uuid.UUID = Field(index=True)
    owner_name: str = Field(default="", max_length=320)
    cover_asset_id: uuid.UUID | None = Field(default=None, foreign_key="assets.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class CollectionGrant(SQLModel, table=True):
    """Who else sees a collection: every holder of a role, or one person (a user id)."""

    __tablename__ = "collection_grants"

    collection_id: uuid.UUID = Field(
        foreign_key="collections.id", primary_key=True, ondelete="CASCADE"
    )
    grantee_kind: str = Field(primary_key=True, max_length=8)  # role | user
    grantee: str = Field(primary_key=True, max_length=64, index=True)
    can_edit: bool = Field(default=False)
    added_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class CollectionItem(SQLModel, table=True):
    __tablename__ = "collection_items"
    __table_args__ = (sa.Index("ix_collection_items_order", "collection_id", "position"),)

    collection_id: uuid.UUID = Field(
        foreign_key="collections.id", primary_key=True, ondelete="CASCADE"
    )
    asset_id: uuid.UUID = Field(foreign_key="assets.id", primary_key=True, index=True)
    position: int
    added_by: uuid.UUID | None = None
    added_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class ShareLink(SQLModel, table=True):
    """A link for people outside to one asset or one collection, in the published view. The
    token is derived from the id with the service secret (dam.collections.shares), so nothing
    secret is stored and the people who manage the link can copy it again."""

    __tablename__ = "share_links"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # Exactly one of the two. No foreign key on the collection: a deleted collection revokes
    # its links, and their view history stays.
    asset_id: uuid.UUID | None = Field(default=None, foreign_key="assets.id", index=True)
    collection_id: uuid.UUID | None = Field(default=None, index=True)
    label: str = Field(default="", max_length=200)
    created_by: uuid.UUID | None = None
    created_by_name: str = Field(default="", max_length=320)
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())
    expires_at: datetime = Field(sa_column=dt_column())
    revoked_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    revoked_by: uuid.UUID | None = None
    # argon2, like user passwords; NULL: no password.
    password_hash: str | None = Field(default=None, max_length=255)
    allow_download: bool = Field(default=False)
    # What a download sends: `original` (the delivered copy of the published file) until
    # derivative presets exist.
    preset: str = Field(default="original", max_length=64)
    watermark: bool = Field(default=False)


class ShareLinkEvent(SQLModel, table=True):
    """Every view, preview, download and refused attempt through a share link."""

    __tablename__ = "share_link_events"

    id: uuid.UUID = Field(default_factory=new_ordered_id, primary_key=True)
    link_id: uuid.UUID = Field(foreign_key="share_links.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_column=dt_column(index=True))
    # view | preview | download | zip | unlock | wrong_password | refused
    action: str = Field(max_length=16)
    asset_id: uuid.UUID | None = None
    version: int | None = None
    client: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=300)
    detail: str | None = Field(default=None, max_length=200)


class SavedSearch(SQLModel, table=True):
    """A query and filters as `GET /api/v1/search` takes them, run again on demand and, with
    `notify`, by the worker to announce new matches (`saved_search.matched`)."""

    __tablename__ = "saved_searches"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(index=True)
    owner_name: str = Field(default="", max_length=320)
    # The owner's role when it was saved: the worker searches as them (published view or not).
    owner_role: str = Field(max_length=32)
    owner_kind: str = Field(default="user", max_length=8)
    name: str = Field(max_length=200)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=json_column(default=dict))
    notify: bool = Field(default=False)
    checked_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class SavedSearchMatch(SQLModel, table=True):
    """An asset a saved search has already matched, so it is announced once."""

    __tablename__ = "saved_search_matches"

    saved_search_id: uuid.UUID = Field(
        foreign_key="saved_searches.id", primary_key=True, ondelete="CASCADE"
    )
    asset_id: uuid.UUID = Field(primary_key=True)
    seen_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


__all__ = [
    "Collection",
    "CollectionGrant",
    "CollectionItem",
    "SavedSearch",
    "SavedSearchMatch",
    "ShareLink",
    "ShareLinkEvent",
]
