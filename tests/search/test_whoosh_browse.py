"""The whoosh browse paths (filters, facet counts, date ranges, the date and title sorts) run
on structures cached per segment: bitsets per key, sort orders sorted once. Here they are
checked against the plain computation over the documents as they are, on randomised libraries
with ties, over several segments, after updates, deletes and new documents (which must
invalidate nothing stale); and the build's field-length table against whoosh's own reads.
Each request runs twice: the second answer comes from the caches the first filled (facet
counts per segment and match)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from whoosh import query as wq
from whoosh.codec import whoosh3

from dam.search import whoosh_buffers, whoosh_build
from dam.search.base import SearchRequest, SortOrder
from dam.search.document import SearchDocument
from dam.search.query import parse_query, tokenize
from dam.search.whoosh_backend import WhooshBackend

REGIONS = ["emea", "amer", "apac", "de"]
CHANNELS = ["web", "print", "social"]
WORDS = ["alpine", "boots", "kayak", "lake", "runner", "tent"]
START = datetime(2026, 1, 1, tzinfo=UTC)
PREFIXES = ("f:", "type:", "campaign:")


def make_doc(rng: random.Random, n: int, revision: int = 1) -> SearchDocument:
    doc_id = uuid.UUID(int=n)
    keys = {
        f"f:region:{rng.choice(REGIONS)}",
        f"f:channel:{rng.choice(CHANNELS)}",
        "type:image" if rng.random() < 0.7 else "type:video",
        "visible:1",
    }
    if rng.random() < 0.3:
        keys.add(f"campaign:C-{rng.randrange(4)}")
    if rng.random() < 0.2:
        keys.add(f"f:region:{rng.choice(REGIONS)}")
    title = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 4)))
    return SearchDocument(
        doc_id=doc_id,
        asset_id=doc_id,
        title=title,
        body=" ".join(rng.choice(WORDS) for _ in range(6)),
        keys=tuple(sorted(keys)),
        # Few distinct times and titles: ties, broken by the asset id.
        created_at=START + timedelta(minutes=rng.randrange(40)),
        title_sort=rng.choice(["", title, "Boots", "alpine"]),
        revision=revision,
    )


def expected(library: dict[uuid.UUID, SearchDocument], request: SearchRequest) -> Any:
    docs = list(library.values())
    for group in request.filters:
        docs = [d for d in docs if set(group) & set(d.keys)]
    if request.created_after:
        docs = [d for d in docs if d.created_at >= request.created_after]
    if request.created_before:
        docs = [d for d in docs if d.created_at < request.created_before]
    for words in request.query.must:
        (word,) = words
        docs = [d for d in docs if word in tokenize(d.title) or word in tokenize(d.body)]
    counts: dict[str, int] = {}
    for d in docs:
        for key in d.keys:
            if request.count_prefixes and key.startswith(request.count_prefixes):
                counts[key] = counts.get(key, 0) + 1
    if request.sort == SortOrder.by_title:
        docs.sort(key=lambda d: (d.title_sort or "\uffff", str(d.doc_id)))
    else:
        docs.sort(key=lambda d: (d.created_at, str(d.doc_id)))
        if request.sort != SortOrder.oldest:
            docs.reverse()
    page = docs[request.offset : request.offset + request.limit]
    return len(docs), counts, [d.doc_id for d in page]


def random_request(rng: random.Random) -> SearchRequest:
    filters: list[tuple[str, ...]] = []
    if rng.random() < 0.6:
        filters.append(tuple(f"f:region:{r}" for r in rng.sample(REGIONS, rng.randrange(1, 3))))
    if rng.random() < 0.4:
        filters.append((f"f:channel:{rng.choice(CHANNELS)}",))
    if rng.random() < 0.2:
        filters.append((f"campaign:C-{rng.randrange(5)}",))
    after = before = None
    if rng.random() < 0.3:
        after = START + timedelta(minutes=rng.randrange(30))
        if rng.random() < 0.5:
            before = after + timedelta(minutes=rng.randrange(1, 20))
    return SearchRequest(
        query=parse_query(f"{rng.choice(WORDS)} " if rng.random() < 0.2 else ""),
        filters=tuple(filters),
        created_after=after,
        created_before=before,
        sort=rng.choice([SortOrder.newest, SortOrder.oldest, SortOrder.by_title]),
        offset=rng.choice([0, 0, 3, 20]),
        limit=rng.choice([1, 10, 25, 200]),
        count_prefixes=PREFIXES if rng.random() < 0.5 else (),
    )


def check(backend: WhooshBackend, library: dict[uuid.UUID, SearchDocument], seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(60):
        request = random_request(rng)
        want = expected(library, request)
        for _ in range(2):  # the second from the cached counts and orders
            found = backend.search(None, request)  # type: ignore[arg-type]
            assert (found.total, found.counts, found.ids) == want, request


@pytest.fixture
def parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(whoosh_build, "PARALLEL_FROM", 20)
    monkeypatch.setattr(whoosh_build, "BATCH", 9)
    monkeypatch.setattr(whoosh_build, "MAX_PROCS", 2)
    monkeypatch.setattr(whoosh_build.os, "cpu_count", lambda: 2)


@pytest.mark.parametrize("seed", [1, 2])
def test_browse_matches_the_plain_computation_across_segments_and_updates(
    tmp_path: Path, parallel: None, seed: int
) -> None:
    rng = random.Random(seed)
    library = {d.doc_id: d for d in (make_doc(rng, n) for n in range(1, 301))}
    backend = WhooshBackend(tmp_path / "ix")
    backend.rebuild(None, list(library.values()))  # type: ignore[arg-type]
    assert len(backend.snapshot().spans) == 2
    check(backend, library, seed)

    for step in range(4):  # each write a new segment; the cached orders and bitsets must follow
        changed = [make_doc(rng, rng.randrange(1, 301), revision=2 + step) for _ in range(15)]
        added = [make_doc(rng, 1000 + step * 100 + i) for i in range(10)]
        gone = rng.sample(sorted(library), 5)
        upsert = list({d.doc_id: d for d in changed + added if d.doc_id not in gone}.values())
        backend.update(None, upsert=upsert, delete=gone)  # type: ignore[arg-type]
        library.update({d.doc_id: d for d in upsert})
        for doc_id in gone:
            library.pop(doc_id, None)
        check(backend, library, seed * 10 + step)
    assert len(backend.snapshot().spans) > 2


def test_the_field_length_table_reads_what_whoosh_reads(tmp_path: Path) -> None:
    rng = random.Random(5)
    backend = WhooshBackend(tmp_path / "ix")
    backend.rebuild(None, [make_doc(rng, n) for n in range(1, 80)])  # type: ignore[arg-type]
    backend.update(None, upsert=[make_doc(rng, 500)], delete=[])  # type: ignore[arg-type]
    for leaf in backend.snapshot().leaves:
        per_doc = leaf._perdoc
        assert isinstance(per_doc, whoosh3.W3PerDocReader)
        original = whoosh_buffers.ORIGINAL_DOC_FIELD_LENGTH
        size = leaf.doc_count_all()
        for fieldname in ("title", "body", "id", "key_list"):
            for d in range(size + 1):
                ours = per_doc.doc_field_length(d, fieldname, default=-7)
                assert ours == original(per_doc, d, fieldname, default=-7)
        with pytest.raises(IndexError):
            per_doc.doc_field_length(size + 1, "title")


def test_relevance_ranks_as_whoosh_itself_across_segments_and_updates(tmp_path: Path) -> None:
    # The ranking is computed per segment from cached weights and lengths, with the idf and
    # average lengths of the current generation: the order is whoosh's own And/Or search's.
    rng = random.Random(11)
    backend = WhooshBackend(tmp_path / "ix")
    backend.rebuild(None, [make_doc(rng, n) for n in range(1, 200)])  # type: ignore[arg-type]
    for step in range(3):
        upsert = [make_doc(rng, n, revision=2 + step) for n in rng.sample(range(1, 260), 30)]
        backend.update(None, upsert=upsert, delete=[uuid.UUID(int=rng.randrange(1, 200))])  # type: ignore[arg-type]
        snap = backend.snapshot()
        for text in ["alpine", "boots", "kayak lake", "tent runner boots"]:
            words = text.split()
            query = wq.And([wq.Or([wq.Term("title", w), wq.Term("body", w)]) for w in words])
            theirs = [hit.docnum for hit in snap.searcher.search(query, limit=None)]
            request = SearchRequest(query=parse_query(f"{text} "), limit=1000)
            found = backend.search(None, request)  # type: ignore[arg-type]
            assert found.ids == [uuid.UUID(snap.doc_id(d)) for d in theirs]
            assert found.total == len(theirs) > 0


@pytest.mark.parametrize(
    "text",
    ["", "kayak", "kayak lake kayak kayak", "größe café\tcafé\nline  two\r\nend ", "a" * 70],
)
def test_a_build_childs_word_values_are_whooshs(tmp_path: Path, text: str) -> None:
    schema = WhooshBackend(tmp_path / "ix")._create_generation()[1].schema
    for name in ("title", "body"):
        theirs = list(schema[name].format.word_values(text, schema[name].analyzer, mode="index"))
        whoosh_build._fast_word_values(schema[name])
        ours = list(schema[name].format.word_values(text, schema[name].analyzer, mode="index"))
        assert schema[name].format.word_values.__name__ == "word_values"  # patched
        assert sorted(ours) == sorted(theirs)
        assert [type(v) for row in ours for v in row] == [type(v) for row in theirs for v in row]
