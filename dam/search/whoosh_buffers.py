"""whoosh's BufferFile without the copy; and its per-posting file-exists check, cached.

A whoosh reader opens a `BufferFile` over the memory-mapped bytes of each file of every segment,
and `BufferFile.__init__` wraps the buffer in a `BytesIO`, which copies all of it. So every new
searcher (one after each index update, to see it) copied the whole index: ~190 ms at 100k assets
before the first search after an upload. Here the stream methods (read, seek, readline …) read
the buffer in place instead; `get()` already did.

Writing a segment, whoosh looks up the length of each posting's document in its field; for a
field without lengths (`keys`, not scorable) `_cached_reader` found no column and so asked the
filesystem again for every posting: one stat() per key of every document (10% of a rebuild).
The answer, "no such column", is cached like a found one. And each of those length look-ups
(one per posting, to keep each term's shortest and longest document) read the length byte back
from the column file through four method calls: the lengths of a field are read once into a
table instead, and looked up there (the same values, a quarter of a rebuild's posting writes).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from whoosh import columns
from whoosh.codec import whoosh3
from whoosh.filedb import structfile
from whoosh.util.numeric import byte_to_length

_MARK = "_dam_stream_in_place"


class BufferStream:
    """A read-only binary stream over a buffer (bytes or a memoryview), copying only what is
    read."""

    def __init__(self, buf: Any) -> None:
        self._buf = buf
        self._len = len(buf)
        self._pos = 0
        self.closed = False

    def read(self, size: int | None = -1) -> bytes:
        end = self._len if size is None or size < 0 else min(self._len, self._pos + size)
        out = bytes(self._buf[self._pos : end])
        self._pos = max(self._pos, end)
        return out

    def readinto(self, target: Any) -> int:
        n = max(0, min(len(target), self._len - self._pos))
        target[:n] = self._buf[self._pos : self._pos + n]
        self._pos += n
        return n

    def readline(self, size: int | None = -1) -> bytes:
        limit = self._len if size is None or size < 0 else min(self._len, self._pos + size)
        start = end = self._pos
        while end < limit:
            chunk = bytes(self._buf[end : min(limit, end + 4096)])
            found = chunk.find(b"\n")
            if found >= 0:
                end += found + 1
                break
            end += len(chunk)
        self._pos = end
        return bytes(self._buf[start:end])

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._len + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos

    def write(self, data: Any) -> int:
        raise io.UnsupportedOperation("a segment buffer is read-only")

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


_MISSING = object()


def _cached_reader(self: Any, fieldname: str, column: Any) -> Any:
    found = self._readers.get(fieldname, _MISSING)
    if found is _MISSING:
        found = self.column_reader(fieldname, column) if self.has_column(fieldname) else None
        self._readers[fieldname] = found
    return found


# whoosh's own, which the table replaces (tests compare the two).
ORIGINAL_DOC_FIELD_LENGTH = whoosh3.W3PerDocReader.doc_field_length

# byte -> length, as whoosh decodes a length byte (0: no length, None).
_LENGTHS: tuple[int | None, ...] = (None, *(byte_to_length(b) for b in range(1, 256)))


def _length_bytes(reader: Any) -> bytes:
    """A length column's bytes, one per document: read in one piece from the file (a reader
    is opened per searcher, so per index generation), else one value at a time."""
    if isinstance(reader, columns.NumericColumn.Reader) and reader._fixedlen == 1:
        count = min(reader._count, reader._doccount)
        raw = bytes(reader._dbfile.get(reader._basepos, count)) if count else b""
        return raw + bytes(reader._defaultbytes) * (reader._doccount - count)
    return bytes(reader)


def _doc_field_length(self: Any, docnum: int, fieldname: str, default: Any = 0) -> Any:
    """whoosh's W3PerDocReader.doc_field_length, from a table of the field's length bytes."""
    if docnum > self._doccount:
        raise IndexError(f"Asked for docnum {docnum!r} of {self._doccount}")
    tables = self.__dict__.setdefault("_dam_lengths", {})
    table = tables.get(fieldname, _MISSING)
    if table is _MISSING:
        reader = self._cached_reader(whoosh3._lenfield(fieldname), whoosh3.LENGTHS_COLUMN)
        table = tables[fieldname] = None if reader is None else _length_bytes(reader)
    if table is None:
        return default
    # Past the column's end whoosh reads its default byte, 0 (None), as here.
    return _LENGTHS[table[docnum]] if docnum < len(table) else None


def install() -> None:
    per_doc: Any = whoosh3.W3PerDocReader
    if not getattr(per_doc, _MARK, False):
        per_doc._cached_reader = _cached_reader
        per_doc.doc_field_length = _doc_field_length
        setattr(per_doc, _MARK, True)
    cls: Any = structfile.BufferFile
    if getattr(cls, _MARK, False):
        return
    original = cls.__init__

    def __init__(self: Any, buf: Any, name: str | None = None, onclose: Any = None) -> None:
        original(self, b"", name=name, onclose=onclose)  # everything else as whoosh sets it
        self._buf = buf
        self.file = BufferStream(buf)

    cls.__init__ = __init__
    setattr(cls, _MARK, True)
