"""Search in PostgreSQL: one `search_documents` row per asset with a weighted tsvector (GIN),
integer key arrays (GIN) and btree indexes for the date and title sorts, plus per-key bitmaps
(`search_postings`) for the facet counts. Every API replica shares them (migration 0005 has the
schema, the bitmap functions and the trigger that keeps the bitmaps in step).

Keys (`f:region:emea`, `type:image`, `campaign:X`, `visible:1` …) are numbered once in
`search_keys`. Each document has a dense `ord`, its bit in the bitmaps. Facet counts are
`bit_count(posting & matches)` per key and 32768-document segment, so they cost the same for
ten matches or all of them:

- browse (no text, no date or tag filter): the matches are themselves a bitmap, the AND of the
  filters' postings (values of one parameter OR-ed), and nothing is read from the documents but
  the page; the campaign facet shows its top 20 (`SearchRequest.campaign_limit`), and per-
  campaign pair counts (`search_campaign_pairs`, migration 0022) bound each campaign's count,
  so only the bitmaps of campaigns that can reach the top are ANDed (none with one filter key);
- text (or date/tag filters): the matching rows are found once (GIN, with relevance when asked)
  and give the page, the total, their ords (turned into a bitmap in the same statement) for the
  facet counts, and their campaign ids, counted per row (a campaign touches few documents, so
  its bitmaps would be mostly zeros to AND). With a cap (`DAM_SEARCH_MATCH_CAP`, off by
  default) the scan stops at that many matching rows, since each is a heap read of a ~1 KB row
  (and, for a phrase, a recheck of its positions): a result over the cap says so
  (`total_relation` "gte", see `_match`).

Search statements run with custom plans, and text matches with more work_mem and a cached-heap
random_page_cost, set for the (read-only) search transaction only: the server's defaults made
the planner pick plans two to three times slower on this data (see the comment in `search`).

Writers take one transaction-level advisory lock, so index writes never deadlock on the shared
bitmap rows; a writer that waits too long gives the outbox job back (`RetryLater`). A `revision`
guard keeps an older job that commits late from overwriting a newer document.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlmodel import Session

from dam.jobs.registry import RetryLater
from dam.search.base import IndexEntry, SearchRequest, SearchResult, SortOrder
from dam.search.document import COUNTED_PREFIXES, SearchDocument, swap_halves_sql
from dam.search.query import ParsedQuery, tokenize

log = logging.getLogger(__name__)

# Not in SQLModel.metadata: the tables exist only on PostgreSQL (migrations 0002, 0005).
metadata = sa.MetaData()
search_documents = sa.Table(
    "search_documents",
    metadata,
    # The document id: the asset's, or its published document's (dam.search.document).
    sa.Column("asset_id", sa.Uuid, primary_key=True),
    sa.Column("ord", sa.Integer, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("fingerprint", sa.String(32), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("title_sort", sa.Text(collation="C"), nullable=False),
    sa.Column("key_ids", pg.ARRAY(sa.Integer), nullable=False),
    sa.Column("posting_ids", pg.ARRAY(sa.Integer), nullable=False),
    sa.Column("campaign_ids", pg.ARRAY(sa.Integer), nullable=False),
    sa.Column("tsv", pg.TSVECTOR, nullable=False),
)

UPSERT_BATCH = 1000
# Every document carries this key: its posting is the set of all documents.
ALL_KEY = "all:1"
CAMPAIGN_PREFIX = "campaign:"
# Keys with a bitmap: the counted ones, plus what a browse filters on without reading rows:
# the view a principal searches (`visible:1` published, `view:working` working) is one filter
# of every search, so without its bitmap every browse would read rows (migration 0013).
POSTING_PREFIXES = (*COUNTED_PREFIXES, "visible:", "view:", "all:")
# No key has id 0 (serial ids start at 1): a filter on an unknown key matches nothing.
NO_KEY = 0
SEGMENT_BITS = 32768  # bits per posting row (migration 0005)
WRITE_LOCK = 0x64616D5F73726368  # "dam_srch"
WRITE_WAIT_SECONDS = 10.0
# Text matches read at most this many rows when capped (`DAM_SEARCH_MATCH_CAP`, see `_match`);
# 0: no cap, every figure exact (the default). A browse is exact at any size.
MATCH_CAP = 0
# What "no cap" reads at most (a LIMIT PostgreSQL can add one to).
_UNCAPPED = 2**62


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


_INSERT = sa.text(
    """
    INSERT INTO search_documents (asset_id, revision, fingerprint, created_at, title_sort,
                                  key_ids, posting_ids, campaign_ids, tsv)
    VALUES (:asset_id, :revision, :fingerprint, :created_at, :title_sort,
            :key_ids, :posting_ids, :campaign_ids,
            setweight(to_tsvector('simple', :title), 'A')
                || setweight(to_tsvector('simple', :body), 'B'))
    """
)
_UPDATE = sa.text(
    """
    UPDATE search_documents SET
        revision = :revision, fingerprint = :fingerprint, created_at = :created_at,
        title_sort = :title_sort, key_ids = :key_ids, posting_ids = :posting_ids,
        campaign_ids = :campaign_ids,
        tsv = setweight(to_tsvector('simple', :title), 'A')
            || setweight(to_tsvector('simple', :body), 'B')
    WHERE asset_id = :asset_id
        AND (revision < :revision OR (revision = :revision AND fingerprint <> :fingerprint))
    """
)
_ID_ARRAYS = ("key_ids", "posting_ids", "campaign_ids")
_INSERT = _INSERT.bindparams(*(sa.bindparam(n, type_=pg.ARRAY(sa.Integer)) for n in _ID_ARRAYS))
_UPDATE = _UPDATE.bindparams(*(sa.bindparam(n, type_=pg.ARRAY(sa.Integer)) for n in _ID_ARRAYS))


def _lock_writer(session: Session, *, wait: bool) -> None:
    """The index's single-writer lock, held until the transaction ends (re-entrant)."""
    if wait:
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITE_LOCK})
        return
    deadline = time.monotonic() + WRITE_WAIT_SECONDS
    while not session.execute(
        sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": WRITE_LOCK}
    ).scalar_one():
        if time.monotonic() >= deadline:
            raise RetryLater("search index writer busy")
        time.sleep(0.05)


