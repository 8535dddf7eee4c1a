from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from dam.models import AssetStatus, ReviewState
from dam.search.base import SortOrder

MAX_PAGE_SIZE = 100
# Deep pages cost the whole prefix of the ordering; nobody pages 10,000 results by hand.
MAX_RESULT_WINDOW = 10_000


class SearchParams(BaseModel):
    """Everything `GET /api/v1/search` takes besides the facet parameters."""

    q: str | None = None
    status: list[AssetStatus] = Field(default_factory=list)
    review_state: list[ReviewState] = Field(default_factory=list)
    type: list[str] = Field(default_factory=list)
    campaign: list[str] = Field(default_factory=list)
    tag: list[str] = Field(default_factory=list)
    compliance: list[str] = Field(default_factory=list)
    orientation: list[str] = Field(default_factory=list)
    created_after: datetime | None = None
    created_before: datetime | None = None
    sort: SortOrder | None = None
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=25, ge=1, le=MAX_PAGE_SIZE)
    facets: dict[str, list[str]] = Field(default_factory=dict)
    # False for type-ahead and other callers that only want hits: no counting at all.
    facet_counts: bool = True


class FacetCount(BaseModel):
    term: str
    label: str
    count: int


class SearchHit(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    status: AssetStatus
    type: str | None
    version: int | None
    published_version: int | None
    review_state: ReviewState | None
    compliance: str | None
    filename: str | None
    width: int | None
    height: int | None
    tags: list[str]
    terms: dict[str, list[str]]
    created_at: datetime
    thumbnail_url: str | None
    # A video's muted hover clip (MP4), once made.
    clip_url: str | None = None
    # HTML-escaped text with the matched words wrapped in <mark>.
    highlights: dict[str, str]


class SearchPage(BaseModel):
    # With `total_relation` "gte" the search stopped counting at a cap (PostgreSQL, a search
    # that reads rows: text, dates or tags; at 2,000 matches): `total` and the facet counts
    # cover the first `total` matches and the true figures are at least these ("2,000+").
    # "eq": exact.
    total: int
    total_relation: Literal["eq", "gte"] = "eq"
    page: int
    page_size: int
    items: list[SearchHit]
    facets: dict[str, list[FacetCount]]


class SimilarHit(BaseModel):
    id: uuid.UUID
    version: int
    distance: int
    title: str
    thumbnail_url: str | None  # null until the thumbnail exists


class SimilarPage(BaseModel):
    asset_id: uuid.UUID
    version: int | None
    max_distance: int
    items: list[SimilarHit]


class CheckReport(BaseModel):
    documents: int
    assets: int
    missing: list[uuid.UUID]
    stale: list[uuid.UUID]
    extra: list[uuid.UUID]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.stale or self.extra)
