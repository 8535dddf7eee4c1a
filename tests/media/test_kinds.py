"""Every accepted kind, with real files (tests/media/files/README.md): inspected fields exact,
renditions present at the right size, hostile variants refused or bounded."""

from __future__ import annotations

import io
import shutil
import struct
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image

from dam.errors import Invalid
from dam.media import MediaKind, inspect_file
from dam.media.previews import PreviewOptions, planned, render

FILES = Path(__file__).parent / "files"
MAX_PIXELS = 200_000_000


def inspect(name: str) -> dict[str, Any]:
    info = inspect_file(FILES / name, max_pixels=MAX_PIXELS)
    return info.to_json()


def facts(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: data[k] for k in keys}


def draw(tmp_path: Path, source: Path, kind: str, names: list[str]) -> dict[str, Any]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    made = render(
        source=str(source),
        kind=kind,
        names=names,
        out_dir=str(out),
        max_pixels=MAX_PIXELS,
        options=PreviewOptions(),
    )
    sizes: dict[str, Any] = {}
    for name, entry in made.items():
        data = Path(entry["file"]).read_bytes()
        if entry["mime"] == "image/webp":
            with Image.open(io.BytesIO(data)) as img:
                assert img.format == "WEBP"
                sizes[name] = img.size
        else:
            sizes[name] = data
    return sizes


# --- SVG -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("feather-camera.svg", (24, 24)),
        ("simple-icons-python.svg", (24, 24)),
        ("mdi-account.svg", (24, 24)),
        # SVG 1.0 public DOCTYPE, 65 x 24 cm.
        ("dia-postgresql-dependencies.svg", (2457, 907)),
        # SVG 1.1 public DOCTYPE, 615 x 44 pt.
        ("graphviz.svg", (820, 59)),
    ],
)
def test_real_svgs_inspect_with_their_size(name: str, size: tuple[int, int]) -> None:
    data = inspect(name)
    assert (data["kind"], data["format"], data["mime_type"]) == ("vector", "SVG", "image/svg+xml")
    assert (data["width"], data["height"]) == size


@pytest.mark.parametrize(
    ("name", "thumb", "preview"),
    [
        ("feather-camera.svg", (256, 256), (1024, 1024)),
        ("dia-postgresql-dependencies.svg", (256, 95), (1024, 379)),
        ("graphviz.svg", (256, 19), (1024, 74)),
    ],
)
def test_svg_renditions_are_drawn_at_the_rendition_size(
    tmp_path: Path, name: str, thumb: tuple[int, int], preview: tuple[int, int]
) -> None:
    sizes = draw(tmp_path, FILES / name, "vector", ["thumb", "preview"])
    # A vector is drawn at the size asked for: a 24 px icon is not upscaled from 24 px.
    assert sizes == {"thumb": thumb, "preview": preview}


def test_svg_rendition_keeps_transparency_and_draws_the_icon(tmp_path: Path) -> None:
    draw(tmp_path, FILES / "mdi-account.svg", "vector", ["thumb"])
    with Image.open(tmp_path / "out" / "thumb") as img:
        rgba = img.convert("RGBA")
    alpha = rgba.getchannel("A")
    assert alpha.getpixel((0, 0)) == 0  # the corner is outside the glyph
    assert alpha.getpixel((128, 70)) == 255  # the head of the account glyph


def test_billion_laughs_svg_is_refused(tmp_path: Path) -> None:
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
    )
    path = tmp_path / "lol.svg"
    path.write_text(
        f'<?xml version="1.0"?><!DOCTYPE svg [{entities}]>'
        '<svg xmlns="http://www.w3.org/2000/svg"><text>&i;</text></svg>'
    )
    with pytest.raises(Invalid) as err:
        inspect_file(path, max_pixels=MAX_PIXELS)
    assert err.value.code == "unsafe_svg"


# --- PDF -------------------------------------------------------------------------------------


def test_pdf_rotated_page_reports_its_displayed_size() -> None:
    data = inspect("pypdf-autocad-rotate270.pdf")
    assert facts(data, "kind", "format", "width", "height", "pages", "pdf_version") == {
        "kind": "document",
        "format": "PDF",
        "width": 842,  # the MediaBox is 595 x 842, turned by /Rotate 270
        "height": 595,
        "pages": 1,
        "pdf_version": "1.6",
    }
    assert data["encrypted"] is False and data["pdf_permissions"] is None
    assert data["pdf_info"] == {
        "title": "Model",
        "creator": "AutoCAD 2012 - English 2012 (18.2s (LMS Tech))",
        "producer": "pdfplot10.hdi 10.2.51.0",
    }


