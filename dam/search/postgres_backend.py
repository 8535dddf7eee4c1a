"""Search in PostgreSQL: one `search_documents` row per asset with a weighted tsvector (GIN), the
filter keys as a text[] (GIN), and btree indexes for the date and title sorts. Every API replica
shares it.

Facet counts are one GROUP BY over the matching rows' `facet_groups` (migration 0003): the
document's counted keys partitioned into a few groups, each stored as one string (all terms of
one pack facet with their ancestors; type, status, review, compliance and orientation together;
each campaign alone). A document has about 8 groups instead of about 23 keys, the distinct groups
number a few thousand, and each is expanded back into per-key counts here. Because every counted
key of a row is in exactly one of its groups, the counts are exact. Rows indexed before 0003
have NULL groups and are counted from their keys instead (still exact, only slower) until
`dam search reindex` or their next index job rewrites them.

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
from dam.search.document import COUNTED_PREFIXES, SearchDocument
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
    sa.Column("facet_groups", pg.ARRAY(sa.Text), nullable=True),
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


# A group of several keys is stored as the keys, each preceded by this separator; an element
# without it is a single key. Keys start with a letter (`f:`, `type:` …) and never contain it.
GROUP_SEP = "\x1f"
# Keys of these kinds are never counted together with another key of the same document.
_SINGLE_KEY_PREFIXES = ("campaign:",)
_FACET_PREFIX = "f:"
_OTHER_GROUP = ""


def facet_groups(keys: Iterable[str]) -> list[str] | None:
    """The counted keys of a document (`COUNTED_PREFIXES`), partitioned into grouping strings;
    None when a key contains the separator (such a row is counted from its keys instead).

    Any partition keeps the counts exact; this one keeps the number of elements per row and
    the number of distinct elements over the library both small: one group per pack facet
    (a document's terms of one facet, ancestors included), one for the one-per-document kinds
    (type, status, review, compliance, orientation), and every campaign alone (a document's
    campaign set is nearly unique, so grouping campaigns would not shrink the GROUP BY)."""
    groups: dict[str, list[str]] = {}
    singles: list[str] = []
    for key in sorted(keys):
        if not key.startswith(COUNTED_PREFIXES):
            continue
        if GROUP_SEP in key:
            return None
        if key.startswith(_SINGLE_KEY_PREFIXES):
            singles.append(key)
        elif key.startswith(_FACET_PREFIX):
            groups.setdefault(key[: key.find(":", len(_FACET_PREFIX)) + 1], []).append(key)
        else:
            groups.setdefault(_OTHER_GROUP, []).append(key)
    out = [
        members[0] if len(members) == 1 else "".join(GROUP_SEP + k for k in members)
        for members in groups.values()
    ]
    return sorted(out + singles)


def expand_group_counts(
    rows: Iterable[tuple[Any, Any]], prefixes: tuple[str, ...]
) -> dict[str, int]:
    """Per-key counts from (grouping string or key, count) rows, keeping `prefixes`."""
    counts: dict[str, int] = {}
    for value, n in rows:
        element, count = str(value), int(n)
        members = element.split(GROUP_SEP)[1:] if element.startswith(GROUP_SEP) else [element]
        for key in members:
            if key.startswith(prefixes):
                counts[key] = counts.get(key, 0) + count
    return counts


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
        "facet_groups": facet_groups(doc.keys),
    }


_UPSERT = sa.text(
    """
    INSERT INTO search_documents
        (asset_id, revision, fingerprint, tsv, keys, created_at, title_sort, facet_groups)
    VALUES (
        :asset_id, :revision, :fingerprint,
        setweight(to_tsvector('simple', :title), 'A')
            || setweight(to_tsvector('simple', :body), 'B'),
        :keys, :created_at, :title_sort, :facet_groups
    )
    ON CONFLICT (asset_id) DO UPDATE SET
        revision = excluded.revision, fingerprint = excluded.fingerprint, tsv = excluded.tsv,
        keys = excluded.keys, created_at = excluded.created_at, title_sort = excluded.title_sort,
        facet_groups = excluded.facet_groups
    WHERE search_documents.revision < excluded.revision
        OR (search_documents.revision = excluded.revision
            AND (search_documents.fingerprint <> excluded.fingerprint
                -- a row indexed before migration 0003 (NULL groups) is filled by a reindex
                OR search_documents.facet_groups IS DISTINCT FROM excluded.facet_groups))
    """
).bindparams(
    sa.bindparam("keys", type_=pg.ARRAY(sa.Text)),
    sa.bindparam("facet_groups", type_=pg.ARRAY(sa.Text)),
)


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
            # Every element is counted and the prefixes are applied here: a LIKE per unnested
            # element costs more than the few groups it would remove. The set-returning
            # function in the select list (ProjectSet) is cheaper than a lateral unnest.
            rows = session.execute(
                sa.text(
                    f"SELECT k, count(*) FROM (SELECT {_counted(request)} AS k "  # noqa: S608
                    f"FROM search_documents d WHERE {cond}) AS e GROUP BY k"
                ),
                params,
            )
            counts = expand_group_counts(rows, tuple(request.count_prefixes))
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
        rows = session.execute(
            sa.text(
                "WITH m AS MATERIALIZED ("  # noqa: S608
                f"  SELECT d.asset_id, {_counted_array(request)} AS g, d.created_at,"
                "    ts_rank(d.tsv, to_tsquery('simple', :tsq)) AS r"
                f"  FROM search_documents d WHERE {cond}"
                "), page AS ("
                "  SELECT asset_id, r, created_at FROM m"
                "  ORDER BY r DESC, created_at DESC, asset_id DESC LIMIT :limit OFFSET :offset"
                ") "
                "SELECT k, count(*), NULL::bigint FROM (SELECT unnest(m.g) AS k FROM m) AS e "
                "GROUP BY k "
                "UNION ALL "
                "SELECT asset_id::text, NULL, "
                "  row_number() OVER (ORDER BY r DESC, created_at DESC, asset_id DESC) FROM page"
            ),
            params,
        )
        grouped: list[tuple[Any, Any]] = []
        page: list[tuple[int, uuid.UUID]] = []
        for value, count, position in rows:
            if position is not None:
                page.append((int(position), uuid.UUID(str(value))))
            else:
                grouped.append((value, count))
        counts = expand_group_counts(grouped, tuple(request.count_prefixes))
        # Every document has exactly one status key, so the status counts add up to the total.
        total = sum(n for k, n in counts.items() if k.startswith("status:"))
        return SearchResult(total=total, ids=[i for _, i in sorted(page)], counts=counts)


def _counted_array(request: SearchRequest) -> str:
    """The array whose elements are counted per matching row `d`: its groups when they hold
    every key the request counts, else (or for a row without groups) its keys."""
    if all(p.startswith(COUNTED_PREFIXES) for p in request.count_prefixes):
        return "coalesce(d.facet_groups, d.keys)"
    return "d.keys"


def _counted(request: SearchRequest) -> str:
    return f"unnest({_counted_array(request)})"
