"""metadata.yaml: loading with file:line errors, pre-filling from a file, privacy, new checks."""

from __future__ import annotations

import dataclasses
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dam.governance import GovernancePack, Subject, evaluate, load_pack
from dam.governance.metadata import DEFAULT_POLICY
from dam.governance.pack import PackInvalid
from dam.governance.prefill import embedded_for, prefill
from dam.governance.service import Fields, assess
from dam.media.embedded import Embedded, EmbeddedMetadata, GpsPosition, read_embedded
from dam.media.inspect import inspect_file
from tests.governance.factories import MINI_TAXONOMY, SHIPPED_PACK, media, subject, write_pack

CORPUS = Path(__file__).resolve().parents[1] / "media" / "corpus"


@pytest.fixture(scope="module")
def shipped() -> GovernancePack:
    return load_pack(SHIPPED_PACK)


@pytest.fixture(scope="module")
def agency() -> EmbeddedMetadata:
    return read_embedded(CORPUS / "agency-photo.jpg", fmt="JPEG")


def pack_with_metadata(tmp_path: Path, metadata: str, rules: str = "rules: []\n") -> Path:
    directory = write_pack(tmp_path / "pack", MINI_TAXONOMY, rules)
    (directory / "metadata.yaml").write_text(textwrap.dedent(metadata), encoding="utf-8")
    return directory


def problems(directory: Path) -> list[str]:
    with pytest.raises(PackInvalid) as caught:
        load_pack(directory)
    return [str(dataclasses.replace(e, file=Path(e.file).name)) for e in caught.value.errors]


# --- loading ----------------------------------------------------------------------------------


def test_shipped_pack_declares_the_mapping_and_privacy(shipped: GovernancePack) -> None:
    policy = shipped.metadata

    assert [m.field for m in policy.mappings] == [
        "title",
        "description",
        "tags",
        "terms",
        "rights_expire_at",
        "creator",
        "credit",
        "copyright",
        "usage_terms",
        "model_release",
        "ai_disclosure",
    ]
    assert policy.may_see_location("designer") and not policy.may_see_location("marketer")
    assert policy.strips_location("delivery_link") == {"gps", "location"}
    assert policy.strips_location("automation") == {"gps", "location"}
    assert policy.strips_location("designer") == frozenset()


def test_pack_without_metadata_yaml_uses_the_default_policy(tmp_path: Path) -> None:
    pack = load_pack(write_pack(tmp_path / "pack", MINI_TAXONOMY))

    assert pack.metadata is DEFAULT_POLICY


def test_metadata_yaml_problems_name_file_and_line(tmp_path: Path) -> None:
    directory = pack_with_metadata(
        tmp_path,
        """\
        fields:
          title: {from: [titel]}
          terms: {from: [keywords], facets: [chanel]}
          rights_expire_at: {from: [creator]}
          Bad-Name: {from: [title]}
        privacy:
          location_visible_to: [designer, intern]
          strip: [location]
          leak: true
        """,
    )

    assert problems(directory) == [
        "metadata.yaml:2: fields.title.from: unknown source 'titel'; use an embedded field "
        "(title, headline, description, keywords, creator, credit, copyright_notice, "
        "usage_terms, web_statement, licence_start, licence_end, capture_date, camera_make, "
        "camera_model, lens, persons_shown, model_release_status, model_release_ids, "
        "property_release_status, digital_source_type) or a raw key such as Xmp.dc.title or "
        "Iptc.Application2.ObjectName",
        "metadata.yaml:3: fields.terms.facets: unknown facet 'chanel'",
        "metadata.yaml:4: fields.rights_expire_at.from: rights_expire_at needs a date; "
        "'creator' is list",
        "metadata.yaml:5: fields: 'Bad-Name' must be lowercase letters, digits and _",
        "metadata.yaml:7: privacy.location_visible_to: unknown value 'intern'; use admin, "
        "brand_manager, designer, marketer, automation",
        "metadata.yaml:8: privacy.strip: 'location' without 'gps' would keep the coordinates "
        "while removing place names; list gps too",
        "metadata.yaml:9: privacy: unknown key 'leak'; allowed keys are location_visible_to, "
        "strip, strip_from",
    ]


def test_rules_may_only_name_governed_fields(tmp_path: Path) -> None:
    directory = pack_with_metadata(
        tmp_path,
        "fields:\n  model_release: {from: [model_release_ids]}\n",
        """\
        rules:
          - id: release
            description: d
            severity: block
            check: model_release_required
            params: {field: release_form}
        """,
    )

    assert problems(directory) == [
        "brand_rules.yaml:6: rule 'release': params.field: unknown field 'release_form'; "
        "metadata.yaml declares these governed fields: description, model_release, "
        "rights_expire_at, tags, terms, title"
    ]


