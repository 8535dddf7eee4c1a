"""Search in PostgreSQL: one `search_documents` row per asset with a weighted tsvector (GIN), the
filter keys as a text[] (GIN), and btree indexes for the date and title sorts. Facet counts are
one GROUP BY over the unnested keys of the matching rows. Every API replica shares it.

Rows are written in the outbox job's transaction. A `revision` guard keeps an older job that
commits late from overwriting a newer document.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlmodel import Session

from dam.search.base import IndexEntry, SearchRequest, SearchResult, SortOrder
from dam.search.document import SearchDocument
from dam.search.query import ParsedQuery, tokenize

# Not in SQLModel.metadata: the table exists only on PostgreSQL (migration 0002).
metadata = sa.MetaData()
search_documents = sa.Table(
    "search_documents",
    metadata,
    sa.Column("asset_id", sa.Uuid, primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("fingerprint", sa.String(32), nullable=False),
    sa.Column("tsv", pg.TSVECTOR, nullable=False),
    sa.Column("keys", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("title_sort", sa.Text(collation="C"), nullable=False),
)

UPSERT_BATCH = 1000


def _lexeme(word: str) -> str:
    # Words are letters and digits only (query.tokenize), so quoting cannot be broken out of.
    return f"'{word}'"


def _phrase(words: Sequence[str]) -> str:
    return " <-> ".join(_lexeme(w) for w in words)


def tsquery_text(parsed: ParsedQuery) -> str | None:
    parts = [f"({_phrase(p)})" for p in parsed.must]
    if parsed.prefix:
        parts.append(f"{_lexeme(parsed.prefix)}:*")
    parts.extend(f"!({_phrase(p)})" for p in parsed.must_not)
    return " & ".join(parts) or None


def _row(doc: SearchDocument) -> dict[str, Any]:
    return {
        "asset_id": doc.asset_id,
        "revision": doc.revision,
        "fingerprint": doc.fingerprint,
        "title": " ".join(tokenize(doc.title)),
        "body": " ".join(tokenize(doc.body)),
        "keys": list(doc.keys),
        "created_at": doc.created_at,
        "title_sort": doc.title_sort or "\uffff",
    }


_UPSERT = sa.text(
    """
    INSERT INTO search_documents
        (asset_id, revision, fingerprint, tsv, keys, created_at, title_sort)
    VALUES (
        :asset_id, :revision, :fingerprint,
        setweight(to_tsvector('simple', :title), 'A')
            || setweight(to_tsvector('simple', :body), 'B'),
        :keys, :created_at, :title_sort
    )
    ON CONFLICT (asset_id) DO UPDATE SET
        revision = excluded.revision, fingerprint = excluded.fingerprint, tsv = excluded.tsv,
        keys = excluded.keys, created_at = excluded.created_at, title_sort = excluded.title_sort
    WHERE search_documents.revision < excluded.revision
        OR (search_documents.revision = excluded.revision
            AND search_documents.fingerprint <> excluded.fingerprint)
    """
).bindparams(sa.bindparam("keys", type_=pg.ARRAY(sa.Text)))


class PostgresBackend:
    name = "postgres"

    def upsert(self, session: Session, docs: Iterable[SearchDocument]) -> None:
        batch: list[dict[str, Any]] = []
        for doc in docs:
            batch.append(_row(doc))
            if len(batch) >= UPSERT_BATCH:
                session.execute(_UPSERT, batch)
                batch = []
        if batch:
            session.execute(_UPSERT, batch)

    def delete(self, session: Session, asset_ids: Iterable[uuid.UUID]) -> None:
        ids = list(asset_ids)
        if ids:
            session.execute(sa.delete(search_documents).where(search_documents.c.asset_id.in_(ids)))

    def rebuild(self, session: Session, docs: Iterable[SearchDocument]) -> int:
        """Rewrites every row in place (readers keep seeing the old rows until commit), then
        drops rows of assets that no longer exist."""
        count = 0

        def counted() -> Iterator[SearchDocument]:
            nonlocal count
            for doc in docs:
                count += 1
                yield doc

        session.execute(sa.text("SET LOCAL synchronous_commit = off"))
        self.upsert(session, counted())
        session.execute(
            sa.text(
                "DELETE FROM search_documents d "
                "WHERE NOT EXISTS (SELECT 1 FROM assets a WHERE a.id = d.asset_id)"
            )
        )
        return count

    def entries(self, session: Session) -> Iterator[IndexEntry]:
        table = search_documents.c
        rows = session.execute(sa.select(table.asset_id, table.fingerprint))
        for asset_id, fingerprint in rows:
            yield IndexEntry(asset_id=asset_id, fingerprint=fingerprint)

    def search(self, session: Session, request: SearchRequest) -> SearchResult:
        where: list[str] = []
        params: dict[str, Any] = {}
        tsq = tsquery_text(request.query)
        if tsq is not None:
            where.append("d.tsv @@ to_tsquery('simple', :tsq)")
            params["tsq"] = tsq
        required = [group[0] for group in request.filters if len(group) == 1]
        if required:
            where.append("d.keys @> CAST(:required AS text[])")
            params["required"] = required
        for n, group in enumerate(g for g in request.filters if len(g) > 1):
            where.append(f"d.keys && CAST(:any{n} AS text[])")
            params[f"any{n}"] = list(group)
        if request.created_after:
            where.append("d.created_at >= :after")
            params["after"] = request.created_after
        if request.created_before:
            where.append("d.created_at < :before")
            params["before"] = request.created_before
        # `cond` and `order` are joined from constant fragments; every value is a bound parameter.
        cond = " AND ".join(where) or "TRUE"

        relevance = request.sort == SortOrder.relevance and request.query.has_positive
        params.update(limit=request.limit, offset=request.offset)
        if relevance and "status:" in request.count_prefixes:
            return self._ranked_with_counts(session, request, cond, params)

        counts: dict[str, int] = {}
        if request.count_prefixes:
            # Every key of the matching rows is counted and the prefixes are applied here: a
            # LIKE per unnested key costs more than the few extra groups (tags) it removes.
            prefixes = tuple(request.count_prefixes)
            rows = session.execute(
                sa.text(
                    f"SELECT k, count(*) FROM search_documents d, unnest(d.keys) AS k "  # noqa: S608
                    f"WHERE {cond} GROUP BY k"
                ),
                params,
            )
            counts = {str(k): int(n) for k, n in rows if str(k).startswith(prefixes)}
        if "status:" in request.count_prefixes:
            # Every document has exactly one status key, so the status counts add up to the total.
            total = sum(n for k, n in counts.items() if k.startswith("status:"))
        else:
            total = int(
                session.execute(
                    sa.text(f"SELECT count(*) FROM search_documents d WHERE {cond}"),  # noqa: S608
                    params,
                ).scalar_one()
            )
        if total == 0 or request.offset >= total:
            return SearchResult(total=total, ids=[], counts=counts)

        if relevance:
            order = (
                "ts_rank(d.tsv, to_tsquery('simple', :tsq)) DESC, d.created_at DESC, "
                "d.asset_id DESC"
            )
        elif request.sort == SortOrder.by_title:
            order = "d.title_sort ASC, d.asset_id ASC"
        elif request.sort == SortOrder.oldest:
            order = "d.created_at ASC, d.asset_id ASC"
        else:
            order = "d.created_at DESC, d.asset_id DESC"
        ids = session.execute(
            sa.text(
                f"SELECT d.asset_id FROM search_documents d WHERE {cond} "  # noqa: S608
                f"ORDER BY {order} LIMIT :limit OFFSET :offset"
            ),
            params,
        ).scalars()
        return SearchResult(total=total, ids=[uuid.UUID(str(i)) for i in ids], counts=counts)

    def _ranked_with_counts(
        self, session: Session, request: SearchRequest, cond: str, params: dict[str, Any]
    ) -> SearchResult:
        """Relevance order ranks every match anyway, so the matches are found once (the text
        predicate rechecks each candidate's tsvector on the heap, the dearest step) and both the
        counts and the page are taken from them in one statement."""
        prefixes = tuple(request.count_prefixes)
        rows = session.execute(
            sa.text(
                "WITH m AS MATERIALIZED ("  # noqa: S608
                "  SELECT d.asset_id, d.keys, d.created_at,"
                "    ts_rank(d.tsv, to_tsquery('simple', :tsq)) AS r"
                f"  FROM search_documents d WHERE {cond}"
                "), page AS ("
                "  SELECT asset_id, r, created_at FROM m"
                "  ORDER BY r DESC, created_at DESC, asset_id DESC LIMIT :limit OFFSET :offset"
                ") "
                "SELECT k, count(*), NULL::bigint FROM m, unnest(m.keys) AS k GROUP BY k "
                "UNION ALL "
                "SELECT asset_id::text, NULL, "
                "  row_number() OVER (ORDER BY r DESC, created_at DESC, asset_id DESC) FROM page"
            ),
            params,
        )
        counts: dict[str, int] = {}
        page: list[tuple[int, uuid.UUID]] = []
        for value, count, position in rows:
            if position is not None:
                page.append((int(position), uuid.UUID(str(value))))
            elif str(value).startswith(prefixes):
                counts[str(value)] = int(count)
        # Every document has exactly one status key, so the status counts add up to the total.
        total = sum(n for k, n in counts.items() if k.startswith("status:"))
        return SearchResult(total=total, ids=[i for _, i in sorted(page)], counts=counts)
