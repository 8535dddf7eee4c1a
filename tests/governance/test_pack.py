from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dam.governance import GovernancePack, PackError, PackInvalid, Severity, load_pack
from tests.governance.factories import MINI_TAXONOMY, SHIPPED_PACK, mini_pack, write_pack

# Not indented, so tests can append lines to it.
ONE_FACET = """\
revision: "1"
facets:
  - id: asset_type
    terms:
      - id: photo
      - id: logo
"""


def problems(tmp_path: Path, taxonomy: str, rules: str = "rules: []\n") -> list[str]:
    """`file:line: message` for every problem, with the file name only."""
    with pytest.raises(PackInvalid) as caught:
        load_pack(write_pack(tmp_path / "pack", taxonomy, rules))
    return [str(dataclasses.replace(e, file=Path(e.file).name)) for e in caught.value.errors]


def rule_problems(tmp_path: Path, rules: str) -> list[str]:
    return problems(tmp_path, MINI_TAXONOMY, rules)


# --- the shipped pack -------------------------------------------------------------------------


def test_shipped_pack_loads_with_the_documented_facets() -> None:
    pack = load_pack(SHIPPED_PACK)

    assert pack.revision == "2026.11.2"
    assert [f.id for f in pack.facets] == [
        "asset_type",
        "channel",
        "brand",
        "product_line",
        "region",
        "audience",
        "visual_style",
        "usage_rights",
    ]
    assert [f.id for f in pack.facets if f.required] == ["asset_type", "usage_rights"]
    assert not pack.facet("asset_type").multi
    assert {r.severity for r in pack.rules} == {Severity.block, Severity.warn}


def test_shipped_pack_has_deprecated_terms_with_live_replacements() -> None:
    pack = load_pack(SHIPPED_PACK)

    deprecated = {
        (f.id, t.id): t.replaced_by for f in pack.facets for t in f.terms.values() if t.deprecated
    }
    assert deprecated[("region", "benelux")] == "emea"
    assert deprecated[("channel", "twitter")] == "x"
    for (facet, _), replacement in deprecated.items():
        assert replacement is not None
        assert not pack.term(facet, replacement).deprecated


def test_shipped_pack_reads_norway_as_text_not_a_boolean() -> None:
    pack = load_pack(SHIPPED_PACK)

    assert pack.label("region", "no") == "Norway"
    assert pack.ancestors("region", "no") == ("global", "emea", "nordics")


# --- term trees and lookups -------------------------------------------------------------------


def test_descendants_include_the_term_and_its_whole_subtree(tmp_path: Path) -> None:
    pack = mini_pack(tmp_path)

    assert pack.descendants("channel", "social") == {"social", "instagram", "tiktok"}
    assert pack.descendants("channel", "instagram") == {"instagram"}


def test_ancestors_are_listed_root_first_without_the_term(tmp_path: Path) -> None:
    pack = mini_pack(tmp_path)

    assert pack.ancestors("channel", "instagram") == ("social",)
    assert pack.ancestors("channel", "social") == ()


def test_resolve_finds_ids_labels_and_synonyms_case_insensitively(tmp_path: Path) -> None:
    pack = mini_pack(tmp_path)

    assert pack.resolve("channel", "INSTAGRAM") == "instagram"
    assert pack.resolve("channel", "Ig") == "instagram"
    assert pack.resolve("asset_type", "  Picture ") == "photo"
    assert pack.resolve("asset_type", "Banner ad") == "banner-ad"  # derived label
    assert pack.resolve("asset_type", "video") is None
    assert pack.resolve_facet("asset type") == "asset_type"


def test_term_tree_keeps_document_order_and_parents(tmp_path: Path) -> None:
    pack = mini_pack(tmp_path)
    channel = pack.facet("channel")

    assert [t.id for t in channel.roots] == ["social", "print", "fax"]
    assert [t.id for t in channel.roots[0].children] == ["instagram", "tiktok"]
    assert list(channel.terms) == ["social", "instagram", "tiktok", "print", "fax"]
    assert channel.terms["tiktok"].parent == "social"


def test_pack_is_immutable(tmp_path: Path) -> None:
    pack = mini_pack(tmp_path)

    with pytest.raises(dataclasses.FrozenInstanceError):
        pack.revision = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        pack.facet("channel").terms["new"] = pack.term("channel", "print")  # type: ignore[index]


