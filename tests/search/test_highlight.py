"""`highlight` marks the same words as folding each word of the text on its own (what it did
before its one-pass path for ASCII text), on random ASCII and non-ASCII texts."""

from __future__ import annotations

import html
import random

from dam.search.query import normalize
from dam.search.service import _WORD, highlight


def _word_by_word(text: str, words: set[str], prefix: str | None, *, limit: int | None) -> str:
    matches = [
        m
        for m in _WORD.finditer(text)
        if normalize(m.group()) in words
        or (prefix is not None and normalize(m.group()).startswith(prefix))
    ]
    start, end = 0, len(text)
    if limit is not None and len(text) > limit:
        first = matches[0].start() if matches else 0
        start = max(0, min(first - limit // 4, len(text) - limit))
        end = start + limit
    out = ["…" if start else ""]
    pos = start
    for m in matches:
        if m.start() < start or m.end() > end:
            continue
        out.append(html.escape(text[pos : m.start()]))
        out.append(f"<mark>{html.escape(m.group())}</mark>")
        pos = m.end()
    out.append(html.escape(text[pos:end]))
    if end < len(text):
        out.append("…")
    return "".join(out)


PIECES = [
    "Trail",
    "RUNNER",
    "runner's",
    "rain",
    "Rain-proof",
    "<b>",
    "&",
    "\t",
    "\n",
    "\x7f",
    "_",
    "a_b",
    "42",
    "x2",
    "glacier",
    "Glacier.",
    "  ",
    ",",
    "dawn",
    "\x00",
]
# Non-ASCII whose folding changes lengths or letters: ß, the fi ligature, full-width letters.
FOREIGN = ["Straße", "ÉTÉ", "\ufb01re", "\uff32\uff41\uff49\uff4e", "\u200b", "naïve", "İstanbul"]


def test_one_pass_marks_what_folding_each_word_marks() -> None:
    rng = random.Random(3)
    for n in range(3000):
        pool = PIECES + (FOREIGN if n % 3 == 0 else [])
        text = " ".join(rng.choice(pool) for _ in range(rng.randint(0, 40)))
        if rng.random() < 0.5:
            text = text.replace(" ", "")
        words = {
            normalize(w)
            for w in rng.sample(
                [
                    "rain",
                    "runner",
                    "trail",
                    "glacier",
                    "\ufb01re",
                    "fire",
                    "straße",
                    "été",
                    "rain",
                    "42",
                ],
                3,
            )
        }
        prefix = rng.choice([None, "gl", "ra", "ru", "st"])
        limit = rng.choice([None, 20, 200])
        assert highlight(text, words, prefix, limit=limit) == _word_by_word(
            text, words, prefix, limit=limit
        ), text
