from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from dam.media import content_disposition, safe_filename

SPRING = "Fr\u00fchling \u2013 \u6625.jpg"  # Frühling, en dash, 春


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\win.ini", "win.ini"),
        ("C:\\Users\\ann\\Desktop\\logo final.png", "logo final.png"),
        ("/abs/path/to/photo.jpg", "photo.jpg"),
        ("..", "upload.jpg"),
        ("...", "upload.jpg"),
        ("dir/", "upload.jpg"),
        (".htaccess", "htaccess"),
        ("  many    spaces\there .jpg ", "many spaces here .jpg"),
        ("evil.php\x00.jpg", "evil.php.jpg"),
        ("bell\x07\x1b[31mred.jpg", "bell[31mred.jpg"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),
        ("v2..final.pdf", "v2..final.pdf"),
        (SPRING, SPRING),
        (None, "upload.jpg"),
        ("", "upload.jpg"),
        ("\x00\x01", "upload.jpg"),
    ],
)
def test_safe_filename(raw: str | None, expected: str) -> None:
    assert safe_filename(raw, fallback_ext="jpg") == expected


def test_safe_filename_normalises_to_nfc() -> None:
    decomposed = "Fru\u0308hling.jpg"
    assert safe_filename(decomposed, fallback_ext="jpg") == "Fr\u00fchling.jpg"


def test_safe_filename_limits_length_and_keeps_extension() -> None:
    result = safe_filename("a" * 1000 + ".jpeg", fallback_ext="jpg")
    assert len(result) == 200
    assert result == "a" * 195 + ".jpeg"


def test_safe_filename_limits_length_without_extension() -> None:
    assert safe_filename("b" * 1000, fallback_ext="png") == "b" * 200


def test_safe_filename_fallback_extension_without_dot() -> None:
    assert safe_filename("../", fallback_ext=".png") == "upload.png"


def _parse(header: str) -> tuple[str, str, str]:
    """(disposition, filename* decoded, filename fallback), as an RFC 6266 client reads it."""
    disposition, _, rest = header.partition(";")
    params = {}
    for match in re.finditer(r'\s*([\w*]+)=("(?:[^"\\]|\\.)*"|[^;]*);?', rest):
        key, value = match.groups()
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[key] = value
    charset, _, encoded = params["filename*"].partition("''")
    assert charset == "UTF-8"
    return disposition, unquote(encoded, encoding="utf-8", errors="strict"), params["filename"]


@pytest.mark.parametrize(
    "name",
    ["plain.jpg", SPRING, 'quote"and\\slash.png', "50% off; final.pdf", "a b.svg"],
)
def test_content_disposition_round_trips(name: str) -> None:
    header = content_disposition(name, inline=False)
    disposition, parsed, fallback = _parse(header)
    assert disposition == "attachment"
    assert parsed == name
    assert header.isascii()
    assert fallback.isascii()
    if name.isascii() and "%" not in name:
        assert fallback == name


def test_content_disposition_inline_and_ascii_fallback() -> None:
    header = content_disposition('Frühling "春".jpg', inline=True)
    assert header == (
        'inline; filename="Fruhling \\"_\\".jpg"; '
        "filename*=UTF-8''Fr%C3%BChling%20%22%E6%98%A5%22.jpg"
    )
    assert header.isascii()


def test_content_disposition_strips_header_injection() -> None:
    header = content_disposition("a\r\nSet-Cookie: x=1.jpg", inline=False)
    assert "\r" not in header and "\n" not in header
    assert _parse(header)[1:] == ("aSet-Cookie: x=1.jpg", "aSet-Cookie: x=1.jpg")
