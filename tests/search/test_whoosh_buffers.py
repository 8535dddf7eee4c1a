"""The in-place stream behind whoosh's BufferFile reads exactly like BytesIO."""

from __future__ import annotations

import io
import pickle
from array import array

from dam.search.whoosh_buffers import BufferStream

DATA = b"first line\nsecond\n\nlast without newline" + pickle.dumps({"a": [1, 2, 3]})


def test_reads_seeks_and_lines_like_bytesio() -> None:
    for buf in (DATA, memoryview(DATA), memoryview(bytearray(DATA))):
        ours, ref = BufferStream(buf), io.BytesIO(DATA)
        assert ours.read(5) == ref.read(5)
        assert ours.readline() == ref.readline()
        assert ours.tell() == ref.tell()
        assert ours.seek(3, io.SEEK_CUR) == ref.seek(3, io.SEEK_CUR)
        assert ours.readline(4) == ref.readline(4)
        assert ours.seek(-4, io.SEEK_END) == ref.seek(-4, io.SEEK_END)
        assert ours.read() == ref.read()
        assert ours.read(10) == ref.read(10) == b""
        assert ours.seek(0) == ref.seek(0)
        assert list(ours) == list(ref)
        ours.seek(0)
        target = bytearray(7)
        assert ours.readinto(target) == 7 and bytes(target) == DATA[:7]


def test_pickle_and_array_read_through_it() -> None:
    start = DATA.index(b"\x80")
    stream = BufferStream(memoryview(DATA))
    stream.seek(start)
    assert pickle.load(stream) == {"a": [1, 2, 3]}  # type: ignore[arg-type]
    numbers = array("i", range(10))
    raw = BufferStream(numbers.tobytes())
    back = array("i")
    back.fromfile(raw, 10)  # type: ignore[arg-type]
    assert back == numbers
