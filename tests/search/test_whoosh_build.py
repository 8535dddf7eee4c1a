"""The whoosh full build on several processes gives the index one process builds, with
sidecars that equal what a snapshot reads from the postings; phrases are matched from the
words column, across segments and updates; a failed build leaves the live index alone."""

from __future__ import annotations

import random
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dam.search import whoosh_backend, whoosh_build
from dam.search.base import SearchRequest, SearchResult, SortOrder
from dam.search.document import SearchDocument
from dam.search.query import normalize, parse_query
from dam.search.whoosh_backend import WhooshBackend, _read_segment

WORDS = ["trail", "runner", "in", "the", "rain", "alpine", "boots", "granite", "kayak", "lake"]
REGIONS = ["emea", "amer", "apac"]


def docs(n: int, *, seed: int = 3) -> list[SearchDocument]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        title = " ".join(rng.choice(WORDS) for _ in range(4))
        body = " ".join(rng.choice(WORDS) for _ in range(12)) + "\nGröße café"
        doc_id = uuid.UUID(int=i + 1)
        keys = (
            f"f:region:{rng.choice(REGIONS)}",
            "type:image" if i % 3 else "type:video",
            "visible:1",
            *([f"campaign:C-{i % 5}"] if i % 2 else []),
        )
        out.append(
            SearchDocument(
                doc_id=doc_id,
                asset_id=doc_id,
                title=title,
                body=body,
                keys=keys,
                created_at=start + timedelta(minutes=rng.randrange(10_000)),
                title_sort=title,
                revision=1,
            )
        )
    return out


# Every match on one page: documents are numbered differently in the two builds, and equal
# relevance scores are ordered by that number; the sorts by date and title are total orders.
REQUESTS = [
    SearchRequest(query=parse_query("runner"), count_prefixes=("f:", "type:"), limit=100),
    SearchRequest(query=parse_query('"in the rain"'), limit=100),
    SearchRequest(query=parse_query('"rain the in"'), limit=100),
    SearchRequest(query=parse_query('"trail runner in the"'), sort=SortOrder.newest, limit=100),
    SearchRequest(query=parse_query("alpine gra"), limit=100),
    SearchRequest(query=parse_query('kayak -"the lake"'), limit=100),
    SearchRequest(query=parse_query(""), filters=(("f:region:emea",),), count_prefixes=("f:",)),
    SearchRequest(query=parse_query(""), sort=SortOrder.by_title, offset=5, limit=10),
    SearchRequest(query=parse_query("café"), filters=(("campaign:C-1", "campaign:C-3"),)),
]


def results(backend: WhooshBackend) -> list[tuple[int, dict[str, int], Any]]:
    out = []
    for request in REQUESTS:
        found: SearchResult = backend.search(None, request)  # type: ignore[arg-type]
        ranked = request.sort == SortOrder.relevance and request.query.has_positive
        out.append((found.total, found.counts, set(found.ids) if ranked else found.ids))
    return out


@pytest.fixture
def parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    # Small enough that a test library goes to two child processes in several batches.
    monkeypatch.setattr(whoosh_build, "PARALLEL_FROM", 20)
    monkeypatch.setattr(whoosh_build, "BATCH", 7)
    monkeypatch.setattr(whoosh_build, "MAX_PROCS", 2)
    monkeypatch.setattr(whoosh_build.os, "cpu_count", lambda: 2)


def test_parallel_build_finds_what_a_single_process_build_finds(
    tmp_path: Path, parallel: None
) -> None:
    library = docs(90)
    single = WhooshBackend(tmp_path / "single")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(whoosh_build, "PARALLEL_FROM", 10_000)
        assert single.rebuild(None, library) == 90  # type: ignore[arg-type]
    several = WhooshBackend(tmp_path / "several")

    assert several.rebuild(None, library) == 90  # type: ignore[arg-type]

    assert len(several.snapshot().spans) == 2  # one segment per child
    expected = results(single)
    assert all(total for total, _, _ in expected[:2])
    assert results(several) == expected


