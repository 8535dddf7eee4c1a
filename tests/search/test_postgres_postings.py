"""PostgreSQL facet bitmaps: the trigger keeps them equal to a bulk rebuild through inserts,
edits and deletes across segments, and both query paths (bitmap browse, text matches) count
exactly what a brute-force count over the documents gives."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from dam.context import Context
from dam.db import alembic_config, session_scope
from dam.jobs.registry import RetryLater
from dam.search import postgres_backend
from dam.search.base import SearchRequest, SortOrder
from dam.search.document import COUNTED_PREFIXES, VISIBLE_KEY, WORKING_KEY, SearchDocument
from dam.search.postgres_backend import PostgresBackend
from dam.search.query import parse_query

WORDS = ["glacier", "tent", "summit", "lake", "boots", "kayak"]
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def postgres_only(db_backend: str) -> None:
    if db_backend != "postgres":
        pytest.skip("bitmaps exist only on PostgreSQL")


def _doc(
    rng: random.Random, n: int, asset_id: uuid.UUID | None = None, rev: int = 1
) -> SearchDocument:
    keys = {
        f"status:{rng.choice(['active', 'archived'])}",
        f"type:{rng.choice(['image', 'video'])}",
        *(f"f:region:{r}" for r in rng.sample(["emea", "de", "amer", "us"], rng.randint(0, 2))),
        *(f"campaign:C{c}" for c in rng.sample(range(6), rng.randint(0, 2))),
        *(f"tag:t{t}" for t in rng.sample(range(3), rng.randint(0, 2))),
    }
    if rng.random() < 0.5:
        keys.add("visible:1")
    if rng.random() < 0.7:
        keys.add("view:working")
    words = rng.sample(WORDS, 2)
    doc_id = asset_id or uuid.uuid4()
    return SearchDocument(
        doc_id=doc_id,
        asset_id=doc_id,
        title=" ".join(words),
        body=rng.choice(WORDS),
        keys=tuple(sorted(keys)),
        created_at=START + timedelta(minutes=n),
        title_sort=" ".join(words),
        revision=rev,
    )


def _postings(ctx: Context) -> set[tuple[int, int, bool, str]]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT key_id, seg, campaign, bits::text FROM search_postings "
                "WHERE bit_count(bits) > 0"  # a posting whose last bit was cleared stays, empty
            )
        )
        return {(int(k), int(s), bool(c), str(b)) for k, s, c, b in rows}


def _write(ctx: Context, docs: list[SearchDocument], deleted: list[uuid.UUID] = ()) -> None:  # type: ignore[assignment]
    backend = PostgresBackend()
    with session_scope(ctx.engine) as session:
        backend.upsert(session, docs)
        backend.delete(session, list(deleted))


def _start_ords_near_a_segment_end(ctx: Context) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(sa.text("ALTER SEQUENCE search_documents_ord_seq RESTART WITH 32750"))


def test_trigger_keeps_postings_equal_to_a_rebuild(ctx: Context) -> None:
    rng = random.Random(5)
    _start_ords_near_a_segment_end(ctx)  # the documents straddle segments 0 and 1
    docs = [_doc(rng, n) for n in range(40)]
    _write(ctx, docs[:25])
    _write(ctx, docs[25:])
    # Edits (new keys, dropped keys, campaigns moved), a stale revision, and deletes.
    edited = [_doc(rng, n, asset_id=d.asset_id, rev=2) for n, d in enumerate(docs[:15])]
    stale = [_doc(rng, 99, asset_id=docs[20].asset_id, rev=0)]
    _write(ctx, edited + stale, deleted=[d.asset_id for d in docs[30:34]])
    with ctx.engine.connect() as conn:
        segs = conn.execute(sa.text("SELECT DISTINCT ord / 32768 FROM search_documents")).all()
        ords = conn.execute(
            sa.text("SELECT count(*), count(DISTINCT ord) FROM search_documents")
        ).one()
    assert len(segs) == 2
    assert tuple(ords) == (36, 36)
    maintained = _postings(ctx)
    with ctx.engine.begin() as conn:
        conn.execute(sa.text("SELECT search_rebuild_postings()"))
    assert _postings(ctx) == maintained


def _keys_of(docs: list[SearchDocument]) -> tuple[str, ...]:
    return tuple(sorted({key for d in docs for key in d.keys}))


def test_an_edit_keeps_the_ord_and_numbers_no_key_twice(ctx: Context) -> None:
    rng = random.Random(6)
    doc = _doc(rng, 1)
    edits = [_doc(rng, 1, asset_id=doc.asset_id, rev=2) for _ in range(3)]
    # The edits' keys are known before they are written (another document holds them), so the
    # test does not depend on what earlier tests left in search_keys.
    other = uuid.uuid4()
    known = SearchDocument(
        **{**doc.__dict__, "doc_id": other, "asset_id": other, "keys": _keys_of(edits)}
    )
    _write(ctx, [doc, known])
    with ctx.engine.connect() as conn:
        before = conn.execute(
            sa.text("SELECT ord FROM search_documents WHERE asset_id = :a"), {"a": doc.asset_id}
        ).scalar_one()
        keys_before = conn.execute(sa.text("SELECT max(id) FROM search_keys")).scalar_one()
    _write(ctx, edits)
    _write(ctx, [SearchDocument(**{**doc.__dict__, "revision": 3})])
    with ctx.engine.connect() as conn:
        after = conn.execute(
            sa.text("SELECT ord, revision FROM search_documents WHERE asset_id = :a"),
            {"a": doc.asset_id},
        ).one()
        keys_after = conn.execute(sa.text("SELECT max(id) FROM search_keys")).scalar_one()
    assert tuple(after) == (before, 3)
    assert keys_after == keys_before  # the same vocabulary spends no new key ids


def test_search_bitmap_sets_exactly_the_given_ords(ctx: Context) -> None:
    ords = [0, 1, 63, 64, 65, 4095, 32767, 32768, 40000, 70001]
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT seg, bits::text FROM search_bitmap(CAST(:o AS integer[])) ORDER BY seg"
            ),
            {"o": [*ords, 64]},  # duplicates are harmless
        ).all()
    found: list[int] = []
    for seg, bits in rows:
        assert len(bits) == 32768
        found.extend(seg * 32768 + i for i, bit in enumerate(bits) if bit == "1")
    assert found == ords


def _brute(
    docs: list[SearchDocument], groups: list[tuple[str, ...]], word: str | None
) -> tuple[list[SearchDocument], Counter[str]]:
    matched = [
        d
        for d in docs
        if all(any(k in d.keys for k in group) for group in groups)
        and (word is None or word in f"{d.title} {d.body}".split())
    ]
    counts: Counter[str] = Counter(
        k for d in matched for k in d.keys if k.startswith(COUNTED_PREFIXES)
    )
    return matched, counts


@pytest.mark.parametrize(
    ("groups", "word"),
    [
        ([], None),
        ([("f:region:emea",)], None),
        ([("visible:1",), ("f:region:de", "f:region:us")], None),
        ([("view:working",)], None),
        ([("view:working",), ("type:video",)], None),
        ([("campaign:C1",)], None),
        ([("tag:t1",)], None),  # no bitmap for tags: read through the rows
        ([("f:region:nowhere",)], None),
        ([], "summit"),
        ([("visible:1",), ("type:image",)], "lake"),
    ],
)
def test_counts_and_pages_match_a_brute_force_count(
    ctx: Context, groups: list[tuple[str, ...]], word: str | None
) -> None:
    rng = random.Random(7)
    _start_ords_near_a_segment_end(ctx)
    docs = [_doc(rng, n) for n in range(80)]
    _write(ctx, docs)
    matched, expected = _brute(docs, groups, word)
    request = SearchRequest(
        query=parse_query(word),
        filters=tuple(groups),
        sort=SortOrder.newest,
        limit=10,
        count_prefixes=COUNTED_PREFIXES,
    )
    with session_scope(ctx.engine) as session:
        result = PostgresBackend().search(session, request)
        # The same filters through the row path (a date filter that keeps everything).
        through_rows = PostgresBackend().search(
            session,
            SearchRequest(
                query=request.query,
                filters=request.filters,
                created_after=START - timedelta(days=1),
                sort=SortOrder.newest,
                limit=10,
                count_prefixes=COUNTED_PREFIXES,
            ),
        )
    newest = sorted(matched, key=lambda d: (d.created_at, d.asset_id), reverse=True)
    for got in (result, through_rows):
        assert got.total == len(matched)
        assert got.counts == dict(expected)
        assert got.ids == [d.asset_id for d in newest[:10]]


def test_a_busy_writer_gives_the_job_back(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_backend, "WRITE_WAIT_SECONDS", 0.2)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with session_scope(ctx.engine) as session:
            session.execute(
                sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": postgres_backend.WRITE_LOCK}
            )
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        with pytest.raises(RetryLater):
            _write(ctx, [_doc(random.Random(8), 1)])
    finally:
        release.set()
        holder.join()
    _write(ctx, [_doc(random.Random(8), 1)])  # free again


def _posted_keys(ctx: Context) -> set[str]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT DISTINCT k.key FROM search_postings p "
                "JOIN search_keys k ON k.id = p.key_id WHERE bit_count(p.bits) > 0"
            )
        )
        return {str(k) for (k,) in rows}


def _migrate(ctx: Context, revision: str, *, down: bool = False) -> None:
    with ctx.engine.begin() as conn:
        cfg = alembic_config(str(ctx.engine.url.render_as_string(hide_password=False)))
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def test_both_views_have_bitmaps_so_every_browse_stays_on_the_bitmap_path(ctx: Context) -> None:
    """Every search filters on its principal's view; an uploader's browse read every row while
    only the published view's key had a bitmap."""
    rng = random.Random(9)
    docs = [_doc(rng, n) for n in range(30)]
    _write(ctx, docs)
    assert {VISIBLE_KEY, WORKING_KEY} <= _posted_keys(ctx)
    assert all(k.startswith(postgres_backend.POSTING_PREFIXES) for k in (VISIBLE_KEY, WORKING_KEY))