def _vacuum_postings(session: Session) -> None:
    """After an index write commits: VACUUM the posting tables, on a connection of its own
    (VACUUM runs outside a transaction; it blocks neither searches nor writes). Each indexed
    document rewrites the 4 KB posting row of each of its keys, never in place (a row fills
    half a page), so the old versions pile up until a vacuum: after a few hundred uploads
    every browse read several times the live table through the stale index entries. Autovacuum
    does it too when it is on, but only once per `autovacuum_naptime` (a minute by default);
    the tables hold one row per key and segment, so vacuuming them takes milliseconds."""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, sa.engine.Connection) else bind
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql(
                "VACUUM search_postings_facets, search_postings_campaigns, search_campaign_pairs"
            )
    except sa.exc.DBAPIError as exc:  # maintenance only: the write it follows has committed
        log.warning("search: vacuum of the posting tables failed: %s", exc)


class PostgresBackend:
    name = "postgres"

    def __init__(self, match_cap: int | None = None, vacuum_every: int = 0) -> None:
        # None: MATCH_CAP, read at each search; 0: every match is read.
        self.match_cap = match_cap
        # Documents written between this process's vacuums of the posting tables (0: never).
        self.vacuum_every = vacuum_every
        self._written = 0
        # key -> id, filled from committed rows only (what a search read), so never stale:
        # a key's id never changes once committed.
        self._key_ids: dict[str, int] = {}

    # --- writes --------------------------------------------------------------------------------

    def upsert(self, session: Session, docs: Iterable[SearchDocument]) -> None:
        """Writes `docs` in batches (a rebuild streams every document through here)."""
        batch: dict[uuid.UUID, SearchDocument] = {}
        for doc in docs:
            batch[doc.doc_id] = doc  # the later version of a document wins within a batch
            if len(batch) >= UPSERT_BATCH:
                self._write_batch(session, list(batch.values()))
                batch = {}
        if batch:
            self._write_batch(session, list(batch.values()))

    def _write_batch(self, session: Session, docs: list[SearchDocument]) -> None:
        _lock_writer(session, wait=False)  # re-entrant: only the first batch waits
        ids = _ensure_keys(session, {k for doc in docs for k in doc.keys} | {ALL_KEY})
        table = search_documents.c
        existing = set(
            session.execute(
                sa.select(table.asset_id).where(table.asset_id.in_([d.doc_id for d in docs]))
            ).scalars()
        )
        rows = [_row(doc, ids) for doc in docs]
        inserts = [r for r in rows if r["asset_id"] not in existing]
        updates = [r for r in rows if r["asset_id"] in existing]
        # One statement per row kind; the trigger moves the bits of each changed document.
        if inserts:
            session.execute(_INSERT, inserts)
        if updates:
            session.execute(_UPDATE, updates)

    def delete(self, session: Session, doc_ids: Iterable[uuid.UUID]) -> None:
        ids = list(doc_ids)
        if not ids:
            return
        _lock_writer(session, wait=False)
        session.execute(sa.delete(search_documents).where(search_documents.c.asset_id.in_(ids)))

    def update(
        self, session: Session, *, upsert: Sequence[SearchDocument], delete: Sequence[uuid.UUID]
    ) -> None:
        # One transaction already: the caller's.
        self.upsert(session, upsert)
        self.delete(session, delete)
        self._written += len(upsert) + len(delete)
        if self.vacuum_every and self._written >= self.vacuum_every:
            self._written = 0
            sa.event.listen(session, "after_commit", _vacuum_postings, once=True)

    def rebuild(self, session: Session, docs: Iterable[SearchDocument]) -> int:
        """Rewrites every row in place (readers keep seeing the old rows until commit), drops
        rows of assets that no longer exist, then recomputes every bitmap in one statement
        instead of moving bits row by row."""
        count = 0

        def counted() -> Iterator[SearchDocument]:
            nonlocal count
            for doc in docs:
                count += 1
                yield doc

        _lock_writer(session, wait=True)
        session.execute(sa.text("SET LOCAL synchronous_commit = off"))
        session.execute(sa.text("SELECT set_config('dam.search_bulk', 'on', true)"))
        self.upsert(session, counted())
        session.execute(
            sa.text(
                "DELETE FROM search_documents d WHERE NOT EXISTS (SELECT 1 FROM assets a "  # noqa: S608
                f"WHERE a.id = d.asset_id OR a.id = {swap_halves_sql('d.asset_id')})"
            )
        )
        session.execute(sa.text("SELECT search_rebuild_postings()"))
        session.execute(sa.text("SELECT set_config('dam.search_bulk', 'off', true)"))
        # Fresh statistics for the planner (autovacuum may be off, or not have come by yet):
        # without any, it guessed that a key filter or a common word matches a few rows and
        # read tens of thousands to sort them for one page.
        session.execute(
            sa.text("ANALYZE search_documents, search_postings, search_campaign_pairs, search_keys")
        )
        return count

    def entries(self, session: Session) -> Iterator[IndexEntry]:
        table = search_documents.c
        rows = session.execute(sa.select(table.asset_id, table.fingerprint))
        for doc_id, fingerprint in rows:
            yield IndexEntry(doc_id=doc_id, fingerprint=fingerprint)

    # --- search --------------------------------------------------------------------------------

    def search(self, session: Session, request: SearchRequest) -> SearchResult:
        unposted = [p for p in request.count_prefixes if not p.startswith(POSTING_PREFIXES)]
        if unposted:
            raise ValueError(f"no bitmaps for counting {unposted}")
        groups = [self._ids(session, group) for group in request.filters]
        tsq = tsquery_text(request.query)
        browse = (
            tsq is None
            and request.created_after is None
            and request.created_before is None
            and all(k.startswith(POSTING_PREFIXES) for group in request.filters for k in group)
        )
        # Planner settings for the rest of this read-only search transaction, in one round trip.
        # - psycopg prepares a statement run 5 times on a connection, and PostgreSQL then tries
        #   a generic plan, blind to the words and keys; for these statements it is the wrong
        #   one (a phrase in a third of the library: 150 ms instead of 80).
        # - Text matches are kept in memory rather than spilled (about 130 bytes each), and
        #   reading the GIN candidates' heap pages is priced as what it is here, cached. At the
        #   defaults (4 MB, random_page_cost 4 for spinning disks) a word or phrase in a third
        #   of the library spills and tests every row's tsvector: 100+ ms instead of ~50 at 100k.
        settings = "set_config('plan_cache_mode', 'force_custom_plan', true)"
        if not browse:
            settings += (
                ", set_config('work_mem', '32MB', true)"
                ", set_config('random_page_cost', '1.0', true)"
            )
        session.execute(sa.text(f"SELECT {settings}"))
        if browse:
            return self._browse(session, request, groups)
        return self._match(session, request, groups, tsq)

    def _ids(self, session: Session, keys: Sequence[str]) -> list[int]:
        missing = [k for k in keys if k not in self._key_ids]
        if missing:
            rows = session.execute(
                sa.text("SELECT key, id FROM search_keys WHERE key = ANY(:keys)"),
                {"keys": missing},
            )
            self._key_ids.update((str(k), int(i)) for k, i in rows)
        return [self._key_ids.get(k, NO_KEY) for k in keys]

    def _browse(
        self, session: Session, request: SearchRequest, groups: list[list[int]]
    ) -> SearchResult:
        """Filters on keys with bitmaps only: the matches are the AND over the filter groups
        of the OR of each group's postings, segment by segment."""
        sets = groups or [self._ids(session, [ALL_KEY])]
        params: dict[str, Any] = {f"g{n}": ids for n, ids in enumerate(sets)}
        # `ctes` and the joins are built from constant fragments; every value is bound.
        ctes = [
            f"g{n} AS (SELECT seg, bit_or(bits) AS bits FROM search_postings "  # noqa: S608
            f"WHERE key_id = ANY(CAST(:g{n} AS integer[])) GROUP BY seg)"
            for n in range(len(sets))
        ]
        joined = "g0" + "".join(f" JOIN g{n} USING (seg)" for n in range(1, len(sets)))
        anded = " & ".join(f"g{n}.bits" for n in range(len(sets)))
        ctes.append(f"m AS (SELECT seg, {anded} AS bits FROM {joined})")  # noqa: S608
        top = _campaign_top(request) if request.count_prefixes else None
        exact_pairs = len(sets) == 1 and len(sets[0]) == 1
        cond, cond_params = _condition(groups, request, None)
        if top is not None:
            params.update(
                cond_params,
                gk=[k for ids in sets for k in ids],
                gi=[n for n, ids in enumerate(sets) for _ in ids],
                ngroups=len(sets),
                top=top,
                batch=CAMPAIGN_BATCH * top,
            )
            ctes.append(_CAMPAIGN_BOUNDS)
        # The counts per posting row are taken in a subquery of their own (OFFSET 0 keeps the
        # planner from merging it), so what is grouped is (key id, count), never the 4 KB bit
        # strings: with fresh statistics the planner had chosen to sort the joined rows, bits
        # and all, by key, spilling 18 MB to disk (80 ms of CPU per browse instead of 28).
        counted = ""
        if request.count_prefixes:
            counted = (
                "SELECT k.key, sum(c.n), 'k' FROM (SELECT p.key_id, bit_count(p.bits & m.bits) "  # noqa: S608
                "AS n FROM search_postings p JOIN m USING (seg)"
                f"{' WHERE NOT p.campaign' if top is not None else ''} OFFSET 0) AS c "
                "JOIN search_keys k ON k.id = c.key_id GROUP BY k.key UNION ALL "
            )
        if top is not None and exact_pairs:
            # One filter key: its pairs are the campaigns' exact counts.
            counted += (
                "SELECT * FROM (SELECT k.key, b.b, 'c' FROM bounds b "
                "JOIN search_keys k ON k.id = b.id ORDER BY b.b DESC, k.key LIMIT :top) "
                "AS x UNION ALL "
            )
        elif top is not None:
            # The bitmaps of the campaigns with the highest bounds, the next bound, and how
            # many campaigns have each bound (for choosing how to count the rest, if need be).
            counted += (
                _campaign_anded("SELECT id FROM bounds ORDER BY b DESC, id LIMIT :batch")  # noqa: S608
                + " UNION ALL SELECT NULL, (SELECT b FROM bounds ORDER BY b DESC, id "
                "OFFSET :batch LIMIT 1), 'next' UNION ALL "
                "SELECT b::text, count(*), 'h' FROM bounds GROUP BY b UNION ALL "
            )
        rows = session.execute(
            sa.text(
                f"WITH {', '.join(ctes)} {counted}"  # noqa: S608
                "SELECT NULL, sum(bit_count(bits)), 't' FROM m UNION ALL "
                "SELECT NULL, sum(bit_count(bits)), 'all' FROM search_postings "
                "WHERE key_id = :all_key"
            ),
            {**params, "all_key": self._ids(session, [ALL_KEY])[0]},
        )
        total = library = 0
        counts: dict[str, int] = {}
        campaigns: dict[str, int] = {}
        outside: int | None = None  # the highest bound of a campaign not counted
        bound_counts: dict[int, int] = {}  # bound -> campaigns with it
        for key, n, kind in rows:
            if kind == "t":
                total = int(n or 0)
            elif kind == "all":
                library = int(n or 0)
            elif kind == "next":
                outside = None if n is None else int(n)
            elif kind == "h":
                bound_counts[int(key)] = int(n)
            elif kind == "c":
                campaigns[key] = int(n)
            elif n and key.startswith(request.count_prefixes):
                counts[key] = int(n)
        if top is not None:
            if outside is not None:
                ranked = sorted((n for n in campaigns.values() if n), reverse=True)
                kth = ranked[top - 1] if len(ranked) >= top else 0
                if kth <= outside:
                    # A campaign left out may still reach the top: count every one whose
                    # bound is at least the k-th count (ties go by key), by their bitmaps, or
                    # over the matching rows when there are fewer of those than bitmaps to
                    # AND (bounds are loosest on few matches).
                    floor = max(kth, 1)
                    left = sum(c for b, c in bound_counts.items() if b >= floor)
                    segments = library // SEGMENT_BITS + 1
                    params["floor"] = floor
                    sql = (
                        "SELECT k.key, c.n, 'c' FROM (SELECT e.id, count(*) AS n FROM ("  # noqa: S608
                        "SELECT unnest(d.campaign_ids) AS id FROM search_documents d "
                        f"WHERE {cond}) AS e GROUP BY e.id) AS c JOIN search_keys k USING (id)"
                        if total < left * segments * AND_ROWS
                        else f"WITH {', '.join(ctes)} "  # noqa: S608
                        f"{_campaign_anded('SELECT id FROM bounds WHERE b >= :floor')}"
                    )
                    more = session.execute(sa.text(sql), params)
                    campaigns.update((str(key), int(n)) for key, n, _ in more)
            counts.update(_top_campaigns(campaigns, top))
        if total == 0 or request.offset >= total:
            return SearchResult(total=total, ids=[], counts=counts)
        # The page. Reading it in the sort's index order reads about (offset + limit) *
        # library / total rows, the key index every matching row (then sorts them): the
        # planner cannot tell which is fewer (it has no figure for how many rows hold all of a
        # browse's keys, and guessed few, so it read 44k rows for a region's first page). The
        # totals can: when walking the index is the cheaper way, the key condition is made
        # one the key index cannot serve.
        walk = (request.offset + request.limit) * library < total * total // WALK_RATIO
        if walk:
            cond = f"({cond}) IS TRUE"
        ids = session.execute(
            sa.text(
                f"SELECT d.asset_id FROM search_documents d WHERE {cond} "  # noqa: S608
                f"ORDER BY {_order(request, ranked=False, prefix='d.')} "
                "LIMIT :limit OFFSET :offset"
            ),
            {**cond_params, "limit": request.limit, "offset": request.offset},
        ).scalars()
        return SearchResult(total=total, ids=[uuid.UUID(str(i)) for i in ids], counts=counts)

    def _match(
        self,
        session: Session,
        request: SearchRequest,
        groups: list[list[int]],
        tsq: str | None,
    ) -> SearchResult:
        """Text (or date/tag filters): the matching rows are read once, into a materialized
        CTE that gives the page, the total, the bitmap of their ords for the facet counts and
        their campaign ids. With a cap, at most that many are read (the heap scan stops there): a
        result with more has `total_relation` "gte", its total and counts covering the first
        `cap` matches in the table's order, its relevance page ranked among those, and a
        date or title page read exactly in its index order by a second statement."""
        cond, params = _condition(groups, request, tsq)
        ranked = request.sort == SortOrder.relevance and request.query.has_positive
        rank = ", ts_rank(d.tsv, to_tsquery('simple', :tsq)) AS r" if ranked else ""
        title = ", d.title_sort" if request.sort == SortOrder.by_title else ""
        order = _order(request, ranked=ranked, prefix="")
        cap = (MATCH_CAP if self.match_cap is None else self.match_cap) or _UNCAPPED
        params.update(limit=request.limit, offset=request.offset, cap=cap)
        counted = (
            f", {_MATCH_BITMAP} "  # noqa: S608
            "SELECT k.key, sum(c.n), NULL::bigint FROM ("
            "  SELECT p.key_id, bit_count(p.bits & bm.bits) AS n FROM search_postings p"
            "  JOIN bm USING (seg) WHERE NOT p.campaign OFFSET 0"
            ") AS c JOIN search_keys k ON k.id = c.key_id GROUP BY k.key "
            "UNION ALL SELECT k.key, c.n, NULL FROM ("
            "  SELECT id, count(*) AS n FROM (SELECT unnest(m.campaign_ids) AS id FROM m"
            "  WHERE m.n <= :cap) AS e GROUP BY id"
            ") AS c JOIN search_keys k USING (id) UNION ALL "
            if request.count_prefixes
            else " "
        )
        # `n` numbers the rows as the scan returns them (row_number streams: the LIMIT stops
        # the scan); row cap + 1 only tells that there are more.
        rows = session.execute(
            sa.text(
                "WITH m AS MATERIALIZED ("  # noqa: S608
                "  SELECT d.ord, d.asset_id, d.created_at, d.campaign_ids"
                f"{rank}{title}, row_number() OVER () AS n FROM search_documents d"
                f"  WHERE {cond} LIMIT :cap + 1"
                "), page AS (SELECT * FROM m WHERE m.n <= :cap "
                f"  ORDER BY {order} LIMIT :limit OFFSET :offset)"
                f"{counted}"
                "SELECT NULL, count(*), NULL::bigint FROM m "
                "UNION ALL SELECT asset_id::text, NULL, "
                f"row_number() OVER (ORDER BY {order}) FROM page"
            ),
            params,
        )
        total = 0
        counts: dict[str, int] = {}
        page: list[tuple[int, uuid.UUID]] = []
        for key, n, position in rows:
            if position is not None:
                page.append((int(position), uuid.UUID(str(key))))
            elif key is None:
                total = int(n)
            elif n and key.startswith(request.count_prefixes):
                counts[key] = int(n)
        top = _campaign_top(request)
        if top is not None:
            campaigns = {k: counts.pop(k) for k in list(counts) if k.startswith(CAMPAIGN_PREFIX)}
            counts.update(_top_campaigns(campaigns, top))
        if total <= cap:
            return SearchResult(total=total, ids=[i for _, i in sorted(page)], counts=counts)
        ids = [i for _, i in sorted(page)]
        if not ranked:
            # The first rows of the scan are not the first in this order: read the page in it.
            ids = [
                uuid.UUID(str(i))
                for i in session.execute(
                    sa.text(
                        f"SELECT d.asset_id FROM search_documents d WHERE {cond} "  # noqa: S608
                        f"ORDER BY {_order(request, ranked=False, prefix='d.')} "
                        "LIMIT :limit OFFSET :offset"
                    ),
                    params,
                ).scalars()
            ]
        return SearchResult(total=cap, ids=ids, counts=counts, total_relation="gte")


