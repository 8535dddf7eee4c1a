from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dam.errors import Invalid
from dam.governance import GovernancePack, normalize_terms
from tests.governance.factories import mini_pack


@pytest.fixture
def pack(tmp_path: Path) -> GovernancePack:
    return mini_pack(tmp_path)


def base(**extra: list[str]) -> dict[str, list[str]]:
    return {"asset_type": ["photo"], "usage_rights": ["owned"], **extra}


def problems_of(pack: GovernancePack, terms: Any) -> list[dict[str, Any]]:
    with pytest.raises(Invalid) as caught:
        normalize_terms(pack, terms)
    assert caught.value.code == "invalid_terms"
    assert caught.value.status_code == 422
    return list(caught.value.extra["problems"])


def test_synonyms_and_labels_are_stored_as_term_ids(pack: GovernancePack) -> None:
    result = normalize_terms(
        pack, {"Asset type": ["PICTURE"], "usage_rights": ["Owned"], "channel": ["ig"]}
    )

    assert result.terms == {
        "asset_type": ["photo"],
        "channel": ["instagram"],
        "usage_rights": ["owned"],
    }
    assert result.warnings == []


def test_facets_come_out_in_pack_order_and_duplicates_are_dropped(pack: GovernancePack) -> None:
    result = normalize_terms(
        pack,
        {
            "usage_rights": ["owned"],
            "channel": ["print", "tiktok", "TikTok", "print"],
            "asset_type": ["photo"],
        },
    )

    assert list(result.terms) == ["asset_type", "channel", "usage_rights"]
    assert result.terms["channel"] == ["print", "tiktok"]


def test_deprecated_term_is_replaced_with_a_warning(pack: GovernancePack) -> None:
    result = normalize_terms(pack, {"asset_type": ["banner-ad"], "usage_rights": ["owned"]})

    assert result.terms["asset_type"] == ["banner"]
    assert result.warnings == [
        {
            "rule": "taxonomy.deprecated_term",
            "severity": "warn",
            "message": "Asset type: 'Banner ad' is deprecated; stored as 'Banner' (banner)",
            "expected": "banner",
            "actual": "banner-ad",
        }
    ]


def test_deprecated_term_without_replacement_is_kept_with_a_warning(
    pack: GovernancePack,
) -> None:
    result = normalize_terms(pack, base(channel=["fax"]))

    assert result.terms["channel"] == ["fax"]
    assert result.warnings == [
        {
            "rule": "taxonomy.deprecated_term",
            "severity": "warn",
            "message": "Channel: 'Fax' is deprecated",
            "expected": None,
            "actual": "fax",
        }
    ]


def test_unknown_term_suggests_the_closest_terms(pack: GovernancePack) -> None:
    assert problems_of(pack, base(channel=["instagarm"])) == [
        {
            "facet": "channel",
            "term": "instagarm",
            "message": "unknown term 'instagarm' in facet 'channel'",
            "suggestions": ["instagram"],
        }
    ]


def test_suggestions_offer_replacements_not_deprecated_terms(pack: GovernancePack) -> None:
    found = problems_of(pack, {"asset_type": ["banner-adz"], "usage_rights": ["owned"]})

    assert found[0]["suggestions"] == ["banner"]


def test_unknown_facet_suggests_the_closest_facet(pack: GovernancePack) -> None:
    assert problems_of(pack, base(chanel=["print"])) == [
        {
            "facet": "chanel",
            "term": None,
            "message": "unknown facet 'chanel'",
            "suggestions": ["channel"],
        }
    ]


def test_term_of_another_facet_says_where_it_belongs(pack: GovernancePack) -> None:
    found = problems_of(pack, {"asset_type": ["instagram"], "usage_rights": ["owned"]})

    assert found == [
        {
            "facet": "asset_type",
            "term": "instagram",
            "message": (
                "'instagram' is not a term of facet 'asset_type'; it belongs to facet 'channel'"
            ),
            "suggestions": [],
        }
    ]


def test_missing_required_facet_lists_the_choices(pack: GovernancePack) -> None:
    assert problems_of(pack, {"asset_type": ["logo"]}) == [
        {
            "facet": "usage_rights",
            "term": None,
            "message": "facet 'usage_rights' is required; choose a term",
            "suggestions": ["owned", "licensed"],
        }
    ]


def test_no_terms_at_all_reports_every_required_facet(pack: GovernancePack) -> None:
    assert [p["facet"] for p in problems_of(pack, None)] == ["asset_type", "usage_rights"]


def test_two_terms_in_a_single_valued_facet_are_refused(pack: GovernancePack) -> None:
    assert problems_of(pack, {"asset_type": ["photo", "logo"], "usage_rights": ["owned"]}) == [
        {
            "facet": "asset_type",
            "term": None,
            "message": "facet 'asset_type' takes one term, got 2: photo, logo",
            "suggestions": [],
        }
    ]


def test_parent_and_child_keep_only_the_more_specific_term(pack: GovernancePack) -> None:
    result = normalize_terms(pack, {"asset_type": ["photo"], "usage_rights": ["licensed", "stock"]})

    assert result.terms["usage_rights"] == ["stock"]


def test_a_parent_term_alone_is_a_valid_choice(pack: GovernancePack) -> None:
    result = normalize_terms(pack, base(channel=["social"]))

    assert result.terms["channel"] == ["social"]


def test_every_problem_is_reported_in_one_error(pack: GovernancePack) -> None:
    found = problems_of(
        pack,
        {"asset_type": ["photo", "logo"], "channel": ["fx"], "region": ["emea"]},
    )

    assert [(p["facet"], p["term"]) for p in found] == [
        ("channel", "fx"),
        ("region", None),
        ("asset_type", None),
        ("usage_rights", None),
    ]


def test_unknown_term_in_a_required_facet_is_not_also_reported_missing(
    pack: GovernancePack,
) -> None:
    found = problems_of(pack, {"asset_type": ["fotograph"], "usage_rights": ["owned"]})

    assert [(p["facet"], p["term"]) for p in found] == [("asset_type", "fotograph")]
    assert found[0]["suggestions"] == ["photo"]


def test_a_single_string_and_blank_terms_are_accepted(pack: GovernancePack) -> None:
    result = normalize_terms(
        pack, {"asset_type": "photo", "usage_rights": ["owned", "  "], "channel": []}
    )

    assert result.terms == {"asset_type": ["photo"], "usage_rights": ["owned"]}


def test_non_text_terms_are_refused(pack: GovernancePack) -> None:
    found = problems_of(pack, {"asset_type": [3], "usage_rights": ["owned"]})

    assert found == [
        {"facet": "asset_type", "term": "3", "message": "terms must be text", "suggestions": []}
    ]