def test_migration_0013_gives_existing_documents_the_working_view_bitmap(ctx: Context) -> None:
    rng = random.Random(10)
    docs = [_doc(rng, n) for n in range(40)]
    _write(ctx, docs)
    # The index as 0012 left it (no bitmap for the key), then 0013 alone; the schema is the
    # session's, shared by later tests, so it goes back to the newest revision whatever happens.
    try:
        _migrate(ctx, "0012", down=True)
        assert WORKING_KEY not in _posted_keys(ctx)
        _migrate(ctx, "0013")
        assert WORKING_KEY in _posted_keys(ctx)
    finally:
        _migrate(ctx, "head")
    converted = _postings(ctx)
    with ctx.engine.begin() as conn:
        conn.execute(sa.text("SELECT search_rebuild_postings()"))
    assert _postings(ctx) == converted
    _, expected = _brute(docs, [(WORKING_KEY,)], None)
    request = SearchRequest(
        query=parse_query(None),
        filters=((WORKING_KEY,),),
        sort=SortOrder.newest,
        limit=10,
        count_prefixes=COUNTED_PREFIXES,
    )
    with session_scope(ctx.engine) as session:
        result = PostgresBackend().search(session, request)
    assert result.counts == dict(expected)
    assert result.total == sum(1 for d in docs if WORKING_KEY in d.keys)