# A campaign's count under a browse's filters is at most, for each filter group, the sum of its
# pairs with the group's keys (`search_campaign_pairs`, migration 0022): `bounds` is that
# minimum for every campaign with a pair in each group (the others count 0). The bitmaps of
# the CAMPAIGN_BATCH * top campaigns with the highest bounds are ANDed with the matches;
# a second statement counts the rest whose bound reaches the k-th count, if any does.
_CAMPAIGN_BOUNDS = """
bounds AS (
    SELECT campaign_id AS id, min(s) AS b FROM (
        SELECT q.campaign_id, f.grp, sum(q.n) AS s
        FROM unnest(CAST(:gk AS integer[]), CAST(:gi AS integer[])) AS f(key_id, grp)
        JOIN search_campaign_pairs q USING (key_id)
        WHERE q.n > 0 GROUP BY 1, 2
    ) AS per_group
    GROUP BY 1 HAVING count(*) = :ngroups
)"""
CAMPAIGN_BATCH = 3
# What ANDing one 4 KB campaign bitmap costs, in matching rows read (a GIN entry and a heap
# fetch each), for choosing how to count the campaigns a first round did not settle.
AND_ROWS = 1
# A browse page is read in its sort's index order when that reads under 1/WALK_RATIO of the
# matching rows (see `_browse`).
WALK_RATIO = 4


