from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from dam.governance.checks import CHECKS, Finding, Subject, ciede2000, srgb_to_lab
from dam.media.types import MediaKind
from tests.governance.factories import NOW, media, subject


def run(check: str, params: dict[str, Any], subj: Subject) -> list[Finding]:
    spec = CHECKS[check]
    return spec.run(spec.params.model_validate(params), subj)


def messages(check: str, params: dict[str, Any], subj: Subject) -> list[str]:
    return [f.message for f in run(check, params, subj)]


def invalid(check: str, params: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        CHECKS[check].params.model_validate(params)
    return str(caught.value.errors()[0]["msg"]).removeprefix("Value error, ")


def test_every_check_has_a_summary() -> None:
    assert all(spec.summary for spec in CHECKS.values())


# --- format_in / kind_in ----------------------------------------------------------------------


def test_format_in_passes_listed_format_case_insensitively() -> None:
    assert run("format_in", {"formats": ["jpg", "png"]}, subject()) == []


def test_format_in_fails_other_formats() -> None:
    found = run("format_in", {"formats": ["SVG", "PNG"]}, subject())

    assert found == [
        Finding("JPEG files are not allowed here; use SVG, PNG", ["SVG", "PNG"], "JPEG")
    ]


def test_format_in_refuses_unknown_format_names_at_load() -> None:
    assert invalid("format_in", {"formats": ["JPEG", "BMPX"]}).startswith(
        "unknown format 'BMPX'; known: AVIF, GIF, HEIF, JPEG"
    )


def test_format_in_skips_subjects_without_media() -> None:
    assert run("format_in", {"formats": ["PDF"]}, subject(media=None)) == []


def test_kind_in() -> None:
    assert run("kind_in", {"kinds": ["image", "vector"]}, subject()) == []
    assert run("kind_in", {"kinds": ["image"]}, subject(media=media("SVG"))) == [
        Finding("vector files are not allowed here", ["image"], "vector")
    ]


# --- max_file_size ----------------------------------------------------------------------------


def test_max_file_size_accepts_sizes_up_to_the_limit() -> None:
    assert run("max_file_size", {"max": "1 MiB"}, subject(size=1024 * 1024)) == []
    assert run("max_file_size", {"max": 5000}, subject(size=5000)) == []


def test_max_file_size_reports_in_the_units_the_rule_uses() -> None:
    assert run("max_file_size", {"max": "250 KB"}, subject(size=300_000)) == [
        Finding("file is 300 KB; the limit is 250 KB", 250_000, 300_000)
    ]
    assert messages("max_file_size", {"max": "1 MiB"}, subject(size=3 * 1024 * 1024)) == [
        "file is 3 MiB; the limit is 1 MiB"
    ]


def test_max_file_size_refuses_unreadable_sizes() -> None:
    assert invalid("max_file_size", {"max": "lots"}) == (
        "'lots' is not a size; write e.g. 1048576, '500 KB' or '1 MiB'"
    )
    assert invalid("max_file_size", {"max": True}) == (
        "give a number of bytes or a size such as '500 KB' or '1 MiB'"
    )


# --- dimensions -------------------------------------------------------------------------------


def test_min_dimensions_passes_large_enough_images() -> None:
    assert run("min_dimensions", {"width": 1200, "height": 800}, subject()) == []


def test_min_dimensions_fails_small_images() -> None:
    small = subject(media=media(width=1000, height=700))

    assert run("min_dimensions", {"width": 1200, "height": 800}, small) == [
        Finding(
            "1000 x 700 px is smaller than 1200 x 800 px",
            {"width": 1200, "height": 800},
            {"width": 1000, "height": 700},
        )
    ]


def test_min_dimensions_any_orientation_compares_long_and_short_edges() -> None:
    portrait = subject(media=media(width=800, height=1200))
    params = {"width": 1200, "height": 800}

    assert messages("min_dimensions", params, portrait) == [
        "800 x 1200 px is smaller than 1200 x 800 px"
    ]
    assert run("min_dimensions", {**params, "any_orientation": True}, portrait) == []


def test_min_dimensions_with_one_side_only() -> None:
    assert messages("min_dimensions", {"width": 2000}, subject()) == [
        "1600 x 1200 px is smaller than 2000 px wide"
    ]


def test_dimension_checks_skip_vectors_documents_and_unknown_sizes() -> None:
    params = {"width": 5000, "height": 5000}
    for media_info in (
        media("SVG", width=10, height=10),
        media("PDF", width=None, height=None),
        media("JPEG", width=None, height=None),
    ):
        assert run("min_dimensions", params, subject(media=media_info)) == []
        assert run("max_dimensions", {"width": 1}, subject(media=media_info)) == []


def test_min_dimensions_apply_to_video() -> None:
    clip = subject(media=media("MP4", width=720, height=1280))

    assert messages("min_dimensions", {"width": 1080, "height": 1920}, clip) == [
        "720 x 1280 px is smaller than 1080 x 1920 px"
    ]


def test_min_dimensions_needs_a_side() -> None:
    assert invalid("min_dimensions", {}) == "give width, height or both"
    assert invalid("min_dimensions", {"width": 5, "any_orientation": True}) == (
        "any_orientation needs both width and height"
    )


def test_max_dimensions() -> None:
    assert run("max_dimensions", {"width": 1600, "height": 1200}, subject()) == []
    assert run("max_dimensions", {"width": 1200}, subject()) == [
        Finding(
            "1600 x 1200 px is larger than 1200 px wide",
            {"width": 1200},
            {"width": 1600, "height": 1200},
        )
    ]


def test_dimensions_in_accepts_listed_sizes_at_each_scale() -> None:
    params = {"sizes": ["300x250", "728x90"], "scales": [1, 2]}

    assert run("dimensions_in", params, subject(media=media(width=600, height=500))) == []
    assert run("dimensions_in", params, subject(media=media(width=728, height=90))) == []


def test_dimensions_in_fails_other_sizes() -> None:
    found = run(
        "dimensions_in", {"sizes": ["300x250"]}, subject(media=media(width=600, height=500))
    )

    assert found == [Finding("600x500 is not a standard size; use 300x250", ["300x250"], "600x500")]


def test_aspect_ratio_in_accepts_ratios_within_tolerance() -> None:
    params = {"ratios": ["1:1", "4:5"], "tolerance": 0.01}

    assert run("aspect_ratio_in", params, subject(media=media(width=1080, height=1350))) == []
    assert run("aspect_ratio_in", params, subject(media=media(width=1080, height=1345))) == []
    assert (
        run("aspect_ratio_in", {"ratios": ["1.91:1"]}, subject(media=media(width=1200, height=628)))
        == []
    )


def test_aspect_ratio_in_fails_other_ratios() -> None:
    found = run("aspect_ratio_in", {"ratios": ["1:1", "4:5", "9:16"]}, subject())

    assert found == [
        Finding(
            "aspect ratio 4:3 (1600 x 1200 px) is not one of 1:1, 4:5, 9:16",
            ["1:1", "4:5", "9:16"],
            "4:3",
        )
    ]


def test_aspect_ratio_in_refuses_bad_ratios() -> None:
    assert invalid("aspect_ratio_in", {"ratios": ["4x5"]}) == (
        "'4x5' is not a ratio; write e.g. '4:5' or '1.91:1'"
    )


def test_max_megapixels() -> None:
    big = subject(media=media(width=12000, height=9000))

    assert run("max_megapixels", {"max": 2}, subject()) == []
    assert run("max_megapixels", {"max": 100}, big) == [
        Finding("108.0 megapixels is more than the 100 allowed", 100.0, 108.0)
    ]


def test_min_dpi() -> None:
    at_300 = subject(media=media(dpi=(300.0, 300.0)))
    at_72 = subject(media=media(dpi=(72.0, 72.0)))
    unknown = subject(media=media(dpi=None))

    assert run("min_dpi", {"min": 300}, at_300) == []
    assert run("min_dpi", {"min": 300}, at_72) == [Finding("72 DPI is below 300 DPI", 300.0, 72.0)]
    assert messages("min_dpi", {"min": 300}, unknown) == ["the file records no DPI; 300 needed"]
    assert run("min_dpi", {"min": 300, "if_missing": "pass"}, unknown) == []
    assert run("min_dpi", {"min": 300}, subject(media=media("PDF"))) == []


# --- colour -----------------------------------------------------------------------------------


def test_color_mode_in() -> None:
    cmyk = subject(media=media(color_mode="CMYK"))

    assert run("color_mode_in", {"modes": ["rgb", "RGBA"]}, subject()) == []
    assert run("color_mode_in", {"modes": ["RGB", "RGBA"]}, cmyk) == [
        Finding("colour mode CMYK is not allowed here; use RGB, RGBA", ["RGB", "RGBA"], "CMYK")
    ]
    assert run("color_mode_in", {"modes": ["CMYK"]}, subject(media=media("PDF"))) == []


def test_color_mode_in_refuses_unknown_modes() -> None:
    assert invalid("color_mode_in", {"modes": ["sRGB"]}).startswith("unknown colour mode 'sRGB'")


def test_icc_profile_in_matches_substrings_case_insensitively() -> None:
    assert run("icc_profile_in", {"profiles": ["srgb"]}, subject()) == []


def test_icc_profile_in_fails_other_profiles() -> None:
    p3 = subject(media=media(icc_profile="Display P3"))

    assert run("icc_profile_in", {"profiles": ["sRGB"]}, p3) == [
        Finding("ICC profile 'Display P3' is not sRGB", ["sRGB"], "Display P3")
    ]


def test_icc_profile_in_missing_profile_is_srgb_or_a_failure_as_configured() -> None:
    untagged = subject(media=media(icc_profile=None))

    assert run("icc_profile_in", {"profiles": ["sRGB"]}, untagged) == []
    assert messages("icc_profile_in", {"profiles": ["FOGRA39"]}, untagged) == [
        "ICC profile 'sRGB' is not FOGRA39"
    ]
    assert run("icc_profile_in", {"profiles": ["sRGB"], "missing_profile": "fail"}, untagged) == [
        Finding("no ICC profile is embedded; embed sRGB", ["sRGB"], None)
    ]


def test_icc_profile_in_skips_non_raster_files() -> None:
    params = {"profiles": ["sRGB"], "missing_profile": "fail"}

    assert run("icc_profile_in", params, subject(media=media("SVG"))) == []


def test_transparency_required() -> None:
    opaque_png = subject(media=media("PNG", has_alpha=False))

    assert run("transparency_required", {}, subject(media=media("PNG", has_alpha=True))) == []
    assert run("transparency_required", {}, subject(media=media("SVG"))) == []
    assert run("transparency_required", {}, opaque_png) == [
        Finding(
            "the PNG has no transparency; export it with a transparent background",
            "alpha channel",
            "opaque",
        )
    ]


def test_transparency_required_takes_no_params() -> None:
    assert invalid("transparency_required", {"strict": True}) == "Extra inputs are not permitted"


# --- palette ----------------------------------------------------------------------------------

BRAND = {"colors": ["#1F3A5F", "#E4572E"], "max_delta_e": 10, "min_share": 0.6}


def coloured(*colours: tuple[tuple[int, int, int], float]) -> Subject:
    return subject(media=media(dominant_colors=list(colours)))


def test_srgb_to_lab_of_white_and_black() -> None:
    white = srgb_to_lab((255, 255, 255))
    black = srgb_to_lab((0, 0, 0))

    assert white == pytest.approx((100.0, 0.0, 0.0), abs=0.01)
    assert black == pytest.approx((0.0, 0.0, 0.0), abs=0.01)


@pytest.mark.parametrize(
    ("lab1", "lab2", "expected"),
    [
        # Sharma, Wu & Dalal (2005), test data pairs 1, 7, 17 and 25.
        ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
        ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
        ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
        ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ],
)
def test_ciede2000_matches_the_published_test_data(
    lab1: tuple[float, float, float], lab2: tuple[float, float, float], expected: float
) -> None:
    assert ciede2000(lab1, lab2) == pytest.approx(expected, abs=1e-4)


def test_palette_passes_when_enough_colour_is_near_the_brand_palette() -> None:
    near_blue = ((33, 60, 97), 0.5)
    near_orange = ((228, 90, 48), 0.2)
    off_green = ((0, 200, 0), 0.3)

    assert run("palette", BRAND, coloured(near_blue, near_orange, off_green)) == []


def test_palette_fails_off_brand_images() -> None:
    found = run("palette", BRAND, coloured(((33, 60, 97), 0.3), ((0, 200, 0), 0.7)))

    assert found == [
        Finding(
            "30% of the image's colour is within ΔE00 10 of the brand palette; at least 60% is "
            "expected",
            {"min_share": 0.6, "max_delta_e": 10.0},
            {"share": 0.3, "off_palette": ["#00C800"]},
        )
    ]


def test_palette_can_ignore_neutral_backgrounds() -> None:
    white_background = ((250, 250, 250), 0.8)
    brand_blue = ((31, 58, 95), 0.2)
    subj = coloured(white_background, brand_blue)

    assert [f.actual["share"] for f in run("palette", BRAND, subj)] == [0.2]
    assert run("palette", {**BRAND, "ignore_neutrals": True}, subj) == []
    assert run("palette", {**BRAND, "ignore_neutrals": True}, coloured(white_background)) == []


def test_palette_skips_images_without_dominant_colours() -> None:
    assert run("palette", BRAND, subject()) == []


def test_palette_refuses_bad_colours() -> None:
    assert invalid("palette", {"colors": ["#12"]}) == (
        "'#12' is not a hex colour; write e.g. '#1F3A5F' (quoted in YAML)"
    )


# --- metadata ---------------------------------------------------------------------------------

FIELDS = {"title": {"min_length": 5}, "description": {"min_length": 20}, "tags": {"min_count": 2}}


def test_required_fields_pass_complete_metadata() -> None:
    assert run("required_fields", FIELDS, subject()) == []


def test_required_fields_report_each_missing_or_short_field() -> None:
    sparse = subject(title="Hi  ", description=None, tags=["one"])

    assert run("required_fields", FIELDS, sparse) == [
        Finding(
            "title has 2 characters; at least 5 are needed", {"field": "title", "min_length": 5}, 2
        ),
        Finding("description is missing", {"field": "description", "min_length": 20}, 0),
        Finding("1 tags given; at least 2 needed", {"field": "tags", "min_count": 2}, 1),
    ]


def test_required_fields_campaigns() -> None:
    assert messages("required_fields", {"campaigns": {}}, subject()) == [
        "0 campaigns given; at least 1 needed"
    ]
    assert run("required_fields", {"campaigns": {}}, subject(campaigns=["SPRING26-EMAIL"])) == []


def test_required_fields_needs_a_field() -> None:
    assert invalid("required_fields", {}) == (
        "name at least one of title, description, tags, campaigns"
    )


def test_facets_required() -> None:
    assert run("facets_required", {"facets": ["asset_type"]}, subject()) == []
    assert run("facets_required", {"facets": ["brand", "asset_type"]}, subject()) == [
        Finding("no brand term is set", {"facet": "brand"}, [])
    ]


def test_facets_required_checks_facet_names_against_the_pack() -> None:
    with pytest.raises(ValidationError, match="unknown facet 'brnd'"):
        CHECKS["facets_required"].params.model_validate(
            {"facets": ["brnd"]}, context={"facets": {"brand"}}
        )


def test_filename_pattern_matches_the_base_name() -> None:
    params = {
        "pattern": r"HAL_[A-Z]{2}\d{2}_[A-Z0-9-]+_v\d{2}\.pdf",
        "example": "HAL_FW26_X_v01.pdf",
    }

    assert run("filename_pattern", params, subject(filename="jobs/HAL_FW26_CAT-P2_v03.pdf")) == []
    assert run("filename_pattern", params, subject(filename="C:\\jobs\\catalog final.pdf")) == [
        Finding(
            "file name 'catalog final.pdf' does not follow the naming convention, "
            "e.g. HAL_FW26_X_v01.pdf",
            params["pattern"],
            "catalog final.pdf",
        )
    ]


def test_filename_pattern_ignore_case() -> None:
    params = {"pattern": r"hal_.*\.pdf", "ignore_case": True}

    assert run("filename_pattern", params, subject(filename="HAL_X.PDF")) == []


def test_filename_pattern_example_must_match() -> None:
    assert invalid("filename_pattern", {"pattern": "a+", "example": "b"}) == (
        "example 'b' does not match the pattern"
    )


def test_rights_expiry_required() -> None:
    future = NOW + timedelta(days=90)
    past = NOW - timedelta(days=1)

    assert run("rights_expiry_required", {}, subject(rights_expire_at=future)) == []
    assert run("rights_expiry_required", {}, subject()) == [
        Finding("a rights expiry date is required", "rights_expire_at", None)
    ]
    assert run("rights_expiry_required", {}, subject(rights_expire_at=past)) == [
        Finding(
            "usage rights expired on 2026-11-19",
            "a future rights_expire_at",
            "2026-11-19T12:00:00+00:00",
        )
    ]
    assert run("rights_expiry_required", {"allow_past": True}, subject(rights_expire_at=past)) == []


def test_rights_expiry_reads_naive_datetimes_as_utc() -> None:
    naive_future = (NOW + timedelta(hours=1)).replace(tzinfo=None)

    assert run("rights_expiry_required", {}, subject(rights_expire_at=naive_future)) == []


def test_rights_valid_for() -> None:
    soon = NOW + timedelta(days=10)

    assert run("rights_valid_for", {"days": 30}, subject()) == []
    assert (
        run("rights_valid_for", {"days": 30}, subject(rights_expire_at=NOW + timedelta(days=31)))
        == []
    )
    assert run("rights_valid_for", {"days": 30}, subject(rights_expire_at=soon)) == [
        Finding(
            "usage rights end on 2026-11-30 (10 days left); at least 30 days are expected", 30, 10
        )
    ]


def test_checks_without_media_still_judge_metadata() -> None:
    bare = subject(media=None, title=None)

    assert messages("required_fields", {"title": {}}, bare) == ["title is missing"]
    assert run("min_dimensions", {"width": 10}, bare) == []
    assert run("palette", BRAND, bare) == []
    assert media("MP4").kind == MediaKind.video


# --- documents: max_pages / pdf_encryption_forbidden ------------------------------------------


def pdf(**kw: Any) -> Any:
    return media("PDF", 595, 842, pages=kw.pop("pages", 12), **kw)


def test_max_pages() -> None:
    assert run("max_pages", {"max": 12}, subject(media=pdf())) == []
    assert run("max_pages", {"max": 10}, subject(media=pdf())) == [
        Finding("the document has 12 pages; at most 10 are allowed", 10, 12)
    ]
    # A password-protected PDF cannot be counted, and images have no pages: skipped.
    locked = pdf(pages=None, encrypted=True, password_required=True)
    assert run("max_pages", {"max": 1}, subject(media=locked)) == []
    assert run("max_pages", {"max": 1}, subject()) == []
    assert invalid("max_pages", {"max": 0}) == "Input should be greater than 0"


def test_pdf_encryption_forbidden() -> None:
    plain = subject(media=pdf())
    owner = subject(media=pdf(encrypted=True, pdf_permissions=["copy", "annotate"]))
    locked = subject(media=pdf(pages=None, encrypted=True, password_required=True))
    assert run("pdf_encryption_forbidden", {}, plain) == []
    assert messages("pdf_encryption_forbidden", {}, owner) == [
        "the PDF is encrypted with an owner password (readers may: copy, annotate); "
        "upload it without protection"
    ]
    assert run("pdf_encryption_forbidden", {"allow_owner_password": True}, owner) == []
    assert run("pdf_encryption_forbidden", {"allow_owner_password": True}, locked) == [
        Finding(
            "the PDF needs a password to open; upload it without protection",
            "not encrypted",
            "password required",
        )
    ]


# --- video and audio ----------------------------------------------------------------------------


def video(**kw: Any) -> Any:
    values: dict[str, Any] = {
        "duration": 30.0,
        "video_codec": "h264",
        "has_audio": True,
        "audio_codec": "aac",
        "bit_rate": 6_000_000,
        **kw,
    }
    return media("MP4", 1920, 1080, **values)


def test_max_and_min_duration() -> None:
    clip = subject(media=video(duration=95.5))
    assert run("max_duration", {"seconds": 120}, clip) == []
    assert run("max_duration", {"seconds": 60}, clip) == [
        Finding("it runs 1 min 35.5 s; at most 1 min is allowed", 60, 95.5)
    ]
    assert run("min_duration", {"seconds": 6}, clip) == []
    assert messages("min_duration", {"seconds": 6}, subject(media=video(duration=2.5))) == [
        "it runs 2.5 s; at least 6 s is needed"
    ]
    audio = media("M4A", None, None, kind=MediaKind.audio, duration=300.0)
    assert messages("max_duration", {"seconds": 240}, subject(media=audio)) == [
        "it runs 5 min; at most 4 min is allowed"
    ]
    assert run("max_duration", {"seconds": 1}, subject()) == []  # images have no duration


def test_video_codec_in_takes_ffmpeg_names_and_common_spellings() -> None:
    assert run("video_codec_in", {"codecs": ["H.264", "vp9"]}, subject(media=video())) == []
    assert run("video_codec_in", {"codecs": ["avc", "H265"]}, subject(media=video())) == []
    assert run("video_codec_in", {"codecs": ["hevc"]}, subject(media=video())) == [
        Finding("the video is h264; use hevc", ["hevc"], "h264")
    ]
    assert invalid("video_codec_in", {"codecs": ["divx5"]}).startswith(
        "unknown video codec 'divx5'; known: av1, cfhd, dnxhd"
    )


def test_audio_required_and_forbidden() -> None:
    with_sound, muted = subject(media=video()), subject(media=video(has_audio=False))
    assert run("audio_required", {}, with_sound) == []
    assert run("audio_required", {}, muted) == [
        Finding("the video has no sound track", "audio", "no audio")
    ]
    assert run("audio_forbidden", {}, muted) == []
    assert messages("audio_forbidden", {}, with_sound) == [
        "the video has a sound track (aac); remove it"
    ]
    assert run("audio_forbidden", {}, subject()) == []  # not a video


def test_max_bitrate() -> None:
    clip = subject(media=video())
    assert run("max_bitrate", {"max": "8 Mbps"}, clip) == []
    assert run("max_bitrate", {"max": 6_000_000}, clip) == []
    assert run("max_bitrate", {"max": "2500 kbps"}, clip) == [
        Finding("it averages 6 Mbps; the limit is 2.5 Mbps", 2_500_000, 6_000_000)
    ]
    assert invalid("max_bitrate", {"max": "fast"}) == (
        "'fast' is not a bit rate; write e.g. 8000000, '8 Mbps' or '800 kbps'"
    )
    assert invalid("max_bitrate", {"max": True}).startswith("give bits per second")


def test_kind_in_knows_audio() -> None:
    audio = media("M4A", None, None, kind=MediaKind.audio)
    assert run("kind_in", {"kinds": ["image", "video"]}, subject(media=audio)) == [
        Finding("audio files are not allowed here", ["image", "video"], "audio")
    ]
