"""The asset page's metadata form when an edit is refused: every problem at once, in the
form's words ("Asset type is required", not "facet 'asset_type' is required"), each tied to
the field it is about so the page can mark it, and what the person typed kept in the form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError

from dam.assets.schemas import AssetPatch
from dam.errors import DamError
from dam.governance.pack import GovernancePack
from dam.governance.terms import normalize_terms

FIELD_LABELS = {
    "title": "Title",
    "description": "Description",
    "tags": "Tags",
    "rights_end": "Usage rights end",
    "rights_expire_at": "Usage rights end",
}


@dataclass(frozen=True)
class EditForm:
    """What the person typed, as the form sent it."""

    title: str
    description: str
    tags: str
    rights_end: str
    terms: Sequence[str]


@dataclass(frozen=True)
class Problem:
    field: str  # title | description | tags | rights_end | a facet id | "" (the whole edit)
    message: str


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def chosen_terms(pack: GovernancePack, values: Sequence[str]) -> dict[str, list[str]]:
    """The form's `facet:term` values as terms by facet (unknown facets are left out)."""
    chosen: dict[str, list[str]] = {}
    for value in values:
        facet_id, sep, term = value.partition(":")
        if sep and pack.has_facet(facet_id) and term:
            chosen.setdefault(facet_id, []).append(term)
    return chosen


def _label(pack: GovernancePack, facet_id: str) -> str:
    return pack.facet(facet_id).label if pack.has_facet(facet_id) else facet_id


def term_problem(pack: GovernancePack, problem: Mapping[str, Any]) -> Problem:
    """A problem of `normalize_terms` in the form's words."""
    facet_id = str(problem.get("facet") or "")
    label = _label(pack, facet_id)
    message = str(problem.get("message", ""))
    if "is required" in message:
        text = f"{label} is required"
    elif "takes one term" in message:
        text = f"{label} takes one term only"
    elif problem.get("term"):
        suggestions = [str(s) for s in problem.get("suggestions") or []]
        facet = pack.facet(facet_id) if pack.has_facet(facet_id) else None
        named = [facet.terms[s].label if facet and s in facet.terms else s for s in suggestions]
        hint = f"; did you mean {', '.join(named)}?" if named else ""
        text = f"{label}: {problem['term']!s} is not a term of this list{hint}"
    else:
        text = f"{label}: {message}"
    return Problem(field=facet_id, message=text)


def check(pack: GovernancePack, form: EditForm) -> list[Problem]:
    """Every problem the form has before it is sent to the service, at once."""
    title, description, tags, rights_end = form.title, form.description, form.tags, form.rights_end
    problems: list[Problem] = []
    if not title.strip():
        problems.append(Problem("title", "Title is required"))
    if rights_end.strip():
        try:
            date.fromisoformat(rights_end.strip())
        except ValueError:
            problems.append(
                Problem("rights_end", "Usage rights end must be a date like 2027-01-31")
            )
    try:
        AssetPatch(
            title=title, description=description, tags=[t for t in tags.split(",") if t.strip()]
        )
    except ValidationError as exc:
        for err in exc.errors():
            field = str(err["loc"][0]) if err.get("loc") else ""
            label = FIELD_LABELS.get(field, field)
            problems.append(Problem(field, f"{label}: {err['msg']}"))
    try:
        normalize_terms(pack, chosen_terms(pack, form.terms))
    except DamError as exc:
        problems += [term_problem(pack, p) for p in exc.extra.get("problems") or []]
    return problems


def from_error(pack: GovernancePack, exc: DamError) -> list[Problem]:
    """A refusal of the service (brand rules, someone else's change) as the form's problems."""
    if exc.extra.get("problems"):
        return [term_problem(pack, p) for p in exc.extra["problems"]]
    violations = exc.extra.get("violations") or []
    if violations:
        return [Problem(str(v.get("field") or ""), str(v.get("message", v))) for v in violations]
    detail = str(exc.detail)
    return [Problem("", detail[:1].upper() + detail[1:])]


def refused_context(
    pack: GovernancePack, problems: Sequence[Problem], form: EditForm
) -> dict[str, Any]:
    """What the asset page shows for a refused edit: the message, the typed values, the marked
    fields and their messages."""
    by_field: dict[str, list[str]] = {}
    for p in problems:
        by_field.setdefault(p.field, []).append(p.message)
    return {
        "flash": {
            "kind": "error",
            "text": f"The metadata was not saved: {plural(len(problems), 'problem')} to fix.",
            "details": [p.message for p in problems],
        },
        "typed": {
            "title": form.title,
            "description": form.description,
            "tags": form.tags,
            "rights_end": form.rights_end,
            "terms": chosen_terms(pack, form.terms),
        },
        "field_errors": by_field,
    }


__all__ = [
    "EditForm",
    "Problem",
    "check",
    "from_error",
    "plural",
    "refused_context",
    "term_problem",
]
