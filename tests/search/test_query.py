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
