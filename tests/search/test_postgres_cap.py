"""PostgreSQL text matches read every row unless a cap is set (`DAM_SEARCH_MATCH_CAP`, here
MATCH_CAP); with one they stop reading rows at the cap: below it every figure is exact; above
it the result says so (`total_relation` "gte"), its counts are those of the `total` rows read,
date and title pages are still exact, and phrases on documents shaped like real ones match
exactly what a word-by-word scan of their text finds."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from dam.context import Context
from dam.db import session_scope
from dam.search import postgres_backend
from dam.search.base import SearchRequest, SearchResult, SortOrder
from dam.search.document import COUNTED_PREFIXES, WORKING_KEY, SearchDocument
from dam.search.postgres_backend import PostgresBackend
from dam.search.query import parse_query, tokenize

START = datetime(2026, 1, 1, tzinfo=UTC)
# The generator's vocabulary (scripts/generate_library.py): titles "<adjective> <subject>
# <scene>", descriptions from templates, so phrases recur across documents in many contexts.
ADJECTIVES = ["alpine", "coastal", "urban", "trail", "winter", "summer", "vintage"]
SUBJECTS = ["runner", "tent", "jacket", "boots", "kayak", "lake", "rain", "dawn"]
SCENES = ["at dawn", "in the rain", "on the ridge", "by the lake", "in deep snow", "at sunset"]
TEMPLATES = [
    "Lifestyle photo of a {s} {c}, shot for the {season} campaign.",
    "Product shot of the {s} range with detail on seams and fabric.",
    "Social tile featuring a {a} {s} for {season} launches.",
    "Banner artwork: {a} {s} {c}, cropped for web and display.",
]
PHRASES = [
    "in the rain",
    "the rain",
    "at dawn",
    "trail runner",
    "product shot",
    "in deep snow",
    "the lake",
    "rain at dawn",
    "dawn in the",
    "shot of the runner",
    "sunset lifestyle",  # across the title and the body: they are one text
    "rain rain",
]


@pytest.fixture(autouse=True)
def postgres_only(db_backend: str) -> None:
    if db_backend != "postgres":
        pytest.skip("the cap is the PostgreSQL backend's")


def _real_doc(rng: random.Random, n: int) -> SearchDocument:
    subject, adjective = rng.choice(SUBJECTS), rng.choice(ADJECTIVES)
    title = f"{adjective.capitalize()} {subject} {rng.choice(SCENES)}"
    body = rng.choice(TEMPLATES).format(
        s=subject, a=adjective, c=rng.choice(SCENES), season=rng.choice(["spring", "autumn"])
    )
    keys = {
        WORKING_KEY,
        f"type:{rng.choice(['image', 'video'])}",
        f"f:region:{rng.choice(['emea', 'de', 'us'])}",
        *(f"campaign:C{c}" for c in rng.sample(range(4), rng.randint(0, 2))),
    }
    doc_id = uuid.uuid4()
    return SearchDocument(
        doc_id=doc_id,
        asset_id=doc_id,
        title=title,
        body=f"{body} {rng.choice(['rain', 'dawn', ''])}".strip(),
        keys=tuple(sorted(keys)),
        created_at=START + timedelta(minutes=n),
        title_sort=title.lower(),
        revision=1,
    )


def _has_phrase(doc: SearchDocument, phrase: str) -> bool:
    words = tokenize(f"{doc.title} {doc.body}")
    wanted = tokenize(phrase)
    return any(words[i : i + len(wanted)] == wanted for i in range(len(words)))


def _library(ctx: Context, n: int, seed: int) -> list[SearchDocument]:
    rng = random.Random(seed)
    docs = [_real_doc(rng, i) for i in range(n)]
    with session_scope(ctx.engine) as session:
        PostgresBackend().upsert(session, docs)
    return docs


def _search(ctx: Context, q: str, *, sort: SortOrder, offset: int = 0) -> SearchResult:
    request = SearchRequest(
        query=parse_query(q),
        filters=((WORKING_KEY,),),
        sort=sort,
        offset=offset,
        limit=10,
        count_prefixes=COUNTED_PREFIXES,
    )
    with session_scope(ctx.engine) as session:
        return PostgresBackend().search(session, request)


def _counts(docs: list[SearchDocument]) -> Counter[str]:
    return Counter(k for d in docs for k in d.keys if k.startswith(COUNTED_PREFIXES))


def test_phrases_match_what_a_scan_of_the_words_finds(ctx: Context) -> None:
    docs = _library(ctx, 300, seed=11)
    newest = sorted(docs, key=lambda d: (d.created_at, d.asset_id), reverse=True)
    for phrase in PHRASES:
        matched = [d for d in newest if _has_phrase(d, phrase)]
        got = _search(ctx, f'"{phrase}"', sort=SortOrder.newest)
        assert got.total_relation == "eq", phrase
        assert got.total == len(matched), phrase
        assert got.ids == [d.asset_id for d in matched[:10]], phrase
        assert got.counts == dict(_counts(matched)), phrase
        ranked = _search(ctx, f'"{phrase}"', sort=SortOrder.relevance)
        assert set(ranked.ids) <= {d.asset_id for d in matched}, phrase
        assert len(ranked.ids) == min(10, len(matched)), phrase
    # Some of them are common, some rare, one absent: the comparison means something.
    sizes = sorted(sum(_has_phrase(d, p) for d in docs) for p in PHRASES)
    assert sizes[0] == 0 and sizes[-1] > 50


@pytest.mark.parametrize("phrase", ["in the rain", "at dawn", "product shot"])
def test_phrases_over_the_cap_count_the_rows_read_and_page_exactly_by_date(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, phrase: str
) -> None:
    docs = _library(ctx, 300, seed=12)
    matched = [d for d in docs if _has_phrase(d, phrase)]
    cap = len(matched) // 3
    assert cap >= 5
    monkeypatch.setattr(postgres_backend, "MATCH_CAP", cap)
    by_id = {d.asset_id: d for d in matched}
    q = f'"{phrase}"'
    for sort, key, reverse in (
        (SortOrder.newest, lambda d: (d.created_at, d.asset_id), True),
        (SortOrder.oldest, lambda d: (d.created_at, d.asset_id), False),
        (SortOrder.by_title, lambda d: (d.title_sort, d.asset_id), False),
    ):
        ordered = sorted(matched, key=key, reverse=reverse)
        for offset in (0, 10, cap + 3):
            got = _search(ctx, q, sort=sort, offset=offset)
            assert got.total_relation == "gte"
            assert got.total == cap
            assert got.ids == [d.asset_id for d in ordered[offset : offset + 10]], (sort, offset)
    got = _search(ctx, q, sort=SortOrder.relevance)
    assert got.total_relation == "gte" and got.total == cap
    assert len(got.ids) == 10 and set(got.ids) <= set(by_id)
    # The counts are those of `cap` matching documents: each document has one type, and no
    # count is over the true one.
    everything = _counts(matched)
    assert got.counts.get("type:image", 0) + got.counts.get("type:video", 0) == cap
    assert all(0 < n <= everything[k] for k, n in got.counts.items())
    assert sum(n for k, n in got.counts.items() if k.startswith("f:region:")) == cap


def test_at_the_cap_the_result_is_exact(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = _library(ctx, 120, seed=13)
    matched = [d for d in docs if "rain" in tokenize(f"{d.title} {d.body}")]
    newest = sorted(matched, key=lambda d: (d.created_at, d.asset_id), reverse=True)
    monkeypatch.setattr(postgres_backend, "MATCH_CAP", len(matched))
    got = _search(ctx, "rain", sort=SortOrder.newest)
    assert (got.total_relation, got.total) == ("eq", len(matched))
    assert got.counts == dict(_counts(matched))
    assert got.ids == [d.asset_id for d in newest[:10]]
    monkeypatch.setattr(postgres_backend, "MATCH_CAP", len(matched) - 1)
    over = _search(ctx, "rain", sort=SortOrder.newest)
    assert (over.total_relation, over.total) == ("gte", len(matched) - 1)
    assert over.ids == got.ids


def test_a_browse_is_never_capped(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = _library(ctx, 60, seed=14)
    monkeypatch.setattr(postgres_backend, "MATCH_CAP", 5)
    got = _search(ctx, "", sort=SortOrder.newest)
    assert (got.total_relation, got.total) == ("eq", len(docs))
    assert got.counts == dict(_counts(docs))


def test_a_date_filter_reads_rows_so_it_is_capped_too(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _library(ctx, 60, seed=15)
    after = START + timedelta(minutes=20)
    kept = sorted(
        (d for d in docs if d.created_at >= after),
        key=lambda d: (d.created_at, d.asset_id),
        reverse=True,
    )
    monkeypatch.setattr(postgres_backend, "MATCH_CAP", 15)
    request = SearchRequest(
        query=parse_query(None),
        filters=((WORKING_KEY,),),
        created_after=after,
        sort=SortOrder.newest,
        offset=5,
        limit=10,
        count_prefixes=COUNTED_PREFIXES,
    )
    with session_scope(ctx.engine) as session:
        got = PostgresBackend().search(session, request)
    assert (got.total_relation, got.total) == ("gte", 15)
    assert got.ids == [d.asset_id for d in kept[5:15]]
    assert sum(n for k, n in got.counts.items() if k.startswith("type:")) == 15


def test_no_cap_by_default_and_the_setting_sets_it(ctx: Context) -> None:
    from dam.config import Settings

    docs = _library(ctx, 200, seed=16)
    matched = [d for d in docs if "rain" in tokenize(f"{d.title} {d.body}")]
    assert postgres_backend.MATCH_CAP == 0 and ctx.settings.search_match_cap == 0
    got = _search(ctx, "rain", sort=SortOrder.newest)
    assert (got.total_relation, got.total) == ("eq", len(matched))
    capped = Settings(search_match_cap=7)
    assert PostgresBackend(match_cap=capped.search_match_cap or None).match_cap == 7


def _vacuums(ctx: Context) -> int:
    with ctx.engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        return int(
            conn.exec_driver_sql(
                "SELECT vacuum_count FROM pg_stat_user_tables"
                " WHERE relname = 'search_postings_facets' AND schemaname = current_schema()"
            ).scalar_one()
        )


def test_index_writes_vacuum_the_posting_tables_every_n_documents(ctx: Context) -> None:
    """Each indexed document leaves dead 4 KB posting rows; a backend with `vacuum_every`
    vacuums the posting tables after the commit that crosses it, and not before."""
    import time

    rng = random.Random(17)
    backend = PostgresBackend(vacuum_every=3)
    before = _vacuums(ctx)
    docs = [_real_doc(rng, i) for i in range(5)]
    with session_scope(ctx.engine) as session:
        backend.update(session, upsert=docs[:2], delete=[])
    time.sleep(0.7)  # statistics reach other sessions within PGSTAT_MIN_INTERVAL (1 s)
    assert _vacuums(ctx) == before
    with session_scope(ctx.engine) as session:
        backend.update(session, upsert=docs[2:], delete=[])
    deadline = time.monotonic() + 5
    while _vacuums(ctx) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _vacuums(ctx) == before + 1
    # A write that rolls back vacuums nothing: the listener is attached to the commit.
    with pytest.raises(RuntimeError), session_scope(ctx.engine) as session:
        backend.update(session, upsert=[_real_doc(rng, 9) for _ in range(3)], delete=[])
        raise RuntimeError("the index write is rolled back")
    time.sleep(1.2)
    assert _vacuums(ctx) == before + 1
