"""Search over an embedded whoosh index under the data dir.

whoosh stores the postings; matching and ranking run on a per-reader `Snapshot` of Python-int
bitsets (ANDing two 100k-bit ints and counting bits takes microseconds, where whoosh's matchers
walk every document in Python):
- one bitset per filter key plus the doc orders by date and title, for filters, facet counts and
  the non-relevance sorts; built per segment and reused across generations, so after an update
  only the new segment is read;
- a cache of term postings (bitset + BM25F scores): a text query is bitset arithmetic over its
  terms, and only the documents it matched are scored, to fill the requested page;
- a phrase takes the documents holding all its words (bitsets again) and looks for the words
  in a row in each one's text, kept as a column (`*_words`); the matches are cached with the
  segment, which never changes, so after an update only the new segment is looked at. (An
  index built before that, with word n-gram fields `*_ng`, is searched as it was built.)

Writes: one writer at a time, guarded by a process-wide lock plus whoosh's own file lock, with a
timeout; a busy lock becomes `RetryLater` for the outbox job, never an error for a user.
`rebuild` writes a fresh index generation beside the live one and swaps a pointer file, so
searches keep using the old generation until the new one is complete.
"""

from __future__ import annotations

import bisect
import heapq
import os
import shutil
import threading
import time
import uuid
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session
from whoosh import columns, fields, index
from whoosh.analysis import SpaceSeparatedTokenizer
from whoosh.analysis.tokenizers import RegexTokenizer
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.index import Index, LockError
from whoosh.matching.wrappers import FilterMatcher
from whoosh.reading import IndexReader
from whoosh.scoring import BM25F
from whoosh.searching import Searcher

from dam.jobs.registry import RetryLater
from dam.search import whoosh_buffers, whoosh_build
from dam.search.base import IndexEntry, SearchRequest, SearchResult, SortOrder
from dam.search.document import SearchDocument
from dam.search.query import ParsedQuery, tokenize

whoosh_buffers.install()

