from __future__ import annotations

from pathlib import Path

import pytest

from dam.errors import Invalid, PayloadTooLarge
from dam.media import MediaKind, SvgRoot, check_svg, inspect_file
from dam.media.sniff import SVG_MAX_BYTES
from tests.media.samples import make_svg

PNG_DATA_URL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

UNSAFE_BODIES = {
    "script": "<script>alert(1)</script>",
    "script_cdata": "<script><![CDATA[alert(1)]]></script>",
    "onload": '<rect width="1" height="1" onload="alert(1)"/>',
    "onclick_uppercase": '<rect width="1" height="1" ONCLICK="alert(1)"/>',
    "javascript_href": '<a href="javascript:alert(1)"><rect width="1" height="1"/></a>',
    "javascript_xlink_entity_obfuscated": (
        '<a xlink:href="java&#x09;script&#x3a;alert(1)"><rect width="1" height="1"/></a>'
    ),
    "foreign_object": (
        '<foreignObject width="10" height="10">'
        '<div xmlns="http://www.w3.org/1999/xhtml">hi</div></foreignObject>'
    ),
    "external_image_https": '<image href="https://evil.example/x.png" width="1" height="1"/>',
    "external_use_file": '<use xlink:href="file:///etc/passwd#x"/>',
    "relative_use": '<use href="other.svg#icon"/>',
    "data_text_html": '<image href="data:text/html;base64,PHNjcmlwdD4=" width="1" height="1"/>',
    "data_svg": '<image href="data:image/svg+xml;base64,PHN2Zz4=" width="1" height="1"/>',
    "iframe": '<iframe src="https://evil.example/"/>',
    "embed": '<embed src="x.swf"/>',
    "object": '<object data="x.pdf"/>',
    "html_namespace": '<h:p xmlns:h="http://www.w3.org/1999/xhtml">x</h:p>',
    "style_import": "<style>@import url(https://evil.example/x.css);</style>",
    "style_external_url": "<style>rect { fill: url(https://evil.example/p.svg#g); }</style>",
    "style_attribute_url": '<rect style="background:url(http://evil.example/x)"/>',
    "fill_external_url": '<rect fill="url(http://evil.example/p.svg#g)"/>',
    "set_href": '<a href="#x"><set attributeName="href" to="https://evil.example"/></a>',
    "animate_javascript": (
        '<a href="#x"><animate attributeName="xlink:href" values="javascript:alert(1)"/></a>'
    ),
}


@pytest.mark.parametrize("variant", sorted(UNSAFE_BODIES))
def test_unsafe_svg_is_refused(tmp_path: Path, variant: str) -> None:
    path = make_svg(tmp_path / f"{variant}.svg", body=UNSAFE_BODIES[variant])
    with pytest.raises(Invalid) as err:
        inspect_file(path, max_pixels=10_000)
    assert err.value.status_code == 422
    assert err.value.code == "unsafe_svg"
    assert err.value.detail.startswith("unsafe SVG: ")


@pytest.mark.parametrize(
    "prolog",
    [
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n',
        '<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n',
        '<?xml version="1.0"?>\n<!DOCTYPE svg SYSTEM "file:///etc/passwd">\n',
    ],
)
def test_svg_with_doctype_is_refused_before_parsing_it(tmp_path: Path, prolog: str) -> None:
    path = make_svg(tmp_path / "doctype.svg", prolog=prolog)
    with pytest.raises(Invalid) as err:
        inspect_file(path, max_pixels=10_000)
    assert err.value.code == "unsafe_svg"
    with pytest.raises(Invalid) as direct:
        check_svg(path)
    assert direct.value.code == "unsafe_svg"
    assert "DOCTYPE" in direct.value.detail


def test_external_stylesheet_processing_instruction_is_refused(tmp_path: Path) -> None:
    prolog = '<?xml version="1.0"?>\n<?xml-stylesheet href="https://evil.example/x.css"?>\n'
    path = make_svg(tmp_path / "pi.svg", prolog=prolog)
    with pytest.raises(Invalid, match="xml-stylesheet") as err:
        check_svg(path)
    assert err.value.code == "unsafe_svg"


def test_plain_svg_is_accepted_with_its_size(tmp_path: Path) -> None:
    body = (
        '<defs><linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient>'
        '<rect id="r" width="5" height="5"/></defs>'
        "<style>.a { fill: url(#g); stroke: #000 }</style>"
        '<use href="#r"/><use xlink:href="#r"/>'
        f'<image href="{PNG_DATA_URL}" width="1" height="1"/>'
        '<a href="#r"><rect class="a" width="10" height="10" fill="url(#g)"/></a>'
    )
    path = make_svg(tmp_path / "logo.svg", body=body)
    info = inspect_file(path, max_pixels=10_000)
    assert (info.kind, info.format, info.mime_type) == (MediaKind.vector, "SVG", "image/svg+xml")
    assert (info.width, info.height) == (120, 80)
    assert info.phash is None


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ('width="120px" height="80.4"', SvgRoot(120, 80)),
        ('viewBox="0 0 300 150"', SvgRoot(300, 150)),
        ('width="100%" height="100%" viewBox="0,0,64,32"', SvgRoot(64, 32)),
        ('width="200" viewBox="0 0 100 50"', SvgRoot(200, 100)),
        ('width="10cm" height="5cm"', SvgRoot(None, None)),
        ("", SvgRoot(None, None)),
    ],
)
def test_svg_size_from_attributes_or_viewbox(tmp_path: Path, attrs: str, expected: SvgRoot) -> None:
    path = make_svg(tmp_path / "s.svg", attrs=attrs)
    assert check_svg(path) == expected


def test_svg_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = make_svg(tmp_path / "huge.svg", body="<!--" + "x" * SVG_MAX_BYTES + "-->")
    with pytest.raises(PayloadTooLarge) as err:
        check_svg(path)
    assert err.value.status_code == 413
    assert err.value.code == "svg_too_large"


def test_malformed_svg_is_invalid(tmp_path: Path) -> None:
    path = make_svg(tmp_path / "bad.svg", body="<rect><g></rect>")
    with pytest.raises(Invalid, match="not well-formed") as err:
        inspect_file(path, max_pixels=10_000)
    assert err.value.code == "invalid_svg"
