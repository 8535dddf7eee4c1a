"""A full whoosh index build on every core: the documents are read and turned into fields here,
and indexed by child processes, each writing a segment of its own (whoosh's own MpWriter does the
same, but forks a process that may hold threads' locks, and drops a segment whose result is late).
The children are `python -m dam.search.whoosh_build DIR`, fed pickled batches on stdin.

Each child also writes, beside its segment, what a search snapshot needs from it (the bitset of
each filter key, the created/id/title columns: `Sidecar`), computed from the fields it indexed,
so the first search after a rebuild loads that instead of reading every key's postings back.
whoosh removes the file with its segment (its name is the segment's, `<segment id>.damsnap`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import subprocess
import sys
import traceback
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whoosh import formats
from whoosh.analysis.tokenizers import RegexTokenizer

SIDECAR_EXT = ".damsnap"
FORMAT = 3
# Documents per batch sent to a child: large enough that pickling is cheap per document.
BATCH = 500
# Below this many documents one process does it all: starting the children costs a second.
PARALLEL_FROM = 2000
MAX_PROCS = 4
# Memory of each writer's posting pool before it spills to disk (whoosh's `limitmb`).
LIMIT_MB = 256


@dataclass
class Sidecar:
    """What a snapshot reads from a segment (`whoosh_backend._SegmentData`), as written."""

    masks: dict[str, int]
    created: list[int]
    ids: list[str]
    titles: list[str]
    # The segment's sort orders (`created_order`, `title_order`), sorted by the child (None in
    # a format 2 sidecar, written before them).
    by_created: list[int] | None
    by_title: list[int] | None


def created_order(created: list[int], ids: list[str]) -> list[int]:
    """Docnums, oldest first, ties by id, then docnum."""
    # Sorting by the int alone is twice as fast as by (created, id) tuples; the rare runs of
    # equal times are then put in id order.
    order = sorted(range(len(created)), key=created.__getitem__)
    i, n = 0, len(order)
    while i < n:
        j = i + 1
        value = created[order[i]]
        while j < n and created[order[j]] == value:
            j += 1
        if j - i > 1:
            order[i:j] = sorted(order[i:j], key=ids.__getitem__)
        i = j
    return order


def title_order(titles: list[str], ids: list[str]) -> list[int]:
    """Docnums by title, ties by id, then docnum."""
    keys = list(zip(titles, ids, strict=True))
    return sorted(range(len(keys)), key=keys.__getitem__)


def sidecar_path(directory: Path, segment_id: str) -> Path:
    return directory / f"{segment_id}{SIDECAR_EXT}"


def read_sidecar(directory: Path, segment_id: str, *, size: int) -> Sidecar | None:
    """The segment's sidecar, or None when it has none (segments written by updates and
    merges) or one that does not fit it."""
    try:
        raw = sidecar_path(directory, segment_id).read_bytes()
    except OSError:
        return None
    try:
        data = pickle.loads(raw)  # noqa: S301 (written by this module, in the index directory)
    except Exception:
        return None
    # Format 2 (before the sort orders) is read too: its orders are sorted on first use.
    if not isinstance(data, dict) or data.get("format") not in (2, FORMAT):
        return None
    if data.get("size") != size:
        return None
    try:
        created = array("q")
        created.frombytes(data["created"])
        by_created, by_title = array("I"), array("I")
        by_created.frombytes(data.get("by_created", b""))
        by_title.frombytes(data.get("by_title", b""))
        sidecar = Sidecar(
            masks={k: int.from_bytes(v, "little") for k, v in data["masks"].items()},
            created=created.tolist(),
            ids=_unjoin(data["ids"], size),
            titles=_unjoin(data["titles"], size),
            by_created=by_created.tolist() if "by_created" in data else None,
            by_title=by_title.tolist() if "by_title" in data else None,
        )
    except Exception:
        return None
    columns = (sidecar.created, sidecar.ids, sidecar.titles, sidecar.by_created, sidecar.by_title)
    if any(column is not None and len(column) != size for column in columns):
        return None
    return sidecar


def _join(values: list[str]) -> bytes | list[str]:
    """Strings as one NUL-separated UTF-8 buffer (split back in C, not unpickled one object at
    a time); a list as it is if one holds a NUL."""
    if any("\x00" in v for v in values):
        return values
    return "\x00".join(values).encode()


def _unjoin(value: bytes | list[str], size: int) -> list[str]:
    if isinstance(value, list):
        return value
    return value.decode().split("\x00") if size else []


class _SidecarBuilder:
    def __init__(self) -> None:
        self.keys: dict[str, list[int]] = {}
        self.created: list[int] = []
        self.ids: list[str] = []
        self.titles: list[str] = []

    def add(self, docnum: int, fields: dict[str, Any]) -> None:
        # A build writes the current schema: keys and sort title as UTF-8 columns.
        for key in dict.fromkeys(fields["key_list"].decode().split("\n")):
            if key:
                self.keys.setdefault(key, []).append(docnum)
        self.created.append(fields["created"])
        self.ids.append(fields["id"])
        self.titles.append(fields["title_sort"].decode())

    def write(self, directory: Path, segment_id: str) -> None:
        size = len(self.ids)
        nbytes = (size + 7) // 8
        masks: dict[str, bytes] = {}
        for key, docnums in self.keys.items():
            buf = bytearray(nbytes)
            for d in docnums:
                buf[d >> 3] |= 1 << (d & 7)
            masks[key] = bytes(buf)
        payload = {
            "format": FORMAT,
            "size": size,
            "masks": masks,
            "created": array("q", self.created).tobytes(),
            "ids": _join(self.ids),
            "titles": _join(self.titles),
            "by_created": array("I", created_order(self.created, self.ids)).tobytes(),
            "by_title": array("I", title_order(self.titles, self.ids)).tobytes(),
        }
        target = sidecar_path(directory, segment_id)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, target)


# whoosh's SpaceSeparatedTokenizer: what the text fields are analyzed with.
_SPACE_SEPARATED = r"[^ \t\r\n]+"


def _fast_word_values(fieldobj: Any) -> None:
    """Give a text field analyzed by whoosh's SpaceSeparatedTokenizer into a Frequency format
    (title and body) the same postings without a Token object per word: the words found by the
    tokenizer's own expression in one C call, counted, each weighted by its count times the
    format's boost (a token's boost is 1.0), the value its packed count. Patched on this
    process's schema only (a build child's): the index's schema stays whoosh's."""
    fmt = fieldobj.format
    analyzer = fieldobj.analyzer
    if not (
        type(fmt) is formats.Frequency
        and type(analyzer) is RegexTokenizer
        and analyzer.expression.pattern == _SPACE_SEPARATED
        and not analyzer.gaps
    ):
        return
    original = fmt.word_values
    findall = analyzer.expression.findall
    boost = fmt.field_boost
    pack = formats.pack_uint

    def word_values(value: Any, analyzer: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or kwargs.get("mode", "index") != "index":
            return original(value, analyzer, **kwargs)
        return (
            (word, freq, float(freq) * boost, pack(freq))
            for word, freq in Counter(findall(value)).items()
        )

    fmt.word_values = word_values


def _write_segment(directory: Path, batches: Iterable[list[dict[str, Any]]]) -> bytes | None:
    """Index the batches into one new segment of the index at `directory` (not committed: the
    parent lists it in the index's table of contents) and write its sidecar; the segment."""
    from whoosh import index
    from whoosh.writing import SegmentWriter

    ix = index.open_dir(str(directory))
    # _lk=False: the parent holds the index's lock for the whole build.
    writer = SegmentWriter(ix, _lk=False, limitmb=LIMIT_MB)
    for name in writer.schema.names():
        _fast_word_values(writer.schema[name])
    sidecar = _SidecarBuilder()
    docnum = 0
    try:
        for batch in batches:
            for fields in batch:
                writer.add_document(**fields)
                sidecar.add(docnum, fields)
                docnum += 1
    except BaseException:
        writer.cancel()
        raise
    if not docnum:
        writer.cancel()
        return None
    # Not `_finish()`: it would remove the index's temp directory, which every writer shares.
    segment = writer._finalize_segment()
    sidecar.write(directory, segment.segment_id())
    return pickle.dumps(segment)


def _child_main(directory: str) -> None:
    """A child's life: pickled batches on stdin until None, then the pickled result on stdout
    ("ok", pickled segment or None) or ("error", traceback)."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer

    def batches() -> Iterator[list[dict[str, Any]]]:
        while True:
            batch = pickle.load(stdin)  # noqa: S301 (from the parent process)
            if batch is None:
                return
            yield batch

    try:
        result: tuple[str, Any] = ("ok", _write_segment(Path(directory), batches()))
    except BaseException:
        result = ("error", traceback.format_exc())
    pickle.dump(result, stdout, protocol=pickle.HIGHEST_PROTOCOL)
    stdout.flush()


def build(directory: Path, docs: Iterable[dict[str, Any]], *, procs: int | None = None) -> int:
    """Index `docs` (whoosh field dicts) into the empty index at `directory` and commit; the
    number of documents. Small builds run here; larger ones on `procs` children (default: one
    per core, at most MAX_PROCS)."""
    from whoosh import index

    ix = index.open_dir(str(directory))
    stream = iter(docs)
    first: list[dict[str, Any]] = []
    for fields in stream:
        first.append(fields)
        if len(first) >= PARALLEL_FROM:
            break
    procs = procs or min(MAX_PROCS, os.cpu_count() or 1)
    if len(first) < PARALLEL_FROM or procs < 2:
        writer = ix.writer(limitmb=LIMIT_MB)
        count = 0
        try:
            for fields in itertools.chain(first, stream):
                writer.add_document(**fields)
                count += 1
        except BaseException:
            writer.cancel()
            raise
        writer.commit(optimize=True)
        return count
    return _build_parallel(ix, directory, first, stream, procs)


def _build_parallel(
    ix: Any,
    directory: Path,
    first: list[dict[str, Any]],
    stream: Iterator[dict[str, Any]],
    procs: int,
) -> int:
    # Plain child processes running this module, not multiprocessing: forking a server that
    # has threads can copy a held lock, and spawn would re-run the parent's main script.
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "dam.search.whoosh_build", str(directory)]
    # The generation is new and not yet live: nothing else writes to it until it is swapped in.
    writer: Any = None
    children: list[subprocess.Popen[bytes]] = []
    count = 0
    try:
        children = [
            subprocess.Popen(  # noqa: S603 (this interpreter, this module, our directory)
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
            )
            for _ in range(procs)
        ]
        turn = itertools.cycle(children)

        def send(child: subprocess.Popen[bytes], item: list[dict[str, Any]] | None) -> None:
            assert child.stdin is not None
            try:
                pickle.dump(item, child.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                if item is None:
                    child.stdin.close()
            except BrokenPipeError:
                raise RuntimeError(_failure(child)) from None

        batch = list(first)
        for fields in stream:
            batch.append(fields)
            if len(batch) >= BATCH:
                send(next(turn), batch)
                count += len(batch)
                batch = []
        if batch:
            send(next(turn), batch)
            count += len(batch)
        for child in children:
            send(child, None)
        segments = []
        for child in children:
            status, value = _result(child)
            if status != "ok":
                raise RuntimeError(f"a search index build process failed:\n{value}")
            if value is not None:
                segments.append(pickle.loads(value))  # noqa: S301 (from our own child)
        # A writer of no documents of its own, to list the children's segments (as MpWriter).
        writer = ix.writer()
        writer._close_segment()
        writer._commit_toc(segments)
        writer._finish()
        return count
    except BaseException:
        for child in children:
            if child.poll() is None:
                child.kill()
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.cancel()
        raise
    finally:
        for child in children:
            for pipe in (child.stdin, child.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=30)


def _result(child: subprocess.Popen[bytes]) -> tuple[str, Any]:
    assert child.stdout is not None
    try:
        result: tuple[str, Any] = pickle.load(child.stdout)  # noqa: S301 (our own child)
    except EOFError:
        raise RuntimeError(_failure(child)) from None
    return result


def _failure(child: subprocess.Popen[bytes]) -> str:
    try:
        code = child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        code = None
    return f"a search index build process died (exit code {code})"


if __name__ == "__main__":
    _child_main(sys.argv[1])