POINTER = "CURRENT"
MAX_PREFIX_EXPANSION = 50
# Indexes built before issue 22 hold word n-grams up to this many words as single terms (the
# `*_ng` fields); they are searched and updated as they were built until `dam search reindex`.
MAX_SHINGLE = 3
# Postings kept per index generation in the term cache, about 100 bytes each: the terms of the
# recent queries, not the whole index.
TERM_CACHE_POSTINGS = 1_000_000
# Postings kept per segment (shared by the snapshots of every generation holding it), so that
# after an update a term is read again only from the new segment.
SEGMENT_TERM_CACHE_POSTINGS = 500_000
PREFIX_CACHE_SIZE = 512
# Phrases whose matches are kept (per segment; in an n-gram index, those checked by position).
PHRASE_CACHE_SIZE = 256
# Facet counts kept per segment, by match (see `_SegmentData.counts`).
COUNT_CACHE_SIZE = 32
WRITE_TIMEOUT_SECONDS = 10.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# One lock per index directory for the whole process: whoosh's file lock alone raises LockError
# at once in the second thread instead of waiting.
_WRITE_LOCKS: dict[Path, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(root: Path) -> threading.RLock:
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(root.resolve(), threading.RLock())


def _schema() -> fields.Schema:
    text = SpaceSeparatedTokenizer()  # text is tokenized by dam.search.query.tokenize first
    return fields.Schema(
        id=fields.ID(stored=True, unique=True, sortable=True),
        fp=fields.STORED(),
        # No positions: a phrase is the documents holding all its words (bitsets), checked
        # against the words themselves, kept as a column (see `_match_phrase`). Positions and
        # the word n-gram fields that replaced them cost about half of the indexing time.
        title=fields.TEXT(analyzer=text, field_boost=3.0, phrase=False),
        body=fields.TEXT(analyzer=text, phrase=False),
        title_words=fields.COLUMN(columns.VarBytesColumn()),
        body_words=fields.COLUMN(columns.VarBytesColumn()),
        # Filters, facet counts and sorts run on the snapshot's bitsets and orders, never on
        # whoosh queries: the keys (one a line), dates and sort titles are columns only, not
        # terms (indexed, they were 40 % of the postings a rebuild writes). An index built
        # before this has them as fields `keys`, `created` (NUMERIC) and `title_sort` (ID).
        key_list=fields.COLUMN(columns.VarBytesColumn()),
        created=fields.COLUMN(columns.NumericColumn("q")),
        title_sort=fields.COLUMN(columns.VarBytesColumn()),
    )


def _keys_field_analyzer(schema: fields.Schema) -> None:
    # Keys hold tags with spaces and commas; one key per line keeps each one a single token.
    if "keys" in schema:  # an index built before issue 22's columns
        schema["keys"].analyzer = RegexTokenizer(r"[^\n]+")


def _micros(value: datetime) -> int:
    return int((value - _EPOCH).total_seconds() * 1_000_000)


# The set bits of every byte value, to list the docnums of a bitset a byte at a time.
_BYTE_BITS: tuple[tuple[int, ...], ...] = tuple(
    tuple(k for k in range(8) if value >> k & 1) for value in range(256)
)


@dataclass
class _Postings:
    """One term of one field over the whole index: its documents as a bitset (deleted ones
    dropped). The weights and scores stay with each segment's (`_SegmentData.term`)."""

    bits: int
    count: int


@dataclass
class Snapshot:
    """Everything a search needs for one reader generation: filter bitsets, sort orders and a
    cache of term postings, so text matching is bitset arithmetic and only the documents that
    matched are scored."""

    searcher: Searcher
    size: int
    live: int
    lock: threading.Lock
    terms: OrderedDict[tuple[str, str], _Postings] = field(default_factory=OrderedDict)
    cached_postings: int = 0
    # (offset, segment data) of each segment, by offset: where a docnum's field length lives.
    spans: list[tuple[int, _SegmentData]] = field(default_factory=list)
    # The segment readers, in the order of `spans`.
    leaves: list[IndexReader] = field(default_factory=list)
    prefixes: OrderedDict[str, list[str]] = field(default_factory=OrderedDict)
    phrases: OrderedDict[tuple[str, tuple[str, ...]], int] = field(default_factory=OrderedDict)
    # Filter key -> its live documents over the whole index, combined from the segments' the
    # first time the key is filtered by in this generation (not every key at every update).
    combined: dict[str, int] = field(default_factory=dict)

    def mask(self, key: str) -> int:
        found = self.combined.get(key)
        if found is None:
            found = 0
            for offset, data in self.spans:
                bits = data.masks.get(key)
                if bits:
                    found |= bits << offset
            found = self.combined[key] = found & self.live
        return found

    def local(self, bits: int) -> Iterator[tuple[int, _SegmentData, int]]:
        """(offset, segment data, the segment's part of `bits`) of each segment `bits` holds
        documents of."""
        for offset, data in self.spans:
            part = (bits >> offset) & ((1 << len(data.ids)) - 1)
            if part:
                yield offset, data, part

    def doc_id(self, docnum: int) -> str:
        i = bisect.bisect_right(self.spans, docnum, key=lambda span: span[0]) - 1
        offset, data = self.spans[i]
        return data.ids[docnum - offset]

    def mask_of(self, docnums: Iterable[int]) -> int:
        buf = bytearray((self.size + 7) // 8)
        for d in docnums:
            buf[d >> 3] |= 1 << (d & 7)
        return int.from_bytes(buf, "little") & self.live

    def to_bytes(self, mask: int) -> bytes:
        return mask.to_bytes((self.size + 7) // 8 or 1, "little")

    def docnums(self, mask: int) -> list[int]:
        out: list[int] = []
        for i, byte in enumerate(self.to_bytes(mask)):
            if byte:
                base = i << 3
                out.extend(base + k for k in _BYTE_BITS[byte])
        return out

    def has_field(self, name: str) -> bool:
        return name in self.searcher.schema

    def term(self, fieldname: str, text: str) -> _Postings:
        """The postings of a term, from the cache; the caller holds `lock`."""
        key = (fieldname, text)
        found = self.terms.get(key)
        if found is not None:
            self.terms.move_to_end(key)
            return found
        found = self._combined(fieldname, text)
        self.terms[key] = found
        self.cached_postings += found.count
        while self.cached_postings > TERM_CACHE_POSTINGS and len(self.terms) > 1:
            _, old = self.terms.popitem(last=False)
            self.cached_postings -= old.count
        return found

    def _combined(self, fieldname: str, text: str) -> _Postings:
        """A term's documents over the whole index, from each segment's (read once per
        segment: after an update only the new segment's are read, not every segment's again)."""
        bits = 0
        count = 0
        for (offset, data), leaf in zip(self.spans, self.leaves, strict=True):
            local_bits, local_weights = data.term(leaf, fieldname, text)
            if local_bits:
                bits |= local_bits << offset
                count += len(local_weights)
        return _Postings(bits=bits & self.live, count=count)

    def bm25(self, fieldname: str, text: str) -> tuple[float, float, float, float]:
        """(idf, k1 + 1, k1 * (1 - b), k1 * b / average length): the same BM25F as whoosh's
        scorer, whose document statistics change with every update."""
        searcher = self.searcher
        model = searcher.weighting
        b, k1 = (model.B, model.K1) if isinstance(model, BM25F) else (0.75, 1.2)
        avg = searcher.avg_field_length(fieldname) or 1
        return searcher.idf(fieldname, text), k1 + 1, k1 * (1 - b), k1 * b / avg


def _blocks(
    reader: IndexReader, fieldname: str, text: str, *, weights: bool
) -> Iterator[tuple[Sequence[int], Sequence[float]]]:
    """The postings of a term as (docnums, weights) blocks, deleted documents included (the
    snapshot's live mask drops them). Reads whoosh's W3 blocks of up to 128 postings directly
    where it can, instead of three method calls per posting."""
    for leaf, offset in reader.leaf_readers():
        if (fieldname, text) not in leaf:
            continue
        matcher = leaf.postings(fieldname, text)
        if isinstance(matcher, FilterMatcher):
            matcher = matcher.child
        if isinstance(matcher, W3LeafMatcher):
            while matcher.is_active():
                matcher.id()
                ids: Sequence[int] = matcher._ids
                block_weights: Sequence[float] = ()
                if weights:
                    matcher.weight()
                    block_weights = matcher._weights
                if offset:
                    ids = [d + offset for d in ids]
                yield ids, block_weights
                matcher._next_block()
        else:
            ids, block_weights = [], []
            while matcher.is_active():
                ids.append(matcher.id() + offset)
                if weights:
                    block_weights.append(matcher.weight())
                matcher.next()
            yield ids, block_weights


def _bitset(blocks: Iterable[Iterable[int]], size: int) -> int:
    buf = bytearray((size + 7) // 8)
    for ids in blocks:
        for d in ids:
            buf[d >> 3] |= 1 << (d & 7)
    return int.from_bytes(buf, "little")


@dataclass
class _SegmentData:
    """What a snapshot needs from one segment, without its deletions. Segments never change
    once written (only their deletions do), so after an update only the new small segment is
    read, not the whole index."""

    masks: dict[str, int]
    created: list[int]
    ids: list[str]
    titles: list[str]
    # Field lengths for BM25, per field and local docnum (-1: not read yet), filled as documents
    # are scored: they never change either, so they outlive the snapshot that read them.
    lengths: dict[str, list[int]] = field(default_factory=dict)
    # (field, phrase words) -> local bitset of the documents holding the phrase (deleted ones
    # included: the snapshot's live mask drops them). Also unchanging, so kept across updates.
    phrases: OrderedDict[tuple[str, tuple[str, ...]], int] = field(default_factory=OrderedDict)
    # (field, term) -> (local bitset, local docnum -> weight), deleted documents included.
    terms: OrderedDict[tuple[str, str], tuple[int, dict[int, float]]] = field(
        default_factory=OrderedDict
    )
    cached_postings: int = 0
    # Sort orders of local docnums ("created", "title") and the created values in date order.
    orders: dict[str, list[int]] = field(default_factory=dict)
    # (count prefixes, local match) -> counts, the most recent last.
    count_cache: OrderedDict[tuple[tuple[str, ...], int], dict[str, int]] = field(
        default_factory=OrderedDict
    )
    # Count prefixes -> the keys counted for them.
    counted: dict[tuple[str, ...], list[tuple[str, int]]] = field(default_factory=dict)
    # Snapshots of several generations share a segment's data: its caches have their own lock.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def term(self, leaf: IndexReader, fieldname: str, text: str) -> tuple[int, dict[int, float]]:
        key = (fieldname, text)
        with self.lock:
            found = self.terms.get(key)
            if found is not None:
                self.terms.move_to_end(key)
                return found
        weights: dict[int, float] = {}
        for ids, block_weights in _blocks(leaf, fieldname, text, weights=True):
            weights.update(zip(ids, block_weights, strict=True))
        found = (_bitset([weights.keys()], len(self.ids)), weights)
        with self.lock:
            self.terms[key] = found
            self.cached_postings += len(weights)
            while self.cached_postings > SEGMENT_TERM_CACHE_POSTINGS and len(self.terms) > 1:
                _, (_, old) = self.terms.popitem(last=False)
                self.cached_postings -= len(old)
        return found

    def field_lengths(self, fieldname: str) -> list[int]:
        found = self.lengths.get(fieldname)
        if found is None:
            found = self.lengths[fieldname] = [-1] * len(self.ids)
        return found

    # The segment's documents in each sort order, sorted once per segment (not once per index
    # generation, i.e. after every update): a page is the first of each segment's, merged.

    def by_created(self) -> list[int]:
        """Local docnums, oldest first, ties by asset id, then docnum."""
        found = self.orders.get("created")
        if found is None:
            found = self.orders["created"] = whoosh_build.created_order(self.created, self.ids)
        return found

    def created_sorted(self) -> list[int]:
        """Created values in `by_created` order, for date ranges."""
        found = self.orders.get("created_values")
        if found is None:
            created = self.created
            found = self.orders["created_values"] = [created[d] for d in self.by_created()]
        return found

    def by_title(self) -> list[int]:
        """Local docnums by sort title, ties by asset id, then docnum."""
        found = self.orders.get("title")
        if found is None:
            found = self.orders["title"] = whoosh_build.title_order(self.titles, self.ids)
        return found

    def counts(self, prefixes: tuple[str, ...], local: int) -> dict[str, int]:
        """Per key with one of `prefixes`, how many of the local docnums `local` hold it (none:
        left out). The last few answers are kept: a segment's bitsets never change, so the same
        match in it (the same browse, or any match in an old segment an update did not touch)
        has the same counts."""
        cache_key = (prefixes, local)
        with self.lock:
            found = self.count_cache.get(cache_key)
            if found is not None:
                self.count_cache.move_to_end(cache_key)
                return found
        found = {}
        for key, bits in self.keys_with(prefixes):
            n = (bits & local).bit_count()
            if n:
                found[key] = n
        with self.lock:
            self.count_cache[cache_key] = found
            if len(self.count_cache) > COUNT_CACHE_SIZE:
                self.count_cache.popitem(last=False)
        return found

    def keys_with(self, prefixes: tuple[str, ...]) -> list[tuple[str, int]]:
        """(key, local bitset) of the keys starting with one of `prefixes`."""
        found = self.counted.get(prefixes)
        if found is None:
            found = [(key, bits) for key, bits in self.masks.items() if key.startswith(prefixes)]
            with self.lock:
                self.counted[prefixes] = found
                if len(self.counted) > 16:
                    self.counted.pop(next(iter(self.counted)))
        return found


def _read_segment(leaf: IndexReader, directory: Path | None = None) -> _SegmentData:
    size = leaf.doc_count_all()
    key = _segment_key(leaf)
    if directory is not None and key is not None:
        # Written by a full rebuild beside its segments (dam.search.whoosh_build).
        sidecar = whoosh_build.read_sidecar(directory, key, size=size)
        if sidecar is not None:
            return _SegmentData(
                masks=sidecar.masks,
                created=sidecar.created,
                ids=sidecar.ids,
                titles=sidecar.titles,
                orders=_sidecar_orders(sidecar),
            )
    if not size:
        return _SegmentData(masks={}, created=[], ids=[], titles=[])
    if "key_list" in leaf.schema:
        masks = _masks_from_column(leaf, size)
        titles = [raw.decode() for raw in leaf.column_reader("title_sort")]
    else:  # an index built before issue 22's columns: keys are terms
        masks = {}
        for raw in leaf.lexicon("keys"):
            key = raw.decode("utf-8")
            blocks = (ids for ids, _ in _blocks(leaf, "keys", key, weights=False))
            masks[key] = _bitset(blocks, size)
        titles = list(leaf.column_reader("title_sort"))
    return _SegmentData(
        masks=masks,
        created=list(leaf.column_reader("created")),
        ids=list(leaf.column_reader("id")),
        titles=titles,
    )


def _masks_from_column(leaf: IndexReader, size: int) -> dict[str, int]:
    """Each key's bitset from the keys column (one key a line per document)."""
    docnums: dict[str, list[int]] = {}
    for d, raw in enumerate(leaf.column_reader("key_list")):
        if raw:
            for key in dict.fromkeys(raw.decode().split("\n")):
                if key:
                    docnums.setdefault(key, []).append(d)
    return {key: _bitset([found], size) for key, found in docnums.items()}


def _sidecar_orders(sidecar: whoosh_build.Sidecar) -> dict[str, list[int]]:
    orders = {"created": sidecar.by_created, "title": sidecar.by_title}
    return {name: order for name, order in orders.items() if order is not None}


def _segment_key(leaf: IndexReader) -> str | None:
    segment = leaf.segment()
    return None if segment is None else str(segment.segment_id())


def _build_snapshot(
    searcher: Searcher,
    segments: dict[str, _SegmentData] | None = None,
    directory: Path | None = None,
) -> tuple[Snapshot, dict[str, _SegmentData]]:
    """The snapshot of a searcher, reusing the data of segments read for an earlier one."""
    reader = searcher.reader()
    size = reader.doc_count_all()
    nbytes = (size + 7) // 8
    live_buf = bytearray(b"\xff" * nbytes)
    used: dict[str, _SegmentData] = {}
    spans: list[tuple[int, _SegmentData]] = []
    leaves: list[IndexReader] = []
    for leaf, offset in reader.leaf_readers():
        key = _segment_key(leaf)
        data = (segments or {}).get(key) if key is not None else None
        if data is None:
            data = _read_segment(leaf, directory)
        if key is not None:
            used[key] = data
        spans.append((offset, data))
        leaves.append(leaf)
        if leaf.has_deletions():
            for d in leaf.deleted_docs_set:
                d += offset
                live_buf[d >> 3] &= ~(1 << (d & 7)) & 0xFF
    live = int.from_bytes(live_buf, "little") & ((1 << size) - 1)
    snapshot = Snapshot(
        searcher=searcher,
        size=size,
        live=live,
        lock=threading.Lock(),
        spans=spans,
        leaves=leaves,
    )
    return snapshot, used


class WhooshBackend:
    name = "whoosh"

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._generation: str | None = None
        self._index: Index | None = None
        self._snapshot: Snapshot | None = None
        self._segments: dict[str, _SegmentData] = {}

    # --- index generations -------------------------------------------------------------------

    def _pointer(self) -> str | None:
        try:
            return (self.root / POINTER).read_text().strip() or None
        except FileNotFoundError:
            return None

    def _create_generation(self) -> tuple[str, Index]:
        name = f"g{time.time_ns()}"
        path = self.root / name
        path.mkdir(parents=True)
        schema = _schema()
        _keys_field_analyzer(schema)
        return name, index.create_in(str(path), schema)

    def _swap(self, name: str) -> None:
        tmp = self.root / f"{POINTER}.tmp"
        tmp.write_text(name)
        os.replace(tmp, self.root / POINTER)

    def _open(self) -> Index:
        """The live index, reopened when another process swapped in a new generation."""
        with self._lock:
            name = self._pointer()
            if name is None:
                with _write_lock(self.root):
                    name = self._pointer()
                    if name is None:
                        name, _ = self._create_generation()
                        self._swap(name)
            if name != self._generation or self._index is None:
                ix = index.open_dir(str(self.root / name))
                self._index, self._generation, self._snapshot = ix, name, None
                self._segments = {}
            return self._index

    def snapshot(self) -> Snapshot:
        ix = self._open()
        with self._lock:
            current = self._snapshot
            if current is not None and current.searcher.up_to_date():
                return current
            # A new searcher, not refresh(): refresh() reuses segment readers by segment id and so
            # misses deletions made in an old segment by an update. The old searcher is left to
            # the garbage collector because a search may still be running on it.
            searcher = ix.searcher()
            directory = self.root / self._generation if self._generation else None
            fresh, self._segments = _build_snapshot(searcher, self._segments, directory)
            self._snapshot = fresh
            return fresh

    # --- writes --------------------------------------------------------------------------------

    def upsert(self, session: Session, docs: Iterable[SearchDocument]) -> None:
        batch = list(docs)
        if batch:
            self._write(lambda w: [w.update_document(**_fields(d, w.schema)) for d in batch])

    def delete(self, session: Session, doc_ids: Iterable[uuid.UUID]) -> None:
        ids = [str(d) for d in doc_ids]
        if ids:
            self._write(lambda w: [w.delete_by_term("id", i) for i in ids])

    def update(
        self, session: Session, *, upsert: Sequence[SearchDocument], delete: Sequence[uuid.UUID]
    ) -> None:
        if not upsert and not delete:
            return

        def action(w: Any) -> None:
            for doc in upsert:
                w.update_document(**_fields(doc, w.schema))
            for doc_id in delete:
                w.delete_by_term("id", str(doc_id))

        self._write(action)

    def _write(self, action: Any) -> None:
        lock = _write_lock(self.root)
        if not lock.acquire(timeout=WRITE_TIMEOUT_SECONDS):
            raise RetryLater("search index writer busy")
        try:
            ix = self._open()
            try:
                writer = ix.writer(timeout=WRITE_TIMEOUT_SECONDS)
            except LockError as exc:  # another process holds the index
                raise RetryLater("search index locked by another process") from exc
            try:
                action(writer)
            except BaseException:
                writer.cancel()
                raise
            writer.commit()
        finally:
            lock.release()

    def rebuild(self, session: Session, docs: Iterable[SearchDocument]) -> int:
        name, ix = self._create_generation()
        schema = ix.schema
        try:
            # Read and prepared here, indexed by one child process per core.
            count = whoosh_build.build(self.root / name, (_fields(doc, schema) for doc in docs))
        except BaseException:
            shutil.rmtree(self.root / name, ignore_errors=True)
            raise
        with _write_lock(self.root):
            previous = self._pointer()
            self._swap(name)
        self._open()
        self._remove_old(keep={name, previous})
        return count

    def _remove_old(self, *, keep: set[str | None]) -> None:
        # The previous generation stays: searches in flight in other processes may still read it.
        for path in self.root.iterdir():
            if path.is_dir() and path.name.startswith("g") and path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)

    def entries(self, session: Session) -> Iterator[IndexEntry]:
        snap = self.snapshot()
        with snap.lock:
            stored = list(snap.searcher.all_stored_fields())
        for item in stored:
            yield IndexEntry(doc_id=uuid.UUID(item["id"]), fingerprint=item.get("fp", ""))

    # --- search --------------------------------------------------------------------------------

    def search(self, session: Session, request: SearchRequest) -> SearchResult:
        snap = self.snapshot()
        matched = snap.live
        for alternatives in request.filters:
            either = 0
            for key in alternatives:
                either |= snap.mask(key)
            matched &= either
            if not matched:
                break
        if matched and (request.created_after or request.created_before):
            matched &= self._date_mask(snap, request)
        with snap.lock:
            leaves: list[tuple[str, str]] = []
            if matched and not request.query.is_empty:
                text, leaves = _match_text(snap, request.query)
                matched &= text
            total = matched.bit_count()
            counts = _counts(snap, matched, request.count_prefixes)
            want = request.offset + request.limit
            relevance = request.sort == SortOrder.relevance and request.query.has_positive
            if not matched or request.offset >= total:
                docnums: list[int] = []
            elif relevance and leaves:
                docnums = _ranked(snap, leaves, matched, want)[request.offset :]
            else:
                docnums = _ordered(snap, matched, request.sort, want)[request.offset :]
            ids = [uuid.UUID(snap.doc_id(d)) for d in docnums]
        return SearchResult(total=total, ids=ids, counts=counts)

    def _date_mask(self, snap: Snapshot, request: SearchRequest) -> int:
        after = _micros(request.created_after) if request.created_after else None
        before = _micros(request.created_before) if request.created_before else None
        bits = 0
        for offset, data in snap.spans:
            values = data.created_sorted()
            lo = bisect_left(values, after) if after is not None else 0
            hi = bisect_left(values, before) if before is not None else len(values)
            if lo < hi:
                bits |= _bitset([data.by_created()[lo:hi]], len(data.ids)) << offset
        return bits & snap.live


def _shingles(words: Sequence[str]) -> str:
    return "\n".join(
        " ".join(words[i : i + n])
        for n in range(2, MAX_SHINGLE + 1)
        for i in range(len(words) - n + 1)
    )


def _fields(doc: SearchDocument, schema: fields.Schema) -> dict[str, Any]:
    title = tokenize(doc.title)
    body = tokenize(doc.body)
    title_text = " ".join(title)
    body_text = " ".join(body)
    values: dict[str, Any] = {
        "id": str(doc.doc_id),
        "fp": doc.fingerprint,
        "title": title_text,
        "body": body_text,
        "title_words": title_text.encode(),
        "body_words": body_text.encode(),
    }
    if "title_ng" in schema:  # an index built with n-gram fields, before issue 22
        values.update(title_ng=_shingles(title), body_ng=_shingles(body))
    keys = "\n".join(doc.keys)
    title_sort = doc.title_sort or "\uffff"  # untitled assets sort last
    values["created"] = _micros(doc.created_at)
    if "key_list" in schema:
        values |= {"key_list": keys.encode(), "title_sort": title_sort.encode()}
    else:  # an index built before issue 22's columns
        values |= {"keys": keys, "title_sort": title_sort}
    # An index built before a field existed keeps working until `dam search reindex`.
    return {name: value for name, value in values.items() if name in schema}


def _expand_prefix(snap: Snapshot, prefix: str) -> list[str]:
    """The most frequent terms starting with `prefix`: a 2-letter prefix must not OR together
    thousands of terms."""
    cached = snap.prefixes.get(prefix)
    if cached is not None:
        snap.prefixes.move_to_end(prefix)
        return cached
    reader = snap.searcher.reader()
    found: dict[str, int] = {}
    for fieldname in ("title", "body"):
        for n, raw in enumerate(reader.expand_prefix(fieldname, prefix)):
            if n >= 2000:
                break
            term = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            found[term] = max(found.get(term, 0), reader.doc_frequency(fieldname, term))
    terms = sorted(found, key=lambda t: (-found[t], t))[:MAX_PREFIX_EXPANSION]
    snap.prefixes[prefix] = terms
    if len(snap.prefixes) > PREFIX_CACHE_SIZE:
        snap.prefixes.popitem(last=False)
    return terms


Leaf = tuple[str, str]  # (field, term) a match is ranked by


def _match_text(snap: Snapshot, parsed: ParsedQuery) -> tuple[int, list[Leaf]]:
    """The live documents matching the text query as a bitset, and the terms to rank them by.

    Matches exactly what whoosh's And/Or/Phrase/AndNot queries did, from cached term bitsets.
    """
    bits = snap.live
    leaves: list[Leaf] = []
    for words in parsed.must:
        part, part_leaves = _match_words(snap, words)
        bits &= part
        leaves.extend(part_leaves)
        if not bits:
            return 0, leaves
    if parsed.prefix:
        either = 0
        for term in _expand_prefix(snap, parsed.prefix):
            for fieldname in ("title", "body"):
                either |= snap.term(fieldname, term).bits
                leaves.append((fieldname, term))
        bits &= either
    for words in parsed.must_not:
        if not bits:
            break
        bits &= ~_match_words(snap, words)[0]
    return bits, leaves


def _match_words(snap: Snapshot, words: Sequence[str]) -> tuple[int, list[Leaf]]:
    """A word or a phrase, in the title or the body."""
    if len(words) == 1:
        word = words[0]
        return snap.term("title", word).bits | snap.term("body", word).bits, [
            ("title", word),
            ("body", word),
        ]
    bits = 0
    leaves: list[Leaf] = []
    for fieldname in ("title", "body"):
        part, part_leaves = _match_phrase(snap, fieldname, words)
        bits |= part
        leaves.extend(part_leaves)
    return bits, leaves


def _match_phrase(snap: Snapshot, fieldname: str, words: Sequence[str]) -> tuple[int, list[Leaf]]:
    column = f"{fieldname}_words"
    if not snap.has_field(column):
        return _match_phrase_in_old_index(snap, fieldname, words)
    unique = list(dict.fromkeys(words))
    leaves = [(fieldname, word) for word in unique]
    candidates = -1
    for word in unique:
        candidates &= snap.term(fieldname, word).bits
        if not candidates:
            return 0, leaves
    key = (fieldname, tuple(words))
    needle = f" {' '.join(words)} ".encode()
    bits = 0
    for (offset, data), leaf in zip(snap.spans, snap.leaves, strict=True):
        size = len(data.ids)
        local = (candidates >> offset) & ((1 << size) - 1)
        if not local:
            continue
        with data.lock:
            found = data.phrases.get(key)
            if found is not None:
                data.phrases.move_to_end(key)
        if found is None:
            found = _phrase_in_column(leaf, column, needle, local)
            with data.lock:
                data.phrases[key] = found
                if len(data.phrases) > PHRASE_CACHE_SIZE:
                    data.phrases.popitem(last=False)
        bits |= found << offset
    return bits & snap.live, leaves


def _phrase_in_column(leaf: IndexReader, column: str, needle: bytes, candidates: int) -> int:
    """The candidates (local docnums holding every word) whose text has the words in a row:
    `needle` is them joined by spaces with a space either side."""
    reader = leaf.column_reader(column, translate=False)
    nbytes = (leaf.doc_count_all() + 7) // 8 or 1
    found = bytearray(nbytes)
    buf = getattr(getattr(reader, "_dbfile", None), "_buf", None)
    if isinstance(reader, columns.VarBytesColumn.Reader) and buf is not None:
        # A column in a memory-mapped segment: each text sliced from the map directly (the
        # reader's own offsets and lengths), not through three method calls per document.
        start, offsets, lengths = reader._basepos, reader._offsets, reader._lengths

        def text(d: int) -> Any:
            at = start + offsets[d]
            return buf[at : at + lengths[d]]
    else:
        text = reader.__getitem__
    for i, byte in enumerate(candidates.to_bytes(nbytes, "little")):
        if byte:
            base = i << 3
            for k in _BYTE_BITS[byte]:
                if needle in b" " + text(base + k) + b" ":
                    found[i] |= 1 << k
    return int.from_bytes(found, "little")


def _match_phrase_in_old_index(
    snap: Snapshot, fieldname: str, words: Sequence[str]
) -> tuple[int, list[Leaf]]:
    shingles = f"{fieldname}_ng"
    if not snap.has_field(shingles):  # an index built before shingles: positions only
        grams = list(dict.fromkeys(words))
        shingles = fieldname
    elif len(words) <= MAX_SHINGLE:
        gram = " ".join(words)
        return snap.term(shingles, gram).bits, [(shingles, gram)]
    else:
        grams = list(
            dict.fromkeys(
                " ".join(words[i : i + MAX_SHINGLE]) for i in range(len(words) - MAX_SHINGLE + 1)
            )
        )
    candidates = snap.live
    for gram in grams:
        candidates &= snap.term(shingles, gram).bits
        if not candidates:
            break
    leaves = [(shingles, gram) for gram in grams]
    if not candidates:
        return 0, leaves
    key = (fieldname, tuple(words))
    bits = snap.phrases.get(key)
    if bits is None:
        found = _verify_phrase(snap.searcher, fieldname, words, snap.docnums(candidates))
        bits = snap.phrases[key] = snap.mask_of(found)
        if len(snap.phrases) > PHRASE_CACHE_SIZE:
            snap.phrases.popitem(last=False)
    else:
        snap.phrases.move_to_end(key)
    return bits, leaves


def _verify_phrase(
    searcher: Searcher, fieldname: str, words: Sequence[str], candidates: list[int]
) -> list[int]:
    """The candidates (which hold every word) where the words occur at consecutive positions."""
    reader = searcher.reader()
    matchers = [reader.postings(fieldname, word) for word in words]
    found: list[int] = []
    for d in candidates:
        positions: list[Any] = []
        for matcher in matchers:
            if matcher.is_active() and matcher.id() < d:
                matcher.skip_to(d)
            if not matcher.is_active() or matcher.id() != d:
                break
            positions.append(matcher.value_as("positions"))
        else:
            rest = [set(p) for p in positions[1:]]
            if any(all(p + i in later for i, later in enumerate(rest, 1)) for p in positions[0]):
                found.append(d)
    return found


def _ranked(snap: Snapshot, leaves: Sequence[Leaf], matched: int, want: int) -> list[int]:
    """The `want` best matched documents by BM25F summed over the query's terms, as whoosh
    sums the scores of an And/Or; ties by docnum. Only matched documents are scored, segment
    by segment from each one's weights and field lengths (read once per segment), with the
    index-wide idf and average length of this generation."""
    params = [(fieldname, text, *snap.bm25(fieldname, text)) for fieldname, text in leaves]
    scores: dict[int, float] = {}
    get = scores.get
    for (offset, data), leaf in zip(snap.spans, snap.leaves, strict=True):
        size = len(data.ids)
        local = (matched >> offset) & ((1 << size) - 1)
        if not local:
            continue
        count = local.bit_count()
        docs: list[int] | None = None
        buf = local.to_bytes((size + 7) // 8 or 1, "little")
        for fieldname, text, idf, k1p1, norm_a, norm_b in params:
            _, weights = data.term(leaf, fieldname, text)
            if not weights:
                continue
            lengths = data.field_lengths(fieldname)
            field_length = leaf.doc_field_length
            if count < len(weights):  # look the few matched documents up in the term's
                if docs is None:
                    docs = _local_docnums(local, size)
                weight_of = weights.get
                pairs: Iterable[tuple[int, float]] = (
                    (d, w) for d in docs if (w := weight_of(d)) is not None
                )
            else:
                pairs = ((d, w) for d, w in weights.items() if buf[d >> 3] >> (d & 7) & 1)
            for d, w in pairs:
                dl = lengths[d]
                if dl < 0:
                    dl = lengths[d] = field_length(d, fieldname, 1)
                key = d + offset
                scores[key] = get(key, 0.0) + idf * (w * k1p1) / (w + norm_a + norm_b * dl)
    return heapq.nsmallest(want, scores, key=lambda d: (-scores[d], d))


def _counts(snap: Snapshot, matched: int, prefixes: Sequence[str]) -> dict[str, int]:
    """Per key with one of the prefixes, how many matched documents hold it: summed over the
    segments, each key's segment bitset ANDed with the segment's part of the match."""
    counts: dict[str, int] = {}
    if not matched or not prefixes:
        return counts
    wanted = tuple(prefixes)
    get = counts.get
    for _, data, local in snap.local(matched):
        for key, n in data.counts(wanted, local).items():
            counts[key] = get(key, 0) + n
    return counts


def _ordered(snap: Snapshot, matched: int, sort: SortOrder, want: int) -> list[int]:
    """The first `want` matched docnums in the sort order: each segment's first `want` in its
    own order (sorted once per segment), merged by the same keys."""
    newest = sort not in (SortOrder.by_title, SortOrder.oldest)  # relevance without text too
    candidates: list[tuple[Any, ...]] = []
    for offset, data, local in snap.local(matched):
        if sort == SortOrder.by_title:
            primary: list[Any] = data.titles
            order: Sequence[int] = data.by_title()
        else:
            primary = data.created
            order = data.by_created()
        ids = data.ids
        count = local.bit_count()
        size = len(ids)
        if count * count * 4 <= want * size:
            # Few matches here: sorting them beats walking the order until `want` are found.
            docs: Iterable[int] = _local_docnums(local, size)
        else:
            docs = _first_in(order, local, size, want, reverse=newest)
        candidates.extend((primary[d], ids[d], d + offset) for d in docs)
    best = heapq.nlargest(want, candidates) if newest else heapq.nsmallest(want, candidates)
    return [d for _, _, d in best]


def _local_docnums(bits: int, size: int) -> list[int]:
    out: list[int] = []
    for i, byte in enumerate(bits.to_bytes((size + 7) // 8 or 1, "little")):
        if byte:
            base = i << 3
            out.extend(base + k for k in _BYTE_BITS[byte])
    return out


def _first_in(order: Sequence[int], bits: int, size: int, want: int, *, reverse: bool) -> list[int]:
    """The first `want` docnums of `order` (or of its reverse) that are in `bits`."""
    buf = bits.to_bytes((size + 7) // 8 or 1, "little")
    out: list[int] = []
    for d in reversed(order) if reverse else order:
        if buf[d >> 3] >> (d & 7) & 1:
            out.append(d)
            if len(out) >= want:
                break
    return out