def test_pdf_with_its_page_tree_in_object_streams_is_sized() -> None:
    data = inspect("pypdf-crazyones-objstm.pdf")
    assert facts(data, "width", "height", "pages", "pdf_version") == {
        "width": 612,
        "height": 792,
        "pages": 1,
        "pdf_version": "1.5",
    }


def test_multi_page_pdf_counts_pages_and_gets_page_thumbnails(tmp_path: Path) -> None:
    data = inspect("pypdf-pdflatex-4-pages.pdf")
    assert (data["pages"], data["width"], data["height"]) == (4, 595, 842)
    names = planned("document", data, PreviewOptions(pdf_pages=3))
    assert names == ["thumb", "preview", "page-1", "page-2", "page-3"]
    sizes = draw(tmp_path, FILES / "pypdf-pdflatex-4-pages.pdf", "document", names)
    # A4 is 595.28 x 841.89 pt; PDFium rounds a partial pixel up, Pillow to the nearest.
    assert sizes == {
        "thumb": (181, 256),
        "preview": (725, 1024),
        "page-1": (181, 256),
        "page-2": (182, 256),
        "page-3": (182, 256),
    }


def test_rotated_pdf_page_renders_landscape(tmp_path: Path) -> None:
    sizes = draw(tmp_path, FILES / "pypdf-autocad-rotate270.pdf", "document", ["thumb", "preview"])
    assert sizes == {"thumb": (256, 181), "preview": (1024, 724)}


def test_password_protected_pdf_is_flagged_and_gets_placeholders(tmp_path: Path) -> None:
    data = inspect("pypdf-r6-user-password.pdf")
    assert facts(data, "kind", "encrypted", "password_required", "pages", "width") == {
        "kind": "document",
        "encrypted": True,
        "password_required": True,
        "pages": None,
        "width": None,
    }
    names = planned("document", data, PreviewOptions())
    assert names == ["thumb", "preview"]
    out = tmp_path / "out"
    out.mkdir()
    made = render(
        source=str(FILES / "pypdf-r6-user-password.pdf"),
        kind="document",
        names=names,
        out_dir=str(out),
        max_pixels=MAX_PIXELS,
        options=PreviewOptions(),
    )
    assert {n: e.get("note") for n, e in made.items()} == {
        "thumb": "placeholder",
        "preview": "placeholder",
    }
    with Image.open(made["preview"]["file"]) as img:
        assert img.size == (1024, 768)


def test_owner_encrypted_pdf_lists_what_readers_may_do() -> None:
    data = inspect("pypdf-encrypted-no-print.pdf")
    assert (data["encrypted"], data["password_required"], data["pages"]) == (True, False, 3)
    assert "print" not in data["pdf_permissions"]
    assert data["pdf_permissions"] == [
        "modify",
        "copy",
        "annotate",
        "fill_forms",
        "extract_for_accessibility",
        "assemble",
        "print_high_quality",
    ]


def _pdf(pages: int, *, box: str = "0 0 612 792", count: int | None = None) -> bytes:
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{i + 3} 0 R" for i in range(pages))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {count or pages} >>".encode())
    objects += [f"<< /Type /Page /Parent 2 0 R /MediaBox [{box}] >>".encode()] * pages
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


@pytest.mark.parametrize("count", [None, 100_000])
def test_pdf_with_100k_pages_is_refused_by_count(tmp_path: Path, count: int | None) -> None:
    # Either 100,000 real page objects, or one page whose tree claims 100,000.
    path = tmp_path / "bomb.pdf"
    path.write_bytes(_pdf(100_000 if count is None else 1, count=count))
    with pytest.raises(Invalid) as err:
        inspect_file(path, max_pixels=MAX_PIXELS)
    assert err.value.code == "pdf_too_many_pages"
    assert err.value.detail == "PDF has 100000 pages; documents of up to 5000 pages are accepted"


def test_pdf_with_a_huge_page_box_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.pdf"
    path.write_bytes(_pdf(1, box="0 0 100000 100000"))
    with pytest.raises(Invalid) as err:
        inspect_file(path, max_pixels=MAX_PIXELS)
    assert err.value.code == "pdf_page_too_large"
    assert "100000 x 100000 pt" in err.value.detail


def test_pdf_page_of_the_largest_legal_size_renders_at_the_rendition_size(tmp_path: Path) -> None:
    path = tmp_path / "poster.pdf"
    path.write_bytes(_pdf(1, box="0 0 14400 7200"))
    assert (inspect_file(path, max_pixels=MAX_PIXELS).width or 0) == 14400
    assert draw(tmp_path, path, "document", ["preview"]) == {"preview": (1024, 512)}


