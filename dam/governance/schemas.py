from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ValidationOut(BaseModel):
    """What an upload of this file with this metadata would get, without storing anything."""

    compliance: dict[str, Any]
    terms: dict[str, list[str]]
    mime_type: str
    format: str
    kind: str
    width: int | None
    height: int | None
    filename: str
    size: int
    duplicate_of: str | None = None
    # The metadata the upload would be stored with, after pre-fill from the file's embedded
    # metadata (explicit values always win), and which fields came from the file (field -> the
    # embedded key it was read from).
    metadata: dict[str, Any] = {}
    prefilled: dict[str, str] = {}
    # The file's embedded metadata as the caller may see it (location only for those allowed).
    embedded: dict[str, Any] | None = None


class PrefillOut(BaseModel):
    """What a file pre-fills, before any metadata is chosen: nothing judged, nothing stored."""

    filename: str
    mime_type: str
    kind: str
    width: int | None
    height: int | None
    # The metadata an upload with the given `metadata` would start from: explicit values, then
    # the file's embedded values, then a title from the file name. Terms are not checked.
    metadata: dict[str, Any]
    # field -> the embedded key its value came from (`Xmp.dc.title`, `Iptc.Application2.Credit`…)
    prefilled: dict[str, str]
    # The file's embedded metadata as the caller may see it (location only for those allowed).
    embedded: dict[str, Any] | None = None
    # The image's 64-bit perceptual hash (16 hex digits), null for files without one.
    phash: str | None = None