def _campaign_anded(ids_sql: str) -> str:
    """The exact counts of the campaigns `ids_sql` selects, as (key, count, 'c') rows."""
    return (
        "SELECT k.key, sum(c.n), 'c' FROM (SELECT p.key_id, bit_count(p.bits & m.bits) AS n "  # noqa: S608
        "FROM search_postings p JOIN m USING (seg) WHERE p.campaign "
        f"AND p.key_id IN ({ids_sql}) OFFSET 0) AS c JOIN search_keys k ON k.id = c.key_id "
        "GROUP BY k.key"
    )


def _campaign_top(request: SearchRequest) -> int | None:
    """How many campaign counts a search returns (None: all of them, or counted as other
    keys are, when only some campaigns' keys are asked for)."""
    if request.campaign_limit is None:
        return None
    if not any(CAMPAIGN_PREFIX.startswith(p) for p in request.count_prefixes):
        return None
    return max(request.campaign_limit, 1)


def _top_campaigns(campaigns: dict[str, int], top: int) -> dict[str, int]:
    ranked = sorted(((k, n) for k, n in campaigns.items() if n), key=lambda kn: (-kn[1], kn[0]))
    return dict(ranked[:top])


# The matches' ords as one bit string per segment (`bm`): `search_bitmap()` of migration 0005
# written inline, because calling it on ARRAY(SELECT ord FROM m) costs ~10 ms more at 30k
# matches. Each 64-bit word is the OR of its bits; words are written out in hex, with zero
# words for the gaps, and parsed as a bit string.
_MATCH_BITMAP = f"""
words AS (
    SELECT ord / {SEGMENT_BITS} AS seg, (ord % {SEGMENT_BITS}) / 64 AS i,
           bit_or(1::bigint << (63 - ord % 64)) AS v
    FROM m WHERE m.n <= :cap GROUP BY 1, 2
), gaps AS (
    SELECT seg, i, v, i - coalesce(lag(i) OVER (PARTITION BY seg ORDER BY i), -1) - 1 AS gap
    FROM words
), bm AS (
    SELECT seg, CAST('x' || string_agg(repeat('{"0" * 16}', gap::integer)
                                       || lpad(to_hex(v), 16, '0'), '' ORDER BY i)
                     || repeat('{"0" * 16}', {SEGMENT_BITS // 64 - 1} - max(i)) AS bit varying)
                AS bits
    FROM gaps GROUP BY seg
)"""  # noqa: S608 (constants only)