def test_raw_keys_are_accepted_as_sources(tmp_path: Path, agency: EmbeddedMetadata) -> None:
    directory = pack_with_metadata(
        tmp_path,
        """\
        fields:
          title: {from: [Iptc.Application2.Headline]}
          rights_expire_at: {from: [Xmp.plus.LicenseStartDate]}
        """,
    )
    pack = load_pack(directory)

    fields, sources = prefill(pack, agency, {})

    assert fields["title"] == "Dawn run on Aksla"
    assert fields["rights_expire_at"] == datetime(2026, 7, 2, tzinfo=UTC)
    assert sources == {
        "title": "Iptc.Application2.Headline",
        "rights_expire_at": "Xmp.plus.LicenseStartDate",
    }


# --- pre-filling --------------------------------------------------------------------------------


def test_prefill_completes_what_the_request_leaves_empty(
    shipped: GovernancePack, agency: EmbeddedMetadata
) -> None:
    explicit = {
        "title": "Spring hero",
        "description": "",
        "terms": {"Asset type": ["photo"], "usage_rights": ["agency"]},
    }

    fields, sources = prefill(shipped, agency, explicit)

    assert fields == {
        "title": "Spring hero",
        "description": "A trail runner crosses the ridge above Ålesund at sunrise.",
        "tags": ["trail running", "Lifestyle", "fjord", "Norway", "Trail"],
        "terms": {
            "Asset type": ["photo"],
            "usage_rights": ["agency"],
            "visual_style": ["lifestyle"],
        },
        "rights_expire_at": datetime(2027, 7, 1, tzinfo=UTC),
        "creator": "Ingrid Solberg",
        "credit": "Nordlys Agency / Ingrid Solberg",
        "copyright": "© 2026 Nordlys Agency AS",
        "usage_terms": "Social and web use by Halden Outdoor until 2027-06-30. No print.",
        "model_release": "NA-2026-0042",
    }
    assert sources == {
        "description": "Xmp.dc.description",
        "tags": "Xmp.dc.subject, Iptc.Application2.Keywords",
        "terms.visual_style": "Xmp.dc.subject, Iptc.Application2.Keywords",
        "rights_expire_at": "Xmp.plus.LicenseEndDate",
        "creator": "Xmp.dc.creator",
        "credit": "Xmp.photoshop.Credit",
        "copyright": "Xmp.dc.rights",
        "usage_terms": "Xmp.xmpRights.UsageTerms",
        "model_release": "Xmp.plus.ModelReleaseID",
    }


def test_explicit_facet_keeps_keywords_out_of_it(
    shipped: GovernancePack, agency: EmbeddedMetadata
) -> None:
    fields, sources = prefill(shipped, agency, {"terms": {"Visual style": ["action"]}})

    assert fields["terms"] == {"Visual style": ["action"]}
    assert "terms.visual_style" not in sources


def test_prefilled_agency_photo_passes_where_it_was_blocked(
    shipped: GovernancePack, agency: EmbeddedMetadata
) -> None:
    info = inspect_file(CORPUS / "agency-photo.jpg", max_pixels=10**8)
    explicit = {
        "terms": {"asset_type": ["photo"], "usage_rights": ["agency"], "channel": ["instagram"]}
    }
    now = datetime(2026, 11, 20, tzinfo=UTC)

    def judged(values: dict[str, Any]) -> list[str]:
        fields = Fields(
            title=values.get("title", ""),
            description=values.get("description", ""),
            tags=values.get("tags", []),
            terms=values["terms"],
            rights_expire_at=values.get("rights_expire_at"),
            extra={k: values[k] for k in shipped.metadata.extra_fields if k in values},
        )
        report = assess(
            shipped,
            media=info,
            size=133_653,
            filename="agency-photo.jpg",
            fields=fields,
            now=now,
            embedded=agency.embedded,
        ).report
        return [v.rule for v in report.violations]

    before = judged(explicit)
    after = judged(prefill(shipped, agency, explicit)[0])

    assert {"metadata-minimum", "licensed-rights-expiry"} <= set(before)
    # 1350 x 1080 with orientation 6 is a 4:5 portrait: no Instagram aspect warning.
    assert "instagram-aspect" not in before
    assert after == ["brand-tagged", "gps-in-file"]


# --- privacy --------------------------------------------------------------------------------------


def test_embedded_block_per_role(shipped: GovernancePack, agency: EmbeddedMetadata) -> None:
    assert embedded_for("designer", shipped, agency)["embedded"]["gps"] is not None
    marketer = embedded_for("marketer", shipped, agency)
    assert marketer["embedded"]["gps"] is None
    assert marketer["embedded"]["location"] == {}


# --- the new checks -------------------------------------------------------------------------------


def rule_pack(
    tmp_path: Path, check: str, params: str = "{}", metadata: str | None = None
) -> GovernancePack:
    rules = f"""\
        rules:
          - id: r
            description: Rule
            severity: block
            check: {check}
            params: {params}
        """
    directory = write_pack(tmp_path / "pack", MINI_TAXONOMY, rules)
    if metadata is not None:
        (directory / "metadata.yaml").write_text(textwrap.dedent(metadata), encoding="utf-8")
    return load_pack(directory)