def _campaign_doc(rng: random.Random, n: int) -> SearchDocument:
    # Skewed campaign sizes (a few large, many small, ties among them), three facets.
    campaigns = {min(int(rng.expovariate(0.05)), 79) for _ in range(rng.randint(0, 3))}
    keys = {
        f"type:{rng.choice(['image', 'video'])}",
        f"f:region:{rng.choice(['emea', 'de', 'us'])}",
        *(f"campaign:K{c:02d}" for c in campaigns),
    }
    if rng.random() < 0.6:
        keys.add("visible:1")
    if rng.random() < 0.9:
        keys.add(WORKING_KEY)
    doc_id = uuid.uuid4()
    return SearchDocument(
        doc_id=doc_id,
        asset_id=doc_id,
        title=rng.choice(WORDS),
        body="",
        keys=tuple(sorted(keys)),
        created_at=START + timedelta(minutes=n),
        title_sort="t",
        revision=1,
    )


@pytest.mark.parametrize("and_rows", [0, 10**6])  # the rest by bitmaps; over the rows
@pytest.mark.parametrize(
    "groups",
    [
        [],
        [(WORKING_KEY,)],
        [(VISIBLE_KEY,), ("type:image",)],
        [(VISIBLE_KEY,), ("type:image",), ("f:region:emea",)],  # loose bounds: a second round
        [(WORKING_KEY,), ("f:region:de", "f:region:us")],
        [("campaign:K00",), ("type:video",)],
    ],
)
def test_campaign_top_k_is_the_top_of_an_exact_count(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, groups: list[tuple[str, ...]], and_rows: int
) -> None:
    """A browse counts only the campaigns that can be among the top `campaign_limit` (bounds
    from the pair counts, bitmaps or rows for the rest): the result is the top of a full
    count, ties by key, whichever way the rest were counted."""
    monkeypatch.setattr(postgres_backend, "AND_ROWS", and_rows)
    rng = random.Random(11)
    _start_ords_near_a_segment_end(ctx)
    docs = [_campaign_doc(rng, n) for n in range(600)]
    _write(ctx, docs[:400])
    # Edits and deletes move the pair counts too.
    edited = [
        SearchDocument(
            **{
                **_campaign_doc(rng, n).__dict__,
                "doc_id": d.doc_id,
                "asset_id": d.asset_id,
                "revision": 2,
            }
        )
        for n, d in enumerate(docs[:60])
    ]
    _write(ctx, docs[400:] + edited, deleted=[d.asset_id for d in docs[60:90]])
    current = edited + docs[90:]
    _, expected = _brute(current, groups, None)
    for limit in (1, 5, 20):
        campaigns = sorted(
            ((k, n) for k, n in expected.items() if k.startswith("campaign:")),
            key=lambda kn: (-kn[1], kn[0]),
        )
        request = SearchRequest(
            query=parse_query(None),
            filters=tuple(groups),
            limit=5,
            count_prefixes=COUNTED_PREFIXES,
            campaign_limit=limit,
        )
        with session_scope(ctx.engine) as session:
            result = PostgresBackend().search(session, request)
        others = {k: n for k, n in expected.items() if not k.startswith("campaign:")}
        assert result.counts == {**others, **dict(campaigns[:limit])}
    with ctx.engine.connect() as conn:
        kept = set(conn.execute(sa.text("SELECT * FROM search_campaign_pairs WHERE n > 0")))
    with ctx.engine.begin() as conn:
        conn.execute(sa.text("SELECT search_rebuild_postings()"))
    with ctx.engine.connect() as conn:
        assert set(conn.execute(sa.text("SELECT * FROM search_campaign_pairs"))) == kept


