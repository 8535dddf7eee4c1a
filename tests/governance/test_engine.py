from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from dam.errors import PolicyViolation
from dam.governance import (
    ComplianceReport,
    ComplianceStatus,
    GovernancePack,
    Severity,
    Violation,
    evaluate,
    load_pack,
    normalize_terms,
)
from tests.governance.factories import NOW, SHIPPED_PACK, media, mini_pack, subject

# One rule per scoping case; every rule fails any subject (an impossible minimum width), so
# which rules ran is visible in the report.
SCOPED_RULES = """\
    rules:
      - id: everywhere
        description: d
        severity: warn
        check: min_dimensions
        params: {width: 99999}
      - id: social-only
        description: d
        severity: warn
        when: {channel: [social]}
        check: min_dimensions
        params: {width: 99999}
      - id: instagram-or-print
        description: d
        severity: warn
        when: {channel: [instagram, print]}
        check: min_dimensions
        params: {width: 99999}
      - id: social-banners
        description: d
        severity: warn
        when: {channel: [social], asset_type: [banner]}
        check: min_dimensions
        params: {width: 99999}
      - id: switched-off
        description: d
        severity: block
        enabled: false
        check: min_dimensions
        params: {width: 99999}
"""


@pytest.fixture
def scoped(tmp_path: Path) -> GovernancePack:
    return mini_pack(tmp_path, SCOPED_RULES)


def fired(pack: GovernancePack, **terms: list[str]) -> list[str]:
    report = evaluate(pack, subject(terms=terms))
    return [v.rule for v in report.violations]


def test_rule_without_when_applies_to_everything(scoped: GovernancePack) -> None:
    assert fired(scoped, asset_type=["photo"]) == ["everywhere"]


def test_parent_term_in_when_matches_its_descendants(scoped: GovernancePack) -> None:
    assert fired(scoped, channel=["tiktok"]) == ["everywhere", "social-only"]
    assert fired(scoped, channel=["social"]) == ["everywhere", "social-only"]


def test_child_term_in_when_does_not_match_its_parent(scoped: GovernancePack) -> None:
    assert "instagram-or-print" not in fired(scoped, channel=["social"])


def test_terms_within_a_facet_are_ored(scoped: GovernancePack) -> None:
    assert fired(scoped, channel=["print"]) == ["everywhere", "instagram-or-print"]


def test_facets_in_when_are_anded(scoped: GovernancePack) -> None:
    assert "social-banners" not in fired(scoped, channel=["tiktok"], asset_type=["photo"])
    assert "social-banners" in fired(scoped, channel=["tiktok"], asset_type=["banner"])


def test_disabled_rules_do_not_run(scoped: GovernancePack) -> None:
    assert "switched-off" not in fired(scoped, asset_type=["photo"])


def rules_of(severities: list[str]) -> str:
    lines = ["rules:"]
    for n, severity in enumerate(severities):
        lines += [
            f"  - id: r{n}",
            "    description: Wide enough",
            f"    severity: {severity}",
            "    check: min_dimensions",
            "    params: {width: 99999}",
        ]
    return "\n".join(lines) + "\n"


def test_status_is_pass_without_violations(tmp_path: Path) -> None:
    report = evaluate(mini_pack(tmp_path), subject())

    assert report.to_json() == {"status": "pass", "violations": [], "revision": "t1"}


def test_status_is_warn_when_only_warn_rules_fail(tmp_path: Path) -> None:
    report = evaluate(mini_pack(tmp_path, rules_of(["warn", "warn"])), subject())

    assert report.status == ComplianceStatus.warned
    assert report.blocking == ()


def test_status_is_fail_when_any_block_rule_fails(tmp_path: Path) -> None:
    report = evaluate(mini_pack(tmp_path, rules_of(["warn", "block"])), subject())

    assert report.status == ComplianceStatus.failed
    assert [v.rule for v in report.blocking] == ["r1"]


def test_violation_message_starts_with_the_rule_description(tmp_path: Path) -> None:
    report = evaluate(mini_pack(tmp_path, rules_of(["block"])), subject())

    assert report.to_json()["violations"] == [
        {
            "rule": "r0",
            "severity": "block",
            "message": "Wide enough: 1600 x 1200 px is smaller than 99999 px wide",
            "expected": {"width": 99999},
            "actual": {"width": 1600, "height": 1200},
        }
    ]


