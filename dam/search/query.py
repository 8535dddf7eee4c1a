"""Parse the free-text `q` into required words/phrases, exclusions and a type-ahead prefix.

Parsing never fails on syntax: an unclosed quote closes at the end, a lone `-` or `"` is
ignored. It fails (400 `invalid_query`) only on size, because size is what makes a query slow.
Tokens are cut exactly like indexed text (`tokenize`), so what is searched is what was indexed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from dam.errors import BadRequest

MAX_QUERY_CHARS = 500
MAX_QUERY_TERMS = 32
MAX_TOKEN_CHARS = 64
MIN_PREFIX_CHARS = 2

# Letters and digits only: underscores and punctuation separate words, as PostgreSQL's parser does.
_WORD = re.compile(r"[^\W_]+")
_PIECE = re.compile(r'-?"[^"]*"?|\S+')


# ASCII's control characters (all of its category C) and the usual whitespace controls.
_ASCII_CONTROLS = str.maketrans({c: " " for c in (*map(chr, range(32)), "\x7f")})


def normalize(text: str) -> str:
    """NFKC, case-folded, with control/format/private/unassigned characters turned into spaces."""
    if text.isascii():
        # The common case, 10x faster: NFKC changes no ASCII, and ASCII's category C is its
        # control characters.
        return text.translate(_ASCII_CONTROLS).lower()
    text = unicodedata.normalize("NFKC", text)
    if not text.isprintable():
        # Line breaks and tabs are category C: spaces. Only what is still not printable then
        # (other controls, format, private, unassigned, and spaces other than " ") is looked
        # at one character at a time.
        spaced = text.translate(_ASCII_CONTROLS)
        if spaced.isprintable():
            text = spaced
        else:
            text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text)
    return text.casefold()


def tokenize(text: str) -> list[str]:
    # Over-long "words" are base64 blobs or garbage; clipping them keeps index terms bounded.
    return [w[:MAX_TOKEN_CHARS] for w in _WORD.findall(normalize(text))]


@dataclass(frozen=True)
class ParsedQuery:
    # Each entry is a phrase; a single word is a one-word phrase.
    must: tuple[tuple[str, ...], ...] = ()
    must_not: tuple[tuple[str, ...], ...] = ()
    # The last word being typed, matched as a prefix (it is not also in `must`).
    prefix: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.must or self.must_not or self.prefix)

    @property
    def has_positive(self) -> bool:
        return bool(self.must or self.prefix)

    def highlight_words(self) -> set[str]:
        return {w for phrase in self.must for w in phrase}


def invalid(detail: str) -> BadRequest:
    return BadRequest(detail, code="invalid_query")


def parse_query(raw: str | None) -> ParsedQuery:
    if raw is None:
        return ParsedQuery()
    if len(raw) > MAX_QUERY_CHARS:
        raise invalid(f"q is {len(raw)} characters long; the limit is {MAX_QUERY_CHARS}")
    text = normalize(raw)
    must: list[tuple[str, ...]] = []
    must_not: list[tuple[str, ...]] = []
    prefix: str | None = None
    pieces = _PIECE.findall(text)
    for index, piece in enumerate(pieces):
        negative = piece.startswith("-") and len(piece) > 1
        body = piece[1:] if negative else piece
        quoted = body.startswith('"')
        words = tuple(tokenize(body))
        if not words:
            continue  # lone operators and punctuation
        is_last = index == len(pieces) - 1
        if (
            is_last
            and not negative
            and not quoted
            and len(words) == 1
            and not text[-1:].isspace()
            and len(words[0]) >= MIN_PREFIX_CHARS
        ):
            prefix = words[0]
            continue
        (must_not if negative else must).append(words)
    count = sum(len(p) for p in must) + sum(len(p) for p in must_not) + (1 if prefix else 0)
    if count > MAX_QUERY_TERMS:
        raise invalid(f"q has {count} search terms; the limit is {MAX_QUERY_TERMS}")
    return ParsedQuery(
        must=tuple(dict.fromkeys(must)), must_not=tuple(dict.fromkeys(must_not)), prefix=prefix
    )