def _condition(
    groups: list[list[int]], request: SearchRequest, tsq: str | None
) -> tuple[str, dict[str, Any]]:
    """The WHERE clause over `d` (constant fragments; every value is a bound parameter)."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if tsq is not None:
        where.append("d.tsv @@ to_tsquery('simple', :tsq)")
        params["tsq"] = tsq
    required = [ids[0] for ids in groups if len(ids) == 1]
    if required:
        where.append("d.key_ids @> CAST(:required AS integer[])")
        params["required"] = required
    for n, ids in enumerate(g for g in groups if len(g) > 1):
        where.append(f"d.key_ids && CAST(:any{n} AS integer[])")
        params[f"any{n}"] = ids
    if request.created_after:
        where.append("d.created_at >= :after")
        params["after"] = request.created_after
    if request.created_before:
        where.append("d.created_at < :before")
        params["before"] = request.created_before
    return " AND ".join(where) or "TRUE", params


def _order(request: SearchRequest, *, ranked: bool, prefix: str) -> str:
    p = prefix
    if ranked:
        return f"r DESC, {p}created_at DESC, {p}asset_id DESC"
    if request.sort == SortOrder.by_title:
        return f"{p}title_sort ASC, {p}asset_id ASC"
    if request.sort == SortOrder.oldest:
        return f"{p}created_at ASC, {p}asset_id ASC"
    return f"{p}created_at DESC, {p}asset_id DESC"


def _ensure_keys(session: Session, keys: set[str]) -> dict[str, int]:
    """Ids of `keys`, numbering the new ones. Called under the writer lock, so no two writers
    number the same key (and no sequence value is spent on a key that exists)."""
    wanted = sorted(keys)
    ids = {
        str(k): int(i)
        for k, i in session.execute(
            sa.text("SELECT key, id FROM search_keys WHERE key = ANY(:keys)"), {"keys": wanted}
        )
    }
    missing = [k for k in wanted if k not in ids]
    if missing:
        rows = session.execute(
            sa.text(
                "INSERT INTO search_keys (key) SELECT unnest(CAST(:keys AS text[])) "
                "RETURNING key, id"
            ),
            {"keys": missing},
        )
        ids.update((str(k), int(i)) for k, i in rows)
    return ids


def _row(doc: SearchDocument, ids: dict[str, int]) -> dict[str, Any]:
    keys = (*doc.keys, ALL_KEY)
    return {
        "asset_id": doc.doc_id,
        "revision": doc.revision,
        "fingerprint": doc.fingerprint,
        "title": " ".join(tokenize(doc.title)),
        "body": " ".join(tokenize(doc.body)),
        "created_at": doc.created_at,
        "title_sort": doc.title_sort or "\uffff",
        "key_ids": sorted(ids[k] for k in doc.keys),
        "posting_ids": sorted({ids[k] for k in keys if k.startswith(POSTING_PREFIXES)}),
        "campaign_ids": sorted(ids[k] for k in doc.keys if k.startswith(CAMPAIGN_PREFIX)),
    }
