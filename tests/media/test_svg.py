from __future__ import annotations

from html import escape
from pathlib import Path

import pytest

from dam.errors import Invalid, PayloadTooLarge
from dam.media import MediaKind, SvgRoot, check_svg, inspect_file
from dam.media.svg import SVG_MAX_BYTES
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


SVG11_DOCTYPE = (
    '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
    '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
)


@pytest.mark.parametrize(
    "prolog",
    [
        '<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n',
        # A standard public identifier does not excuse an internal subset.
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd" [<!ENTITY x "y">]>\n',
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd" [<!ATTLIST svg a CDATA "b">]>\n',
        '<?xml version="1.0"?>\n<!DOCTYPE svg SYSTEM "file:///etc/passwd">\n',
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "https://evil.example/svg11.dtd">\n',
        '<!DOCTYPE svg PUBLIC "-//Evil//DTD SVG 1.1//EN" '
        '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n',
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd?x=1">\n',
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


@pytest.mark.parametrize(
    "prolog",
    [
        SVG11_DOCTYPE,
        '<?xml version="1.0" standalone="no"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.0//EN" '
        '"http://www.w3.org/TR/2001/REC-SVG-20010904/DTD/svg10.dtd">\n',
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 20010904//EN" '
        '"http://www.w3.org/TR/2001/REC-SVG-20010904/DTD/svg10.dtd">\n',
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1 Tiny//EN" '
        '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11-tiny.dtd">\n',
    ],
)
def test_standard_public_svg_doctype_is_accepted(tmp_path: Path, prolog: str) -> None:
    path = make_svg(tmp_path / "doctype.svg", prolog=prolog)
    info = inspect_file(path, max_pixels=10_000)
    assert (info.kind, info.width, info.height) == (MediaKind.vector, 120, 80)


def test_entity_reference_under_a_standard_doctype_is_not_expanded(tmp_path: Path) -> None:
    # The external DTD is never read, so &nbsp; (declared there) is simply undefined.
    path = make_svg(tmp_path / "e.svg", prolog=SVG11_DOCTYPE, body="<text>&nbsp;</text>")
    with pytest.raises(Invalid, match="undefined entity") as err:
        check_svg(path)
    assert err.value.code == "invalid_svg"


@pytest.mark.parametrize(
    "css",
    [
        'rect { fill: image-set("https://evil.example/a.png" 1x); }',
        "rect { background: -webkit-image-set('//evil.example/a.png' 1x, \"b.png\" 2x); }",
        "rect { background: image-set(url(https://evil.example/a.png) 1x); }",
        'rect { background: image("https://evil.example/a.png"); }',
        'rect { background: cross-fade("a.png", "b.png", 50%); }',
        "rect { fill: u\\72l(https://evil.example/x); }",
        'rect { fill: \\75 rl("https://evil.example/x"); }',
        "rect { fill: url(/* hi */https://evil.example/x); }",
        '@font-face { font-family: x; src: url("https://evil.example/f.woff"); }',
        'rect { fill: src("https://evil.example/x"); }',
    ],
)
def test_css_references_to_outside_resources_are_refused(tmp_path: Path, css: str) -> None:
    declaration = escape(css.split("{")[-1].rstrip(" }"), quote=True)
    for body in (f"<style>{escape(css, quote=False)}</style>", f'<rect style="{declaration}"/>'):
        path = make_svg(tmp_path / "css.svg", body=body)
        with pytest.raises(Invalid) as err:
            check_svg(path)
        assert err.value.code == "unsafe_svg", body


def test_css_image_set_of_data_urls_is_accepted(tmp_path: Path) -> None:
    css = f'rect {{ fill: image-set("{PNG_DATA_URL}" 1x, url(#g) 2x); }}'
    path = make_svg(tmp_path / "ok.svg", body=f"<style>{css}</style>")
    assert check_svg(path) == SvgRoot(120, 80)


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
        ('width="10cm" height="5cm"', SvgRoot(378, 189)),
        ('width="72pt" height="1in"', SvgRoot(96, 96)),
        ('width="10em" height="50%" viewBox="0 0 4 2"', SvgRoot(4, 2)),
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
