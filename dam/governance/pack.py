"""Load and validate a governance pack directory into an immutable `GovernancePack`.

The YAML is read as composed nodes rather than plain data so that every problem can name the
line of the offending key or item, and so that text fields keep the text as written (`id: no`
is Norway, not `False`). Validation never stops at the first problem: a brand manager fixing a
pack wants the whole list at once.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from yaml.constructor import ConstructorError, SafeConstructor

from dam.governance.checks import CHECKS, Finding, Subject
from dam.governance.derivatives import (
    DEFAULT_LIMITS,
    DERIVATIVES_FILE,
    AdhocLimits,
    Preset,
    parse_derivatives,
    unsatisfiable,
    with_scope,
)
from dam.governance.metadata import CORE_FIELDS, DEFAULT_POLICY, MetadataPolicy, parse_metadata
from dam.governance.metric_sources import SOURCES_DIR, SourceMapping, parse_sources
from dam.governance.review import (
    DEFAULT_REVIEW,
    REVIEW_FILE,
    ReviewPolicy,
    StageDraft,
    build_review,
    parse_review,
)
from dam.governance.yamlsource import (
    _NULL_TAG,
    PackError,
    _default_label,
    _describe,
    _FacetDraft,
    _hint,
    _line,
    _named,
    _Source,
    _TermDraft,
    _value,
)

__all__ = [
    "DERIVATIVES_FILE",
    "METADATA_FILE",
    "REVIEW_FILE",
    "RULES_FILE",
    "TAXONOMY_FILE",
    "Facet",
    "GovernancePack",
    "PackError",
    "PackInvalid",
    "Rule",
    "Severity",
    "Term",
    "load_pack",
]

TAXONOMY_FILE = "taxonomy.yaml"
RULES_FILE = "brand_rules.yaml"
# Optional: without it the default mapping and privacy policy of dam.governance.metadata apply.
METADATA_FILE = "metadata.yaml"

_TERM_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_FACET_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


class Severity(StrEnum):
    block = "block"
    warn = "warn"


class PackInvalid(Exception):
    def __init__(self, errors: Sequence[PackError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass(frozen=True)
class Term:
    id: str
    label: str
    synonyms: tuple[str, ...] = ()
    description: str | None = None
    deprecated: bool = False
    replaced_by: str | None = None
    parent: str | None = None
    children: tuple[Term, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "synonyms": list(self.synonyms),
            "description": self.description,
            "deprecated": self.deprecated,
            "replaced_by": self.replaced_by,
            "children": [child.to_json() for child in self.children],
        }


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _closest(text: str, lookup: Mapping[str, str], *, n: int = 3) -> list[str]:
    """Term ids whose id, label or synonym is closest to `text`, best first."""
    matches = difflib.get_close_matches(_fold(text), list(lookup), n=n * 3, cutoff=0.6)
    ids: list[str] = []
    for match in matches:
        if lookup[match] not in ids:
            ids.append(lookup[match])
    return ids[:n]


@dataclass(frozen=True, eq=False)
class Facet:
    id: str
    label: str
    description: str | None
    required: bool
    multi: bool
    roots: tuple[Term, ...]
    terms: Mapping[str, Term]  # every term of the tree, in document order
    _lookup: Mapping[str, str] = field(repr=False)
    _descendants: Mapping[str, frozenset[str]] = field(repr=False)
    _ancestors: Mapping[str, tuple[str, ...]] = field(repr=False)
    # False: edits of this facet's terms go live without review (the pack says so explicitly).
    review: bool = True

    def resolve(self, text: str) -> str | None:
        """The id of the term whose id, label or synonym is `text` (case-insensitive)."""
        return self._lookup.get(_fold(text))

    @property
    def lookup(self) -> Mapping[str, str]:
        """Folded id, label or synonym → term id (what `resolve` reads)."""
        return self._lookup

    def suggest(self, text: str, *, n: int = 3) -> list[str]:
        """Closest usable term ids: deprecated terms are offered as their replacement."""
        out: list[str] = []
        for term_id in _closest(text, self._lookup, n=n * 2):
            term = self.terms[term_id]
            if term.deprecated:
                if term.replaced_by is None:
                    continue
                term_id = term.replaced_by
            if term_id not in out:
                out.append(term_id)
        return out[:n]

    def descendants(self, term_id: str) -> frozenset[str]:
        return self._descendants[term_id]

    def ancestors(self, term_id: str) -> tuple[str, ...]:
        return self._ancestors[term_id]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "description": self.description,
            "required": self.required,
            "multi": self.multi,
            "review": self.review,
            "terms": [term.to_json() for term in self.roots],
        }


@dataclass(frozen=True, eq=False)
class Rule:
    id: str
    description: str
    severity: Severity
    check: str
    params: BaseModel
    when: Mapping[str, tuple[str, ...]]  # as written in the pack
    enabled: bool
    file: str
    line: int
    # `when` with each term widened to its descendants, so matching is one set test per facet.
    _scope: Mapping[str, frozenset[str]] = field(repr=False)
    _run: Callable[[Any, Subject], list[Finding]] = field(repr=False)

    def applies_to(self, terms: Mapping[str, Sequence[str]]) -> bool:
        """Every facet in `when` carries one of its terms or one of their descendants."""
        for facet, allowed in self._scope.items():
            values = terms.get(facet)
            if not values or allowed.isdisjoint(values):
                return False
        return True

    def run(self, subject: Subject) -> list[Finding]:
        return self._run(self.params, subject)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "severity": str(self.severity),
            "when": {facet: list(terms) for facet, terms in self.when.items()},
            "check": self.check,
            "params": self.params.model_dump(mode="json"),
            "enabled": self.enabled,
        }


@dataclass(frozen=True, eq=False)
class GovernancePack:
    revision: str
    description: str | None
    facets: tuple[Facet, ...]
    rules: tuple[Rule, ...]
    directory: Path
    digest: str  # sha256 of the pack's files: tells a reload whether anything changed
    _facets: Mapping[str, Facet] = field(repr=False)
    _facet_lookup: Mapping[str, str] = field(repr=False)
    # Asset fields whose edits go live without review (taxonomy.yaml `review_exempt_fields`).
    review_exempt_fields: frozenset[str] = frozenset()
    # metadata.yaml: embedded metadata -> asset fields, location visibility and stripping.
    metadata: MetadataPolicy = DEFAULT_POLICY
    # sources/*.yaml and the built-ins: how platform exports read as metric rows.
    metric_sources: Mapping[str, SourceMapping] = field(default_factory=dict)
    # derivatives.yaml: channel presets, in file order, and the limits of ad-hoc transforms.
    presets: tuple[Preset, ...] = ()
    adhoc: AdhocLimits = DEFAULT_LIMITS

    def preset(self, preset_id: str) -> Preset | None:
        return next((p for p in self.presets if p.id == preset_id), None)

    def presets_for(self, terms: Mapping[str, Sequence[str]]) -> tuple[Preset, ...]:
        """The presets whose `when` matches these (canonical) terms, in file order."""
        return tuple(p for p in self.presets if p.applies_to(terms))

    # review.yaml: the review stages a submitted version passes through.
    review: ReviewPolicy = DEFAULT_REVIEW

    def facet(self, facet_id: str) -> Facet:
        return self._facets[facet_id]

    def has_facet(self, facet_id: str) -> bool:
        return facet_id in self._facets

    def resolve_facet(self, text: str) -> str | None:
        """The id of the facet whose id or label is `text` (case-insensitive)."""
        return self._facet_lookup.get(_fold(text))

    def suggest_facet(self, text: str, *, n: int = 3) -> list[str]:
        return _closest(text, self._facet_lookup, n=n)

    def term(self, facet_id: str, term_id: str) -> Term:
        return self._facets[facet_id].terms[term_id]

    def resolve(self, facet_id: str, text: str) -> str | None:
        return self._facets[facet_id].resolve(text)

    def descendants(self, facet_id: str, term_id: str) -> frozenset[str]:
        """`term_id` and every term below it."""
        return self._facets[facet_id].descendants(term_id)

    def ancestors(self, facet_id: str, term_id: str) -> tuple[str, ...]:
        """The terms above `term_id`, root first, excluding itself."""
        return self._facets[facet_id].ancestors(term_id)

    def label(self, facet_id: str, term_id: str) -> str:
        return self._facets[facet_id].terms[term_id].label

    @property
    def term_count(self) -> int:
        return sum(len(f.terms) for f in self.facets)

    def needs_review(self, field_name: str, facet_id: str | None = None) -> bool:
        """Whether an edit of this field (or of this facet's terms) waits for a reviewer.
        Review is the default; only what the pack names is exempt."""
        if field_name == "terms" and facet_id is not None:
            return not self.has_facet(facet_id) or self.facet(facet_id).review
        return field_name not in self.review_exempt_fields

    def taxonomy_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "review_exempt_fields": sorted(self.review_exempt_fields),
            "facets": [f.to_json() for f in self.facets],
        }

    def rules_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "rules": [r.to_json() for r in self.rules]}


# --- taxonomy.yaml --------------------------------------------------------------------------------


_TERM_KEYS = ("label", "description", "synonyms", "deprecated", "replaced_by", "children")
_FACET_KEYS = ("label", "description", "required", "multi", "review")
# Fields a pack may exempt from review (terms are exempted per facet, rights dates never: an
# earlier date applies at once anyway, a later one always waits for a reviewer).
REVIEW_EXEMPTABLE_FIELDS = ("title", "description", "tags")


def _parse_term(
    src: _Source,
    node: yaml.Node,
    facet: _FacetDraft,
    parent: str | None,
    chain: tuple[str, ...],
) -> str | None:
    what = f"facet '{facet.id}' {_named('term', node)}"
    keys = src.mapping(node, what, required=("id",), optional=_TERM_KEYS)
    if keys is None:
        return None
    id_node = _value("id", keys)
    term_id = None if id_node is None else src.text(id_node, "term id")
    if term_id is None or id_node is None:
        return None
    what = f"term '{term_id}'"
    if not _TERM_ID.match(term_id):
        src.error(
            id_node,
            f"term id '{term_id}' must be lowercase letters, digits, '-' or '_' "
            "(at most 64 characters)",
        )

    label = None
    label_node = id_node  # where a clash of the derived label is reported
    if (explicit_label := _value("label", keys)) is not None:
        label_node = explicit_label
        label = src.text(explicit_label, f"{what}: label")
    synonyms_node = _value("synonyms", keys)
    synonyms = [] if synonyms_node is None else src.texts(synonyms_node, f"{what}: synonyms")
    description_node = _value("description", keys)
    description = None
    if description_node is not None:
        description = src.text(description_node, f"{what}: description")
    deprecated = False
    if (deprecated_node := _value("deprecated", keys)) is not None:
        deprecated = bool(src.flag(deprecated_node, f"{what}: deprecated"))
    replaced_node = _value("replaced_by", keys)
    replaced_by = None
    if replaced_node is not None:
        target = src.text(replaced_node, f"{what}: replaced_by")
        if target is not None:
            replaced_by = (target, replaced_node)
            if not deprecated:
                src.error(replaced_node, f"{what}: replaced_by needs deprecated: true")

    draft = _TermDraft(
        id=term_id,
        node=id_node,
        label=label or _default_label(term_id),
        label_node=label_node,
        synonyms=synonyms,
        description=description,
        deprecated=deprecated,
        replaced_by=replaced_by,
        parent=parent,
    )
    registered = False
    if term_id in chain:
        path = " > ".join((*chain[chain.index(term_id) :], term_id))
        src.error(id_node, f"term '{term_id}' is nested inside itself ({path}): parent/child cycle")
    elif term_id in facet.terms:
        first = _line(facet.terms[term_id].node)
        src.error(
            id_node,
            f"duplicate term id '{term_id}' in facet '{facet.id}' (first defined at line {first})",
        )
    else:
        facet.terms[term_id] = draft
        registered = True

    children_node = _value("children", keys)
    children = [] if children_node is None else src.sequence(children_node, f"{what}: children")
    for child in children or []:
        child_id = _parse_term(src, child, facet, term_id, (*chain, term_id))
        if child_id is not None and registered:
            draft.children.append(child_id)
    return term_id if registered else None


def _index_lookups(src: _Source, facet: _FacetDraft) -> None:
    """Every id, label and synonym must name exactly one term, or lookups would be ambiguous."""
    owners: dict[str, tuple[str, str, int]] = {}
    for term in facet.terms.values():
        names = [("id", term.id, term.node), ("label", term.label, term.label_node)]
        names += [("synonym", text, node) for text, node in term.synonyms]
        for kind, text, node in names:
            folded = _fold(text)
            owner = owners.get(folded)
            if owner is None:
                owners[folded] = (term.id, kind, _line(node))
                facet.lookup[folded] = term.id
            elif owner[0] != term.id:
                src.error(
                    node,
                    f"{kind} '{text}' of term '{term.id}' is already the {owner[1]} of term "
                    f"'{owner[0]}' (line {owner[2]}) in facet '{facet.id}'",
                )
            elif kind == "synonym" and owner[1] == "synonym":
                src.error(node, f"term '{term.id}' lists synonym '{text}' twice")


def _check_replacements(src: _Source, facet: _FacetDraft) -> None:
    for term in facet.terms.values():
        if term.replaced_by is None:
            continue
        target, node = term.replaced_by
        if target == term.id:
            src.error(node, f"term '{term.id}' is replaced_by itself")
            continue
        if target not in facet.terms:
            close = _closest(target, facet.lookup)
            hint = f" (closest: {', '.join(close)})" if close else ""
            src.error(
                node,
                f"term '{term.id}': replaced_by '{target}' is not a term of facet "
                f"'{facet.id}'{hint}",
            )
            continue
        if not facet.terms[target].deprecated:
            continue
        chain = [term.id, target]
        current = facet.terms[target]
        while current.deprecated and current.replaced_by and current.replaced_by[0] in facet.terms:
            following = current.replaced_by[0]
            if following in chain:
                chain.append(following)
                break
            chain.append(following)
            current = facet.terms[following]
        if chain[-1] in chain[:-1]:
            cycle = chain[chain.index(chain[-1]) :]
            src.error(node, f"term '{term.id}': replaced_by cycle {' → '.join(cycle)}")
        elif not facet.terms[chain[-1]].deprecated:
            src.error(
                node,
                f"term '{term.id}': replaced_by '{target}' is itself deprecated; "
                f"point it at '{chain[-1]}' directly ({' → '.join(chain)})",
            )
        else:
            src.error(
                node,
                f"term '{term.id}': replaced_by '{target}' is deprecated and has no usable "
                f"replacement ({' → '.join(chain)})",
            )


def _parse_taxonomy(
    src: _Source, root: yaml.Node
) -> tuple[str | None, str | None, list[_FacetDraft], frozenset[str]]:
    keys = src.mapping(
        root,
        "taxonomy",
        required=("revision", "facets"),
        optional=("description", "review_exempt_fields"),
    )
    if keys is None:
        return None, None, [], frozenset()
    revision_node = _value("revision", keys)
    revision = None if revision_node is None else src.text(revision_node, "revision")
    description_node = _value("description", keys)
    description = None
    if description_node is not None:
        description = src.text(description_node, "description")
    exempt: set[str] = set()
    if (exempt_node := _value("review_exempt_fields", keys)) is not None:
        for item in src.sequence(exempt_node, "review_exempt_fields") or []:
            name = src.text(item, "review_exempt_fields")
            if name is None:
                continue
            if name not in REVIEW_EXEMPTABLE_FIELDS:
                src.error(
                    item,
                    f"review_exempt_fields: '{name}' cannot skip review"
                    f"{_hint(name, REVIEW_EXEMPTABLE_FIELDS)}; exemptable fields: "
                    f"{', '.join(REVIEW_EXEMPTABLE_FIELDS)} "
                    "(terms: set `review: false` on their facet)",
                )
                continue
            exempt.add(name)

    facets: list[_FacetDraft] = []
    facet_names: dict[str, tuple[str, int]] = {}
    facets_node = _value("facets", keys)
    items = [] if facets_node is None else src.sequence(facets_node, "facets") or []
    if facets_node is not None and isinstance(facets_node, yaml.SequenceNode) and not items:
        src.error(facets_node, "facets must list at least one facet")
    for item in items:
        facet_keys = src.mapping(
            item, _named("facet", item), required=("id", "terms"), optional=_FACET_KEYS
        )
        if facet_keys is None:
            continue
        id_node = _value("id", facet_keys)
        facet_id = None if id_node is None else src.text(id_node, "facet id")
        if facet_id is None or id_node is None:
            continue
        what = f"facet '{facet_id}'"
        if not _FACET_ID.match(facet_id):
            src.error(id_node, f"facet id '{facet_id}' must be lowercase letters, digits and '_'")
        label_node = _value("label", facet_keys)
        label = None if label_node is None else src.text(label_node, f"{what}: label")
        facet_description = None
        if (node := _value("description", facet_keys)) is not None:
            facet_description = src.text(node, f"{what}: description")
        required = multi = review = None
        if (node := _value("required", facet_keys)) is not None:
            required = src.flag(node, f"{what}: required")
        if (node := _value("multi", facet_keys)) is not None:
            multi = src.flag(node, f"{what}: multi")
        if (node := _value("review", facet_keys)) is not None:
            review = src.flag(node, f"{what}: review")
        facet = _FacetDraft(
            id=facet_id,
            node=id_node,
            label=label or _default_label(facet_id),
            description=facet_description,
            required=bool(required),
            multi=True if multi is None else multi,
            review=True if review is None else review,
        )
        terms_node = _value("terms", facet_keys)
        term_nodes = [] if terms_node is None else src.sequence(terms_node, f"{what}: terms") or []
        if terms_node is not None and isinstance(terms_node, yaml.SequenceNode) and not term_nodes:
            src.error(terms_node, f"{what}: terms must list at least one term")
        for term_node in term_nodes:
            term_id = _parse_term(src, term_node, facet, None, ())
            if term_id is not None:
                facet.roots.append(term_id)
        _index_lookups(src, facet)
        _check_replacements(src, facet)

        first = next((f for f in facets if f.id == facet_id), None)
        if first is not None:
            first_line = _line(first.node)
            src.error(
                id_node, f"duplicate facet id '{facet_id}' (first defined at line {first_line})"
            )
            continue
        # Facets are looked up by id or label, so neither may name another facet.
        for kind, name, node in (("id", facet_id, id_node), ("label", facet.label, label_node)):
            owner = facet_names.get(_fold(name))
            if owner is None:
                facet_names[_fold(name)] = (facet_id, _line(id_node))
            elif owner[0] != facet_id:
                src.error(
                    node or id_node,
                    f"facet {kind} '{name}' is already the id or label of facet '{owner[0]}' "
                    f"(line {owner[1]})",
                )
        facets.append(facet)
    return revision, description, facets, frozenset(exempt)


# --- brand_rules.yaml ---------------------------------------------------------------------------


@dataclass
class _RuleDraft:
    id: str
    description: str
    severity: Severity
    check: str
    params: BaseModel
    when: dict[str, tuple[str, ...]]
    enabled: bool
    line: int


def _params_error_line(
    params_node: yaml.Node | None, loc: Sequence[int | str], default: int
) -> int:
    """The line of the YAML node a pydantic error location points at, as deep as it exists."""
    node, line = params_node, default
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            match = next(((k, v) for k, v in node.value if k.value == part), None)
            if match is None:
                break
            line, node = _line(match[0]), match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = _line(node)
        else:
            break
    return line


def _validate_params(
    src: _Source,
    rule_id: str,
    check: str,
    params_node: yaml.Node | None,
    default_line: int,
    context: dict[str, Any],
) -> BaseModel | None:
    spec = CHECKS[check]
    raw: Any = {}
    if params_node is not None:
        if not isinstance(params_node, yaml.MappingNode):
            src.error(params_node, f"rule '{rule_id}': params must be a mapping")
            return None
        try:
            raw = SafeConstructor().construct_object(params_node, deep=True)
        except ConstructorError as exc:
            mark = exc.problem_mark
            src.error(
                default_line if mark is None else mark.line + 1,
                f"rule '{rule_id}': params: {exc.problem}",
            )
            return None
    try:
        return spec.params.model_validate(raw, context=context)
    except ValidationError as exc:
        fields = list(spec.params.model_fields)
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = "params" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(fields) if fields else "none"
                message = (
                    f"unknown parameter '{loc[-1]}' for check '{check}' (parameters: {allowed})"
                )
            elif err["type"] == "missing":
                message = f"missing required parameter '{loc[-1]}' for check '{check}'"
            else:
                text = str(err["msg"]).removeprefix("Value error, ")
                message = f"{where}: {text}"
            line = _params_error_line(params_node, loc, default_line)
            src.error(line, f"rule '{rule_id}': {message}")
        return None


def _parse_when(
    src: _Source,
    rule_id: str,
    node: yaml.Node,
    facets: Mapping[str, _FacetDraft],
    kind: str = "rule",
) -> dict[str, tuple[str, ...]] | None:
    return _parse_scope(src, f"{kind} '{rule_id}': when", node, facets)


def _parse_scope(
    src: _Source, what: str, node: yaml.Node, facets: Mapping[str, _FacetDraft]
) -> dict[str, tuple[str, ...]] | None:
    """A `when` mapping (facet → terms), validated against the taxonomy; `what` names it."""
    if not isinstance(node, yaml.MappingNode):
        src.error(node, f"{what} must map facets to lists of terms, not {_describe(node)}")
        return None
    scope: dict[str, tuple[str, ...]] = {}
    ok = True
    for key_node, value_node in node.value:
        facet_id = key_node.value if isinstance(key_node, yaml.ScalarNode) else ""
        facet = facets.get(facet_id)
        if facet is None:
            src.error(
                key_node, f"{what}: unknown facet '{facet_id}'{_hint(facet_id, list(facets))}"
            )
            ok = False
            continue
        if facet_id in scope:
            src.error(key_node, f"{what}: facet '{facet_id}' is listed twice")
            ok = False
            continue
        items: list[yaml.Node] | None = None
        if isinstance(value_node, yaml.ScalarNode):
            items = [value_node]
        else:
            items = src.sequence(value_node, f"{what}.{facet_id}")
        if not items:
            if items is not None:
                src.error(value_node, f"{what}.{facet_id}: list at least one term")
            ok = False
            continue
        terms: list[str] = []
        for item in items:
            text = src.text(item, f"{what}.{facet_id} item")
            if text is None:
                ok = False
                continue
            term = facet.terms.get(text)
            if term is None:
                resolved = facet.lookup.get(_fold(text))
                if resolved is not None:
                    message = f"use the term id '{resolved}' rather than '{text}'"
                else:
                    close = _closest(text, facet.lookup)
                    hint = f" (closest: {', '.join(close)})" if close else ""
                    message = f"unknown term '{text}'{hint}"
                src.error(item, f"{what}.{facet_id}: {message}")
                ok = False
            elif term.deprecated:
                instead = f"; use '{term.replaced_by[0]}'" if term.replaced_by else ""
                src.error(item, f"{what}.{facet_id}: term '{text}' is deprecated{instead}")
                ok = False
            elif text not in terms:
                terms.append(text)
        scope[facet_id] = tuple(terms)
    return scope if ok else None


_RULE_KEYS = ("id", "description", "severity", "check")


def _parse_rules(
    src: _Source,
    root: yaml.Node,
    facets: Mapping[str, _FacetDraft] | None,
    fields: set[str] | None = None,
) -> list[_RuleDraft]:
    keys = src.mapping(root, "brand rules", required=("rules",))
    if keys is None or (rules_node := _value("rules", keys)) is None:
        return []
    if isinstance(rules_node, yaml.ScalarNode) and rules_node.tag == _NULL_TAG:
        return []  # `rules:` with nothing under it: a pack with no rules yet
    context = {"facets": None if facets is None else set(facets), "fields": fields}
    drafts: list[_RuleDraft] = []
    seen: dict[str, int] = {}
    for item in src.sequence(rules_node, "rules") or []:
        rule_keys = src.mapping(
            item, _named("rule", item), required=_RULE_KEYS, optional=("when", "params", "enabled")
        )
        if rule_keys is None:
            continue
        id_node = _value("id", rule_keys)
        rule_id = None if id_node is None else src.text(id_node, "rule id")
        name = rule_id or "?"
        ok = rule_id is not None
        if rule_id is not None and id_node is not None:
            if not _RULE_ID.match(rule_id):
                src.error(id_node, f"rule id '{rule_id}' must be lowercase letters, digits, - or _")
                ok = False
            if rule_id in seen:
                src.error(id_node, f"duplicate rule id '{rule_id}' (first at line {seen[rule_id]})")
                ok = False
            else:
                seen[rule_id] = _line(id_node)

        description = None
        if (node := _value("description", rule_keys)) is not None:
            description = src.text(node, f"rule '{name}': description")
        severity = None
        if (node := _value("severity", rule_keys)) is not None:
            text = src.text(node, f"rule '{name}': severity")
            if text is not None and text in Severity.__members__:
                severity = Severity(text)
            elif text is not None:
                src.error(node, f"rule '{name}': severity must be block or warn, not '{text}'")
        enabled: bool | None = True
        if (node := _value("enabled", rule_keys)) is not None:
            enabled = src.flag(node, f"rule '{name}': enabled")

        when: dict[str, tuple[str, ...]] | None = {}
        if (node := _value("when", rule_keys)) is not None:
            if facets is not None:
                when = _parse_when(src, name, node, facets)
            elif not isinstance(node, yaml.MappingNode):
                src.error(node, f"rule '{name}': when must map facets to lists of terms")

        check = None
        params: BaseModel | None = None
        check_node = _value("check", rule_keys)
        if check_node is not None:
            check = src.text(check_node, f"rule '{name}': check")
        if check is not None and check_node is not None:
            if check not in CHECKS:
                src.error(
                    check_node,
                    f"rule '{name}': unknown check '{check}'{_hint(check, CHECKS)}; "
                    f"checks are {', '.join(sorted(CHECKS))}",
                )
            else:
                params_entry = rule_keys.get("params")
                params = _validate_params(
                    src,
                    name,
                    check,
                    None if params_entry is None else params_entry[1],
                    _line(check_node if params_entry is None else params_entry[0]),
                    context,
                )
        elif "params" in rule_keys and not isinstance(rule_keys["params"][1], yaml.MappingNode):
            src.error(rule_keys["params"][1], f"rule '{name}': params must be a mapping")

        if (
            ok
            and rule_id is not None
            and description is not None
            and severity is not None
            and enabled is not None
            and when is not None
            and check is not None
            and params is not None
        ):
            drafts.append(
                _RuleDraft(
                    id=rule_id,
                    description=description,
                    severity=severity,
                    check=check,
                    params=params,
                    when=when,
                    enabled=enabled,
                    line=_line(item),
                )
            )
    return drafts


# --- building the immutable pack ----------------------------------------------------------------


def _build_facet(draft: _FacetDraft) -> Facet:
    built: dict[str, Term] = {}
    descendants: dict[str, frozenset[str]] = {}

    def build(term_id: str) -> Term:
        d = draft.terms[term_id]
        children = tuple(build(child) for child in d.children)
        below = {term_id}
        for child in d.children:
            below |= descendants[child]
        descendants[term_id] = frozenset(below)
        built[term_id] = Term(
            id=d.id,
            label=d.label,
            synonyms=tuple(text for text, _ in d.synonyms),
            description=d.description,
            deprecated=d.deprecated,
            replaced_by=None if d.replaced_by is None else d.replaced_by[0],
            parent=d.parent,
            children=children,
        )
        return built[term_id]

    roots = tuple(build(root) for root in draft.roots)
    ancestors: dict[str, tuple[str, ...]] = {}
    for term_id, d in draft.terms.items():
        parent = d.parent
        ancestors[term_id] = () if parent is None else (*ancestors[parent], parent)
    return Facet(
        id=draft.id,
        label=draft.label,
        description=draft.description,
        required=draft.required,
        multi=draft.multi,
        review=draft.review,
        roots=roots,
        terms=MappingProxyType({term_id: built[term_id] for term_id in draft.terms}),
        _lookup=MappingProxyType(dict(draft.lookup)),
        _descendants=MappingProxyType(descendants),
        _ancestors=MappingProxyType(ancestors),
    )


def _build_rule(draft: _RuleDraft, facets: Mapping[str, Facet], file: str) -> Rule:
    scope: dict[str, frozenset[str]] = {}
    for facet_id, term_ids in draft.when.items():
        facet = facets[facet_id]
        scope[facet_id] = frozenset().union(*(facet.descendants(t) for t in term_ids))
    return Rule(
        id=draft.id,
        description=draft.description,
        severity=draft.severity,
        check=draft.check,
        params=draft.params,
        when=MappingProxyType(dict(draft.when)),
        enabled=draft.enabled,
        file=file,
        line=draft.line,
        _scope=MappingProxyType(scope),
        _run=CHECKS[draft.check].run,
    )


def load_pack(directory: Path) -> GovernancePack:
    """Read `taxonomy.yaml`, `brand_rules.yaml` and, when present, `metadata.yaml` and
    `derivatives.yaml`.

    Raises `PackInvalid` listing every problem found in the files, sorted by file and line.
    """
    errors: list[PackError] = []
    if not directory.is_dir():
        raise PackInvalid([PackError(str(directory), None, "governance pack directory not found")])
    taxonomy_src = _Source(directory / TAXONOMY_FILE, errors)
    rules_src = _Source(directory / RULES_FILE, errors)

    taxonomy_root = taxonomy_src.compose()
    revision: str | None = None
    description: str | None = None
    facet_drafts: list[_FacetDraft] = []
    exempt_fields: frozenset[str] = frozenset()
    if taxonomy_root is not None:
        revision, description, facet_drafts, exempt_fields = _parse_taxonomy(
            taxonomy_src, taxonomy_root
        )
    # Without a readable taxonomy every `when` would be reported as unknown: noise, not help.
    known = {f.id: f for f in facet_drafts} if taxonomy_root is not None else None

    metadata_src = _Source(directory / METADATA_FILE, errors)
    policy: MetadataPolicy | None = DEFAULT_POLICY
    if metadata_src.path.exists():
        metadata_root = metadata_src.compose()
        policy = (
            None if metadata_root is None else parse_metadata(metadata_src, metadata_root, known)
        )
    # Rules may name governed fields (model_release_required.field); a broken metadata.yaml
    # reports its own errors, so the rules are not judged against a guess.
    governed = None if policy is None else {*CORE_FIELDS, *policy.extra_fields}

    rules_root = rules_src.compose()
    rule_drafts = [] if rules_root is None else _parse_rules(rules_src, rules_root, known, governed)

    # Source mappings name channels: checked against the taxonomy when it could be read.
    channel_facet = (known or {}).get("channel")
    metric_sources, sources_data = parse_sources(
        directory / SOURCES_DIR,
        errors,
        None if known is None else (channel_facet.lookup if channel_facet else None),
    )

    derivatives_src = _Source(directory / DERIVATIVES_FILE, errors)
    derivatives = None
    if derivatives_src.path.exists():
        derivatives_root = derivatives_src.compose()
        if derivatives_root is not None:

            def preset_when(
                src: _Source, preset_id: str, node: yaml.Node
            ) -> dict[str, tuple[str, ...]] | None:
                assert known is not None
                return _parse_when(src, preset_id, node, known, kind="preset")

            derivatives = parse_derivatives(
                derivatives_src, derivatives_root, None if known is None else preset_when
            )

    review_src = _Source(directory / REVIEW_FILE, errors)
    stage_drafts: list[StageDraft] | None = None
    if review_src.path.exists():
        review_root = review_src.compose()
        if review_root is not None:
            stage_drafts = parse_review(review_src, review_root, known, _parse_scope)

    if errors:
        order = {
            taxonomy_src.name: 0,
            rules_src.name: 1,
            metadata_src.name: 2,
            derivatives_src.name: 3,
            review_src.name: 4,
        }
        # The source mappings (sources/*.yaml) after the other files, file by file.
        errors.sort(key=lambda e: (order.get(e.file, 5), e.file, e.line or 0))
        unique = list(dict.fromkeys(errors))
        raise PackInvalid(unique)
    assert revision is not None
    assert policy is not None

    facets = tuple(_build_facet(d) for d in facet_drafts)
    facet_index = {f.id: f for f in facets}
    facet_lookup: dict[str, str] = {}
    for facet in facets:
        facet_lookup.setdefault(_fold(facet.label), facet.id)
        facet_lookup[_fold(facet.id)] = facet.id
    rules = tuple(_build_rule(d, facet_index, rules_src.name) for d in rule_drafts)
    presets = tuple(
        with_scope(p, facet_index) for p in (derivatives.presets if derivatives else ())
    )
    # A preset that can never pass its own channel's blocking rules would only ever be refused.
    for preset in presets:
        for rule, why in unsatisfiable(preset, rules):
            derivatives_src.error(
                preset.line,
                f"preset '{preset.id}' can never satisfy rule '{rule.id}' "
                f"({Path(rule.file).name}:{rule.line}) of the channel it serves: {why}",
            )
    if errors:
        raise PackInvalid(list(dict.fromkeys(errors)))
    digest = hashlib.sha256(
        hashlib.sha256(taxonomy_src.data).digest()
        + hashlib.sha256(rules_src.data).digest()
        + (hashlib.sha256(metadata_src.data).digest() if metadata_src.data else b"")
        + (hashlib.sha256(sources_data).digest() if sources_data else b"")
        + (hashlib.sha256(derivatives_src.data).digest() if derivatives_src.data else b"")
        + (hashlib.sha256(review_src.data).digest() if review_src.data else b"")
    ).hexdigest()
    return GovernancePack(
        revision=revision,
        description=description,
        facets=facets,
        rules=rules,
        directory=directory,
        digest=digest,
        _facets=MappingProxyType(facet_index),
        _facet_lookup=MappingProxyType(facet_lookup),
        review_exempt_fields=exempt_fields,
        metadata=policy,
        metric_sources=metric_sources,
        presets=presets,
        adhoc=derivatives.limits if derivatives else DEFAULT_LIMITS,
        review=build_review(stage_drafts, lambda facet, term: facet_index[facet].descendants(term)),
    )
