from __future__ import annotations

from pathlib import Path

import pytest

from dam.errors import Invalid, UnsupportedMediaType
from dam.media import MediaKind, sniff
from tests.media.samples import (
    make_avif,
    make_gif,
    make_jpeg,
    make_mp4,
    make_pdf,
    make_png,
    make_svg,
    make_tiff,
    make_webm,
    make_webp,
)


@pytest.mark.parametrize(
    ("name", "factory", "expected"),
    [
        ("a.jpg", make_jpeg, ("JPEG", "image/jpeg", MediaKind.image)),
        ("a.png", make_png, ("PNG", "image/png", MediaKind.image)),
        ("a.gif", make_gif, ("GIF", "image/gif", MediaKind.image)),
        ("a.webp", make_webp, ("WEBP", "image/webp", MediaKind.image)),
        ("a.tif", make_tiff, ("TIFF", "image/tiff", MediaKind.image)),
        ("a.avif", make_avif, ("AVIF", "image/avif", MediaKind.image)),
        ("a.svg", make_svg, ("SVG", "image/svg+xml", MediaKind.vector)),
        ("a.pdf", make_pdf, ("PDF", "application/pdf", MediaKind.document)),
        ("a.mp4", make_mp4, ("MP4", "video/mp4", MediaKind.video)),
        ("a.webm", make_webm, ("WEBM", "video/webm", MediaKind.video)),
    ],
)
def test_allow_listed_types_sniff_from_bytes(tmp_path: Path, name, factory, expected) -> None:
    # The name carries no weight: every sample is stored as ".bin".
    path = factory(tmp_path / name)
    renamed = path.rename(tmp_path / f"{name}.bin")
    assert sniff(renamed) == expected


def test_big_endian_tiff_sniffs_as_tiff(tmp_path: Path) -> None:
    path = make_tiff(tmp_path / "mm.tif", mode="I;16B", color=1000)
    assert path.read_bytes()[:4] == b"MM\x00*"
    assert sniff(path) == ("TIFF", "image/tiff", MediaKind.image)


def test_quicktime_brand_sniffs_as_mov(tmp_path: Path) -> None:
    path = make_mp4(tmp_path / "a.mov", brand=b"qt  ", compatible=[b"qt  "])
    assert sniff(path) == ("MOV", "video/quicktime", MediaKind.video)


@pytest.mark.parametrize("brand", [b"mp42", b"avc1", b"dash", b"M4V ", b"iso5"])
def test_mp4_brands_sniff_as_mp4(tmp_path: Path, brand: bytes) -> None:
    path = make_mp4(tmp_path / "a.mp4", brand=brand, compatible=[brand])
    assert sniff(path) == ("MP4", "video/mp4", MediaKind.video)


def test_avif_listed_as_compatible_brand_sniffs_as_avif(tmp_path: Path) -> None:
    path = make_mp4(tmp_path / "a.avif", brand=b"mif1", compatible=[b"mif1", b"avif"])
    assert sniff(path)[0] == "AVIF"


@pytest.mark.parametrize(
    ("brand", "compatible", "mime"),
    [
        (b"heic", [b"mif1", b"heic"], "image/heic"),
        (b"mif1", [b"mif1", b"miaf"], "image/heif"),
    ],
)
def test_heif_sniffs_as_an_image(tmp_path: Path, brand: bytes, compatible, mime: str) -> None:
    path = make_mp4(tmp_path / "a.heic", brand=brand, compatible=compatible)
    assert sniff(path) == ("HEIF", mime, MediaKind.image)


def test_mp4_audio_brand_sniffs_as_audio_even_with_video_compatible_brands(tmp_path: Path) -> None:
    path = make_mp4(tmp_path / "a.m4a", brand=b"M4A ", compatible=[b"M4A ", b"mp42", b"isom"])
    assert sniff(path) == ("M4A", "audio/mp4", MediaKind.audio)


def test_matroska_that_is_not_webm_is_refused(tmp_path: Path) -> None:
    path = make_webm(tmp_path / "a.mkv", doctype="matroska")
    with pytest.raises(UnsupportedMediaType, match="'matroska'"):
        sniff(path)


def test_gif_named_png_sniffs_as_gif(tmp_path: Path) -> None:
    path = make_gif(tmp_path / "photo.png")
    assert sniff(path) == ("GIF", "image/gif", MediaKind.image)


def test_html_named_as_image_is_refused_as_html(tmp_path: Path) -> None:
    path = tmp_path / "cat.jpg"
    path.write_text("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")
    with pytest.raises(UnsupportedMediaType) as err:
        sniff(path)
    assert err.value.status_code == 415
    assert err.value.code == "unsupported_type"
    assert err.value.detail == "unsupported file type: an HTML document"


def test_html_without_doctype_is_refused_as_html(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_text("\n  <html><head><title>x</title></head></html>")
    with pytest.raises(UnsupportedMediaType, match="HTML document"):
        sniff(path)


def test_zip_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(UnsupportedMediaType, match="ZIP archive"):
        sniff(path)


def test_plain_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("just some notes\nabout a campaign\n")
    with pytest.raises(UnsupportedMediaType, match="plain text"):
        sniff(path)


def test_unknown_binary_names_its_first_bytes(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(bytes(range(200, 256)) * 4)
    with pytest.raises(UnsupportedMediaType, match="c8 c9 ca cb cc cd ce cf"):
        sniff(path)


def test_xml_that_is_not_svg_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "feed.svg"
    path.write_text('<?xml version="1.0"?><rss version="2.0"><channel/></rss>')
    with pytest.raises(UnsupportedMediaType, match="root element <rss>"):
        sniff(path)


def test_empty_file_is_422_empty_file(tmp_path: Path) -> None:
    # A zero-byte body has no type at all: it is refused as invalid content, not as a 415.
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(Invalid) as err:
        sniff(path)
    assert err.value.status_code == 422
    assert err.value.code == "empty_file"


def test_svg_without_namespace_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "a.svg"
    path.write_text('<svg width="10" height="10"><rect width="1" height="1"/></svg>')
    with pytest.raises(Invalid) as err:
        sniff(path)
    assert err.value.code == "invalid_svg"


def test_svg_with_leading_comment_and_bom_sniffs(tmp_path: Path) -> None:
    path = tmp_path / "logo"
    make_svg(path, prolog="\ufeff<!-- Generator: Adobe Illustrator 27 -->\n")
    assert sniff(path) == ("SVG", "image/svg+xml", MediaKind.vector)


def test_svg_doctype_is_refused_while_sniffing(tmp_path: Path) -> None:
    path = tmp_path / "bomb.svg"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<svg xmlns="http://www.w3.org/2000/svg">&b;</svg>'
    )
    with pytest.raises(Invalid) as err:
        sniff(path)
    assert err.value.code == "unsafe_svg"
