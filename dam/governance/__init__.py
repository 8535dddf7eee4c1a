"""Metadata governance: the controlled taxonomy and brand rules (the governance pack)."""

from dam.governance.checks import CHECKS, Finding, Subject
from dam.governance.engine import ComplianceReport, ComplianceStatus, Violation, evaluate
from dam.governance.pack import (
    Facet,
    GovernancePack,
    PackError,
    PackInvalid,
    Rule,
    Severity,
    Term,
    load_pack,
)
from dam.governance.terms import DEPRECATED_TERM_RULE, NormalizedTerms, normalize_terms

__all__ = [
    "CHECKS",
    "DEPRECATED_TERM_RULE",
    "ComplianceReport",
    "ComplianceStatus",
    "Facet",
    "Finding",
    "GovernancePack",
    "NormalizedTerms",
    "PackError",
    "PackInvalid",
    "Rule",
    "Severity",
    "Subject",
    "Term",
    "Violation",
    "evaluate",
    "load_pack",
    "normalize_terms",
]