def test_taxonomy_json_nests_terms_under_facets(tmp_path: Path) -> None:
    pack = mini_pack(tmp_path)

    social = pack.taxonomy_json()["facets"][1]["terms"][0]
    assert social["id"] == "social"
    assert social["children"][0] == {
        "id": "instagram",
        "label": "Instagram",
        "synonyms": ["ig"],
        "description": None,
        "deprecated": False,
        "replaced_by": None,
        "children": [],
    }


def test_rules_json_shows_effective_params(tmp_path: Path) -> None:
    pack = mini_pack(
        tmp_path,
        """\
        rules:
          - id: sizes
            description: Big enough
            severity: block
            when: {channel: social}
            check: min_dimensions
            params: {width: 100}
        """,
    )

    assert pack.rules_json()["rules"] == [
        {
            "id": "sizes",
            "description": "Big enough",
            "severity": "block",
            "when": {"channel": ["social"]},
            "check": "min_dimensions",
            "params": {"width": 100, "height": None, "any_orientation": False},
            "enabled": True,
        }
    ]


def test_digest_changes_when_a_file_changes(tmp_path: Path) -> None:
    first = mini_pack(tmp_path)
    second = mini_pack(tmp_path, "rules:\n")

    assert first.digest != second.digest
    assert isinstance(first, GovernancePack)


# --- taxonomy.yaml problems -------------------------------------------------------------------


def test_unknown_key_is_reported_on_its_line_with_a_hint(tmp_path: Path) -> None:
    taxonomy = """\
        revision: "1"
        facets:
          - id: asset_type
            terms:
              - id: photo
                synonym: [picture]
        """

    assert problems(tmp_path, taxonomy) == [
        "taxonomy.yaml:6: facet 'asset_type' term 'photo': unknown key 'synonym' (did you mean "
        "'synonyms'?); allowed keys are id, label, description, synonyms, deprecated, "
        "replaced_by, children"
    ]


def test_wrong_types_are_reported_on_the_value(tmp_path: Path) -> None:
    taxonomy = """\
        revision: "1"
        facets:
          - id: asset_type
            required: sometimes
            terms: photo
        """

    assert problems(tmp_path, taxonomy) == [
        "taxonomy.yaml:4: facet 'asset_type': required must be true or false, not 'sometimes'",
        "taxonomy.yaml:5: facet 'asset_type': terms must be a list, not 'photo'",
    ]


def test_missing_required_keys_are_reported_on_the_mapping(tmp_path: Path) -> None:
    taxonomy = """\
        facets:
          - id: asset_type
            terms:
              - label: Photo
        """

    assert problems(tmp_path, taxonomy) == [
        "taxonomy.yaml:1: taxonomy: missing required key 'revision'",
        "taxonomy.yaml:4: facet 'asset_type' term: missing required key 'id'",
    ]


def test_duplicate_yaml_key_names_the_first_occurrence(tmp_path: Path) -> None:
    taxonomy = """\
        revision: "1"
        revision: "2"
        facets: [{id: a, terms: [{id: b}]}]
        """

    assert problems(tmp_path, taxonomy) == [
        "taxonomy.yaml:2: taxonomy: duplicate key 'revision' (first at line 1)"
    ]


def test_duplicate_facet_id(tmp_path: Path) -> None:
    taxonomy = ONE_FACET + "  - id: asset_type\n    terms: [{id: video}]\n"

    assert problems(tmp_path, taxonomy) == [
        "taxonomy.yaml:7: duplicate facet id 'asset_type' (first defined at line 3)"
    ]


def test_duplicate_term_id_within_a_facet(tmp_path: Path) -> None:
    taxonomy = ONE_FACET + "      - id: photo\n"

    assert problems(tmp_path, taxonomy) == [
        "taxonomy.yaml:7: duplicate term id 'photo' in facet 'asset_type' (first defined at line 5)"
    ]


def test_same_term_id_in_two_facets_is_fine(tmp_path: Path) -> None:
    taxonomy = ONE_FACET + "  - id: style\n    terms: [{id: photo}]\n"

    pack = load_pack(write_pack(tmp_path / "pack", taxonomy))
    assert pack.resolve("style", "photo") == "photo"


def test_synonym_naming_another_term_is_ambiguous(tmp_path: Path) -> None:
    taxonomy = """\
        revision: "1"
        facets:
          - id: asset_type
            terms:
              - id: photo
                synonyms: [picture]
              - id: logo
                synonyms:
                  - brand mark
                  - Picture
        """

    assert problems(tmp_path, taxonomy) == [
        "taxonomy.yaml:10: synonym 'Picture' of term 'logo' is already the synonym of term "
        "'photo' (line 6) in facet 'asset_type'"
    ]


