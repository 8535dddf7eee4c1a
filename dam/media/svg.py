"""SVG: vet the markup (nothing may run script or fetch a resource), read its size, rasterise it.

Parsing goes through ``defusedxml`` (entity declarations and external entities refused) with a
streaming target, so a 10 MiB SVG never becomes a tree in memory. The standard public DOCTYPEs
of SVG 1.0/1.1 that Illustrator, Graphviz, Dia and others write are accepted when they carry no
internal subset: no DTD is ever fetched, and without an internal subset no entity can be
declared. Rasterising uses resvg (``resvg-py``): no scripting, no network, and no file access,
since the markup is handed over as a string with no resources directory.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from dam.errors import Invalid, PayloadTooLarge

SVG_MAX_BYTES = 10 * 1024 * 1024
_READ_CHUNK = 64 * 1024

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XHTML_NS = "http://www.w3.org/1999/xhtml"

# Public identifiers of the W3C SVG DTDs (1.0, its drafts that Illustrator 9/10 still write,
# 1.1 full/Basic/Tiny). Only the identifier is judged: the DTD itself is never read.
STANDARD_PUBLIC_IDS = frozenset(
    {
        "-//W3C//DTD SVG 1.0//EN",
        "-//W3C//DTD SVG 20010904//EN",
        "-//W3C//DTD SVG 20001102//EN",
        "-//W3C//DTD SVG 20000802//EN",
        "-//W3C//DTD SVG 20000303 Stylable//EN",
        "-//W3C//DTD SVG 1.1//EN",
        "-//W3C//DTD SVG 1.1 Basic//EN",
        "-//W3C//DTD SVG 1.1 Tiny//EN",
    }
)
_W3C_SYSTEM_ID = re.compile(r"^https?://www\.w3\.org/[A-Za-z0-9._/-]+\.dtd$")


@dataclass(frozen=True)
class SvgRoot:
    """Intrinsic size of an SVG, in CSS pixels, when its root declares one."""

    width: int | None
    height: int | None


def _unsafe(detail: str) -> Invalid:
    return Invalid(f"unsafe SVG: {detail}", code="unsafe_svg")


def doctype_problem(
    name: str, system_id: str | None, public_id: str | None, has_internal_subset: bool
) -> str | None:
    """Why an SVG DOCTYPE is refused, or None for a standard public SVG 1.0/1.1 DOCTYPE."""
    if has_internal_subset:
        return (
            f"DOCTYPE <!DOCTYPE {name} [...]> has an internal subset "
            "(DTDs and entities are refused)"
        )
    if name.rsplit(":", 1)[-1] != "svg":
        return f"DOCTYPE names <{name}>, not <svg>"
    if public_id not in STANDARD_PUBLIC_IDS:
        shown = public_id or system_id or "no public identifier"
        return f"DOCTYPE {shown!r} is not a standard W3C SVG 1.0/1.1 DOCTYPE"
    if system_id is not None and not _W3C_SYSTEM_ID.match(system_id):
        return f"DOCTYPE points at {system_id[:80]!r}, not at a W3C DTD"
    return None


# --- URL and CSS vetting ---------------------------------------------------------------------

_FORBIDDEN_ELEMENTS = frozenset(
    {"script", "foreignobject", "iframe", "embed", "object", "handler", "listener", "frame"}
)
_URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "data", "background"})
_DANGEROUS_SCHEMES = ("javascript:", "vbscript:", "livescript:")
_SAFE_DATA_IMAGE = re.compile(r"data:image/(png|jpe?g|gif|webp|avif|bmp)[;,]", re.IGNORECASE)
_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.DOTALL)
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\r\n\f]?|(.))", re.DOTALL)
_CSS_URL = re.compile(r"url\(\s*(?:\"([^\"]*)\"|'([^']*)'|([^)\s]*))\s*\)", re.IGNORECASE)
# CSS functions that take a resource as a bare string, not only inside url(): image-set("a.png"
# 1x), image("a.png"), src("a.png"), cross-fade("a.png", ...).
_CSS_RESOURCE_FUNCTION = re.compile(
    r"(?<![\w-])(-webkit-image-set|image-set|image|src|cross-fade)\s*\(", re.IGNORECASE
)
_CSS_STRING = re.compile(r"\"([^\"]*)\"|'([^']*)'")
_CSS_DANGER = re.compile(r"@import|expression\s*\(|behavior\s*:|-moz-binding", re.IGNORECASE)
# Browsers ignore ASCII whitespace and control characters inside a URL scheme.
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")


def _normalised_url(value: str) -> str:
    return _URL_NOISE.sub("", value).lower()


def _check_url(value: str, where: str) -> None:
    url = _normalised_url(value)
    if not url or url.startswith("#"):
        return
    if _SAFE_DATA_IMAGE.match(url):
        return
    raise _unsafe(
        f"{where} refers to {value.strip()[:80]!r}; "
        "only #fragments and raster data:image URLs are allowed"
    )


def _unescape_css(css: str) -> str:
    """CSS with comments removed and escapes decoded: ``u\\72l(`` is ``url(`` to a browser."""

    def decode(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            code = int(match.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        return "" if match.group(2) == "\n" else match.group(2)

    return _CSS_ESCAPE.sub(decode, _CSS_COMMENT.sub(" ", css))


def _function_body(css: str, start: int) -> str:
    """The text between the parenthesis opened just before ``start`` and the one closing it."""
    depth = 1
    for pos in range(start, len(css)):
        char = css[pos]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return css[start:pos]
    return css[start:]


def check_css(css: str, where: str) -> None:
    """Refuse CSS that could run script or load anything but a #fragment or a data:image URL."""
    plain = _unescape_css(css)
    if _CSS_DANGER.search(plain):
        raise _unsafe(f"{where} uses @import, expression() or bindings")
    if any(scheme in _normalised_url(plain) for scheme in _DANGEROUS_SCHEMES):
        raise _unsafe(f"{where} contains a javascript: URL")
    for match in _CSS_URL.finditer(plain):
        _check_url(next(g for g in match.groups() if g is not None), f"{where} url()")
    for match in _CSS_RESOURCE_FUNCTION.finditer(plain):
        body = _function_body(plain, match.end())
        for string in _CSS_STRING.finditer(body):
            value = string.group(1) if string.group(1) is not None else string.group(2)
            _check_url(value, f"{where} {match.group(1).lower()}()")


# --- sizes -----------------------------------------------------------------------------------

_LENGTH = re.compile(
    r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(px|pt|pc|mm|cm|in|q)?\s*$", re.IGNORECASE
)
# CSS absolute units in CSS pixels (96 per inch), as renderers resolve them.
_UNIT_PX = {
    None: 1.0,
    "px": 1.0,
    "in": 96.0,
    "cm": 96.0 / 2.54,
    "mm": 96.0 / 25.4,
    "q": 96.0 / 101.6,
    "pt": 96.0 / 72.0,
    "pc": 16.0,
}


def svg_length(value: str | None) -> float | None:
    """An absolute length in CSS px; None for percentages, font-relative units or nonsense."""
    if value is None:
        return None
    match = _LENGTH.match(value)
    if not match:
        return None
    unit = match.group(2).lower() if match.group(2) else None
    number = float(match.group(1)) * _UNIT_PX[unit]
    return number if number > 0 else None


def _svg_size(attrs: dict[str, str]) -> SvgRoot:
    width = svg_length(attrs.get("width"))
    height = svg_length(attrs.get("height"))
    view_box = attrs.get("viewBox")
    if view_box and (width is None or height is None):
        parts = [p for p in re.split(r"[\s,]+", view_box.strip()) if p]
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) == 4 and numbers[2] > 0 and numbers[3] > 0:
            vb_w, vb_h = numbers[2], numbers[3]
            # One declared side plus a viewBox fixes the other through the aspect ratio.
            if width is None and height is None:
                width, height = vb_w, vb_h
            elif width is None and height is not None:
                width = height * vb_w / vb_h
            elif height is None and width is not None:
                height = width * vb_h / vb_w
    return SvgRoot(
        width=max(1, round(width)) if width is not None else None,
        height=max(1, round(height)) if height is not None else None,
    )


# --- the checker -----------------------------------------------------------------------------


def _split(name: str) -> tuple[str, str]:
    """ElementTree's ``{namespace}local`` as (namespace, local)."""
    if name.startswith("{"):
        namespace, _, local = name[1:].partition("}")
        return namespace, local
    return "", name


class _Checker:
    """ElementTree parser target: judges each element as it streams past, keeps no tree."""

    def __init__(self) -> None:
        self.root: SvgRoot | None = None
        self.style_depth = 0
        self.style_text: list[str] = []

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        namespace, local = _split(tag)
        lowered = local.lower()
        attrs = {_split(k)[1]: v for k, v in attrib.items()}
        if self.root is None:
            if namespace != SVG_NS or local != "svg":
                raise Invalid(
                    f"the root element is <{local}>, not <svg> in the SVG namespace",
                    code="invalid_svg",
                )
            self.root = _svg_size({k: v for k, v in attrib.items() if not k.startswith("{")})
        if lowered in _FORBIDDEN_ELEMENTS:
            raise _unsafe(f"<{local}> element")
        if namespace == XHTML_NS:
            raise _unsafe(f"embedded HTML element <{local}>")
        if lowered == "style":
            self.style_depth += 1
        animated = _normalised_url(attrs.get("attributeName", "")).rsplit(":", 1)[-1]
        if lowered in ("set", "animate") and animated in ("href", "src", "style"):
            raise _unsafe(f"<{local}> animates the {animated!r} attribute")
        for attr_local, value in attrs.items():
            lowered_attr = attr_local.lower()
            if lowered_attr.startswith("on"):
                raise _unsafe(f"event handler attribute {lowered_attr!r} on <{local}>")
            if any(scheme in _normalised_url(value) for scheme in _DANGEROUS_SCHEMES):
                raise _unsafe(f"javascript: URL in attribute {lowered_attr!r} on <{local}>")
            if lowered_attr in _URL_ATTRIBUTES:
                _check_url(value, f"<{local} {lowered_attr}>")
            elif lowered_attr == "style":
                check_css(value, f"style attribute on <{local}>")
            elif "(" in value:
                check_css(value, f"attribute {lowered_attr!r} on <{local}>")

    def end(self, tag: str) -> None:
        if _split(tag)[1].lower() == "style" and self.style_depth:
            self.style_depth -= 1
            if not self.style_depth:
                check_css("".join(self.style_text), "<style> element")
                self.style_text.clear()

    def data(self, text: str) -> None:
        if self.style_depth:
            self.style_text.append(text)

    def pi(self, target: str, data: str | None) -> None:
        if target.lower() == "xml-stylesheet":
            raise _unsafe(f"external stylesheet <?xml-stylesheet {(data or '')[:80]}?>")

    def close(self) -> None:
        return None


class _SvgParser(DefusedXMLParser):
    """defusedxml's parser, with the DOCTYPE judged instead of refused outright."""

    def __init__(self, target: _Checker) -> None:
        super().__init__(
            target=target, forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
        self.parser.StartDoctypeDeclHandler = self._judge_doctype

    def _judge_doctype(
        self, name: str, system_id: str | None, public_id: str | None, has_internal_subset: int
    ) -> None:
        problem = doctype_problem(name, system_id, public_id, bool(has_internal_subset))
        if problem is not None:
            raise _unsafe(problem)


def check_svg(path: Path) -> SvgRoot:
    """Parse a whole SVG and refuse anything that could run script or fetch a resource.

    Raises 413 ``svg_too_large`` above 10 MiB (checked before parsing); 422 ``unsafe_svg`` for a
    DOCTYPE other than a standard public SVG one or with an internal subset, ENTITY declarations,
    script, event handlers, javascript: URLs, foreignObject, iframe/embed/object, external
    stylesheets and any link or CSS ``url()``/``image-set()`` that is not a #fragment or a
    data:image URL; 422 ``invalid_svg`` when the XML is malformed or the root is not ``<svg>``.
    """
    size = path.stat().st_size
    if size > SVG_MAX_BYTES:
        raise PayloadTooLarge(
            f"SVG is {size} bytes; the limit is {SVG_MAX_BYTES} bytes", code="svg_too_large"
        )
    checker = _Checker()
    parser = _SvgParser(checker)
    try:
        with path.open("rb") as fp:
            while chunk := fp.read(_READ_CHUNK):
                parser.feed(chunk)
        parser.close()
    except DefusedXmlException as exc:
        raise _unsafe(f"entity declaration or external entity ({type(exc).__name__})") from exc
    except ParseError as exc:
        raise Invalid(f"SVG is not well-formed XML: {exc}", code="invalid_svg") from exc
    if checker.root is None:
        raise Invalid("SVG has no root element", code="invalid_svg")
    return checker.root


# --- rasterising -----------------------------------------------------------------------------


def render_svg(path: Path, long_side: int) -> Any:
    """The SVG as an RGBA Pillow image whose long side is exactly ``long_side`` pixels.

    Vectors scale without loss, so small icons are drawn at the rendition size rather than
    upscaled afterwards. Call only on a file :func:`check_svg` accepted.
    """
    import resvg_py
    from PIL import Image

    root = check_svg(path)
    markup = _decode(path.read_bytes())
    # Without a declared size resvg falls back to 100x100; a square fit is the honest guess.
    width, height = root.width or long_side, root.height or long_side
    fit_width, fit_height = (long_side, None) if width >= height else (None, long_side)
    try:
        # dpi=96: resvg-py's default of 0 turns cm/mm/in/pt sizes into zero.
        png = resvg_py.svg_to_bytes(svg_string=markup, dpi=96, width=fit_width, height=fit_height)
    except ValueError as exc:
        raise Invalid(f"SVG could not be rendered: {exc}", code="render_failed") from exc
    with Image.open(io.BytesIO(png)) as img:
        return img.convert("RGBA")


_XML_ENCODING = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


def _decode(data: bytes) -> str:
    """The markup as text for resvg, honouring a BOM or the XML declaration's encoding."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    match = _XML_ENCODING.match(data)
    encoding = match.group(1).decode("ascii") if match else "utf-8"
    try:
        return data.decode(encoding, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")
