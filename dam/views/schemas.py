"""Responses assembled from several domains: the asset as clients see it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from dam.assets.schemas import VersionOut
from dam.campaigns.schemas import AssetPerformance
from dam.models import AssetStatus


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
