"""A version's renditions: what it should have, drawing them (in the sandbox), storing them and
recording the outcome where the API and the UI read it.

The outcome lives in ``version.media["previews"]``: ``{"error": reason or None, "placeholders":
[names drawn as stand-ins], "peak_rss_kib": what the last render cost}``. A file no renderer can
draw gets placeholder stills (so a tile shows "no preview" instead of a broken image) and its
reason; the rendition job then gives up instead of retrying.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session

from dam.config import Settings
from dam.context import Context
from dam.errors import NotFound
from dam.media.previews import (
    CLIP,
    PREVIEW,
    THUMB,
    PreviewOptions,
    placeholder,
    planned,
    render,
    rendition_mime,
    stage,
)
from dam.media.renditions import RENDITIONS
from dam.media.sandbox import Limits, RenderFailed, run_isolated
from dam.models import AssetVersion
from dam.storage import read_to_file, rendition_key

STATE_KEY = "previews"
_KIND_LABEL = {"image": "Image", "vector": "Vector", "document": "PDF", "video": "Video"}


def preview_options(settings: Settings) -> PreviewOptions:
    return PreviewOptions(
        pdf_pages=settings.pdf_page_thumbnails,
        poster_seconds=settings.video_poster_seconds,
        threads=settings.rendition_threads,
    )


def render_limits(settings: Settings) -> Limits:
    return Limits(
        seconds=settings.rendition_timeout_seconds, memory_mib=settings.rendition_memory_mib
    )


def state(version: AssetVersion) -> dict[str, Any]:
    raw = (version.media or {}).get(STATE_KEY)
    return dict(raw) if isinstance(raw, Mapping) else {}


def planned_names(settings: Settings, version: AssetVersion) -> list[str]:
    return planned(version.kind, version.media or {}, preview_options(settings))


def missing_names(settings: Settings, version: AssetVersion) -> list[str]:
    """Planned renditions not made yet, or standing in for a failed render (worth a retry)."""
    info = state(version)
    failed = set(info.get("placeholders", [])) if info.get("error") else set()
    return [
        name
        for name in planned_names(settings, version)
        if name not in version.renditions or name in failed
    ]


def _key(version: AssetVersion, name: str) -> str:
    return rendition_key(version.sha256, name, ext="mp4" if name == CLIP else "webp")


@dataclass
class RenderResult:
    made: list[str] = field(default_factory=list)
    error: str | None = None
    peak_rss_kib: int = 0


def render_version(
    ctx: Context, session: Session, version: AssetVersion, *, names: list[str], force: bool = False
) -> RenderResult:
    """Draw ``names`` for ``version`` in a child process and store them.

    Renditions are keyed by the original's digest, so one already stored (by another version
    with the same bytes, or an earlier attempt) is reused unless ``force``. Records the outcome
    on the version (``session.add``, no commit); a render failure is returned as ``error``,
    with placeholder stills stored for the stills that could not be drawn. Ends the caller's
    read transaction before rendering (on SQLite an open transaction holds the write lock, and
    a render takes seconds), so the caller must have nothing pending in ``session``.
    """
    result = RenderResult()
    renditions = dict(version.renditions)
    info = state(version)
    todo = []
    for name in names:
        key = _key(version, name)
        if not force and ctx.store.exists(key) and name not in info.get("placeholders", []):
            renditions[name] = key
        else:
            todo.append(name)
    placeholders = [p for p in info.get("placeholders", []) if p not in names]
    error: str | None = None
    if todo:
        version_id, blob_key = version.id, version.blob_key
        keys = {name: _key(version, name) for name in todo}
        render_kind = version.kind
        session.rollback()
        tmp_root = ctx.settings.data_dir / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=tmp_root, prefix="render-"))
        try:
            source = work / "source"
            read_to_file(ctx.store, blob_key, source)
            out = work / "out"
            out.mkdir()
            try:
                outcome = run_isolated(
                    render,
                    {
                        "source": str(source),
                        "kind": render_kind,
                        "names": todo,
                        "out_dir": str(out),
                        "max_pixels": ctx.settings.max_image_pixels,
                        "options": preview_options(ctx.settings),
                    },
                    limits=render_limits(ctx.settings),
                )
                made: dict[str, dict[str, str]] = outcome.value
                result.peak_rss_kib = outcome.peak_rss_kib
            except RenderFailed as exc:
                made, error = {}, exc.reason
            for name, entry in made.items():
                key = keys[name]
                ctx.store.put_bytes(
                    key, Path(entry["file"]).read_bytes(), content_type=entry["mime"]
                )
                renditions[name] = key
                result.made.append(name)
                if entry.get("note") == "placeholder":
                    placeholders.append(name)
            if error is not None:
                label = _KIND_LABEL.get(render_kind, render_kind.title())
                for name in todo:
                    if name in made or name not in RENDITIONS:
                        continue
                    key = keys[name]
                    ctx.store.put_bytes(
                        key,
                        placeholder(f"{label}\nNo preview", RENDITIONS[name]),
                        content_type=rendition_mime(name),
                    )
                    renditions[name] = key
                    placeholders.append(name)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        reread = session.get(AssetVersion, version_id)
        if reread is None:
            return result
        version = reread
    result.error = error
    version.renditions = renditions
    version.media = {
        **(version.media or {}),
        STATE_KEY: {
            "error": error,
            "placeholders": sorted(set(placeholders)),
            # What the worker set out to make, so readers know what is still pending.
            "planned": planned_names(ctx.settings, version),
            # The costliest render of this version so far (stills and stage 2 are apart).
            "peak_rss_kib": max(result.peak_rss_kib, int(info.get("peak_rss_kib") or 0)),
        },
    }
    session.add(version)
    return result


def split_stages(names: list[str]) -> tuple[list[str], list[str]]:
    return [n for n in names if stage(n) == 1], [n for n in names if stage(n) == 2]


def status(version: AssetVersion, *, expected: list[str] | None = None) -> dict[str, Any]:
    """What the API says about a version's previews: ``status`` is ``none`` (this kind has no
    renditions), ``pending``, ``ready`` or ``failed`` (with ``error``); ``placeholders`` names the
    renditions that are stand-ins."""
    info = state(version)
    stills = [THUMB, PREVIEW]
    if version.kind not in _KIND_LABEL:
        value = "none"
    elif info.get("error"):
        value = "failed"
    elif all(name in version.renditions for name in stills):
        value = "ready"
    else:
        value = "pending"
    planned = expected if expected is not None else list(info.get("planned") or [])
    pending = [n for n in planned if n not in version.renditions]
    return {
        "status": value,
        "error": info.get("error"),
        "placeholders": list(info.get("placeholders", [])),
        "pending": pending,
    }


def missing_rendition(settings: Settings, version: AssetVersion, name: str) -> NotFound:
    """The 404 for a rendition ``version`` does not have (yet): never planned for this file,
    failed (with the reason), or still being made."""
    if name not in planned_names(settings, version):
        return NotFound(
            f"{version.mime_type} files have no {name} rendition", code="rendition_not_available"
        )
    error = state(version).get("error")
    if error:
        return NotFound(
            f"the {name} rendition of version {version.number} could not be made: {error}",
            code="rendition_failed",
        )
    return NotFound(
        f"the {name} rendition of version {version.number} is still being made; retry shortly",
        code="rendition_pending",
    )


_FACTS = (
    "pages",
    "encrypted",
    "password_required",
    "pdf_permissions",
    "pdf_version",
    "duration",
    "video_codec",
    "audio_codec",
    "frame_rate",
    "bit_rate",
    "has_audio",
    "rotation",
)


def media_facts(version: AssetVersion) -> dict[str, Any]:
    """The inspected facts of documents, video and audio that the API shows (page count,
    encryption, duration, codecs ...); unset ones are left out."""
    media = version.media or {}
    return {k: media[k] for k in _FACTS if media.get(k) not in (None, False, [])}
