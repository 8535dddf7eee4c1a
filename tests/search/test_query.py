"""Parsing `q`: words, phrases, exclusions, the type-ahead prefix and the limits."""

from __future__ import annotations

import pytest

from dam.errors import BadRequest
from dam.search.postgres_backend import tsquery_text
from dam.search.query import ParsedQuery, parse_query


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ParsedQuery()),
        ("Trail", ParsedQuery(prefix="trail")),
        ("trail ", ParsedQuery(must=(("trail",),))),
        ("t", ParsedQuery(must=(("t",),))),
        ("trail run", ParsedQuery(must=(("trail",),), prefix="run")),
        ('"Trail Runner" dawn ', ParsedQuery(must=(("trail", "runner"), ("dawn",)))),
        ('"trail runner', ParsedQuery(must=(("trail", "runner"),))),  # closes at the end
        ("runner -dawn", ParsedQuery(must=(("runner",),), must_not=(("dawn",),))),
        ('-"at dawn" runner ', ParsedQuery(must=(("runner",),), must_not=(("at", "dawn"),))),
        ("- -- \" ' * & |", ParsedQuery()),
        ("x.com ", ParsedQuery(must=(("x", "com"),))),  # punctuation-joined words: a phrase
        ("\uff34\uff32\uff21\uff29\uff2c ", ParsedQuery(must=(("trail",),))),  # full-width
        ("tr\u200bail\u202e\x00 ", ParsedQuery(must=(("tr",), ("ail",)))),
        ("foo_bar ", ParsedQuery(must=(("foo", "bar"),))),
        ("a a a ", ParsedQuery(must=(("a",),))),
    ],
)
def test_parse(raw: str, expected: ParsedQuery) -> None:
    assert parse_query(raw) == expected


def test_limits_name_the_problem() -> None:
    with pytest.raises(BadRequest, match="501 characters long; the limit is 500") as too_long:
        parse_query("a" * 501)
    assert too_long.value.code == "invalid_query"
    with pytest.raises(BadRequest, match="33 search terms; the limit is 32"):
        parse_query(" ".join(f"w{i}" for i in range(33)))
    assert len(parse_query(" ".join(f"w{i}" for i in range(32))).must) == 31


def test_tsquery_is_built_from_clean_lexemes_only() -> None:
    parsed = parse_query("""'); DROP TABLE assets; -- "trail runner" -dawn ca""")
    assert tsquery_text(parsed) == (
        "('drop') & ('table') & ('assets') & ('trail' <-> 'runner') & 'ca':* & !('dawn')"
    )


def test_ascii_fast_path_normalizes_like_the_full_path() -> None:
    import random
    import string
    import unicodedata

    from dam.search.query import normalize

    def full(text: str) -> str:
        text = unicodedata.normalize("NFKC", text)
        return "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text).casefold()

    rng = random.Random(0)
    for _ in range(5000):
        text = "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 30)))
        assert normalize(text) == full(text), repr(text)
    assert normalize("Straße") == "strasse"  # not ASCII: the full path
