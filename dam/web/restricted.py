"""What restricted viewers (marketers; the published view only) are spared on the pages: the
workflow's clutter. The review-state filter is not offered to them (they only ever see
approved versions), their history shows only changes of the published view
(`dam.audit.queries.asset_history(published_only=True)`), and a "Warnings" badge that only
says the pack fixed something by itself (a deprecated term stored as its replacement) is shown
to nobody as a warning: the asset is on brand as stored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dam.governance.terms import DEPRECATED_TERM_RULE

# Library filters that belong to the review workflow.
WORKFLOW_FILTERS = frozenset({"review_state"})


def auto_fixed(violation: Mapping[str, Any]) -> bool:
    """A warning about something already fixed when it was stored."""
    return violation.get("rule") == DEPRECATED_TERM_RULE and violation.get("expected") is not None


def shown_compliance(status: str | None, violations: Sequence[Mapping[str, Any]] | None) -> Any:
    """The badge's status: `warn` whose every warning was fixed when stored reads `pass`."""
    if status == "warn" and violations and all(auto_fixed(v) for v in violations):
        return "pass"
    return status


def library_status(status: str | None, restricted: bool) -> str | None:
    """In the library (no details there), restricted viewers get no `warn` badge: warnings are
    for the people who can act on them before approval."""
    return None if restricted and status == "warn" else status


def install(env: Any) -> None:
    env.filters["shown_compliance"] = shown_compliance
    env.filters["library_status"] = library_status
    env.globals["WORKFLOW_FILTERS"] = WORKFLOW_FILTERS


__all__ = ["auto_fixed", "install", "library_status", "shown_compliance"]