def test_migration_0022_fills_the_campaign_pairs_of_an_existing_index(ctx: Context) -> None:
    rng = random.Random(12)
    docs = [_campaign_doc(rng, n) for n in range(120)]
    _write(ctx, docs)
    with ctx.engine.connect() as conn:
        kept = set(conn.execute(sa.text("SELECT * FROM search_campaign_pairs WHERE n > 0")))
    assert kept
    # The index as 0021 left it (no pairs, the older trigger), a write there, then 0022.
    try:
        _migrate(ctx, "0021", down=True)
        with ctx.engine.connect() as conn:
            gone = conn.execute(sa.text("SELECT to_regclass('search_campaign_pairs')")).scalar()
        assert gone is None
        more = [_campaign_doc(rng, n) for n in range(120, 150)]
        _write(ctx, more)
        _migrate(ctx, "0022")
    finally:
        _migrate(ctx, "head")
    with ctx.engine.connect() as conn:
        filled = set(conn.execute(sa.text("SELECT * FROM search_campaign_pairs WHERE n > 0")))
    with ctx.engine.begin() as conn:
        conn.execute(sa.text("SELECT search_rebuild_postings()"))
    with ctx.engine.connect() as conn:
        assert set(conn.execute(sa.text("SELECT * FROM search_campaign_pairs"))) == filled
    # The trigger keeps them again: a write after the upgrade; the counts of one filter key
    # are its pairs (no bitmap read), those of two the bitmaps' (campaign_limit None: all).
    _write(ctx, [_campaign_doc(rng, n) for n in range(150, 160)])
    request = SearchRequest(
        query=parse_query(None),
        filters=((VISIBLE_KEY,), ("type:image", "type:video")),
        limit=5,
        count_prefixes=COUNTED_PREFIXES,
        campaign_limit=None,
    )
    with session_scope(ctx.engine) as session:
        result = PostgresBackend().search(session, request)
    with ctx.engine.connect() as conn:
        pairs = dict(
            conn.execute(
                sa.text(
                    "SELECT k.key, q.n FROM search_campaign_pairs q "
                    "JOIN search_keys k ON k.id = q.campaign_id "
                    "JOIN search_keys v ON v.id = q.key_id AND v.key = :v WHERE q.n > 0"
                ),
                {"v": VISIBLE_KEY},
            ).all()
        )
    assert pairs == {k: n for k, n in result.counts.items() if k.startswith("campaign:")}