def test_damaged_pdf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.pdf"
    path.write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /ObjStm /Filter /FlateDecode >>\n%%EOF\n")
    with pytest.raises(Invalid) as err:
        inspect_file(path, max_pixels=MAX_PIXELS)
    assert err.value.code == "corrupt_pdf"


# --- video and audio -------------------------------------------------------------------------

VIDEO_FIELDS = (
    "kind",
    "format",
    "mime_type",
    "width",
    "height",
    "duration",
    "video_codec",
    "audio_codec",
    "frame_rate",
    "has_audio",
    "rotation",
    "frames",
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "pymediainfo-sample-1080p.mp4",
            ("video", "MP4", "video/mp4", 1920, 1080, 1.043, "h264", "aac", 23.976, True, 0, 23),
        ),
        (
            # A phone-style display matrix: stored 320x180, shown 180x320.
            "ffmpeg-h264-aac-rot90.mp4",
            ("video", "MP4", "video/mp4", 180, 320, 2.0, "h264", "aac", 25.0, True, 90, 50),
        ),
        (
            "ffmpeg-hevc.mp4",
            ("video", "MP4", "video/mp4", 320, 180, 1.0, "hevc", None, 30.0, False, 0, 30),
        ),
        (
            "ffmpeg-vp9-black-start.webm",
            ("video", "WEBM", "video/webm", 320, 180, 3.0, "vp9", None, 24.0, False, 0, 72),
        ),
        (
            "ffmpeg-prores.mov",
            ("video", "MOV", "video/quicktime", 160, 90, 0.5, "prores", None, 24.0, False, 0, 12),
        ),
    ],
)
def test_video_facts(name: str, expected: tuple[Any, ...]) -> None:
    data = inspect(name)
    assert tuple(data[k] for k in VIDEO_FIELDS) == expected
    assert data["bit_rate"] > 0


@pytest.mark.parametrize(
    ("name", "duration"), [("pymediainfo-audio-only.mp4", 0.046), ("ffmpeg-audio.m4a", 1.0)]
)
def test_audio_only_mp4_is_the_audio_kind(name: str, duration: float) -> None:
    data = inspect(name)
    assert facts(data, "kind", "format", "mime_type", "audio_codec", "video_codec") == {
        "kind": "audio",
        "format": "M4A",
        "mime_type": "audio/mp4",
        "audio_codec": "aac",
        "video_codec": None,
    }
    assert (data["duration"], data["has_audio"], data["width"]) == (duration, True, None)
    assert planned("audio", data, PreviewOptions()) == []


def test_mp4_without_streams_is_refused() -> None:
    with pytest.raises(Invalid) as err:
        inspect_file(FILES / "pymediainfo-empty.mp4", max_pixels=MAX_PIXELS)
    assert err.value.code == "no_decodable_stream"
    assert err.value.detail == "the MP4 file has no video or audio stream"


def test_mp4_whose_samples_are_gone_is_refused(tmp_path: Path) -> None:
    # The moov still describes 50 frames; the media data is zeroed.
    data = bytearray((FILES / "ffmpeg-h264-aac-rot90.mp4").read_bytes())
    at = data.index(b"mdat")
    size = struct.unpack(">I", data[at - 4 : at])[0]
    data[at + 4 : at - 4 + size] = bytes(size - 8)
    path = tmp_path / "hollow.mp4"
    path.write_bytes(bytes(data))
    with pytest.raises(Invalid) as err:
        inspect_file(path, max_pixels=MAX_PIXELS)
    assert err.value.code == "no_decodable_stream"


def _webm_claiming(tmp_path: Path, width: int, height: int) -> Path:
    """The VP9 sample with its Matroska PixelWidth/PixelHeight rewritten (3-byte values)."""
    data = bytearray((FILES / "ffmpeg-vp9-black-start.webm").read_bytes())
    old = b"\xb0\x82\x01\x40\xba\x81\xb4"  # PixelWidth 320, PixelHeight 180
    at = data.index(old)
    new = b"\xb0\x83" + width.to_bytes(3, "big") + b"\xba\x83" + height.to_bytes(3, "big")
    data[at : at + len(old)] = new
    grown = len(new) - len(old)
    # Enlarge the sizes of the enclosing Video (0xE0), TrackEntry (0xAE) and Tracks elements.
    for marker in (b"\xe0", b"\xae", b"\x16\x54\xae\x6b"):
        pos = data.rfind(marker, 0, at)
        size_at = pos + len(marker)
        first = data[size_at]
        length = 8 - first.bit_length() + 1
        value = int.from_bytes(data[size_at : size_at + length], "big")
        value += grown
        data[size_at : size_at + length] = value.to_bytes(length, "big")
    path = tmp_path / "claims.webm"
    path.write_bytes(bytes(data))
    return path


