"""PDF: page count, page boxes, encryption and permissions (PDFium through ``pypdfium2``), and
page rendering for thumbnails.

PDFium reads the cross-reference table and page tree, including object streams (PDF 1.5+), so
sizes no longer depend on an uncompressed ``/MediaBox`` near either end of the file. Only the
first page is loaded at inspection; a document's page count comes from its page tree, so a
100,000-page file costs no more to inspect than a one-page one, and is refused by count.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from dam.errors import Invalid
from dam.media.types import MediaInfo, MediaKind

# ISO 32000 Annex C: a page is at most 14,400 units (200 in) on a side.
MAX_PAGE_POINTS = 14_400
_INFO_MAX_CHARS = 500
_INFO_KEYS = ("Title", "Author", "Subject", "Keywords", "Creator", "Producer")

# FPDF_GetDocUserPermissions bits (ISO 32000 table 22), named for people.
_PERMISSIONS = (
    (1 << 2, "print"),
    (1 << 3, "modify"),
    (1 << 4, "copy"),
    (1 << 5, "annotate"),
    (1 << 8, "fill_forms"),
    (1 << 9, "extract_for_accessibility"),
    (1 << 10, "assemble"),
    (1 << 11, "print_high_quality"),
)


def _corrupt(reason: str) -> Invalid:
    return Invalid(f"PDF is damaged or not a PDF: {reason}", code="corrupt_pdf")


def open_pdf(path: Path) -> pdfium.PdfDocument:
    """Open with PDFium; 422 ``corrupt_pdf`` for what it cannot read. A password-protected
    document raises :class:`PasswordRequired`, which callers turn into a flag."""
    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
            raise PasswordRequired from exc
        raise _corrupt(str(exc)) from exc


class PasswordRequired(Exception):
    """The document cannot be opened without its user password."""


def inspect_pdf(path: Path, *, mime: str, max_pages: int) -> MediaInfo:
    """Page count, page 1's displayed size in points, version, encryption and permissions.

    A document that needs a password to open is accepted with ``encrypted`` and
    ``password_required`` set (its pages cannot be counted). Errors: 422 ``corrupt_pdf``,
    ``pdf_too_many_pages`` (above ``max_pages``), ``pdf_page_too_large``.
    """
    try:
        pdf = open_pdf(path)
    except PasswordRequired:
        return MediaInfo(
            kind=MediaKind.document,
            format="PDF",
            mime_type=mime,
            encrypted=True,
            password_required=True,
        )
    try:
        pages = len(pdf)
        if pages <= 0:
            raise _corrupt("it has no pages")
        if pages > max_pages:
            raise Invalid(
                f"PDF has {pages} pages; documents of up to {max_pages} pages are accepted",
                code="pdf_too_many_pages",
            )
        width, height = _page_size(pdf, 0)
        revision = pdfium_c.FPDF_GetSecurityHandlerRevision(pdf)
        encrypted = revision != -1
        permissions = None
        if encrypted:
            # What a reader without the owner password may do.
            bits = pdfium_c.FPDF_GetDocUserPermissions(pdf) & 0xFFFFFFFF
            permissions = [name for bit, name in _PERMISSIONS if bits & bit]
        version = pdf.get_version()
        return MediaInfo(
            kind=MediaKind.document,
            format="PDF",
            mime_type=mime,
            width=round(width),
            height=round(height),
            pages=pages,
            frames=pages,
            encrypted=encrypted,
            pdf_permissions=permissions,
            pdf_version=f"{version // 10}.{version % 10}" if version else None,
            pdf_info=_info(pdf),
        )
    finally:
        pdf.close()


def _page_size(pdf: pdfium.PdfDocument, index: int) -> tuple[float, float]:
    """Displayed width and height in points: the crop box, turned by the page's /Rotate."""
    try:
        page = pdf[index]
    except pdfium.PdfiumError as exc:
        raise _corrupt(f"page {index + 1} cannot be loaded ({exc})") from exc
    try:
        width, height = page.get_size()
    finally:
        page.close()
    if not (math.isfinite(width) and math.isfinite(height)) or width <= 0 or height <= 0:
        raise _corrupt(f"page {index + 1} has an empty or invalid page box")
    if max(width, height) > MAX_PAGE_POINTS:
        raise Invalid(
            f"page {index + 1} is {width:g} x {height:g} pt; PDF pages are at most "
            f"{MAX_PAGE_POINTS} pt (200 in) on a side",
            code="pdf_page_too_large",
        )
    return width, height


def _info(pdf: pdfium.PdfDocument) -> dict[str, str]:
    try:
        raw = pdf.get_metadata_dict(skip_empty=True)
    except pdfium.PdfiumError:
        return {}
    out: dict[str, str] = {}
    for key in _INFO_KEYS:
        value = raw.get(key)
        if isinstance(value, str):
            text = " ".join("".join(ch for ch in value if ch.isprintable()).split())
            if text:
                out[key.lower()] = text[:_INFO_MAX_CHARS]
    return out


def render_page(pdf: pdfium.PdfDocument, index: int, long_side: int) -> Any:
    """Page ``index`` as an RGB Pillow image whose long side is ``long_side`` pixels.

    The scale comes from the page's own size, so a huge page box costs no more pixels than a
    small one; /Rotate is applied by PDFium; annotations and form fields are drawn.
    """
    page = pdf[index]
    try:
        width, height = page.get_size()
        scale = long_side / max(width, height, 1e-6)
        bitmap = page.render(scale=scale, may_draw_forms=True)
        try:
            return bitmap.to_pil().convert("RGB")
        finally:
            bitmap.close()
    finally:
        page.close()