def test_sidecars_hold_what_the_postings_give(tmp_path: Path, parallel: None) -> None:
    backend = WhooshBackend(tmp_path / "ix")
    backend.rebuild(None, docs(60))  # type: ignore[arg-type]
    snap = backend.snapshot()
    directory = backend.root / str(backend._generation)

    for leaf in snap.leaves:
        from_sidecar = _read_segment(leaf, directory)
        from_postings = _read_segment(leaf, None)
        assert from_sidecar.masks == from_postings.masks
        assert from_sidecar.created == from_postings.created
        assert from_sidecar.ids == from_postings.ids
        assert from_sidecar.titles == from_postings.titles
        assert from_sidecar.orders["created"] == from_postings.by_created()
        assert from_sidecar.orders["title"] == from_postings.by_title()
    assert len(list(directory.glob(f"*{whoosh_build.SIDECAR_EXT}"))) == 2


def test_phrase_matches_follow_updates_and_deletes_across_segments(
    tmp_path: Path, parallel: None
) -> None:
    backend = WhooshBackend(tmp_path / "ix")
    library = docs(40)
    backend.rebuild(None, library)  # type: ignore[arg-type]
    phrase = SearchRequest(query=parse_query('"granite kayak lake"'), limit=100)
    before = set(backend.search(None, phrase).ids)  # type: ignore[arg-type]
    target = library[0]
    changed = SearchDocument(
        **{**target.__dict__, "title": "granite kayak lake", "revision": 2}  # type: ignore[arg-type]
    )

    backend.update(None, upsert=[changed], delete=[])  # type: ignore[arg-type]
    assert set(backend.search(None, phrase).ids) == before | {target.doc_id}  # type: ignore[arg-type]

    backend.update(None, upsert=[], delete=[target.doc_id])  # type: ignore[arg-type]
    assert set(backend.search(None, phrase).ids) == before - {target.doc_id}  # type: ignore[arg-type]