def test_deprecation_warnings_come_first_and_make_the_status_warn(tmp_path: Path) -> None:
    pack = mini_pack(tmp_path)
    terms = normalize_terms(pack, {"asset_type": ["banner-ad"], "usage_rights": ["owned"]})

    report = evaluate(pack, subject(terms=terms.terms), extra_warnings=terms.warnings)

    assert report.status == ComplianceStatus.warned
    assert [v.rule for v in report.violations] == ["taxonomy.deprecated_term"]
    assert report.violations[0].severity == Severity.warn


def test_report_round_trips_through_json(tmp_path: Path) -> None:
    report = evaluate(mini_pack(tmp_path, rules_of(["warn", "block"])), subject())

    assert ComplianceReport.from_json(report.to_json()) == report


def test_raise_if_failed_carries_every_violation(tmp_path: Path) -> None:
    report = evaluate(mini_pack(tmp_path, rules_of(["warn", "block"])), subject())

    with pytest.raises(PolicyViolation) as caught:
        report.raise_if_failed()
    assert caught.value.detail == "1 blocking brand rule violation"
    assert [v["rule"] for v in caught.value.violations] == ["r0", "r1"]


def test_raise_if_failed_is_quiet_for_warnings(tmp_path: Path) -> None:
    evaluate(mini_pack(tmp_path, rules_of(["warn"])), subject()).raise_if_failed()


def test_violation_from_json_rejects_unknown_severity() -> None:
    with pytest.raises(ValueError):
        Violation.from_json({"rule": "r", "severity": "fatal", "message": "m"})


# --- the shipped pack on realistic subjects -----------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> GovernancePack:
    return load_pack(SHIPPED_PACK)


def test_ordinary_photo_passes_the_shipped_pack(shipped: GovernancePack) -> None:
    terms = normalize_terms(
        shipped, {"asset_type": ["photo"], "usage_rights": ["owned"], "brand": ["halden"]}
    )

    report = evaluate(shipped, subject(terms=terms.terms))

    assert report.to_json() == {"status": "pass", "violations": [], "revision": "2026.11.2"}


def test_photo_without_brand_only_warns(shipped: GovernancePack) -> None:
    report = evaluate(shipped, subject())

    assert report.status == ComplianceStatus.warned
    assert [v.rule for v in report.violations] == ["brand-tagged"]


def test_licensed_stock_photo_without_rights_expiry_is_blocked(shipped: GovernancePack) -> None:
    terms = normalize_terms(shipped, {"asset_type": ["photo"], "usage_rights": ["getty"]})

    blocked = evaluate(shipped, subject(terms=terms.terms))
    dated = evaluate(
        shipped, subject(terms=terms.terms, rights_expire_at=NOW + timedelta(days=365))
    )

    assert "licensed-rights-expiry" in [v.rule for v in blocked.blocking]
    assert "licensed-rights-expiry" not in [v.rule for v in dated.violations]


def test_opaque_jpeg_logo_is_blocked(shipped: GovernancePack) -> None:
    terms = {"asset_type": ["logo"], "usage_rights": ["owned"], "brand": ["halden"]}

    report = evaluate(shipped, subject(terms=terms))

    assert [v.rule for v in report.blocking] == ["logo-formats", "logo-transparency"]


def test_24_megapixel_photo_for_every_channel_is_evaluated(shipped: GovernancePack) -> None:
    rng = random.Random(7)
    colours = [
        ((rng.randrange(256), rng.randrange(256), rng.randrange(256)), 1 / 16) for _ in range(16)
    ]
    photo = media(width=6000, height=4000, dpi=(72.0, 72.0), dominant_colors=colours)
    terms = {
        "asset_type": ["graphic"],
        "channel": ["social", "email", "web", "display", "print", "out-of-home"],
        "usage_rights": ["owned"],
    }

    report = evaluate(shipped, subject(media=photo, size=9_000_000, terms=terms))

    assert report.status == ComplianceStatus.failed
    assert [v.rule for v in report.blocking] == ["email-max-size"]
    assert [v.rule for v in report.violations if v.severity == Severity.warn] == [
        "brand-tagged",
        "email-weight",
        "email-width",
        "print-cmyk",
        "print-profile",
        "print-resolution",
        "brand-palette",
    ]
