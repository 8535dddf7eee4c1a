"""Background jobs that follow a new version."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from sqlmodel import Session

from dam.assets.service import RENDITIONS_JOB
from dam.context import Context
from dam.media import RENDITIONS, make_rendition
from dam.models import AssetVersion
from dam.storage import rendition_key

__all__ = ["RENDITIONS_JOB", "make_renditions"]


def make_renditions(ctx: Context, session: Session, payload: dict[str, Any]) -> None:
    """Idempotent: renditions are keyed by the original's digest, and made only when missing."""
    version_id = uuid.UUID(payload["version_id"])
    version = session.get(AssetVersion, version_id)
    if version is None or version.kind != "image":
        return
    missing = [kind for kind in RENDITIONS if kind not in version.renditions]
    if not missing:
        return
    blob_key, sha256 = version.blob_key, version.sha256
    # Copying and decoding a large raster takes seconds (and may wait for a decode slot); on
    # SQLite an open transaction holds the write lock, so end this read first rather than stall
    # every upload and request meanwhile.
    session.rollback()
    made: dict[str, str] = {}
    tmp_dir = ctx.settings.data_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=tmp_dir, suffix=".src") as tmp:
        for chunk in ctx.store.open(blob_key):
            tmp.write(chunk)
        tmp.flush()
        for kind in missing:
            key = rendition_key(sha256, kind)
            if not ctx.store.exists(key):
                data = make_rendition(
                    Path(tmp.name), RENDITIONS[kind], max_pixels=ctx.settings.max_image_pixels
                )
                ctx.store.put_bytes(key, data, content_type="image/webp")
            made[kind] = key
    version = session.get(AssetVersion, version_id)
    if version is None:
        return
    version.renditions = {**version.renditions, **made}
    session.add(version)
