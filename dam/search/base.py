"""What every search backend implements, and the backend-neutral query and result models.

Filters and facet counts work on one flat vocabulary of "keys" that every document carries
(`f:region:emea`, `type:image`, `campaign:SPRING26-EMAIL`, `visible:1` …), so both backends
filter with set containment and count facets with one grouping, and they cannot drift apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

from sqlmodel import Session

from dam.search.document import SearchDocument
from dam.search.query import ParsedQuery

# How many campaign values a facet count returns (the most frequent; see SearchRequest).
CAMPAIGN_FACET_SIZE = 20


class SortOrder(StrEnum):
    relevance = "relevance"
    newest = "newest"
    oldest = "oldest"
    by_title = "title"  # `title` would shadow str.title


@dataclass(frozen=True)
class SearchRequest:
    query: ParsedQuery
    # Each inner tuple is OR-ed (repeated values of one parameter); the tuples are AND-ed.
    filters: tuple[tuple[str, ...], ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    sort: SortOrder = SortOrder.relevance
    offset: int = 0
    limit: int = 25
    # Key prefixes whose counts are wanted, e.g. ("f:", "type:", "status:", "campaign:").
    count_prefixes: tuple[str, ...] = ()
    # The campaign counts wanted: at least the `campaign_limit` campaigns with the highest
    # counts (ties by key), each exact; a backend may return more (whoosh returns all).
    # None: every campaign. The campaign facet shows the top CAMPAIGN_FACET_SIZE only, and
    # PostgreSQL then counts only the campaigns that can be among them.
    campaign_limit: int | None = CAMPAIGN_FACET_SIZE


@dataclass
class SearchResult:
    total: int
    ids: list[uuid.UUID]  # document ids (an asset's, or its published document's)
    counts: dict[str, int] = field(default_factory=dict)
    # "eq": `total` and `counts` are exact. "gte": the backend stopped reading matches at a cap
    # (PostgreSQL text matches, MATCH_CAP), so `total` and `counts` cover the first `total`
    # matches only and the true figures are at least these.
    total_relation: Literal["eq", "gte"] = "eq"


@dataclass(frozen=True)
class IndexEntry:
    doc_id: uuid.UUID
    fingerprint: str


class SearchBackend(Protocol):
    name: str

    def search(self, session: Session, request: SearchRequest) -> SearchResult: ...

    def upsert(self, session: Session, docs: Iterable[SearchDocument]) -> None: ...

    def delete(self, session: Session, doc_ids: Iterable[uuid.UUID]) -> None: ...

    def update(
        self, session: Session, *, upsert: Sequence[SearchDocument], delete: Sequence[uuid.UUID]
    ) -> None:
        """`upsert` and `delete` as one write (whoosh: one commit, so one new segment and one
        snapshot for the next search to read, not two)."""
        ...

    def entries(self, session: Session) -> Iterator[IndexEntry]:
        """Every indexed document's id and fingerprint, for `dam search check`."""
        ...

    def rebuild(self, session: Session, docs: Iterable[SearchDocument]) -> int:
        """Replace the whole index with `docs` while searches keep using the old one."""
        ...