def test_video_claiming_100000_by_100000_in_its_container_is_not_believed(tmp_path: Path) -> None:
    # FFmpeg sizes the stream from the bitstream it probes, so the container's claim costs
    # nothing: the file is inspected (and later decoded) at its real size.
    path = _webm_claiming(tmp_path, 100_000, 100_000)
    data = inspect_file(path, max_pixels=MAX_PIXELS).to_json()
    assert (data["width"], data["height"], data["video_codec"]) == (320, 180, "vp9")


def test_video_frames_above_the_pixel_limit_are_refused_before_decoding() -> None:
    with pytest.raises(Invalid) as err:
        inspect_file(
            FILES / "pymediainfo-sample-1080p.mp4",
            max_pixels=MAX_PIXELS,
            max_video_pixels=2_000_000,
        )
    assert err.value.code == "video_too_large"
    assert err.value.detail == (
        "video frames are 1920x1080 (2073600 pixels), above the limit of 2000000 pixels"
    )


@pytest.mark.parametrize(
    ("name", "thumb", "preview"),
    [
        ("pymediainfo-sample-1080p.mp4", (256, 144), (1024, 576)),
        ("ffmpeg-h264-aac-rot90.mp4", (144, 256), (180, 320)),  # upright, never upscaled
        ("ffmpeg-hevc.mp4", (256, 144), (320, 180)),
        ("ffmpeg-prores.mov", (160, 90), (160, 90)),
    ],
)
def test_video_poster_and_clip(
    tmp_path: Path, name: str, thumb: tuple[int, int], preview: tuple[int, int]
) -> None:
    made = draw(tmp_path, FILES / name, "video", ["thumb", "preview", "clip"])
    assert (made["thumb"], made["preview"]) == (thumb, preview)
    with av.open(io.BytesIO(made["clip"])) as clip:
        assert clip.format.name.startswith("mov,mp4")
        assert [s.type for s in clip.streams] == ["video"]  # muted
        stream = clip.streams.video[0]
        assert stream.codec_context.name == "h264"
        long_side = max(stream.codec_context.width, stream.codec_context.height)
        assert long_side == min(360, max(preview)) // 2 * 2
        # The clip shows the picture the way the player does.
        assert (stream.codec_context.width > stream.codec_context.height) == (
            preview[0] > preview[1]
        )
        assert 0 < float(clip.duration / av.time_base) <= 3.1


def test_poster_skips_black_frames(tmp_path: Path) -> None:
    draw(tmp_path, FILES / "ffmpeg-vp9-black-start.webm", "video", ["preview"])
    with Image.open(tmp_path / "out" / "preview") as img:
        grey = img.convert("L")
        mean = sum(grey.getdata()) / (grey.width * grey.height)
    assert mean > 40  # the test pattern, not the black lead-in


# --- HEIF and AVIF ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "mode", "alpha"),
    [("pillow-heif-rgb-29x100.heif", "RGB", False), ("pillow-heif-rgba-29x100.heif", "RGBA", True)],
)
def test_heif_inspects_as_an_image(name: str, mode: str, alpha: bool) -> None:
    data = inspect(name)
    assert facts(data, "kind", "format", "mime_type", "width", "height", "color_mode") == {
        "kind": "image",
        "format": "HEIF",
        "mime_type": "image/heic",
        "width": 29,
        "height": 100,
        "color_mode": mode,
    }
    assert data["has_alpha"] is alpha
    assert data["phash"] is not None


def test_heif_renditions(tmp_path: Path) -> None:
    source = tmp_path / "photo.heif"
    shutil.copy(FILES / "pillow-heif-rgba-29x100.heif", source)
    assert draw(tmp_path, source, "image", ["thumb", "preview"]) == {
        "thumb": (29, 100),
        "preview": (29, 100),
    }


def test_corrupt_heif_is_refused() -> None:
    with pytest.raises(Invalid) as err:
        inspect_file(FILES / "pillow-heif-corrupted.heic", max_pixels=MAX_PIXELS)
    assert err.value.code == "corrupt_image"


def test_avif_renditions(tmp_path: Path) -> None:
    source = tmp_path / "photo.avif"
    Image.new("RGB", (600, 300), (240, 200, 0)).save(source, "AVIF", quality=60)
    assert inspect_file(source, max_pixels=MAX_PIXELS).kind is MediaKind.image
    assert draw(tmp_path, source, "image", ["thumb", "preview"]) == {
        "thumb": (256, 128),
        "preview": (600, 300),
    }
