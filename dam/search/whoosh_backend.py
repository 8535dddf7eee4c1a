"""Search over an embedded whoosh index under the data dir.

whoosh does the text matching and relevance scoring. Filters, facet counts and the non-relevance
sorts run on a per-reader `Snapshot`: one Python-int bitset per filter key plus the doc order by
date and title, built once per index generation. ANDing two 100k-bit ints and counting bits
takes microseconds, where whoosh's own grouping walks every matching document in Python.

Writes: one writer at a time, guarded by a process-wide lock plus whoosh's own file lock, with a
timeout; a busy lock becomes `RetryLater` for the outbox job, never an error for a user.
`rebuild` writes a fresh index generation beside the live one and swaps a pointer file, so
searches keep using the old generation until the new one is complete.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session
from whoosh import fields, index
from whoosh import query as wq
from whoosh.analysis import SpaceSeparatedTokenizer
from whoosh.analysis.tokenizers import RegexTokenizer
from whoosh.idsets import DocIdSet
from whoosh.index import Index, LockError
from whoosh.searching import Searcher

from dam.jobs.registry import RetryLater
from dam.search.base import IndexEntry, SearchRequest, SearchResult, SortOrder
from dam.search.document import SearchDocument
from dam.search.query import ParsedQuery, tokenize

POINTER = "CURRENT"
MAX_PREFIX_EXPANSION = 50
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
        title=fields.TEXT(analyzer=text, field_boost=3.0, phrase=True),
        body=fields.TEXT(analyzer=text, phrase=True),
        keys=fields.KEYWORD(scorable=False),
        created=fields.NUMERIC(numtype=int, bits=64, signed=True, sortable=True),
        title_sort=fields.ID(sortable=True),
    )


def _keys_field_analyzer(schema: fields.Schema) -> None:
    # Keys hold tags with spaces and commas; one key per line keeps each one a single token.
    schema["keys"].analyzer = RegexTokenizer(r"[^\n]+")


def _micros(value: datetime) -> int:
    return int((value - _EPOCH).total_seconds() * 1_000_000)


class _MaskSet(DocIdSet):
    """A bitset as whoosh's collector filter: membership only, no conversion to a set."""

    def __init__(self, bits: bytes, count: int) -> None:
        self.bits = bits
        self.count = count

    def __contains__(self, docnum: object) -> bool:
        d = int(docnum)  # type: ignore[call-overload]
        return d >> 3 < len(self.bits) and bool(self.bits[d >> 3] >> (d & 7) & 1)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[int]:
        for d in range(len(self.bits) * 8):
            if d in self:
                yield d


