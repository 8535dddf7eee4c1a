"""Responses assembled from several domains: the asset as clients see it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from dam.assets.schemas import PublishedOut, VersionOut
from dam.campaigns.schemas import AssetPerformance
from dam.models import AssetStatus


class AssetOut(BaseModel):
    """An asset in one of its two views. `working` (uploaders, reviewers): the current version
    and the metadata it carries, with `published` beside it; `published` (marketers,
    automation): the published version and exactly the metadata approved with it."""

    id: uuid.UUID
    view: Literal["working", "published"]
    title: str
    description: str
    tags: list[str]
    terms: dict[str, list[str]]
    campaign_ids: list[str]
    status: AssetStatus
    published_version: int | None
    rights_expire_at: datetime | None
    # The pack's governed fields (metadata.yaml): creator, credit, copyright, usage terms …
    extra: dict[str, Any] = {}
    created_at: datetime
    updated_at: datetime
    current_version: VersionOut | None
    # Working view only: the published view, and which fields of the draft differ from it.
    published: PublishedOut | None = None
    pending_changes: list[str] = []
    possible_duplicates: list[dict[str, Any]] | None = None
    # Lifetime figures across every campaign the asset ran in (dam.campaigns.reports).
    performance: AssetPerformance | None = None


class AssetPage(BaseModel):
    total: int
    page: int
    page_size: int
    items: list[AssetOut]