def messages(pack: GovernancePack, s: Subject) -> list[str]:
    return [v.message for v in evaluate(pack, s).violations]


def test_location_absent(tmp_path: Path) -> None:
    gps_only = rule_pack(tmp_path / "a", "location_absent")
    names = rule_pack(tmp_path / "b", "location_absent", "{names: true}")
    located = Embedded(gps=GpsPosition(62.47, 6.15), location={"city": "Ålesund"})
    named = Embedded(location={"city": "Ålesund"})

    assert messages(gps_only, subject(embedded=located)) == [
        "Rule: the file carries GPS coordinates; remove them before uploading"
    ]
    assert messages(gps_only, subject(embedded=named)) == []
    assert messages(names, subject(embedded=named)) == [
        "Rule: the file carries place names; remove them before uploading"
    ]
    assert messages(gps_only, subject()) == []  # not read: not judged
    assert "62.47" not in str(evaluate(gps_only, subject(embedded=located)).to_json())


def test_credits_required(tmp_path: Path) -> None:
    pack = rule_pack(tmp_path, "credits_required", "{fields: [creator, copyright]}")
    strict = rule_pack(
        tmp_path / "s", "credits_required", "{fields: [creator], accept_embedded: false}"
    )
    from_file = Embedded(creator=["Ingrid Solberg"], copyright_notice="© Nordlys")

    assert messages(pack, subject()) == ["Rule: creator is missing", "Rule: copyright is missing"]
    assert messages(pack, subject(embedded=from_file)) == []
    assert messages(pack, subject(extra={"creator": "Ingrid", "copyright": "© H"})) == []
    assert messages(strict, subject(embedded=from_file)) == ["Rule: creator is missing"]


def test_model_release_required(tmp_path: Path) -> None:
    pack = rule_pack(tmp_path, "model_release_required")
    people = rule_pack(tmp_path / "p", "model_release_required", "{applies_to: people_shown}")

    assert messages(pack, subject()) == [
        "Rule: no model release is recorded; fill in model_release"
    ]
    assert messages(pack, subject(embedded=Embedded(model_release_status="MR-NON"))) == [
        "Rule: no model release is recorded (the file says there is none); fill in model_release"
    ]
    assert messages(pack, subject(embedded=Embedded(model_release_status="MR-UMR"))) == []
    assert messages(pack, subject(embedded=Embedded(model_release_status="MR-NAP"))) == []
    assert messages(pack, subject(extra={"model_release": "MR-2026-7"})) == []
    assert messages(people, subject(embedded=Embedded())) == []
    assert len(messages(people, subject(embedded=Embedded(persons_shown=["Kari"])))) == 1


def test_provenance_in_and_ai_disclosure_on_c2pa_files(tmp_path: Path) -> None:
    captured_only = rule_pack(
        tmp_path / "a", "provenance_in", "{sources: [digitalCapture, humanEdits]}"
    )
    disclosure = rule_pack(
        tmp_path / "b",
        "ai_disclosure_required",
        "{field: ai_disclosure}",
        metadata="fields:\n  ai_disclosure:\n",
    )
    generated = read_embedded(CORPUS / "c2pa-ai-hopper.jpg", fmt="JPEG").embedded
    photo = Embedded(digital_source_type="digitalCapture")

    assert messages(captured_only, subject(embedded=generated)) == [
        "Rule: the file declares digital source type trainedAlgorithmicMedia (AI-generated); "
        "allowed here: digitalCapture, humanEdits"
    ]
    assert messages(captured_only, subject(embedded=photo)) == []
    assert messages(captured_only, subject(embedded=Embedded())) == []
    assert messages(disclosure, subject(embedded=generated)) == [
        "Rule: the file declares trainedAlgorithmicMedia (AI-generated); fill in ai_disclosure "
        "with the disclosure shown to audiences"
    ]
    assert (
        messages(disclosure, subject(embedded=generated, extra={"ai_disclosure": "Made with AI"}))
        == []
    )
    assert messages(disclosure, subject(embedded=photo)) == []


def test_unknown_digital_source_type_is_a_pack_error(tmp_path: Path) -> None:
    with pytest.raises(PackInvalid) as caught:
        rule_pack(tmp_path, "provenance_in", "{sources: [photograph]}")

    assert "unknown digital source type 'photograph'" in str(caught.value)


def test_aspect_rules_judge_the_display_size(tmp_path: Path) -> None:
    pack = rule_pack(tmp_path, "aspect_ratio_in", '{ratios: ["4:5"]}')
    sideways = media(width=1350, height=1080, orientation=6)
    upright = media(width=1350, height=1080, orientation=1)

    assert messages(pack, subject(media=sideways)) == []
    assert messages(pack, subject(media=upright)) == [
        "Rule: aspect ratio 5:4 (1350 x 1080 px) is not one of 4:5"
    ]
