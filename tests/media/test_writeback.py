"""Delivered copies: governed metadata in, location out, the stored original untouched."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from dam.media.embedded import read_embedded
from dam.media.writeback import (
    DeliveryMetadata,
    DeliveryRefused,
    LocationNotRemovable,
    delivery_cache_key,
    write_delivery_copy,
)

CORPUS = Path(__file__).parent / "corpus"
EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(
    EXIFTOOL is None, reason="exiftool (Debian libimage-exiftool-perl) is not installed"
)

ASSET_ID = "0b7f0c3e-1111-4222-8333-444455556666"
GOVERNED = DeliveryMetadata(
    asset_id=ASSET_ID,
    version=3,
    title="Ridge at dawn (approved)",
    description="Approved caption for the spring campaign.",
    creator=("Ingrid Solberg",),
    credit="Nordlys Agency",
    copyright="© 2026 Nordlys Agency AS",
    usage_terms="Social and web until 2027-06-30",
    licence_end=date(2027, 6, 30),
    campaign_id="SPRING26-EMAIL",
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def exiftool(path: Path) -> dict[str, Any]:
    assert EXIFTOOL is not None
    out = subprocess.run(
        [EXIFTOOL, "-j", "-G1", "-a", "-n", str(path)], check=True, capture_output=True, text=True
    ).stdout
    return dict(json.loads(out)[0])


_PLACE_TAGS = re.compile(
    r":(GPS\w*|City|State|Country|CountryCode|Location|Sub-location|Province-State"
    r"|Country-PrimaryLocation\w+|LocationShown\w*|LocationCreated\w*|LocationInformation)$"
)


def location_tags(tags: dict[str, Any]) -> list[str]:
    return [k for k in tags if _PLACE_TAGS.search(k)]


@needs_exiftool
def test_agency_photo_round_trip(tmp_path: Path) -> None:
    source = tmp_path / "stored-original.jpg"
    shutil.copy(CORPUS / "agency-photo.jpg", source)
    before = sha256(source)

    copy = write_delivery_copy(source, tmp_path / "delivered.jpg", fmt="JPEG", metadata=GOVERNED)
    tags = exiftool(copy.path)

    assert sha256(source) == before
    assert copy.method == "rewritten"
    assert (copy.sha256, copy.size) == (sha256(copy.path), copy.path.stat().st_size)
    assert copy.sha256 != before
    assert tags["XMP-dc:Title"] == "Ridge at dawn (approved)"
    assert tags["IPTC:ObjectName"] == "Ridge at dawn (approved)"
    assert tags["XMP-dc:Description"] == "Approved caption for the spring campaign."
    assert tags["IPTC:Caption-Abstract"] == "Approved caption for the spring campaign."
    assert tags["XMP-dc:Creator"] == "Ingrid Solberg"
    assert tags["IFD0:Artist"] == "Ingrid Solberg"
    assert tags["XMP-photoshop:Credit"] == "Nordlys Agency"
    assert tags["XMP-dc:Rights"] == "© 2026 Nordlys Agency AS"
    assert tags["IFD0:Copyright"] == "© 2026 Nordlys Agency AS"
    assert tags["XMP-xmpRights:UsageTerms"] == "Social and web until 2027-06-30"
    assert str(tags["XMP-plus:LicenseEndDate"]).startswith("2027:06:30")
    assert tags["XMP-dc:Identifier"] == f"urn:dam:asset:{ASSET_ID}:v3"
    assert tags["XMP-xmp:Identifier"] == [
        f"urn:dam:asset:{ASSET_ID}",
        f"urn:dam:asset:{ASSET_ID}:v3",
    ]
    assert tags["XMP-photoshop:TransmissionReference"] == "SPRING26-EMAIL"
    assert location_tags(tags) == []
    # The pixels and the photographer's other fields travel unchanged.
    assert tags["IFD0:Orientation"] == 6
    assert tags["XMP-plus:ModelReleaseID"] == "NA-2026-0042"
    original = exiftool(source)
    assert original["Composite:GPSLatitude"] == pytest.approx(62.472229)
    assert original["XMP-photoshop:City"] == "Ålesund"


def test_gps_only_policy_keeps_place_names(tmp_path: Path) -> None:
    copy = write_delivery_copy(
        CORPUS / "agency-photo.jpg",
        tmp_path / "delivered.jpg",
        fmt="JPEG",
        metadata=GOVERNED,
        strip=("gps",),
    )
    found = read_embedded(copy.path, fmt="JPEG")

    assert found.embedded.gps is None
    assert found.embedded.location["city"] == "Ålesund"
    assert "Exif.GPSInfo.GPSLatitude" in copy.removed
    assert not [k for k in copy.removed if "City" in k]


def test_nothing_stripped_when_the_pack_allows_it(tmp_path: Path) -> None:
    copy = write_delivery_copy(
        CORPUS / "agency-photo.jpg", tmp_path / "d.jpg", fmt="JPEG", metadata=GOVERNED, strip=()
    )

    assert read_embedded(copy.path, fmt="JPEG").embedded.gps is not None
    assert copy.removed == ()


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("BlueSquare.png", "PNG"),
        ("pillow-flower.webp", "WEBP"),
        ("pillow-tiff_16bit_RGB.tiff", "TIFF"),
    ],
)
def test_other_rewritable_formats_carry_the_governed_title(
    tmp_path: Path, name: str, fmt: str
) -> None:
    copy = write_delivery_copy(
        CORPUS / name, tmp_path / f"d.{fmt.lower()}", fmt=fmt, metadata=GOVERNED
    )
    found = read_embedded(copy.path, fmt=fmt)

    assert copy.method == "rewritten"
    assert found.embedded.title == "Ridge at dawn (approved)"
    assert found.embedded.usage_terms == "Social and web until 2027-06-30"


@needs_exiftool
def test_video_is_remuxed_without_location(tmp_path: Path) -> None:
    source = CORPUS / "ffmpeg-located-clip.mp4"
    before = sha256(source)

    copy = write_delivery_copy(source, tmp_path / "d.mp4", fmt="MP4", metadata=GOVERNED)
    tags = exiftool(copy.path)
    found = read_embedded(copy.path, fmt="MP4")

    assert sha256(source) == before
    assert copy.method == "remuxed"
    assert location_tags(tags) == []
    assert found.embedded.gps is None
    assert found.embedded.title == "Ridge at dawn (approved)"
    assert found.embedded.copyright_notice == "© 2026 Nordlys Agency AS"
    assert found.raw["container"]["dam.identifier"] == f"urn:dam:asset:{ASSET_ID}:v3"
    assert tags["Track1:ImageWidth"] == 320


def _tag_gps(path: Path) -> None:
    assert EXIFTOOL is not None
    subprocess.run(
        [
            EXIFTOOL,
            "-q",
            "-overwrite_original",
            "-GPSLatitude=62.47",
            "-GPSLatitudeRef=N",
            "-GPSLongitude=6.15",
            "-GPSLongitudeRef=E",
            str(path),
        ],
        check=True,
    )


@needs_exiftool
@pytest.mark.parametrize(
    ("name", "fmt"), [("pillow-hopper.heif", "HEIF"), ("pillow-xmp_tags_orientation.avif", "AVIF")]
)
def test_bmff_with_gps_is_refused_and_without_is_delivered_unchanged(
    tmp_path: Path, name: str, fmt: str
) -> None:
    clean = CORPUS / name
    located = tmp_path / f"located.{fmt.lower()}"
    shutil.copy(clean, located)
    _tag_gps(located)

    with pytest.raises(LocationNotRemovable) as refused:
        write_delivery_copy(located, tmp_path / "out", fmt=fmt, metadata=GOVERNED)
    unchanged = write_delivery_copy(clean, tmp_path / "clean", fmt=fmt, metadata=GOVERNED)

    assert refused.value.status_code == 409
    assert refused.value.code == "location_not_removable"
    # exiv2 reads the AVIF's EXIF item; for the HEIF only the byte scan finds the GPS IFD.
    fields = refused.value.extra["fields"]
    assert "Exif.GPSInfo.GPSLatitude" in fields or fields == ["bytes:EXIF GPS IFD"]
    assert not (tmp_path / "out").exists()
    assert unchanged.method == "unchanged"
    assert unchanged.sha256 == sha256(clean)


def test_gps_in_a_second_embedded_image_refuses_delivery(tmp_path: Path) -> None:
    # Phones store a second JPEG after the first (MPF); exiv2 edits only the first one.
    stacked = tmp_path / "stacked.jpg"
    stacked.write_bytes(
        (CORPUS / "r_canon.jpg").read_bytes() + (CORPUS / "agency-photo.jpg").read_bytes()
    )

    with pytest.raises(LocationNotRemovable) as refused:
        write_delivery_copy(stacked, tmp_path / "out.jpg", fmt="JPEG", metadata=GOVERNED)

    assert "bytes:EXIF GPS IFD" in refused.value.extra["fields"]
    assert not (tmp_path / "out.jpg").exists()


@needs_exiftool
def test_pdf_with_location_in_xmp_is_refused(tmp_path: Path) -> None:
    located = tmp_path / "located.pdf"
    shutil.copy(CORPUS / "BlueSquare.pdf", located)
    subprocess.run(
        [EXIFTOOL, "-q", "-overwrite_original", "-XMP-photoshop:City=Ålesund", str(located)],
        check=True,
    )

    with pytest.raises(LocationNotRemovable):
        write_delivery_copy(located, tmp_path / "out.pdf", fmt="PDF", metadata=GOVERNED)
    clean = write_delivery_copy(
        CORPUS / "BlueSquare.pdf", tmp_path / "clean.pdf", fmt="PDF", metadata=GOVERNED
    )
    assert clean.method == "unchanged"


def test_unreadable_metadata_is_not_vouched_for(tmp_path: Path) -> None:
    broken = tmp_path / "broken.heif"
    broken.write_bytes((CORPUS / "pillow-hopper.heif").read_bytes()[:200])

    with pytest.raises(DeliveryRefused):
        write_delivery_copy(broken, tmp_path / "out.heif", fmt="HEIF", metadata=GOVERNED)


def test_cache_key_changes_with_metadata_privacy_and_source() -> None:
    base = delivery_cache_key("a" * 64, GOVERNED, strip=("gps", "location"))
    later = DeliveryMetadata(**{**GOVERNED.__dict__, "licence_end": date(2026, 12, 31)})

    assert base == delivery_cache_key("a" * 64, GOVERNED, strip=("location", "gps"))
    assert base != delivery_cache_key("b" * 64, GOVERNED, strip=("gps", "location"))
    assert base != delivery_cache_key("a" * 64, later, strip=("gps", "location"))
    assert base != delivery_cache_key("a" * 64, GOVERNED, strip=("gps",))


def test_renditions_carry_no_embedded_metadata(tmp_path: Path) -> None:
    from dam.media.renditions import make_rendition

    preview = tmp_path / "preview.webp"
    preview.write_bytes(make_rendition(CORPUS / "agency-photo.jpg", 1024, max_pixels=10**8))
    found = read_embedded(preview, fmt="WEBP")

    assert found.blocks == []
    assert found.embedded.gps is None and found.embedded.creator == []
