"""derivatives.yaml: the shipped presets, scoping with `when`, file:line errors, presets that can
never satisfy their channel's blocking rules, and the channel rules a rendered file is judged by."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from dam.governance import GovernancePack, load_pack
from dam.governance.derivatives import (
    Fit,
    OutputFormat,
    PresetMetadata,
    channel_rules,
    output_subject,
)
from dam.governance.pack import PackInvalid
from tests.governance.factories import MINI_TAXONOMY, SHIPPED_PACK, write_pack

RULES = """\
    rules:
      - id: ig-jpeg-only
        description: Instagram takes JPEG here
        severity: block
        when: {channel: [instagram]}
        check: format_in
        params: {formats: [JPEG]}
      - id: ig-min-width
        description: Instagram images are at least 1080 wide
        severity: block
        when: {channel: [instagram]}
        check: min_dimensions
        params: {width: 1080}
      - id: ig-weight
        description: Instagram files under 1 MiB
        severity: block
        when: {channel: [instagram]}
        check: max_file_size
        params: {max: 1 MiB}
      - id: banner-png
        description: Banners are PNG
        severity: block
        when: {channel: [instagram], asset_type: [banner]}
        check: format_in
        params: {formats: [PNG]}
      - id: ig-aspect-warn
        description: Instagram prefers 4:5
        severity: warn
        when: {channel: [instagram]}
        check: aspect_ratio_in
        params: {ratios: ["4:5"]}
      - id: everyone-titled
        description: Titles
        severity: block
        check: required_fields
        params: {title: {}}
