"""Turn the terms a user typed into the canonical term ids the taxonomy stores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dam.errors import Invalid
from dam.governance.pack import GovernancePack

__all__ = ["DEPRECATED_TERM_RULE", "NormalizedTerms", "normalize_terms"]

# Rule id of the warnings this module produces; pack rule ids cannot contain a dot.
DEPRECATED_TERM_RULE = "taxonomy.deprecated_term"


@dataclass(frozen=True)
class NormalizedTerms:
    terms: dict[str, list[str]]  # facet id -> term ids, facets in pack order
    warnings: list[dict[str, Any]] = field(default_factory=list)  # violation-shaped, severity warn


def _problem(facet: str, term: str | None, message: str, suggestions: Sequence[str] = ()) -> dict:
    return {"facet": facet, "term": term, "message": message, "suggestions": list(suggestions)}


def normalize_terms(
    pack: GovernancePack,
    terms: Mapping[str, Sequence[str] | str] | None,
    *,
    require: bool = True,
) -> NormalizedTerms:
    """Map ids, labels and synonyms (case-insensitive) of facets and terms to canonical ids.

    - a deprecated term is stored as its `replaced_by` with a warning; one deprecated without a
      replacement is kept, with a warning;
    - a term together with one of its ancestors keeps only the more specific term: filtering
      on the ancestor still finds it, so nothing is lost and a multi: false facet may take
      `[social, instagram]`;
    - duplicates are dropped, first occurrence wins; blank strings are ignored;
    - unknown facets or terms, a required facet without a term, or more than one term in a
      `multi: false` facet raise `Invalid(code="invalid_terms")` listing every problem;
      `require=False` leaves required facets alone (the file may still fill them in).
    """
    problems: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    chosen: dict[str, list[str]] = {}
    troubled: set[str] = set()

    for raw_facet, raw_values in (terms or {}).items():
        facet_id = pack.resolve_facet(str(raw_facet))
        if facet_id is None:
            problems.append(
                _problem(
                    str(raw_facet),
                    None,
                    f"unknown facet '{raw_facet}'",
                    pack.suggest_facet(str(raw_facet)),
                )
            )
            continue
        facet = pack.facet(facet_id)
        values = [raw_values] if isinstance(raw_values, str) else list(raw_values or [])
        picked = chosen.setdefault(facet_id, [])
        for value in values:
            if not isinstance(value, str):
                problems.append(_problem(facet_id, repr(value), "terms must be text"))
                troubled.add(facet_id)
                continue
            text = value.strip()
            if not text:
                continue
            term_id = facet.resolve(text)
            if term_id is None:
                problems.append(
                    _problem(
                        facet_id,
                        text,
                        _unknown_message(pack, facet_id, text),
                        facet.suggest(text),
                    )
                )
                troubled.add(facet_id)
                continue
            term = facet.terms[term_id]
            if term.deprecated:
                if term.replaced_by is not None:
                    replacement = term.replaced_by
                    warnings.append(
                        {
                            "rule": DEPRECATED_TERM_RULE,
                            "severity": "warn",
                            "message": (
                                f"{facet.label}: '{term.label}' is deprecated; stored as "
                                f"'{facet.terms[replacement].label}' ({replacement})"
                            ),
                            "expected": replacement,
                            "actual": term_id,
                        }
                    )
                    term_id = replacement
                else:
                    warnings.append(
                        {
                            "rule": DEPRECATED_TERM_RULE,
                            "severity": "warn",
                            "message": f"{facet.label}: '{term.label}' is deprecated",
                            "expected": None,
                            "actual": term_id,
                        }
                    )
            if term_id not in picked:
                picked.append(term_id)

    result: dict[str, list[str]] = {}
    for facet in pack.facets:
        picked = chosen.get(facet.id, [])
        # Drop a term when a more specific one below it is also present.
        kept = [
            t
            for t in picked
            if not any(other != t and t in facet.ancestors(other) for other in picked)
        ]
        if kept:
            result[facet.id] = kept
        if facet.id in troubled:
            continue  # the unknown term is the problem; "required" would only repeat it
        if require and facet.required and not kept:
            options = [t.id for t in facet.roots if not t.deprecated]
            problems.append(
                _problem(facet.id, None, f"facet '{facet.id}' is required; choose a term", options)
            )
        if not facet.multi and len(kept) > 1:
            problems.append(
                _problem(
                    facet.id,
                    None,
                    f"facet '{facet.id}' takes one term, got {len(kept)}: {', '.join(kept)}",
                )
            )

    if problems:
        count = len(problems)
        raise Invalid(
            f"{count} problem{'s' if count > 1 else ''} with taxonomy terms",
            code="invalid_terms",
            problems=problems,
        )
    return NormalizedTerms(terms=result, warnings=warnings)


def _unknown_message(pack: GovernancePack, facet_id: str, text: str) -> str:
    # A common mistake is the right term under the wrong facet; say so instead of "unknown".
    elsewhere = [f.id for f in pack.facets if f.id != facet_id and f.resolve(text) is not None]
    if elsewhere:
        owners = ", ".join(f"'{f}'" for f in elsewhere)
        return f"'{text}' is not a term of facet '{facet_id}'; it belongs to facet {owners}"
    return f"unknown term '{text}' in facet '{facet_id}'"


def suggest_terms(pack: GovernancePack, text: str, *, limit: int = 5) -> list[tuple[str, str]]:
    """Taxonomy terms for what was typed, typos forgiven ("instagarm" → Instagram): labels and
    synonyms that start with the text first, then the closest ones (difflib, as term
    resolution suggests), for the whole text and for its last word. (facet id, term id) pairs,
    deprecated terms given as their replacement."""
    folded = " ".join(text.lower().split())
    if len(folded) < 2:
        return []
    out: list[tuple[str, str]] = []

    def add(facet_id: str, term_id: str) -> None:
        term = pack.facet(facet_id).terms[term_id]
        if term.deprecated:
            if term.replaced_by is None:
                return
            term_id = term.replaced_by
        if (facet_id, term_id) not in out:
            out.append((facet_id, term_id))

    for facet in pack.facets:
        for term in facet.terms.values():
            names = [term.label, *term.synonyms]
            if any(n.lower().startswith(folded) for n in names):
                add(facet.id, term.id)
    words = folded.split()
    for candidate in dict.fromkeys([folded, words[-1]]):
        if len(candidate) < 3:
            continue
        for facet in pack.facets:
            for term_id in facet.suggest(candidate, n=2):
                add(facet.id, term_id)
    return out[:limit]
