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