"""


def pack_with(tmp_path: Path, derivatives: str, rules: str = RULES) -> Path:
    directory = write_pack(tmp_path / "pack", MINI_TAXONOMY, rules)
    (directory / "derivatives.yaml").write_text(textwrap.dedent(derivatives), encoding="utf-8")
    return directory


def problems(directory: Path) -> list[str]:
    with pytest.raises(PackInvalid) as caught:
        load_pack(directory)
    return [str(dataclasses.replace(e, file=Path(e.file).name)) for e in caught.value.errors]


@pytest.fixture(scope="module")
def shipped() -> GovernancePack:
    return load_pack(SHIPPED_PACK)


def test_shipped_pack_has_presets_for_email_social_web_and_display(
    shipped: GovernancePack,
) -> None:
    ids = [p.id for p in shipped.presets]
    assert {"email-600", "ig-feed-4x5", "ig-story-9x16", "web-hero", "iab-medium-rectangle"} <= set(
        ids
    )
    assert [p.id for p in shipped.presets_for({"channel": ["instagram"]})] == [
        "ig-feed-4x5",
        "ig-square",
        "ig-story-9x16",
    ]
    # A parent term matches its descendants: "web" presets serve the brand website.
    assert [p.id for p in shipped.presets_for({"channel": ["website"]})] == [
        "web-hero",
        "web-content",
    ]
    iab = [p for p in shipped.presets_for({"channel": ["display"]})]
    assert {p.box for p in iab} == {
        (300, 250),
        (728, 90),
        (160, 600),
        (300, 600),
        (320, 50),
        (970, 250),
    }
    assert all(p.max_bytes == 150_000 and p.metadata is PresetMetadata.none for p in iab)
    hero = shipped.preset("web-hero")
    assert hero is not None
    assert (hero.fit, hero.format, hero.box) == (Fit.cover, OutputFormat.auto, (2400, 1350))
    assert shipped.presets_for({"channel": ["print"]}) == ()


def test_a_valid_pack_loads_its_presets_and_limits(tmp_path: Path) -> None:
    pack = load_pack(
        pack_with(
            tmp_path,
            """\
            adhoc: {max_width: 1000, max_height: 800, max_pixels: 500000, formats: [jpeg, webp]}
            presets:
              - id: ig-portrait
                label: Portrait
                when: {channel: [instagram]}
                width: 1080
                aspect: "4:5"
                fit: cover
                format: jpeg
                quality: 90
                max_bytes: 900 KB
                colour: {convert: srgb, icc: embed}
                metadata: none
              - id: print-proof
                long_side: 2000
            """,
        )
    )
    portrait, proof = pack.presets
    assert portrait.box == (1080, 1350)
    assert (portrait.quality, portrait.max_bytes, portrait.colour.icc) == (90, 900_000, "embed")
    assert proof.fit is Fit.inside and proof.box == (2000, 2000) and proof.when == {}
    assert proof.applies_to({}) and not portrait.applies_to({"channel": ["print"]})
    assert pack.adhoc.max_width == 1000 and pack.adhoc.formats == {"jpeg", "webp"}
    assert portrait.digest != dataclasses.replace(portrait, quality=80).digest


def test_problems_are_reported_with_file_and_line(tmp_path: Path) -> None:
    directory = pack_with(
        tmp_path,
        """\
        adhoc: {max_width: 0, formats: [gif]}
        presets:
          - id: One
            width: 1080
          - id: two
            widht: 1080
          - id: three
            fit: cover
            width: 1080
          - id: four
            width: 500
            format: png
            quality: 80
            max_bytes: 100 KB
          - id: five
            when: {channel: [instagramm]}
            width: 500
          - id: six
            width: 500
            height: 500
            aspect: "4:5"
          - id: six
            long_side: 20000
            fit: stretch
            format: heic
            background: white
        """,
    )
    assert problems(directory) == [
        "derivatives.yaml:1: adhoc.max_width must be between 1 and 10000, not 0",
        "derivatives.yaml:1: adhoc.formats: unknown format 'gif'; use jpeg, png, webp, avif, auto",
        "derivatives.yaml:3: preset id 'One' must be lowercase letters, digits, - or _",
        "derivatives.yaml:5: preset 'two': give a target size (width, height or long_side)",
        "derivatives.yaml:6: preset 'two': unknown key 'widht' (did you mean 'width'?); allowed "
        "keys are id, label, description, when, fit, width, height, long_side, aspect, format, "
        "quality, min_quality, max_bytes, background, colour, metadata",
        "derivatives.yaml:7: preset 'three': fit cover needs an exact box: width and height, or "
        "one side and aspect",
        "derivatives.yaml:13: preset 'four': quality applies to jpeg, webp and avif, not png",
        "derivatives.yaml:14: preset 'four': max_bytes needs a lossy format (jpeg, webp, avif or "
        "auto)",
        "derivatives.yaml:16: preset 'five': when.channel: unknown term 'instagramm' (closest: "
        "instagram)",
        "derivatives.yaml:21: preset 'six': width and height already fix the aspect",
        "derivatives.yaml:22: duplicate preset id 'six' (first at line 18)",
        "derivatives.yaml:23: preset 'six': long_side must be between 1 and 10000, not 20000",
        "derivatives.yaml:24: preset 'six': fit must be one of cover, contain, inside, not "
        "'stretch'",
        "derivatives.yaml:25: preset 'six': format must be one of jpeg, png, webp, avif, auto, "
        "not 'heic'",
        "derivatives.yaml:26: preset 'six': background 'white' must be a colour like '#ffffff' "
        "(quoted)",
    ]


def test_a_preset_that_can_never_satisfy_its_channel_is_refused(tmp_path: Path) -> None:
    directory = pack_with(
        tmp_path,
        """\
        presets:
          - id: ig-webp
            when: {channel: [instagram]}
            width: 1080
            height: 1350
            fit: cover
            format: webp
          - id: ig-small
            when: {channel: [instagram]}
            width: 600
            fit: inside
          - id: ig-heavy
            when: {channel: [instagram]}
            width: 1080
            height: 1080
            fit: cover
            max_bytes: 2 MiB
          - id: ig-fine
            when: {channel: [instagram]}
            width: 1080
            height: 1080
            fit: cover
            max_bytes: 900 KB
        """,
    )
    assert problems(directory) == [
        "derivatives.yaml:2: preset 'ig-webp' can never satisfy rule 'ig-jpeg-only' "
        "(brand_rules.yaml:2) of the channel it serves: WEBP files are not allowed here; use JPEG",
        "derivatives.yaml:8: preset 'ig-small' can never satisfy rule 'ig-min-width' "
        "(brand_rules.yaml:8) of the channel it serves: 600 x 10000 px is smaller than 1080 px "
        "wide",
        "derivatives.yaml:12: preset 'ig-heavy' can never satisfy rule 'ig-weight' "
        "(brand_rules.yaml:14) of the channel it serves: file is 2 MiB; the limit is 1 MiB",
    ]


def test_rendered_files_are_judged_by_the_rules_of_the_presets_channel(tmp_path: Path) -> None:
    pack = load_pack(
        pack_with(
            tmp_path,
            """\
            presets:
              - id: ig-square
                when: {channel: [instagram]}
                width: 1080
                height: 1080
                fit: cover
            """,
        )
    )
    (preset,) = pack.presets
    # An asset for print and Instagram, a banner: the Instagram rules (and the banner rule scoped
    # to Instagram banners) judge its Instagram derivative; the title rule is not the file's.
    terms = {"channel": ["print", "instagram"], "asset_type": ["banner"]}
    judged = [r.id for r in channel_rules(preset, pack.rules, terms)]
    assert judged == ["ig-jpeg-only", "ig-min-width", "ig-weight", "banner-png", "ig-aspect-warn"]
    photo = [r.id for r in channel_rules(preset, pack.rules, {"asset_type": ["photo"]})]
    assert photo == ["ig-jpeg-only", "ig-min-width", "ig-weight", "ig-aspect-warn"]
    subject = output_subject(
        width=1080, height=1080, fmt="JPEG", size=1000, mode="RGB", icc=None, terms=terms
    )
    failed = {r.id for r in channel_rules(preset, pack.rules, terms) if r.run(subject)}
    assert failed == {"banner-png", "ig-aspect-warn"}


def test_a_pack_without_derivatives_has_no_presets(tmp_path: Path) -> None:
    pack = load_pack(write_pack(tmp_path / "pack", MINI_TAXONOMY, RULES))
    assert pack.presets == ()
    assert pack.adhoc.enabled and pack.adhoc.max_width == 2400
