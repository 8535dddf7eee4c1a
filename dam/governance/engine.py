"""Evaluate a subject against the brand rules of a pack and produce its compliance report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dam.errors import PolicyViolation
from dam.governance.checks import Subject
from dam.governance.pack import GovernancePack, Severity

__all__ = ["ComplianceReport", "ComplianceStatus", "Violation", "evaluate"]


class ComplianceStatus(StrEnum):
    passed = "pass"
    warned = "warn"
    failed = "fail"


@dataclass(frozen=True)
class Violation:
    rule: str
    severity: Severity
    message: str
    expected: Any = None
    actual: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": str(self.severity),
            "message": self.message,
            "expected": self.expected,
            "actual": self.actual,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Violation:
        return cls(
            rule=str(data["rule"]),
            severity=Severity(data["severity"]),
            message=str(data["message"]),
            expected=data.get("expected"),
            actual=data.get("actual"),
        )


@dataclass(frozen=True)
class ComplianceReport:
    status: ComplianceStatus
    violations: tuple[Violation, ...]
    revision: str

    @classmethod
    def of(cls, violations: Iterable[Violation], revision: str) -> ComplianceReport:
        found = tuple(violations)
        if any(v.severity == Severity.block for v in found):
            status = ComplianceStatus.failed
        elif found:
            status = ComplianceStatus.warned
        else:
            status = ComplianceStatus.passed
        return cls(status=status, violations=found, revision=revision)

    @property
    def blocking(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.severity == Severity.block)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "violations": [v.to_json() for v in self.violations],
            "revision": self.revision,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ComplianceReport:
        # Status is recomputed rather than trusted, so it always agrees with the violations.
        return cls.of(
            (Violation.from_json(v) for v in data.get("violations", [])),
            str(data.get("revision", "")),
        )

    def raise_if_failed(self) -> None:
        """Raise `PolicyViolation` with every violation (warnings too) when a block rule failed."""
        if self.status != ComplianceStatus.failed:
            return
        count = len(self.blocking)
        raise PolicyViolation(
            f"{count} blocking brand rule violation{'s' if count > 1 else ''}",
            violations=[v.to_json() for v in self.violations],
        )


def evaluate(
    pack: GovernancePack,
    subject: Subject,
    *,
    extra_warnings: Iterable[Mapping[str, Any]] = (),
) -> ComplianceReport:
    """Run every enabled rule whose `when` matches `subject.terms` (which must be canonical).

    `extra_warnings` (e.g. `NormalizedTerms.warnings`) come first in the report, then rule
    violations in pack order; a rule may report several findings.
    """
    violations = [Violation.from_json(w) for w in extra_warnings]
    for rule in pack.rules:
        if not rule.enabled or not rule.applies_to(subject.terms):
            continue
        for finding in rule.run(subject):
            violations.append(
                Violation(
                    rule=rule.id,
                    severity=rule.severity,
                    message=f"{rule.description}: {finding.message}",
                    expected=finding.expected,
                    actual=finding.actual,
                )
            )
    return ComplianceReport.of(violations, pack.revision)
