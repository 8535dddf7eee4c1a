"""Reading embedded metadata from real files, compared with exiftool, and from hostile ones."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from dam.media.embedded import Embedded, EmbeddedMetadata, read_embedded
from dam.media.inspect import inspect_file

CORPUS = Path(__file__).parent / "corpus"
EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(
    EXIFTOOL is None, reason="exiftool (Debian libimage-exiftool-perl) is not installed"
)

FORMATS = {
    "r_canon.jpg": "JPEG",
    "r_sony.jpg": "JPEG",
    "r_olympus.jpg": "JPEG",
    "pillow-iptc.jpg": "JPEG",
    "pillow-exif_gps.jpg": "JPEG",
    "pillow-flower.webp": "WEBP",
    "pillow-xmp_tags_orientation.avif": "AVIF",
    "pillow-hopper_orientation_6.jpg": "JPEG",
    "BlueSquare.jpg": "JPEG",
    "BlueSquare.png": "PNG",
    "BlueSquare.pdf": "PDF",
    "pypdf-issue-914-xmp-data.pdf": "PDF",
    "agency-photo.jpg": "JPEG",
    "ffmpeg-located-clip.mp4": "MP4",
}


def read(name: str, **kw: Any) -> EmbeddedMetadata:
    return read_embedded(CORPUS / name, fmt=FORMATS.get(name, "JPEG"), **kw)


# --- the agency photo, field by field -----------------------------------------------------------


def test_agency_photo_gives_every_normalised_field() -> None:
    found = read("agency-photo.jpg")
    e = found.embedded

    assert found.problems == []
    assert found.blocks == ["exif", "iptc", "xmp"]
    assert e.title == "Trail runner above the fjord"
    assert e.headline == "Dawn run on Aksla"
    assert e.description == "A trail runner crosses the ridge above Ålesund at sunrise."
    assert e.creator == ["Ingrid Solberg"]
    assert e.credit == "Nordlys Agency / Ingrid Solberg"
    assert e.copyright_notice == "© 2026 Nordlys Agency AS"
    assert e.usage_terms == "Social and web use by Halden Outdoor until 2027-06-30. No print."
    assert e.web_statement == "https://nordlys.example/licences/HAL-4711"
    assert (e.licence_start, e.licence_end) == ("2026-07-01", "2027-06-30")
    assert e.keywords == ["trail running", "Lifestyle", "fjord", "Norway", "Trail"]
    assert e.capture_date == "2026-06-14T04:12:09+02:00"
    assert (e.camera_make, e.camera_model) == ("NIKON CORPORATION", "NIKON D1X")
    assert e.lens == "18.0-70.0 mm f/3.5-4.5"
    assert e.orientation == 6
    assert e.location == {
        "sublocation": "Aksla viewpoint",
        "city": "Ålesund",
        "state": "Møre og Romsdal",
        "country": "Norway",
        "country_code": "NO",
    }
    assert e.locations_shown == [{"city": "Ålesund", "country": "Norway"}]
    assert e.gps is not None
    assert (e.gps.latitude, e.gps.longitude, e.gps.altitude) == (62.472229, 6.154917, 189.0)
    assert e.persons_shown == ["Kari Nordmann"]
    assert (e.model_release_status, e.model_release_ids) == ("MR-UMR", ["NA-2026-0042"])
    assert e.digital_source_type == "digitalCapture"
    assert e.ai_generated is False
    # XMP wins over IPTC and EXIF, as IPTC/MWG tell readers to do.
    assert found.sources["title"] == "Xmp.dc.title"
    assert found.sources["description"] == "Xmp.dc.description"
    assert found.sources["gps"] == "Exif.GPSInfo"
    assert found.raw["iptc"]["Iptc.Application2.ObjectName"] == "Trail runner above the fjord"


def test_embedded_block_round_trips_through_json() -> None:
    stored = json.loads(json.dumps(read("agency-photo.jpg").to_json()))
    signed = json.loads(
        json.dumps(read_embedded(CORPUS / "c2pa-ai-hopper.jpg", fmt="JPEG").to_json())
    )

    assert Embedded.from_json(stored["embedded"]) == read("agency-photo.jpg").embedded
    assert Embedded.from_json(signed["embedded"]).ai_generated is True


def test_location_is_left_out_for_roles_that_may_not_see_it() -> None:
    found = read("agency-photo.jpg")

    hidden = found.to_json(include_location=False)
    text = json.dumps(hidden, ensure_ascii=False)
    keys = {key for table in hidden["raw"].values() for key in table}

    assert hidden["embedded"]["gps"] is None
    assert hidden["embedded"]["location"] == {}
    assert hidden["embedded"]["locations_shown"] == []
    assert "62.47" not in text and "6.15" not in text and "Aksla viewpoint" not in text
    assert not [k for k in keys if "GPS" in k or "City" in k or "Location" in k]
    # Free text keeps what the photographer wrote ("… above Ålesund …"): it is a caption.
    assert "Ålesund" in hidden["embedded"]["description"]
    assert hidden["embedded"]["creator"] == ["Ingrid Solberg"]
    assert "gps" in found.to_json()["sources"]


def test_display_size_and_bit_depth() -> None:
    agency = inspect_file(CORPUS / "agency-photo.jpg", max_pixels=10**8)
    png16 = inspect_file(CORPUS / "ffmpeg-rgb48.png", max_pixels=10**8)
    tiff16 = inspect_file(CORPUS / "pillow-tiff_16bit_RGB.tiff", max_pixels=10**8)
    png8 = inspect_file(CORPUS / "BlueSquare.png", max_pixels=10**8)

    assert (agency.width, agency.height, agency.display_size) == (1350, 1080, (1080, 1350))
    assert (png16.color_mode, png16.bit_depth) == ("RGB", 16)
    assert (tiff16.color_mode, tiff16.bit_depth) == ("RGB", 16)
    assert (png8.bit_depth, agency.bit_depth) == (8, 8)


# --- other formats --------------------------------------------------------------------------------


def test_pdf_xmp_and_info_dict() -> None:
    square = read("BlueSquare.pdf")
    chinese = read("pypdf-issue-914-xmp-data.pdf")

    assert square.embedded.title == "Blue Square Test File - .pdf"
    assert square.embedded.keywords == ["XMP", "Blue Square", "test file", "InDesign", ".pdf"]
    assert set(square.blocks) == {"pdf", "xmp"}
    assert chinese.embedded.creator == ["微软用户"]
    assert chinese.raw["pdf"]["Author"] == "微软用户"
    assert chinese.embedded.capture_date == "2022-04-09T23:22:38+08:00"


def test_video_container_tags_and_iso6709_location() -> None:
    clip = read("ffmpeg-located-clip.mp4")

    assert clip.embedded.title == "Ridge clip"
    assert clip.embedded.creator == ["Ingrid Solberg"]
    assert clip.embedded.copyright_notice == "© 2026 Nordlys"
    assert clip.embedded.gps is not None
    assert (clip.embedded.gps.latitude, clip.embedded.gps.longitude) == (62.4722, 6.1549)
    assert "location" not in json.dumps(clip.to_json(include_location=False)["raw"])


def test_webp_and_avif() -> None:
    assert read("pillow-flower.webp").embedded.camera_model == "Canon PowerShot S40"
    assert read("pillow-xmp_tags_orientation.avif").embedded.orientation == 3


def test_gif_xmp_is_read(tmp_path: Path) -> None:
    if EXIFTOOL is None:
        pytest.skip("exiftool (Debian libimage-exiftool-perl) is needed to tag the GIF")
    gif = tmp_path / "tagged.gif"
    Image.new("P", (8, 8)).save(gif)
    subprocess.run(
        [EXIFTOOL, "-q", "-overwrite_original", "-XMP-dc:Title=Animated teaser", str(gif)],
        check=True,
    )

    assert read_embedded(gif, fmt="GIF").embedded.title == "Animated teaser"


def test_c2pa_manifest_of_a_signed_file() -> None:
    signed = read_embedded(CORPUS / "c2pa-python-C.jpg", fmt="JPEG")
    generated = read_embedded(CORPUS / "c2pa-ai-hopper.jpg", fmt="JPEG")

    c2pa = signed.embedded.c2pa
    assert c2pa is not None
    assert c2pa.claim_generator == "make_test_images/0.26.0 c2pa-rs/0.26.0"
    assert c2pa.actions[0]["action"] == "c2pa.created"
    assert c2pa.digital_source_types == ["algorithmicMedia"]
    assert c2pa.validation_state == "Valid"
    assert "signingCredential.untrusted" in c2pa.validation_errors
    assert signed.embedded.ai_generated is False  # procedural, not a trained model
    assert generated.embedded.c2pa is not None
    assert generated.embedded.c2pa.digital_source_types == ["trainedAlgorithmicMedia"]
    assert generated.embedded.ai_generated is True
    assert read("r_canon.jpg").embedded.c2pa is None


# --- exiftool as the reference --------------------------------------------------------------------


def _exiftool(path: Path) -> dict[str, Any]:
    assert EXIFTOOL is not None
    out = subprocess.run(
        [EXIFTOOL, "-j", "-G1", "-n", "-a", "-struct", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out)[0])


def _first(tags: dict[str, Any], *names: str) -> Any:
    for name in names:
        value = tags.get(name)
        if value not in (None, "", []):
            return value
    return None


def _same(value: Any) -> Any:
    """Compare as a reader would: whitespace runs collapsed, empty is absent."""
    if isinstance(value, str):
        value = " ".join(value.split()) or None
    if isinstance(value, list):
        value = [_same(v) for v in value if _same(v) is not None] or None
    return value


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@needs_exiftool
@pytest.mark.parametrize("name", sorted(n for n in FORMATS if FORMATS[n] != "MP4"))
def test_extraction_matches_exiftool_field_by_field(name: str) -> None:
    tags = _exiftool(CORPUS / name)
    e = read(name).embedded

    expected_title = _first(tags, "XMP-dc:Title", "IPTC:ObjectName", "PDF:Title")
    expected_description = _first(
        tags, "XMP-dc:Description", "IPTC:Caption-Abstract", "IFD0:ImageDescription"
    )
    if isinstance(expected_description, str) and not expected_description.strip():
        expected_description = None
    checks = {
        "title": (e.title, expected_title),
        "description": (e.description, expected_description),
        "creator": (
            e.creator,
            _as_list(_first(tags, "XMP-dc:Creator", "IPTC:By-line", "IFD0:Artist", "PDF:Author")),
        ),
        "credit": (e.credit, _first(tags, "XMP-photoshop:Credit", "IPTC:Credit")),
        "copyright": (
            e.copyright_notice,
            _first(tags, "XMP-dc:Rights", "IPTC:CopyrightNotice", "IFD0:Copyright"),
        ),
        "usage_terms": (e.usage_terms, _first(tags, "XMP-xmpRights:UsageTerms")),
        "make": (e.camera_make, _first(tags, "IFD0:Make")),
        "model": (e.camera_model, _first(tags, "IFD0:Model")),
        "orientation": (e.orientation, _first(tags, "IFD0:Orientation", "XMP-tiff:Orientation")),
        "city": (
            e.location.get("city"),
            _first(tags, "XMP-photoshop:City", "IPTC:City"),
        ),
        "model_release_ids": (e.model_release_ids, _as_list(tags.get("XMP-plus:ModelReleaseID"))),
    }
    licence_end = tags.get("XMP-plus:LicenseEndDate")
    checks["licence_end"] = (
        e.licence_end,
        str(licence_end)[:10].replace(":", "-") if licence_end else None,
    )
    keywords = _as_list(tags.get("XMP-dc:Subject")) + _as_list(tags.get("IPTC:Keywords"))
    checks["keywords"] = (e.keywords, list(dict.fromkeys(str(k) for k in keywords)))
    original = tags.get("ExifIFD:DateTimeOriginal")
    if isinstance(original, str) and not original.startswith("0000"):
        day, time = original.split(" ")
        checks["capture_date"] = ((e.capture_date or "")[:19], f"{day.replace(':', '-')}T{time}")
    lat, lon = tags.get("Composite:GPSLatitude"), tags.get("Composite:GPSLongitude")
    if isinstance(lat, int | float) and isinstance(lon, int | float) and abs(lat) <= 90:
        assert e.gps is not None, f"{name}: exiftool finds GPS {lat}, {lon}"
        checks["gps"] = (
            (round(e.gps.latitude, 5), round(e.gps.longitude, 5)),
            (round(lat, 5), round(lon, 5)),
        )
    else:
        checks["gps"] = (e.gps, None)

    mismatches = {
        field: {"ours": ours, "exiftool": theirs}
        for field, (ours, theirs) in checks.items()
        if _same(ours) != _same(theirs)
    }
    assert mismatches == {}, f"{name}: {mismatches}"


# --- hostile metadata -----------------------------------------------------------------------------


def _jpeg_with_segment(tmp_path: Path, marker: int, payload: bytes, name: str) -> Path:
    base = (CORPUS / "r_canon.jpg").read_bytes()
    segment = bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    path = tmp_path / name
    path.write_bytes(base[:2] + segment + base[2:])
    return path


XMP_OPEN = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
)
XMP_CLOSE = "</rdf:Description></rdf:RDF></x:xmpmeta>"


def test_billion_laughs_in_xmp_is_refused_and_the_rest_is_read(tmp_path: Path) -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    packet = (
        f'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><!DOCTYPE x [{entities}]>'
        f"{XMP_OPEN}<dc:creator><rdf:Seq><rdf:li>&lol9;</rdf:li></rdf:Seq></dc:creator>"
        f'{XMP_CLOSE}<?xpacket end="w"?>'
    ).encode()
    path = _jpeg_with_segment(
        tmp_path, 0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + packet, "lol.jpg"
    )

    found = read_embedded(path, fmt="JPEG")

    assert found.embedded.creator == []
    assert found.embedded.camera_model == "Canon PowerShot G1 X Mark II"  # EXIF still read
    assert any("declares a DTD" in p for p in found.problems), found.problems


def test_huge_xmp_packet_stays_within_the_memory_cap(tmp_path: Path) -> None:
    words = "".join(f"<rdf:li>keyword {i}</rdf:li>" for i in range(400_000))
    packet = f"{XMP_OPEN}<dc:subject><rdf:Bag>{words}</rdf:Bag></dc:subject>{XMP_CLOSE}"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", packet)
    path = tmp_path / "huge-xmp.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    assert path.stat().st_size > 10_000_000

    found = read_embedded(path, fmt="PNG", memory=64 * 1024 * 1024)

    assert len(found.embedded.keywords) <= 200
    assert found.problems, "an oversized packet is reported"


def test_the_parser_deadline_is_enforced(tmp_path: Path) -> None:
    words = "".join(f"<rdf:li>keyword {i}</rdf:li>" for i in range(400_000))
    packet = f"{XMP_OPEN}<dc:subject><rdf:Bag>{words}</rdf:Bag></dc:subject>{XMP_CLOSE}"
    path = tmp_path / "huge.xmp.tif"
    info = {700: packet.encode()}
    Image.new("RGB", (8, 8)).save(path, tiffinfo=info)

    found = read_embedded(path, fmt="TIFF", timeout=0.001)

    assert found.blocks == []
    assert found.problems and "metadata could not be read" in found.problems[0]


def test_malformed_iptc_does_not_raise(tmp_path: Path) -> None:
    # A dataset claiming 60000 bytes in a 40-byte resource, then garbage.
    iptc = b"\x1c\x02\x19\xea\x60short" + b"\x1c\x02\x78\x00\x05Capt" + b"\xff" * 8
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    path = _jpeg_with_segment(tmp_path, 0xED, b"Photoshop 3.0\x00" + resource, "bad-iptc.jpg")

    found = read_embedded(path, fmt="JPEG")

    assert found.embedded.camera_make == "Canon"
    assert isinstance(found.problems, list)


def test_garbage_bytes_and_wrong_charset_markers_are_read_leniently(tmp_path: Path) -> None:
    # IPTC record 1:90 declares UTF-8, but the City dataset is Latin-1 ("Tromsø").
    city = "Tromsø".encode("latin-1")
    iptc = b"\x1c\x01\x5a\x00\x03\x1b%G" + b"\x1c\x02\x5a" + struct.pack(">H", len(city)) + city
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    resource += b"\x00" if len(iptc) % 2 else b""
    path = _jpeg_with_segment(tmp_path, 0xED, b"Photoshop 3.0\x00" + resource, "charset.jpg")
    # EXIF Artist: Latin-1 bytes and control characters where ASCII belongs.
    exif = Image.Exif()
    exif[0x013B] = "JQrn QQHansen"
    garbage = tmp_path / "garbage.jpg"
    Image.new("RGB", (16, 16)).save(garbage, exif=exif.tobytes())
    # Pillow writes ASCII as UTF-8; put the raw bytes in place, same length.
    garbage.write_bytes(garbage.read_bytes().replace(b"JQrn QQHansen", b"J\xf8rn \x01\x02Hansen"))

    charset = read_embedded(path, fmt="JPEG")
    bytes_found = read_embedded(garbage, fmt="JPEG")

    assert charset.embedded.location["city"] == "Tromsø"
    assert (
        "Iptc.Application2.City: not valid UTF-8 although the block declares UTF-8; read as Latin-1"
        in charset.problems
    )
    assert bytes_found.embedded.creator == ["Jørn Hansen"]
    assert any("Exif.Image.Artist: not valid UTF-8" in p for p in bytes_found.problems)


def test_every_corpus_file_reads_without_raising() -> None:
    for path in sorted(CORPUS.iterdir()):
        if path.suffix.lower() not in (
            ".jpg",
            ".png",
            ".webp",
            ".avif",
            ".heif",
            ".tiff",
            ".pdf",
            ".mp4",
        ):
            continue
        fmt = {
            ".jpg": "JPEG",
            ".png": "PNG",
            ".webp": "WEBP",
            ".avif": "AVIF",
            ".heif": "HEIF",
            ".tiff": "TIFF",
            ".pdf": "PDF",
            ".mp4": "MP4",
        }[path.suffix.lower()]
        found = read_embedded(path, fmt=fmt)
        assert isinstance(found.to_json(), dict)
    broken = read_embedded(CORPUS / "pillow-invalid-exif.jpg", fmt="JPEG")
    assert broken.problems[0].startswith("exiv2 could not read the file's metadata")
    assert broken.embedded.capture_date == "2017-03-13T23:03:09-07:00"  # XMP read on its own
