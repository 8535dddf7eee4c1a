"""`review.yaml` of the governance pack: the review stages a submitted version passes through.

Each stage is scoped with `when` exactly like a brand rule (every facet listed must carry one
of its terms or a descendant), names who may approve it (roles and, optionally, users by
email), whether `any` one of them suffices or `all` must approve, and its SLA in working
hours. Stages run in the order written; a stage marked `parallel: true` runs alongside the
stage before it (they form one step, and the next step starts when every stage of the step is
approved). `keep_on_resubmit: true` carries a stage's approval over to the resubmission after
a rejection, which otherwise starts again at the first stage.

The file is optional; without it :data:`DEFAULT_REVIEW` applies: one stage, `brand`, that any
brand manager or admin approves, with no SLA — the single review the service had before
stages existed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml

from dam.governance.yamlsource import _FacetDraft, _named, _Source, _value

__all__ = [
    "APPROVER_ROLES",
    "DEFAULT_REVIEW",
    "REVIEW_FILE",
    "ReviewPolicy",
    "ReviewStage",
    "StageDraft",
    "build_review",
    "parse_review",
]

REVIEW_FILE = "review.yaml"

# The roles that review at all (the approve and reject endpoints admit only these); a stage
# narrows them, never widens them.
APPROVER_ROLES = ("admin", "brand_manager")
REQUIRE = ("any", "all")
_STAGE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# A year of working days at 8 hours: anything longer is a typo, not a service level.
MAX_SLA_HOURS = 2000

WhenParser = Callable[[_Source, str, yaml.Node, Mapping[str, _FacetDraft]], Any]


@dataclass(frozen=True, eq=False)
class ReviewStage:
    id: str
    label: str
    step: int  # stages with the same step run in parallel; steps run in order from 0
    roles: tuple[str, ...]
    users: tuple[str, ...]  # email addresses, lower-cased
    require: str  # any | all
    sla_hours: float | None
    keep_on_resubmit: bool
    when: Mapping[str, tuple[str, ...]]  # as written
    _scope: Mapping[str, frozenset[str]] = field(repr=False)

    def applies_to(self, terms: Mapping[str, Sequence[str]]) -> bool:
        for facet, allowed in self._scope.items():
            values = terms.get(facet)
            if not values or allowed.isdisjoint(values):
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "step": self.step,
            "approvers": {"roles": list(self.roles), "users": list(self.users)},
            "require": self.require,
            "sla_hours": self.sla_hours,
            "keep_on_resubmit": self.keep_on_resubmit,
            "when": {facet: list(terms) for facet, terms in self.when.items()},
        }


@dataclass(frozen=True)
class ReviewPolicy:
    stages: tuple[ReviewStage, ...]

    def stages_for(self, terms: Mapping[str, Sequence[str]]) -> list[ReviewStage]:
        """The stages a version with these terms passes through, in order. Never empty: a
        pack whose stages all have a `when` that misses falls back to the first stage, so
        nothing is ever published unreviewed."""
        chosen = [s for s in self.stages if s.applies_to(terms)]
        return chosen or [self.stages[0]]

    def to_json(self) -> dict[str, Any]:
        return {"stages": [s.to_json() for s in self.stages]}


DEFAULT_REVIEW = ReviewPolicy(
    stages=(
        ReviewStage(
            id="brand",
            label="Brand",
            step=0,
            roles=APPROVER_ROLES,
            users=(),
            require="any",
            sla_hours=None,
            keep_on_resubmit=False,
            when=MappingProxyType({}),
            _scope=MappingProxyType({}),
        ),
    )
)


@dataclass
class StageDraft:
    id: str
    label: str
    parallel: bool
    roles: tuple[str, ...]
    users: tuple[str, ...]
    require: str
    sla_hours: float | None
    keep_on_resubmit: bool
    when: dict[str, tuple[str, ...]]


_STAGE_KEYS = ("label", "when", "require", "sla_hours", "parallel", "keep_on_resubmit")


def parse_review(
    src: _Source,
    root: yaml.Node,
    facets: Mapping[str, _FacetDraft] | None,
    parse_when: WhenParser,
) -> list[StageDraft] | None:
    """Validate `review.yaml`; errors go to `src` with their lines. None when invalid."""
    keys = src.mapping(root, "review", required=("stages",))
    if keys is None or (stages_node := _value("stages", keys)) is None:
        return None
    errors_before = len(src.errors)
    items = src.sequence(stages_node, "stages")
    if items is not None and not items:
        src.error(stages_node, "stages: list at least one stage")
    drafts: list[StageDraft] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items or ()):
        stage_keys = src.mapping(
            item, _named("stage", item), required=("id", "approvers"), optional=_STAGE_KEYS
        )
        if stage_keys is None:
            continue
        id_node = _value("id", stage_keys)
        stage_id = None if id_node is None else src.text(id_node, "stage id")
        name = stage_id or "?"
        if stage_id is not None and id_node is not None:
            if not _STAGE_ID.match(stage_id):
                src.error(
                    id_node,
                    f"stage id '{stage_id}' must be lowercase letters, digits, '-' or '_'",
                )
            if stage_id in seen:
                src.error(
                    id_node, f"duplicate stage id '{stage_id}' (first at line {seen[stage_id]})"
                )
            else:
                seen[stage_id] = id_node.start_mark.line + 1
        what = f"stage '{name}'"
        label = (stage_id or "").replace("_", " ").replace("-", " ").capitalize()
        if (node := _value("label", stage_keys)) is not None:
            label = src.text(node, f"{what}: label") or label

        roles: tuple[str, ...] = ()
        users: tuple[str, ...] = ()
        if (node := _value("approvers", stage_keys)) is not None:
            before = len(src.errors)
            approvers = src.mapping(node, f"{what}: approvers", optional=("roles", "users"))
            if approvers is not None:
                if (roles_node := _value("roles", approvers)) is not None:
                    listed = []
                    for text, at in src.texts(roles_node, f"{what}: approvers.roles"):
                        if text not in APPROVER_ROLES:
                            src.error(
                                at,
                                f"{what}: approvers.roles: '{text}' does not review; "
                                f"approver roles are {', '.join(APPROVER_ROLES)}",
                            )
                        elif text not in listed:
                            listed.append(text)
                    roles = tuple(listed)
                if (users_node := _value("users", approvers)) is not None:
                    named = []
                    for text, at in src.texts(users_node, f"{what}: approvers.users"):
                        if not _EMAIL.match(text):
                            src.error(at, f"{what}: approvers.users: '{text}' is not an email")
                        elif text.casefold() not in named:
                            named.append(text.casefold())
                    users = tuple(named)
                if not roles and not users and len(src.errors) == before:
                    src.error(node, f"{what}: approvers: name at least one role or user")

        require = "any"
        if (node := _value("require", stage_keys)) is not None:
            chosen = src.text(node, f"{what}: require")
            if chosen is not None and chosen not in REQUIRE:
                src.error(node, f"{what}: require must be any or all, not '{chosen}'")
            elif chosen is not None:
                require = chosen

        sla_hours: float | None = None
        if (node := _value("sla_hours", stage_keys)) is not None:
            sla_hours = _hours(src, node, f"{what}: sla_hours")

        parallel = False
        if (node := _value("parallel", stage_keys)) is not None:
            parallel = bool(src.flag(node, f"{what}: parallel"))
            if parallel and index == 0:
                src.error(node, f"{what}: the first stage has no stage before it to run beside")
        keep = False
        if (node := _value("keep_on_resubmit", stage_keys)) is not None:
            keep = bool(src.flag(node, f"{what}: keep_on_resubmit"))

        when: dict[str, tuple[str, ...]] | None = {}
        if (node := _value("when", stage_keys)) is not None and facets is not None:
            when = parse_when(src, f"stage '{name}': when", node, facets)
        if stage_id is not None and when is not None:
            drafts.append(
                StageDraft(
                    id=stage_id,
                    label=label,
                    parallel=parallel,
                    roles=roles,
                    users=users,
                    require=require,
                    sla_hours=sla_hours,
                    keep_on_resubmit=keep,
                    when=when,
                )
            )
    if len(src.errors) > errors_before:
        return None
    return drafts


def _hours(src: _Source, node: yaml.Node, what: str) -> float | None:
    if isinstance(node, yaml.ScalarNode) and node.tag in (
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
    ):
        try:
            value = float(node.value)
        except ValueError:
            value = -1.0
        if 0 < value <= MAX_SLA_HOURS:
            return value
    src.error(node, f"{what} must be a number of working hours above 0 and at most {MAX_SLA_HOURS}")
    return None


def build_review(
    drafts: Sequence[StageDraft] | None,
    descendants: Callable[[str, str], frozenset[str]],
) -> ReviewPolicy:
    if not drafts:
        return DEFAULT_REVIEW
    stages: list[ReviewStage] = []
    step = -1
    for draft in drafts:
        if not draft.parallel:
            step += 1
        scope = {
            facet: frozenset().union(*(descendants(facet, t) for t in terms))
            for facet, terms in draft.when.items()
        }
        stages.append(
            ReviewStage(
                id=draft.id,
                label=draft.label,
                step=step,
                roles=draft.roles,
                users=draft.users,
                require=draft.require,
                sla_hours=draft.sla_hours,
                keep_on_resubmit=draft.keep_on_resubmit,
                when=MappingProxyType(dict(draft.when)),
                _scope=MappingProxyType(scope),
            )
        )
    return ReviewPolicy(stages=tuple(stages))
