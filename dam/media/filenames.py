"""Client-supplied filenames, cleaned for display and Content-Disposition only.

Storage keys are content addresses and never derive from these names.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

MAX_FILENAME_CHARS = 200
_WHITESPACE = re.compile(r"\s+")
_EXTENSION = re.compile(r"\.[^.\s]{1,16}$")


def _is_unwanted(ch: str) -> bool:
    # Cc: controls incl. NUL; Cf: bidi overrides and zero-width characters that disguise an
    # extension ("invoice\u202egpj.exe"); Cs/Co/Cn: surrogates, private use, unassigned.
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") and ch not in "\t\n\r"


def safe_filename(name: str | None, *, fallback_ext: str) -> str:
    """A display-safe version of a client filename, or ``upload.<fallback_ext>``.

    Keeps the last path component for both ``/`` and ``\\`` (so ``..`` segments go with the
    directories; a last component made only of dots leaves nothing), drops control and
    invisible formatting characters, NFC-normalises, collapses whitespace, trims leading dots
    and limits the result to 200 characters without losing the extension. Dots inside a name
    ("v2..final.pdf") are kept: the result is never used as a path.
    """
    ext = fallback_ext.lstrip(".") or "bin"
    if not name:
        return f"upload.{ext}"
    text = unicodedata.normalize("NFC", name)
    text = "".join(" " if ch in "\t\n\r" else ch for ch in text if not _is_unwanted(ch))
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = _WHITESPACE.sub(" ", text).strip()
    text = text.lstrip(". ").rstrip(" ")
    if not text:
        return f"upload.{ext}"
    if len(text) > MAX_FILENAME_CHARS:
        match = _EXTENSION.search(text)
        suffix = match.group(0) if match else ""
        stem = text[: len(text) - len(suffix)] if suffix else text
        text = stem[: MAX_FILENAME_CHARS - len(suffix)].rstrip(" .") + suffix
    return text


def _ascii_fallback(filename: str) -> str:
    decomposed = unicodedata.normalize("NFKD", filename)
    ascii_chars = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue  # "ü" decomposes to "u" + diaeresis: keep the base letter
        # "%" too: some clients percent-decode the plain filename parameter.
        ascii_chars.append(ch if 0x20 <= ord(ch) < 0x7F and ch != "%" else "_")
    text = "".join(ascii_chars)
    return text.replace("\\", "\\\\").replace('"', '\\"')


def content_disposition(filename: str, *, inline: bool) -> str:
    """RFC 6266 header value with an ASCII ``filename`` and an RFC 5987 ``filename*``.

    Old clients read the quoted ASCII fallback (non-ASCII replaced, quotes and backslashes
    escaped); every current browser prefers the exact UTF-8 name from ``filename*``.
    """
    disposition = "inline" if inline else "attachment"
    # CR/LF must never reach a header, whatever the caller passed.
    cleaned = "".join(ch for ch in filename if ch >= " " and ch != "\x7f") or "download"
    encoded = quote(cleaned, safe="!#$&+-.^_`|~")
    return f"{disposition}; filename=\"{_ascii_fallback(cleaned)}\"; filename*=UTF-8''{encoded}"
