"""Small builders for governance tests: media, subjects and throw-away packs."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dam.governance import GovernancePack, Subject, load_pack
from dam.media.types import MediaInfo, MediaKind

SHIPPED_PACK = Path(__file__).resolve().parents[2] / "taxonomy"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

_MIME = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "TIFF": "image/tiff",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "SVG": "image/svg+xml",
    "PDF": "application/pdf",
    "MP4": "video/mp4",
}
_KIND = {"SVG": MediaKind.vector, "PDF": MediaKind.document, "MP4": MediaKind.video}


def media(
    fmt: str = "JPEG", width: int | None = 1600, height: int | None = 1200, **kw: Any
) -> MediaInfo:
    kind = kw.pop("kind", _KIND.get(fmt, MediaKind.image))
    raster = kind == MediaKind.image
    fields: dict[str, Any] = {
        "color_mode": "RGB" if raster else None,
        "icc_profile": "sRGB IEC61966-2.1" if raster else None,
        **kw,
    }
    return MediaInfo(
        kind=kind,
        format=fmt,
        mime_type=_MIME.get(fmt, "application/octet-stream"),
        width=width,
        height=height,
        **fields,
    )


def subject(**kw: Any) -> Subject:
    values: dict[str, Any] = {
        "media": media(),
        "size": 800_000,
        "filename": "IMG_0042.jpg",
        "title": "Ridge walk at dawn",
        "description": "Two hikers on the Besseggen ridge at sunrise",
        "tags": ["hiking", "norway"],
        "terms": {"asset_type": ["photo"], "usage_rights": ["owned"]},
        "now": NOW,
    }
    values.update(kw)
    return Subject(**values)


def write_pack(directory: Path, taxonomy: str, rules: str = "rules: []\n") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "taxonomy.yaml").write_text(textwrap.dedent(taxonomy), encoding="utf-8")
    (directory / "brand_rules.yaml").write_text(textwrap.dedent(rules), encoding="utf-8")
    return directory


# A compact taxonomy most tests build on; line numbers in tests/governance/test_pack.py do not
# depend on it (those tests write their own files).
MINI_TAXONOMY = """\
    revision: "t1"
    facets:
      - id: asset_type
        label: Asset type
        required: true
        multi: false
        terms:
          - id: photo
            synonyms: [photograph, picture]
          - id: logo
          - id: banner
          - id: banner-ad
            deprecated: true
            replaced_by: banner
      - id: channel
        terms:
          - id: social
            children:
              - id: instagram
                label: Instagram
                synonyms: [ig]
              - id: tiktok
                label: TikTok
          - id: print
          - id: fax
            deprecated: true
      - id: usage_rights
        required: true
        multi: false
        terms:
          - id: owned
          - id: licensed
            children:
              - id: stock
"""


def mini_pack(tmp_path: Path, rules: str = "rules: []\n") -> GovernancePack:
    return load_pack(write_pack(tmp_path / "pack", MINI_TAXONOMY, rules))
