"""Small factories that write sample media files; shared by every test module that needs files.

Each factory writes ``path`` and returns it. Raster factories take an optional ``image`` to save
instead of a plain colour; :func:`scene` draws a deterministic picture with enough structure for
perceptual hashes to be meaningful.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageCms, ImageDraw

Color = tuple[int, ...]

SVG_NS = "http://www.w3.org/2000/svg"


def scene(size: tuple[int, int] = (320, 240), *, seed: int = 0) -> Image.Image:
    """An RGB picture (gradient, shapes) that differs a lot between seeds."""
    rng = random.Random(seed)
    width, height = size
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    img = Image.merge("RGB", (img.getchannel(0), img.rotate(90).getchannel(1), img.getchannel(2)))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1 = min(width, x0 + rng.randrange(width // 8 + 1, width // 2 + 2))
        y1 = min(height, y0 + rng.randrange(height // 8 + 1, height // 2 + 2))
        fill = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=fill)
        else:
            draw.ellipse((x0, y0, x1, y1), fill=fill)
    return img


def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _solid(mode: str, size: tuple[int, int], color: Color | int) -> Image.Image:
    return Image.new(mode, size, color)


def _app13_iptc(keywords: Sequence[str]) -> bytes:
    """A Photoshop APP13 segment holding IPTC 1:90 (UTF-8) and one 2:25 per keyword."""
    iptc = b"\x1c\x01\x5a" + struct.pack(">H", 3) + b"\x1b%G"
    for word in keywords:
        data = word.encode("utf-8")
        iptc += b"\x1c\x02\x19" + struct.pack(">H", len(data)) + data
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iptc))
    resource += iptc + (b"\x00" if len(iptc) % 2 else b"")
    payload = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def _xmp_packet(keywords: Sequence[str]) -> bytes:
    items = "".join(f"<rdf:li>{word}</rdf:li>" for word in keywords)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:subject><rdf:Bag>{items}</rdf:Bag></dc:subject>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def make_jpeg(
    path: Path,
    size: tuple[int, int] = (64, 48),
    color: Color | int = (200, 30, 30),
    *,
    mode: str = "RGB",
    icc: str | bytes | None = None,
    exif_orientation: int | None = None,
    exif: Image.Exif | dict[int, object] | None = None,
    quality: int = 90,
    image: Image.Image | None = None,
    iptc_keywords: Sequence[str] = (),
    xmp_keywords: Sequence[str] = (),
    dpi: tuple[int, int] | None = None,
) -> Path:
    """JPEG of a solid ``color`` (or ``image``); ``icc="srgb"`` embeds an sRGB profile.

    ``exif`` is base-IFD tags, or a whole ``Image.Exif`` (for sub-IFD tags such as
    DateTimeOriginal); ``iptc_keywords`` go into a Photoshop APP13 block, ``xmp_keywords``
    into an XMP dc:subject bag.
    """
    img = image if image is not None else _solid(mode, size, color)
    options: dict[str, object] = {"quality": quality}
    if icc == "srgb":
        options["icc_profile"] = _srgb_icc()
    elif isinstance(icc, bytes):
        options["icc_profile"] = icc
    tags = exif if isinstance(exif, Image.Exif) else Image.Exif()
    if isinstance(exif, dict):
        for tag, value in exif.items():
            tags[tag] = value
    if exif_orientation is not None:
        tags[0x0112] = exif_orientation
    if len(tags):
        options["exif"] = tags
    if xmp_keywords:
        options["xmp"] = _xmp_packet(xmp_keywords)
    if dpi is not None:
        options["dpi"] = dpi
    out = io.BytesIO()
    img.save(out, "JPEG", **options)
    data = out.getvalue()
    if iptc_keywords:
        data = data[:2] + _app13_iptc(iptc_keywords) + data[2:]
    path.write_bytes(data)
    return path


def make_png(
    path: Path,
    size: tuple[int, int] = (64, 48),
    color: Color | int = (30, 120, 200),
    *,
    alpha: bool = False,
    mode: str | None = None,
    image: Image.Image | None = None,
    dpi: tuple[float, float] | None = None,
) -> Path:
    """PNG of a solid colour; ``alpha=True`` makes it RGBA and half transparent."""
    if image is None:
        if alpha:
            rgb = color if isinstance(color, tuple) else (color, color, color)
            image = _solid("RGBA", size, (*rgb[:3], 128))
        else:
            image = _solid(mode or "RGB", size, color)
    options: dict[str, object] = {}
    if dpi is not None:
        options["dpi"] = dpi
    image.save(path, "PNG", **options)
    return path


def make_gif(
    path: Path,
    size: tuple[int, int] = (32, 32),
    colors: Sequence[Color] = ((255, 0, 0),),
    *,
    transparency: bool = False,
) -> Path:
    """GIF with one frame per colour (animated when several)."""
    frames = [_solid("RGB", size, c).convert("P", palette=Image.Palette.ADAPTIVE) for c in colors]
    options: dict[str, object] = {}
    if len(frames) > 1:
        options.update(save_all=True, append_images=frames[1:], duration=100, loop=0)
    if transparency:
        options["transparency"] = 0
    frames[0].save(path, "GIF", **options)
    return path


def make_webp(
    path: Path,
    size: tuple[int, int] = (64, 48),
    color: Color = (20, 160, 60),
    *,
    alpha: bool = False,
    image: Image.Image | None = None,
) -> Path:
    """WebP of a solid colour; ``alpha=True`` makes it half transparent."""
    if image is None:
        image = _solid("RGBA", size, (*color[:3], 128)) if alpha else _solid("RGB", size, color)
    image.save(path, "WEBP", quality=90)
    return path


def make_tiff(
    path: Path,
    size: tuple[int, int] = (64, 48),
    color: Color | int = (90, 90, 200),
    *,
    mode: str = "RGB",
    compression: str | None = None,
) -> Path:
    """TIFF of a solid colour; Pillow writes mode ``I;16B`` big-endian (MM), others II."""
    options: dict[str, object] = {"compression": compression} if compression else {}
    _solid(mode, size, color).save(path, "TIFF", **options)
    return path


def make_avif(path: Path, size: tuple[int, int] = (64, 48), color: Color = (240, 200, 0)) -> Path:
    _solid("RGB", size, color).save(path, "AVIF", quality=60)
    return path


def make_svg(
    path: Path,
    body: str = '<rect width="10" height="10" fill="#c00"/>',
    *,
    attrs: str = 'width="120" height="80"',
    prolog: str = '<?xml version="1.0" encoding="UTF-8"?>\n',
) -> Path:
    """An SVG document: ``prolog`` + ``<svg xmlns=... {attrs}>{body}</svg>``."""
    xml = f'{prolog}<svg xmlns="{SVG_NS}" xmlns:xlink="http://www.w3.org/1999/xlink" {attrs}>'
    path.write_text(f"{xml}{body}</svg>\n", encoding="utf-8")
    return path


def make_pdf(path: Path, media_box: tuple[float, float, float, float] = (0, 0, 612, 792)) -> Path:
    """A one-page PDF with a correct xref table."""
    box = " ".join(f"{v:g}" for v in media_box)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [{box}] /Resources << >> >>".encode(),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    out += f"startxref\n{xref_at}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path


def _box(box_type: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + box_type + payload


def _trak(handler: bytes, width: int, height: int, *, rotate: bool) -> bytes:
    one, minus_one = 0x00010000, -0x00010000
    matrix = (
        (0, one, 0, minus_one, 0, 0, 0, 0, 0x40000000)
        if rotate
        else (one, 0, 0, 0, one, 0, 0, 0, 0x40000000)
    )
    tkhd = (
        b"\x00\x00\x00\x03"  # version 0, flags enabled|in_movie
        + struct.pack(">IIIII", 0, 0, 1, 0, 1000)
        + b"\x00" * 8
        + struct.pack(">hhhH", 0, 0, 0, 0)
        + struct.pack(">9i", *matrix)
        + struct.pack(">II", width << 16, height << 16)
    )
    hdlr = b"\x00" * 4 + b"\x00" * 4 + handler + b"\x00" * 12 + b"Handler\x00"
    return _box(b"trak", _box(b"tkhd", tkhd) + _box(b"mdia", _box(b"hdlr", hdlr)))


def make_mp4(
    path: Path,
    width: int = 1920,
    height: int = 1080,
    *,
    brand: bytes = b"isom",
    compatible: Sequence[bytes] = (b"isom", b"mp41"),
    rotate: bool = False,
    with_audio: bool = True,
) -> Path:
    """ftyp + mdat + moov (after the media data, as most encoders write it) with a video track
    ``tkhd``; an audio track with zero size comes first to check the handler is honoured.
    ``brand=b"qt  "`` makes a QuickTime MOV."""
    ftyp = _box(b"ftyp", brand + b"\x00\x00\x02\x00" + b"".join(compatible))
    tracks = _trak(b"soun", 0, 0, rotate=False) if with_audio else b""
    tracks += _trak(b"vide", width, height, rotate=rotate)
    moov = _box(b"moov", _box(b"mvhd", b"\x00" * 100) + tracks)
    path.write_bytes(ftyp + _box(b"mdat", b"\x00" * 4096) + moov)
    return path


def _ebml(element_id: bytes, payload: bytes) -> bytes:
    size = len(payload)
    encoded = bytes([0x80 | size]) if size < 0x7F else b"\x01" + size.to_bytes(7, "big")
    return element_id + encoded + payload


def make_webm(path: Path, width: int = 640, height: int = 360, *, doctype: str = "webm") -> Path:
    """EBML header + Segment (unknown size) with one VP9 video track and an empty cluster."""
    header = _ebml(
        b"\x1a\x45\xdf\xa3",
        _ebml(b"\x42\x86", b"\x01")
        + _ebml(b"\x42\xf7", b"\x01")
        + _ebml(b"\x42\xf2", b"\x04")
        + _ebml(b"\x42\xf3", b"\x08")
        + _ebml(b"\x42\x82", doctype.encode())
        + _ebml(b"\x42\x87", b"\x04")
        + _ebml(b"\x42\x85", b"\x02"),
    )
    video = _ebml(b"\xb0", width.to_bytes(2, "big")) + _ebml(b"\xba", height.to_bytes(2, "big"))
    entry = (
        _ebml(b"\xd7", b"\x01")
        + _ebml(b"\x83", b"\x01")
        + _ebml(b"\x86", b"V_VP9")
        + _ebml(b"\xe0", video)
    )
    tracks = _ebml(b"\x16\x54\xae\x6b", _ebml(b"\xae", entry))
    info = _ebml(b"\x15\x49\xa9\x66", _ebml(b"\x2a\xd7\xb1", (1_000_000).to_bytes(3, "big")))
    cluster = _ebml(b"\x1f\x43\xb6\x75", _ebml(b"\xe7", b"\x00"))
    segment = b"\x18\x53\x80\x67" + b"\x01\xff\xff\xff\xff\xff\xff\xff" + info + tracks + cluster
    path.write_bytes(header + segment)
    return path


def _png_chunk(chunk_type: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(chunk_type + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + chunk_type + data + struct.pack(">I", crc)


def make_png_bomb(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A PNG whose valid IHDR claims ``width`` x ``height`` RGB pixels, with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 4096))
        + _png_chunk(b"IEND", b"")
    )
    path.write_bytes(data)
    return path


def truncate(path: Path, keep_bytes: int) -> Path:
    """Cut ``path`` down to its first ``keep_bytes`` bytes (negative: drop that many at the end)."""
    data = path.read_bytes()
    path.write_bytes(data[:keep_bytes])
    return path


def _block_colour(bx: int, by: int) -> bytes:
    return bytes(((bx * 53 + by * 17) % 256, (bx * 29 + by * 71) % 256, (bx * 97 + by * 13) % 256))


def _block_row(width: int, by: int, block: int) -> bytes:
    return b"".join(
        _block_colour(x // block, by) * min(block, width - x) for x in range(0, width, block)
    )


def make_large_png(path: Path, width: int, height: int, *, block: int = 1000) -> Path:
    """A ``width`` x ``height`` RGB PNG of colour blocks, written row by row (never in memory).

    Rows inside a band of blocks repeat, so with PNG's "Up" filter they are all zeros and a
    100 MP image compresses to a few hundred KB: cheap to write, expensive to decode whole.
    """
    deflate = zlib.compressobj(6)
    repeat = b"\x02" + bytes(width * 3)
    with path.open("wb") as out:
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        out.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr))
        pending = bytearray()
        for y in range(height):
            if y % block == 0:
                pending += deflate.compress(b"\x00" + _block_row(width, y // block, block))
            else:
                pending += deflate.compress(repeat)
            if len(pending) >= 1 << 16:
                out.write(_png_chunk(b"IDAT", bytes(pending)))
                pending.clear()
        pending += deflate.flush()
        out.write(_png_chunk(b"IDAT", bytes(pending)) + _png_chunk(b"IEND", b""))
    return path


def make_large_tiff(
    path: Path, width: int, height: int, *, block: int = 1000, rows_per_strip: int = 64
) -> Path:
    """The picture of :func:`make_large_png` as a baseline little-endian RGB TIFF, one deflate
    (Adobe, compression 8) strip per ``rows_per_strip`` rows, written strip by strip."""
    strips = (height + rows_per_strip - 1) // rows_per_strip
    entries = 10
    ifd_size = 2 + entries * 12 + 4
    bits_at = 8 + ifd_size
    offsets_at = bits_at + 6
    counts_at = offsets_at + 4 * strips
    data_at = counts_at + 4 * strips
    offsets: list[int] = []
    counts: list[int] = []
    with path.open("wb") as out:
        out.seek(data_at)
        for strip in range(strips):
            deflate = zlib.compressobj(6)
            chunk = bytearray()
            row: bytes = b""
            for y in range(strip * rows_per_strip, min(height, (strip + 1) * rows_per_strip)):
                if y % block == 0 or not row:
                    row = _block_row(width, y // block, block)
                chunk += deflate.compress(row)
            chunk += deflate.flush()
            offsets.append(out.tell())
            counts.append(len(chunk))
            out.write(chunk)
        tags = [
            (256, 4, 1, width),  # ImageWidth, LONG
            (257, 4, 1, height),  # ImageLength
            (258, 3, 3, bits_at),  # BitsPerSample 8,8,8
            (259, 3, 1, 8),  # Compression: Adobe deflate
            (262, 3, 1, 2),  # PhotometricInterpretation: RGB
            (273, 4, strips, offsets_at),  # StripOffsets
            (277, 3, 1, 3),  # SamplesPerPixel
            (278, 4, 1, rows_per_strip),  # RowsPerStrip
            (279, 4, strips, counts_at),  # StripByteCounts
            (284, 3, 1, 1),  # PlanarConfiguration: contiguous
        ]
        out.seek(0)
        out.write(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", entries))
        for tag, kind, count, value in tags:
            packed = struct.pack("<HH", value, 0) if kind == 3 and count == 1 else None
            out.write(struct.pack("<HHI", tag, kind, count) + (packed or struct.pack("<I", value)))
        out.write(struct.pack("<I", 0))
        out.write(struct.pack("<3H", 8, 8, 8))
        out.write(struct.pack(f"<{strips}I", *offsets))
        out.write(struct.pack(f"<{strips}I", *counts))
    return path


def move_png_chunks_after_pixels(path: Path, kinds: Sequence[bytes]) -> Path:
    """Rewrite ``path`` with its chunks of the given types moved after the last IDAT, where
    ImageMagick and exiftool often put eXIf and XMP (Pillow finds them only by decoding)."""
    data = path.read_bytes()
    pos = 8
    head: list[bytes] = []
    pixels: list[bytes] = []
    moved: list[bytes] = []
    tail: list[bytes] = []
    while pos < len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        kind = data[pos + 4 : pos + 8]
        chunk = data[pos : pos + 12 + length]
        pos += 12 + length
        if kind in kinds:
            moved.append(chunk)
        elif kind == b"IDAT":
            pixels.append(chunk)
        elif pixels:
            tail.append(chunk)
        else:
            head.append(chunk)
    iend = [c for c in tail if c[4:8] == b"IEND"]
    rest = [c for c in tail if c[4:8] != b"IEND"]
    path.write_bytes(data[:8] + b"".join(head + pixels + moved + rest + iend))
    return path