def test_dangling_replaced_by_suggests_close_terms(tmp_path: Path) -> None:
    taxonomy = """\
        revision: "1"
        facets:
          - id: asset_type
            terms:
              - id: photo
              - id: foto
                deprecated: true
                replaced_by: photos
        """

    assert problems(tmp_path, taxonomy) == [
        "taxonomy.yaml:8: term 'foto': replaced_by 'photos' is not a term of facet 'asset_type' "
        "(closest: photo, foto)"
    ]


def test_replaced_by_pointing_at_a_deprecated_term_names_the_final_term(tmp_path: Path) -> None:
    taxonomy = """\
        revision: "1"
        facets:
          - id: region
            terms:
              - id: emea
              - id: benelux
                deprecated: true
                replaced_by: lowlands
              - id: lowlands
                deprecated: true
                replaced_by: emea
        """

    assert problems(tmp_path, taxonomy) == [
        "taxonomy.yaml:8: term 'benelux': replaced_by 'lowlands' is itself deprecated; point it "
        "at 'emea' directly (benelux → lowlands → emea)"
    ]


def test_replaced_by_cycle_is_reported_on_each_member(tmp_path: Path) -> None:
    taxonomy = """\
        revision: "1"
        facets:
          - id: region
            terms:
              - id: a
                deprecated: true
                replaced_by: b
              - id: b
                deprecated: true
                replaced_by: a
        """

    assert problems(tmp_path, taxonomy) == [
        "taxonomy.yaml:7: term 'a': replaced_by cycle a → b → a",
        "taxonomy.yaml:10: term 'b': replaced_by cycle b → a → b",
    ]


def test_replaced_by_needs_deprecated(tmp_path: Path) -> None:
    taxonomy = ONE_FACET + "      - id: old\n        replaced_by: photo\n"

    assert problems(tmp_path, taxonomy) == [
        "taxonomy.yaml:8: term 'old': replaced_by needs deprecated: true"
    ]


def test_term_nested_inside_itself_is_a_parent_child_cycle(tmp_path: Path) -> None:
    taxonomy = """\
        revision: "1"
        facets:
          - id: region
            terms:
              - id: emea
                children:
                  - id: de
                    children:
                      - id: emea
        """

    assert problems(tmp_path, taxonomy) == [
        "taxonomy.yaml:9: term 'emea' is nested inside itself (emea > de > emea): "
        "parent/child cycle"
    ]


def test_bad_ids_are_refused(tmp_path: Path) -> None:
    taxonomy = """\
        revision: "1"
        facets:
          - id: Asset Type
            terms:
              - id: Photo Shoot
        """

    assert problems(tmp_path, taxonomy) == [
        "taxonomy.yaml:3: facet id 'Asset Type' must be lowercase letters, digits and '_'",
        "taxonomy.yaml:5: term id 'Photo Shoot' must be lowercase letters, digits, '-' or '_' "
        "(at most 64 characters)",
    ]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    taxonomy = 'revision: "1"\nfacets:\n  - id: a\n    terms: [photo\n'

    found = problems(tmp_path, taxonomy)
    assert len(found) == 1
    assert found[0].startswith("taxonomy.yaml:5: YAML syntax error: ")


def test_missing_file_is_reported(tmp_path: Path) -> None:
    directory = write_pack(tmp_path / "pack", ONE_FACET)
    (directory / "brand_rules.yaml").unlink()

    with pytest.raises(PackInvalid) as caught:
        load_pack(directory)
    assert caught.value.errors == [
        PackError(str(directory / "brand_rules.yaml"), None, "file not found")
    ]


def test_missing_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(PackInvalid, match="governance pack directory not found"):
        load_pack(tmp_path / "nowhere")


# --- brand_rules.yaml problems ----------------------------------------------------------------


def test_unknown_check_suggests_the_closest_name(tmp_path: Path) -> None:
    rules = """\
        rules:
          - id: r
            description: d
            severity: warn
            check: min_dimension
        """

    found = rule_problems(tmp_path, rules)
    assert len(found) == 1
    assert found[0].startswith(
        "brand_rules.yaml:5: rule 'r': unknown check 'min_dimension' "
        "(did you mean 'min_dimensions'?); checks are aspect_ratio_in, "
    )


def test_bad_param_is_reported_on_the_param_line(tmp_path: Path) -> None:
    rules = """\
        rules:
          - id: r
            description: d
            severity: warn
            check: min_dimensions
            params:
              height: 800
              width: "1200"
        """

    assert rule_problems(tmp_path, rules) == [
        "brand_rules.yaml:8: rule 'r': params.width: Input should be a valid integer"
    ]