@dataclass
class Snapshot:
    """Everything a search needs besides whoosh's text matching, for one reader generation."""

    searcher: Searcher
    size: int
    live: int
    masks: dict[str, int]
    created: list[int]  # per docnum
    by_created: list[int]  # docnums, oldest first, ties by asset id
    created_sorted: list[int]  # created values in `by_created` order, for date ranges
    by_title: list[int]
    lock: threading.Lock

    def mask_of(self, docnums: Iterable[int]) -> int:
        buf = bytearray((self.size + 7) // 8)
        for d in docnums:
            buf[d >> 3] |= 1 << (d & 7)
        return int.from_bytes(buf, "little") & self.live

    def to_bytes(self, mask: int) -> bytes:
        return mask.to_bytes((self.size + 7) // 8 or 1, "little")


def _build_snapshot(searcher: Searcher) -> Snapshot:
    reader = searcher.reader()
    size = reader.doc_count_all()
    nbytes = (size + 7) // 8
    live_buf = bytearray(b"\xff" * nbytes)
    if reader.has_deletions():
        for d in range(size):
            if reader.is_deleted(d):
                live_buf[d >> 3] &= ~(1 << (d & 7)) & 0xFF
    live = int.from_bytes(live_buf, "little") & ((1 << size) - 1)
    masks: dict[str, int] = {}
    for raw in reader.lexicon("keys"):
        key = raw.decode("utf-8")
        buf = bytearray(nbytes)
        for d in reader.postings("keys", key).all_ids():
            buf[d >> 3] |= 1 << (d & 7)
        masks[key] = int.from_bytes(buf, "little") & live
    if size:
        created = list(reader.column_reader("created"))
        ids = list(reader.column_reader("id"))
        titles = list(reader.column_reader("title_sort"))
    else:
        created, ids, titles = [], [], []
    docs = range(size)
    by_created = sorted(docs, key=lambda d: (created[d], ids[d]))
    by_title = sorted(docs, key=lambda d: (titles[d], ids[d]))
    return Snapshot(
        searcher=searcher,
        size=size,
        live=live,
        masks=masks,
        created=created,
        by_created=by_created,
        created_sorted=[created[d] for d in by_created],
        by_title=by_title,
        lock=threading.Lock(),
    )


class WhooshBackend:
    name = "whoosh"

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._generation: str | None = None
        self._index: Index | None = None
        self._snapshot: Snapshot | None = None

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
            fresh = _build_snapshot(searcher)
            self._snapshot = fresh
            return fresh

    # --- writes --------------------------------------------------------------------------------

    def upsert(self, session: Session, docs: Iterable[SearchDocument]) -> None:
        batch = list(docs)
        if batch:
            self._write(lambda w: [w.update_document(**_fields(d)) for d in batch])

    def delete(self, session: Session, asset_ids: Iterable[uuid.UUID]) -> None:
        ids = [str(a) for a in asset_ids]
        if ids:
            self._write(lambda w: [w.delete_by_term("id", i) for i in ids])

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
        count = 0
        try:
            writer = ix.writer(limitmb=256)
            try:
                for doc in docs:
                    writer.add_document(**_fields(doc))
                    count += 1
            except BaseException:
                writer.cancel()
                raise
            writer.commit(optimize=True)
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
            yield IndexEntry(asset_id=uuid.UUID(item["id"]), fingerprint=item.get("fp", ""))

    # --- search --------------------------------------------------------------------------------

    def search(self, session: Session, request: SearchRequest) -> SearchResult:
        snap = self.snapshot()
        matched = snap.live
        for alternatives in request.filters:
            either = 0
            for key in alternatives:
                either |= snap.masks.get(key, 0)
            matched &= either
            if not matched:
                break
        if matched and (request.created_after or request.created_before):
            matched &= self._date_mask(snap, request)
        text_q = _text_query(snap, request.query)
        with snap.lock:
            if matched and text_q is not None:
                matched &= snap.mask_of(snap.searcher.docs_for_query(text_q))
            total = matched.bit_count()
            counts = _counts(snap, matched, request.count_prefixes)
            want = request.offset + request.limit
            relevance = request.sort == SortOrder.relevance and request.query.has_positive
            if not matched or request.offset >= total:
                docnums: list[int] = []
            elif relevance and text_q is not None:
                allow = None if matched == snap.live else _MaskSet(snap.to_bytes(matched), total)
                hits = snap.searcher.search(text_q, limit=want, filter=allow)
                docnums = [hit.docnum for hit in hits][request.offset :]
            else:
                docnums = _ordered(snap, matched, request.sort, want)[request.offset :]
            ids = [uuid.UUID(snap.searcher.stored_fields(d)["id"]) for d in docnums]
        return SearchResult(total=total, ids=ids, counts=counts)

    def _date_mask(self, snap: Snapshot, request: SearchRequest) -> int:
        lo, hi = 0, len(snap.created_sorted)
        if request.created_after:
            lo = bisect_left(snap.created_sorted, _micros(request.created_after))
        if request.created_before:
            hi = bisect_left(snap.created_sorted, _micros(request.created_before))
        return snap.mask_of(snap.by_created[lo:hi])


def _fields(doc: SearchDocument) -> dict[str, Any]:
    return {
        "id": str(doc.asset_id),
        "fp": doc.fingerprint,
        "title": " ".join(tokenize(doc.title)),
        "body": " ".join(tokenize(doc.body)),
        "keys": "\n".join(doc.keys),
        "created": _micros(doc.created_at),
        "title_sort": doc.title_sort or "\uffff",  # untitled assets sort last
    }


def _either_field(words: Sequence[str]) -> wq.Query:
    if len(words) == 1:
        return wq.Or([wq.Term("title", words[0]), wq.Term("body", words[0])])
    return wq.Or([wq.Phrase("title", list(words)), wq.Phrase("body", list(words))])


def _expand_prefix(snap: Snapshot, prefix: str) -> list[str]:
    """The most frequent terms starting with `prefix`: a 2-letter prefix must not OR together
    thousands of terms."""
    reader = snap.searcher.reader()
    found: dict[str, int] = {}
    for field in ("title", "body"):
        for n, raw in enumerate(reader.expand_prefix(field, prefix)):
            if n >= 2000:
                break
            term = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            found[term] = max(found.get(term, 0), reader.doc_frequency(field, term))
    return sorted(found, key=lambda t: (-found[t], t))[:MAX_PREFIX_EXPANSION]


def _text_query(snap: Snapshot, parsed: ParsedQuery) -> wq.Query | None:
    if parsed.is_empty:
        return None
    parts: list[wq.Query] = [_either_field(p) for p in parsed.must]
    if parsed.prefix:
        with snap.lock:
            terms = _expand_prefix(snap, parsed.prefix)
        if not terms:
            return wq.NullQuery
        parts.append(wq.Or([wq.Term(f, t) for t in terms for f in ("title", "body")]))
    positive: wq.Query = wq.And(parts) if parts else wq.Every()
    if parsed.must_not:
        return wq.AndNot(positive, wq.Or([_either_field(p) for p in parsed.must_not]))
    return positive


def _counts(snap: Snapshot, matched: int, prefixes: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    if not matched or not prefixes:
        return counts
    wanted = tuple(prefixes)
    for key, mask in snap.masks.items():
        if key.startswith(wanted):
            n = (mask & matched).bit_count()
            if n:
                counts[key] = n
    return counts


def _ordered(snap: Snapshot, matched: int, sort: SortOrder, want: int) -> list[int]:
    bits = snap.to_bytes(matched)
    if sort == SortOrder.by_title:
        order: Iterable[int] = snap.by_title
    elif sort == SortOrder.oldest:
        order = snap.by_created
    else:  # newest, and relevance without any text to rank by
        order = reversed(snap.by_created)
    out: list[int] = []
    for d in order:
        if bits[d >> 3] >> (d & 7) & 1:
            out.append(d)
            if len(out) >= want:
                break
    return out