def test_a_failed_child_fails_the_rebuild_and_leaves_the_live_index(
    tmp_path: Path, parallel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = WhooshBackend(tmp_path / "ix")
    backend.rebuild(None, docs(30))  # type: ignore[arg-type]
    live = backend._pointer()
    real_fields = whoosh_backend._fields

    def broken(doc: SearchDocument, schema: Any) -> dict[str, Any]:
        values = real_fields(doc, schema)
        if doc.doc_id.int == 25:
            values["created"] = "not a number"  # the child's writer refuses it
        return values

    monkeypatch.setattr(whoosh_backend, "_fields", broken)

    with pytest.raises(RuntimeError, match="search index build process failed"):
        backend.rebuild(None, docs(40))  # type: ignore[arg-type]

    assert backend._pointer() == live
    assert sorted(p.name for p in backend.root.iterdir() if p.is_dir()) == [live]
    assert backend.search(None, SearchRequest(query=parse_query(""))).total == 30  # type: ignore[arg-type]


def _reference_normalize(text: str) -> str:
    # The definition: NFKC, category C characters as spaces, case-folded.
    text = unicodedata.normalize("NFKC", text)
    return "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text).casefold()


@pytest.mark.parametrize(
    "text",
    [
        "Plain ASCII Title",
        "lines\nand\ttabs\r\x00\x7f",
        "Größe café\nﬁne ligature",
        "non\u00a0breaking and\u2028line separator",
        "zero\u200bwidth \ue000private \U000e0041tag",
        "ẞ STRASSE ǅ",
    ],
)
def test_normalize_fast_paths_match_the_definition(text: str) -> None:
    assert normalize(text) == _reference_normalize(text)


def test_after_an_update_a_term_is_read_only_from_the_new_segment(
    tmp_path: Path, parallel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = WhooshBackend(tmp_path / "ix")
    library = docs(40)
    backend.rebuild(None, library)  # type: ignore[arg-type]
    word = SearchRequest(query=parse_query("kayak"), limit=100)
    before = set(backend.search(None, word).ids)  # type: ignore[arg-type]
    added = SearchDocument(
        **{**library[0].__dict__, "doc_id": uuid.UUID(int=999), "asset_id": uuid.UUID(int=999)}  # type: ignore[arg-type]
    )
    added = SearchDocument(**{**added.__dict__, "title": "kayak kayak"})  # type: ignore[arg-type]
    backend.update(None, upsert=[added], delete=[])  # type: ignore[arg-type]
    read_from: list[int] = []
    real_blocks = whoosh_backend._blocks

    def counting(reader: Any, fieldname: str, text: str, *, weights: bool) -> Any:
        read_from.append(reader.doc_count_all())
        return real_blocks(reader, fieldname, text, weights=weights)

    monkeypatch.setattr(whoosh_backend, "_blocks", counting)

    assert set(backend.search(None, word).ids) == before | {added.doc_id}  # type: ignore[arg-type]
    assert read_from and set(read_from) == {1}  # the new one-document segment only


def test_a_sidecar_written_before_the_sort_orders_is_still_read(
    tmp_path: Path, parallel: None
) -> None:
    import pickle

    backend = WhooshBackend(tmp_path / "ix")
    backend.rebuild(None, docs(50))  # type: ignore[arg-type]
    snap = backend.snapshot()
    directory = backend.root / str(backend._generation)
    for path in directory.glob(f"*{whoosh_build.SIDECAR_EXT}"):
        data = pickle.loads(path.read_bytes())
        del data["by_created"], data["by_title"]
        path.write_bytes(pickle.dumps({**data, "format": 2}))
    for leaf in snap.leaves:
        old = _read_segment(leaf, directory)
        assert old.orders == {}  # sorted on first use, as before
        assert old.masks == _read_segment(leaf, None).masks
        assert old.by_created() == _read_segment(leaf, None).by_created()
    assert results(WhooshBackend(backend.root)) == results(backend)


def test_phrases_in_the_mapped_column_are_the_column_readers(
    tmp_path: Path, parallel: None
) -> None:
    backend = WhooshBackend(tmp_path / "ix")
    backend.rebuild(None, docs(60))  # type: ignore[arg-type]
    for leaf in backend.snapshot().leaves:
        size = leaf.doc_count_all()
        for column in ("title_words", "body_words"):
            reader = leaf.column_reader(column)
            for phrase in ("in the", "the rain", "rain", "granite kayak lake", "größe café"):
                needle = f" {phrase} ".encode()
                expected = sum(1 << d for d in range(size) if needle in b" " + reader[d] + b" ")
                everyone = (1 << size) - 1
                assert whoosh_backend._phrase_in_column(leaf, column, needle, everyone) == expected


def _schema_before_columns() -> Any:
    # The schema of an index built before keys, dates and sort titles became columns.
    from whoosh import columns, fields
    from whoosh.analysis import SpaceSeparatedTokenizer

    text = SpaceSeparatedTokenizer()
    return fields.Schema(
        id=fields.ID(stored=True, unique=True, sortable=True),
        fp=fields.STORED(),
        title=fields.TEXT(analyzer=text, field_boost=3.0, phrase=False),
        body=fields.TEXT(analyzer=text, phrase=False),
        title_words=fields.COLUMN(columns.VarBytesColumn()),
        body_words=fields.COLUMN(columns.VarBytesColumn()),
        keys=fields.KEYWORD(scorable=False),
        created=fields.NUMERIC(numtype=int, bits=64, signed=True, sortable=True),
        title_sort=fields.ID(sortable=True),
    )


def test_an_index_with_keys_as_terms_is_searched_and_updated_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = docs(70)
    current = WhooshBackend(tmp_path / "current")
    current.rebuild(None, library)  # type: ignore[arg-type]
    with monkeypatch.context() as mp:
        mp.setattr(whoosh_backend, "_schema", _schema_before_columns)
        old = WhooshBackend(tmp_path / "old")
        old.rebuild(None, library)  # type: ignore[arg-type]
    assert "keys" in old.snapshot().searcher.schema
    assert results(old) == results(current)
    changed = SearchDocument(
        **{**library[3].__dict__, "keys": ("f:region:apac", "visible:1"), "revision": 2}  # type: ignore[arg-type]
    )
    for backend in (old, current):
        backend.update(None, upsert=[changed], delete=[library[5].doc_id])  # type: ignore[arg-type]
    assert results(old) == results(current)