def test_unknown_param_lists_the_checks_parameters(tmp_path: Path) -> None:
    rules = """\
        rules:
          - id: r
            description: d
            severity: warn
            check: max_megapixels
            params:
              max: 50
              min: 1
        """

    assert rule_problems(tmp_path, rules) == [
        "brand_rules.yaml:8: rule 'r': unknown parameter 'min' for check 'max_megapixels' "
        "(parameters: max)"
    ]


def test_missing_param_is_reported_on_params(tmp_path: Path) -> None:
    rules = """\
        rules:
          - id: r
            description: d
            severity: warn
            check: format_in
            params: {}
        """

    assert rule_problems(tmp_path, rules) == [
        "brand_rules.yaml:6: rule 'r': missing required parameter 'formats' for check 'format_in'"
    ]


def test_missing_params_block_is_reported_on_check(tmp_path: Path) -> None:
    rules = """\
        rules:
          - id: r
            description: d
            severity: warn
            check: palette
        """

    assert rule_problems(tmp_path, rules) == [
        "brand_rules.yaml:5: rule 'r': missing required parameter 'colors' for check 'palette'"
    ]


def test_param_list_item_error_points_at_the_item(tmp_path: Path) -> None:
    rules = """\
        rules:
          - id: r
            description: d
            severity: warn
            check: aspect_ratio_in
            params:
              ratios:
                - "1:1"
                - 4
        """

    assert rule_problems(tmp_path, rules) == [
        "brand_rules.yaml:9: rule 'r': params.ratios[1]: Input should be a valid string"
    ]


def test_invalid_regex_is_refused_at_load(tmp_path: Path) -> None:
    rules = """\
        rules:
          - id: r
            description: d
            severity: block
            check: filename_pattern
            params: {pattern: "^HAL_([A-Z+$"}
        """

    assert rule_problems(tmp_path, rules) == [
        "brand_rules.yaml:6: rule 'r': params.pattern: invalid regular expression: "
        "unterminated character set at position 6"
    ]


def test_when_problems_name_facet_and_term(tmp_path: Path) -> None:
    rules = """\
        rules:
          - id: r
            description: d
            severity: warn
            check: max_megapixels
            params: {max: 1}
            when:
              chanel: [print]
              asset_type: [Photograph, fax, bannr, banner-ad]
        """

    assert rule_problems(tmp_path, rules) == [
        "brand_rules.yaml:8: rule 'r': when: unknown facet 'chanel' (did you mean 'channel'?)",
        "brand_rules.yaml:9: rule 'r': when.asset_type: use the term id 'photo' rather than "
        "'Photograph'",
        "brand_rules.yaml:9: rule 'r': when.asset_type: unknown term 'fax'",
        "brand_rules.yaml:9: rule 'r': when.asset_type: unknown term 'bannr' (closest: banner, "
        "banner-ad)",
        "brand_rules.yaml:9: rule 'r': when.asset_type: term 'banner-ad' is deprecated; use "
        "'banner'",
    ]


def test_duplicate_rule_id_and_bad_severity(tmp_path: Path) -> None:
    rules = """\
        rules:
          - id: r
            description: d
            severity: error
            check: transparency_required
          - id: r
            description: d
            severity: warn
            check: transparency_required
        """

    assert rule_problems(tmp_path, rules) == [
        "brand_rules.yaml:4: rule 'r': severity must be block or warn, not 'error'",
        "brand_rules.yaml:6: duplicate rule id 'r' (first at line 2)",
    ]


def test_every_problem_of_both_files_is_reported_at_once(tmp_path: Path) -> None:
    taxonomy = ONE_FACET + "      - id: photo\n"
    rules = """\
        rules:
          - id: r
            description: d
            severity: sometimes
            check: nope
        """

    with pytest.raises(PackInvalid) as caught:
        load_pack(write_pack(tmp_path / "pack", taxonomy, rules))
    located = [(Path(e.file).name, e.line) for e in caught.value.errors]
    assert located == [("taxonomy.yaml", 7), ("brand_rules.yaml", 4), ("brand_rules.yaml", 5)]
    assert str(caught.value).splitlines()[0] == str(caught.value.errors[0])
    assert str(caught.value.errors[0]).endswith(
        "taxonomy.yaml:7: duplicate term id 'photo' in facet 'asset_type' (first defined at line 5)"
    )
