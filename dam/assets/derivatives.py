"""Channel derivatives: a version's image rendered to a preset of the governance pack (or a
bounded ad-hoc transform), cached as a blob, judged against its channel's rules.

A derivative is cached under a key of everything its bytes depend on: the source's SHA-256,
the preset's definition, the output format, the focal point (or `auto`), and the governed
metadata it carries (the published view's fields, written by the delivery writer exactly as
delivered copies carry them, location stripped as the pack's `strip_from: derivatives` says).
An approved metadata change, a new focal point or a changed preset therefore gives new keys;
old derivatives are never served for them.

The first request renders synchronously; concurrent requests for the same key in this process
wait for that one render (`_flights`). Two replicas may both render the same key: the bytes
are the same and the first row wins.

Governed output: the rendered file is checked against the pack's file rules of the channel the
preset serves (`dam.governance.derivatives.channel_rules`), with the asset's terms; a blocking
violation refuses the derivative (409 `derivative_noncompliant`, nothing stored), warnings are
stored with it and sent as `X-DAM-Compliance: warn`.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dam import signing
from dam.assets import delivery
from dam.assets.metadata import Metadata
from dam.assets.schemas import DerivativeOut, FocalPointOut
from dam.audit.service import record
from dam.context import Context
from dam.db import among, insert_new
from dam.errors import Conflict, DamError, Forbidden, Invalid, NotFound
from dam.governance.derivatives import (
    AdhocLimits,
    Colour,
    Fit,
    OutputFormat,
    Preset,
    PresetMetadata,
    channel_rules,
    output_subject,
)
from dam.governance.engine import ComplianceReport, Violation
from dam.governance.pack import GovernancePack, Severity
from dam.jobs.outbox import enqueue
from dam.media.derivatives import (
    EXTENSIONS,
    MIME_TYPES,
    RENDERER_VERSION,
    Rendered,
    RenderSpec,
    planned_size,
    render_derivative,
)
from dam.media.writeback import (
    REWRITABLE_FORMATS,
    WRITER_VERSION,
    DeliveryMetadata,
    write_delivery_copy,
)
from dam.models import (
    ApiKey,
    Asset,
    AssetCampaign,
    AssetStatus,
    AssetVersion,
    Campaign,
    DeliveryCopy,
    Derivative,
    FocalPoint,
    ReviewState,
)
from dam.principal import Principal
from dam.storage import read_to_file

__all__ = [
    "ADHOC_PRESET",
    "DERIVATIVES_JOB",
    "DERIVATIVE_PREFIX",
    "DerivativeLink",
    "DerivativeNoncompliant",
    "Focal",
    "Made",
    "Planned",
    "Plans",
    "Source",
    "Stored",
    "adhoc_preset",
    "cache_key",
    "derivative",
    "focal_out",
    "focal_point",
    "follow_link",
    "issue_link",
    "listing",
    "make_derivatives",
    "negotiate",
    "plan",
    "planned",
    "presets_for",
    "queue_derivatives",
    "render_presets",
    "set_focal_point",
    "sign_link",
    "stored_and_copies",
    "verify_link",
]

DERIVATIVE_PREFIX = "derived/derivatives"
DERIVATIVES_JOB = "derivatives.render"
ADHOC_PRESET = "adhoc"
_FORMAT_NAMES = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF"}
# Events after which an asset's campaign derivatives are worth making ahead of the first fetch.
_RENDER_EVENTS = frozenset({"asset.approved", "asset.updated", "asset.campaigns_changed"})
# The audience of derivatives in the pack's privacy policy (metadata.yaml strip_from).
AUDIENCE = "derivatives"
_PURPOSE = b"dam.derivative.v1:"
_RENDERER_JSON = json.dumps(RENDERER_VERSION)
_WRITER_JSON = json.dumps(WRITER_VERSION)


class DerivativeNoncompliant(DamError):
    status_code = 409
    code = "derivative_noncompliant"


@dataclass(frozen=True)
class Made:
    """A derivative's stored bytes: what a response serves."""

    key: str
    blob_key: str
    sha256: str
    size: int
    mime_type: str
    format: str
    width: int
    height: int
    preset: str
    filename: str
    original_sha256: str
    original_size: int
    compliance: Mapping[str, Any] = field(default_factory=dict)
    rendered: bool = False  # made by this call (not found in the cache)

    def headers(self) -> dict[str, str]:
        return {
            "X-DAM-SHA256": self.sha256,
            "X-DAM-Size": str(self.size),
            "X-DAM-Original-SHA256": self.original_sha256,
            "X-DAM-Original-Size": str(self.original_size),
            "X-DAM-Preset": self.preset,
            "X-DAM-Derivative-Key": self.key,
            "X-DAM-Compliance": str(self.compliance.get("status", "pass")),
            "X-DAM-Cache": "miss" if self.rendered else "hit",
        }


# --- formats and ad-hoc transforms --------------------------------------------------------------


def _accepts(accept: str, mime: str) -> bool:
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        if media.strip().lower() != mime:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        return q > 0
    return False


def negotiate(fmt: OutputFormat | str, accept: str | None, *, alpha: bool = False) -> str:
    """The Pillow format name to write: the preset's, or for `auto` AVIF, then WebP, from the
    request's Accept, else JPEG (PNG for an image with transparency)."""
    fmt = OutputFormat(fmt)
    if fmt is not OutputFormat.auto:
        return _FORMAT_NAMES[fmt.value]
    accept = (accept or "").lower()
    from PIL import features

    if _accepts(accept, "image/avif") and features.check("avif"):
        return "AVIF"
    if _accepts(accept, "image/webp"):
        return "WEBP"
    return "PNG" if alpha else "JPEG"


def adhoc_preset(
    limits: AdhocLimits,
    *,
    width: int | None,
    height: int | None,
    fit: str | None,
    fmt: str | None,
) -> Preset:
    """An ad-hoc transform as a preset, refused (422 `transform_out_of_limits`) beyond what the
    pack's `adhoc` section allows."""

    def refuse(detail: str) -> Invalid:
        return Invalid(detail, code="transform_out_of_limits", limits=limits.to_json())

    if not limits.enabled:
        raise Forbidden("ad-hoc transforms are turned off in this pack", code="adhoc_disabled")
    if width is None and height is None:
        raise refuse("give w, h or both")
    try:
        fit_value = Fit(fit or "inside")
    except ValueError:
        raise refuse(f"fit must be cover, contain or inside, not {fit!r}") from None
    fmt_value = fmt or "auto"
    if fmt_value not in limits.formats or fmt_value not in OutputFormat.__members__:
        raise refuse(f"format must be one of {', '.join(sorted(limits.formats))}, not {fmt!r}")
    if width is not None and not 1 <= width <= limits.max_width:
        raise refuse(f"w must be between 1 and {limits.max_width}, not {width}")
    if height is not None and not 1 <= height <= limits.max_height:
        raise refuse(f"h must be between 1 and {limits.max_height}, not {height}")
    if fit_value is not Fit.inside and (width is None or height is None):
        raise refuse(f"fit={fit_value} needs both w and h")
    box_w, box_h = width or limits.max_width, height or limits.max_height
    if width is not None and height is not None and width * height > limits.max_pixels:
        raise refuse(f"{width}x{height} is more than {limits.max_pixels} pixels")
    return Preset(
        id=ADHOC_PRESET,
        label="Ad-hoc transform",
        description=None,
        when={},
        fit=fit_value,
        width=box_w,
        height=box_h,
        long_side=None,
        aspect=None,
        format=OutputFormat(fmt_value),
        quality=limits.quality,
        min_quality=min(40, limits.quality),
        max_bytes=None,
        background=(255, 255, 255),
        colour=Colour(),
        metadata=limits.metadata,
    )


def _adhoc_pixels_ok(limits: AdhocLimits, size: tuple[int, int]) -> None:
    if size[0] * size[1] > limits.max_pixels:
        raise Invalid(
            f"the transform would make {size[0]}x{size[1]}, more than {limits.max_pixels} pixels",
            code="transform_out_of_limits",
            limits=limits.to_json(),
        )


# --- focal points -------------------------------------------------------------------------------


def focal_point(session: Session, version: AssetVersion) -> FocalPoint | None:
    return session.get(FocalPoint, version.id)


def _unit(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid(f"{what} must be a number between 0 and 1", code="invalid_focal_point")
    if not 0.0 <= float(value) <= 1.0:
        raise Invalid(f"{what} must be between 0 and 1, not {value}", code="invalid_focal_point")
    return float(value)


def set_focal_point(
    session: Session,
    *,
    ctx: Context,
    asset: Asset,
    version: AssetVersion,
    x: float,
    y: float,
    crops: Mapping[str, Sequence[float]] | None,
    actor: Principal,
) -> FocalPoint:
    """Set (replace) the version's focal point and crop boxes; audited. A crop box names a
    preset of the pack and must contain the focal point. Derivatives of the new point get new
    cache keys; the asset's campaign presets are queued again."""
    pack = ctx.governance.pack
    fx, fy = _unit(x, "x"), _unit(y, "y")
    boxes: dict[str, list[float]] = {}
    for preset_id, box in (crops or {}).items():
        if pack.preset(preset_id) is None:
            raise Invalid(f"no preset {preset_id!r} in the pack", code="invalid_focal_point")
        if not isinstance(box, list | tuple) or len(box) != 4:
            raise Invalid(
                f"crop of {preset_id} must be [x0, y0, x1, y1]", code="invalid_focal_point"
            )
        x0, y0, x1, y1 = (_unit(v, f"crop of {preset_id}") for v in box)
        if x1 - x0 < 0.01 or y1 - y0 < 0.01:
            raise Invalid(f"crop of {preset_id} is empty", code="invalid_focal_point")
        if not (x0 <= fx <= x1 and y0 <= fy <= y1):
            raise Invalid(
                f"crop of {preset_id} must contain the focal point ({fx}, {fy})",
                code="invalid_focal_point",
            )
        boxes[preset_id] = [x0, y0, x1, y1]
    now = ctx.now()
    row = session.get(FocalPoint, version.id)
    before = None if row is None else {"x": row.x, "y": row.y, "crops": row.crops}
    if row is None:
        row = FocalPoint(
            version_id=version.id, x=fx, y=fy, crops=boxes, set_by=actor.id, set_at=now
        )
    else:
        row.x, row.y, row.crops, row.set_by, row.set_at = fx, fy, boxes, actor.id, now
    session.add(row)
    record(
        session,
        actor=actor,
        action="asset.focal_point_set",
        asset_id=asset.id,
        version=version.number,
        changes={"before": before, "after": {"x": fx, "y": fy, "crops": boxes}},
        now=now,
        published=version.number == asset.published_version,
    )
    enqueue(session, DERIVATIVES_JOB, {"asset_id": str(asset.id)}, now=now)
    session.flush()
    return row


def clear_focal_point(
    session: Session, *, ctx: Context, asset: Asset, version: AssetVersion, actor: Principal
) -> None:
    row = session.get(FocalPoint, version.id)
    if row is None:
        return
    session.delete(row)
    now = ctx.now()
    record(
        session,
        actor=actor,
        action="asset.focal_point_cleared",
        asset_id=asset.id,
        version=version.number,
        changes={"before": {"x": row.x, "y": row.y, "crops": row.crops}, "after": None},
        now=now,
        published=version.number == asset.published_version,
    )
    enqueue(session, DERIVATIVES_JOB, {"asset_id": str(asset.id)}, now=now)


# --- cache keys ---------------------------------------------------------------------------------


class _Focal(Protocol):
    """A focal point's values: a `FocalPoint` row, or `Focal` read by columns."""

    @property
    def x(self) -> float: ...
    @property
    def y(self) -> float: ...
    @property
    def crops(self) -> Mapping[str, list[float]] | None: ...


class Focal(NamedTuple):
    x: float
    y: float
    crops: Mapping[str, list[float]] | None


def _focus_of(row: _Focal | None, preset_id: str) -> dict[str, Any] | None:
    if row is None:
        return None
    crop = (row.crops or {}).get(preset_id)
    return {"x": round(row.x, 4), "y": round(row.y, 4), "crop": crop}


def cache_key(
    *,
    source_sha256: str,
    preset: Preset,
    fmt: str,
    focus: Mapping[str, Any] | None,
    metadata: DeliveryMetadata | None,
    strip: Collection[str],
) -> str:
    """Everything a derivative's bytes depend on. `metadata` is None for presets that write
    none; `focus` None is the content-aware default (a property of the source bytes)."""
    frame = _frame(
        preset_json=json.dumps(preset.digest),
        fmt_json=json.dumps(fmt),
        focus_json=_focus_json(focus),
        written=metadata is not None,
        strip_json=json.dumps(sorted(strip)),
    )
    metadata_json = _metadata_json(metadata) if metadata is not None else None
    return frame.key(json.dumps(source_sha256), metadata_json)


def _focus_json(focus: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(focus), sort_keys=True) if focus else '"auto"'


def _metadata_json(metadata: DeliveryMetadata) -> str:
    return json.dumps(metadata.to_json(), sort_keys=True)


class _Frame(NamedTuple):
    """The text of a cache key's payload around its two per-item parts (the metadata and the
    source digest): `json.dumps(payload, sort_keys=True)` of {focus, format, metadata, preset
    (its digest), renderer, source, strip, writer}, written from the parts' JSON, so a page of
    listings serializes an item's metadata once for all its presets and a preset's part once
    for all items. The same text, so the same keys as the derivatives stored under them."""

    head: str  # up to the metadata
    middle: str  # between the metadata and the source
    tail: str  # after the source

    def key(self, source_json: str, metadata_json: str | None) -> str:
        text = f"{self.head}{metadata_json or 'null'}{self.middle}{source_json}{self.tail}"
        return hashlib.sha256(text.encode()).hexdigest()


def _frame(
    *, preset_json: str, fmt_json: str, focus_json: str, written: bool, strip_json: str
) -> _Frame:
    return _Frame(
        head=f'{{"focus": {focus_json}, "format": {fmt_json}, "metadata": ',
        middle=f', "preset": {preset_json}, "renderer": {_RENDERER_JSON}, "source": ',
        tail=f', "strip": {strip_json if written else "[]"}, '
        f'"writer": {_WRITER_JSON if written else "null"}}}',
    )


def _metadata_for(asset: Asset, version: AssetVersion) -> DeliveryMetadata:
    """The published view's governed fields for the published version; a version that is not
    (seen only by uploaders and reviewers) carries the metadata it was submitted with."""
    if version.number == asset.published_version:
        return delivery.governed_metadata(asset, version)
    return delivery.governed_fields(
        asset_id=asset.id, version=version.number, live=Metadata.of(version)
    )


def _terms_for(asset: Asset, version: AssetVersion) -> dict[str, list[str]]:
    source = asset.terms if version.number == asset.published_version else version.terms
    return {k: list(v) for k, v in (source or {}).items()}


@dataclass(frozen=True)
class _Job:
    key: str
    preset: Preset
    fmt: str
    focus: Mapping[str, Any] | None
    metadata: DeliveryMetadata | None
    strip: frozenset[str]


def _plan(
    ctx: Context,
    session: Session,
    *,
    asset: Asset,
    version: AssetVersion,
    preset: Preset,
    fmt: str,
) -> _Job:
    metadata = _metadata_for(asset, version) if preset.metadata is PresetMetadata.write else None
    return _job(ctx, version.sha256, preset, fmt, focal_point(session, version), metadata)


def _job(
    ctx: Context,
    source_sha256: str,
    preset: Preset,
    fmt: str,
    focal: FocalPoint | None,
    metadata: DeliveryMetadata | None,
) -> _Job:
    focus = _focus_of(focal, preset.id)
    strip = ctx.governance.pack.metadata.strips_location(AUDIENCE)
    key = cache_key(
        source_sha256=source_sha256,
        preset=preset,
        fmt=fmt,
        focus=focus,
        metadata=metadata,
        strip=strip,
    )
    return _Job(key=key, preset=preset, fmt=fmt, focus=focus, metadata=metadata, strip=strip)


@dataclass(frozen=True)
class Source:
    """A published version as a listing reads it, by columns (no rows loaded whole)."""

    asset_id: uuid.UUID
    version: int
    version_id: uuid.UUID
    sha256: str
    width: int | None
    height: int | None
    alpha: bool
    live: Metadata  # the published view's metadata


class Planned(NamedTuple):
    preset: Preset
    key: str
    format: str  # what a client without Accept gets
    width: int | None  # the size it renders to (known before rendering)
    height: int | None
    made: Stored | None  # None until rendered


class _Step(NamedTuple):
    """A preset as it applies to items of one set of presets, format and size: all of a
    derivative's plan but the two per-item parts of its key."""

    preset: Preset
    frame: _Frame
    written: bool  # carries the governed metadata
    format: str
    width: int | None
    height: int | None


@dataclass(frozen=True)
class Stored:
    """What a listing states of a derivative already rendered (its row, by columns)."""

    sha256: str
    size: int
    width: int
    height: int
    compliance: Mapping[str, Any]


@dataclass(frozen=True)
class Plans:
    """Per asset, the presets that serve it with their cache keys, before looking up which
    are rendered (`keys` to look up, `resolve` with what `stored` found)."""

    items: Mapping[uuid.UUID, list[tuple[_Step, str]]]

    def keys(self) -> set[str]:
        return {key for items in self.items.values() for _step, key in items}

    def resolve(self, made: Mapping[str, Stored]) -> dict[uuid.UUID, list[Planned]]:
        return {
            asset_id: [
                Planned(step.preset, key, step.format, step.width, step.height, made.get(key))
                for step, key in items
            ]
            for asset_id, items in self.items.items()
        }


def planned(
    ctx: Context,
    session: Session,
    sources: Sequence[Source],
    *,
    channels: Sequence[str] = (),
    focal: Mapping[uuid.UUID, _Focal] | None = None,
) -> dict[uuid.UUID, list[Planned]]:
    """Per asset, the presets that serve it (by its terms and `channels`) with their cache keys
    and, when already rendered, the stored derivative: two queries for a whole page, one when
    the caller read the focal points (by version id; a version without one is not in it)."""
    plans = plan(ctx, session, sources, channels=channels, focal=focal)
    return plans.resolve(stored(session, plans.keys()))


def plan(
    ctx: Context,
    session: Session,
    sources: Sequence[Source],
    *,
    channels: Sequence[str] = (),
    focal: Mapping[uuid.UUID, _Focal] | None = None,
) -> Plans:
    """`planned` without looking up what is rendered (reads the focal points when not given)."""
    pack = ctx.governance.pack
    if not pack.presets or not sources:
        return Plans({})
    if focal is None:
        focal = {
            row.version_id: row
            for row in session.exec(
                select(FocalPoint).where(
                    among(session, col(FocalPoint.version_id), [s.version_id for s in sources])
                )
            )
        }
    strip_json = json.dumps(sorted(pack.metadata.strips_location(AUDIENCE)))
    # Items of a page mostly share their terms, hence presets (`presets_for` remembers them per
    # pack), and their size and transparency: the steps of each (presets, alpha, size) are
    # worked out once, items with a focal point (crop boxes per preset) get their own.
    steps_of: dict[tuple[Any, ...], list[_Step]] = {}
    out: dict[uuid.UUID, list[tuple[_Step, str]]] = {}
    for source in sources:
        chosen = presets_for(pack, source.live.terms, channels)
        if not chosen:
            continue
        point = focal.get(source.version_id)
        if point is None:
            shape = (tuple(map(id, chosen)), source.alpha, source.width, source.height)
            steps = steps_of.get(shape)
            if steps is None:
                steps = steps_of[shape] = _steps(chosen, source, None, strip_json)
        else:
            steps = _steps(chosen, source, point, strip_json)
        source_json = json.dumps(source.sha256)
        metadata_json = (
            _metadata_json(
                delivery.governed_fields(
                    asset_id=source.asset_id, version=source.version, live=source.live
                )
            )
            if any(step.written for step in steps)
            else None
        )
        out[source.asset_id] = [
            (step, step.frame.key(source_json, metadata_json if step.written else None))
            for step in steps
        ]
    return Plans(out)


def _steps(
    presets: Sequence[Preset], source: Source, point: _Focal | None, strip_json: str
) -> list[_Step]:
    out = []
    for preset in presets:
        fmt = negotiate(preset.format, None, alpha=source.alpha)
        focus = _focus_of(point, preset.id)
        written = preset.metadata is PresetMetadata.write
        size = (
            None
            if source.width is None or source.height is None
            else planned_size(_spec(preset, fmt, focus), (source.width, source.height))
        )
        frame = _frame(
            preset_json=json.dumps(preset.digest),
            fmt_json=json.dumps(fmt),
            focus_json=_focus_json(focus),
            written=written,
            strip_json=strip_json,
        )
        out.append(
            _Step(
                preset=preset,
                frame=frame,
                written=written,
                format=fmt,
                width=size[0] if size else None,
                height=size[1] if size else None,
            )
        )
    return out


# --- rendering, once ----------------------------------------------------------------------------


class _Call:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Made | None = None
        self.error: BaseException | None = None
        self.waiters = 0  # callers waiting for this render (read by tests and diagnostics)


class _SingleFlight:
    """One render per key in this process: later callers wait for the first one's result.
    Recent results are remembered briefly, so a caller arriving between the render and the
    renderer's commit does not render again."""

    def __init__(self, remember: int = 256) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, _Call] = {}
        self._recent: OrderedDict[str, Made] = OrderedDict()
        self._remember = remember

    def waiting(self, key: str) -> int:
        with self._lock:
            call = self._calls.get(key)
            return 0 if call is None else call.waiters

    def run(self, key: str, fn: Callable[[], Made], *, still: Callable[[Made], bool]) -> Made:
        """`fn`'s result for `key`, made once; `still` says whether a remembered result is
        still good (its blob may be gone: a repaired store, another database)."""
        with self._lock:
            made = self._recent.get(key)
        if made is not None and still(made):
            return replace(made, rendered=False)
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
            else:
                call.waiters += 1
        if not leader:
            call.done.wait()
            if call.error is not None:
                raise call.error
            assert call.result is not None
            return replace(call.result, rendered=False)
        try:
            call.result = fn()
            return call.result
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            with self._lock:
                self._calls.pop(key, None)
                if call.result is not None:
                    self._recent[key] = call.result
                    while len(self._recent) > self._remember:
                        self._recent.popitem(last=False)
            call.done.set()


_flights = _SingleFlight()


def _made(row: Derivative, version: AssetVersion, *, rendered: bool = False) -> Made:
    stem = Path(version.filename).stem or "asset"
    ext = EXTENSIONS.get(row.format, row.format.lower())
    return Made(
        key=row.key,
        blob_key=row.blob_key,
        sha256=row.sha256,
        size=row.size,
        mime_type=row.mime_type,
        format=row.format,
        width=row.width,
        height=row.height,
        preset=row.preset,
        filename=f"{stem}-{row.preset}.{ext}",
        original_sha256=version.sha256,
        original_size=version.size,
        compliance=dict(row.compliance or {}),
        rendered=rendered,
    )


def _spec(preset: Preset, fmt: str, focus: Mapping[str, Any] | None) -> RenderSpec:
    crop = focus.get("crop") if focus else None
    return RenderSpec(
        fit=str(preset.fit),
        box=preset.box,
        format=fmt,
        aspect=None
        if preset.fit is Fit.cover or preset.aspect is None
        else preset.aspect[0] / preset.aspect[1],
        quality=preset.quality,
        min_quality=preset.min_quality,
        max_bytes=preset.max_bytes,
        background=preset.background,
        convert_srgb=preset.colour.convert == "srgb",
        embed_icc=preset.colour.icc == "embed",
        focal=(float(focus["x"]), float(focus["y"])) if focus else None,
        crop=(crop[0], crop[1], crop[2], crop[3]) if crop else None,
    )


def _judge(
    pack: GovernancePack, preset: Preset, terms: Mapping[str, Sequence[str]], subject: Any
) -> ComplianceReport:
    rules = channel_rules(preset, pack.rules, terms)
    violations = []
    for rule in rules:
        for finding in rule.run(subject):
            violations.append(
                Violation(
                    rule=rule.id,
                    severity=Severity(rule.severity),
                    message=f"{rule.description}: {finding.message}",
                    expected=finding.expected,
                    actual=finding.actual,
                )
            )
    return ComplianceReport.of(violations, pack.revision)


def _render_and_store(
    ctx: Context,
    session: Session,
    *,
    asset: Asset,
    version: AssetVersion,
    job: _Job,
    adhoc: AdhocLimits | None,
) -> Made:
    pack = ctx.governance.pack
    tmp_dir = ctx.settings.data_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_dir, prefix="derivative-") as work:
        source = Path(work) / "source"
        read_to_file(ctx.store, version.blob_key, source)
        spec = _spec(job.preset, job.fmt, job.focus)
        writes = job.metadata is not None and job.fmt in REWRITABLE_FORMATS
        # The governed metadata adds a few KiB; leave room for it inside a byte budget.
        reserve = 0
        for _attempt in (1, 2):
            budget = None if spec.max_bytes is None else max(1, spec.max_bytes - reserve)
            rendered: Rendered = render_derivative(
                source,
                Path(work) / f"render-{_attempt}",
                replace(spec, max_bytes=budget),
                max_pixels=ctx.settings.max_image_pixels,
            )
            if adhoc is not None:
                _adhoc_pixels_ok(adhoc, (rendered.width, rendered.height))
            final = rendered.path
            if writes:
                assert job.metadata is not None
                copy = write_delivery_copy(
                    rendered.path,
                    Path(work) / f"copy-{_attempt}",
                    fmt=job.fmt,
                    metadata=job.metadata,
                    strip=job.strip,
                )
                final = copy.path
            size = final.stat().st_size
            if spec.max_bytes is None or size <= spec.max_bytes or not writes:
                break
            reserve = size - rendered.size + 512
        subject = output_subject(
            width=rendered.width,
            height=rendered.height,
            fmt=job.fmt,
            size=size,
            mode=rendered.mode,
            icc=rendered.icc_profile,
            terms=_terms_for(asset, version),
        )
        report = _judge(pack, job.preset, _terms_for(asset, version), subject)
        if report.blocking:
            raise DerivativeNoncompliant(
                f"the {job.preset.id} derivative breaks its channel's blocking rules: "
                + "; ".join(v.message for v in report.blocking),
                violations=[v.to_json() for v in report.violations],
            )
        sha = hashlib.sha256()
        with final.open("rb") as fp:
            while chunk := fp.read(1 << 20):
                sha.update(chunk)
        blob_key = f"{DERIVATIVE_PREFIX}/{job.key[:2]}/{job.key}"
        mime = MIME_TYPES[job.fmt]
        ctx.store.put_file(blob_key, final, content_type=mime)
    values = {
        "key": job.key,
        "blob_key": blob_key,
        "asset_id": asset.id,
        "version": version.number,
        "preset": job.preset.id,
        "source_sha256": version.sha256,
        "sha256": sha.hexdigest(),
        "size": size,
        "format": job.fmt,
        "mime_type": mime,
        "width": rendered.width,
        "height": rendered.height,
        "compliance": {
            "status": str(report.status),
            "violations": [v.to_json() for v in report.violations],
            "focal": {
                "x": rendered.focal[0],
                "y": rendered.focal[1],
                "source": rendered.focal_source,
            },
            "quality": rendered.quality,
        },
        "created_at": ctx.now(),
    }
    insert_new(session, Derivative, values, unique=("key",))
    row = session.get(Derivative, job.key)
    assert row is not None
    return _made(row, version, rendered=True)


def derivative(
    session: Session,
    *,
    ctx: Context,
    asset: Asset,
    version: AssetVersion,
    preset: Preset,
    accept: str | None = None,
    fmt: str | None = None,
) -> Made:
    """The derivative of `version` for `preset`, from the cache or rendered now (once per key
    however many requests ask at the same time). `fmt` overrides the preset's format (a
    format the pack allows ad hoc); `accept` resolves `auto`."""
    if version.kind != "image":
        raise Conflict(
            f"version {version.number} is a {version.kind}; derivatives are made of images",
            code="not_raster",
        )
    alpha = bool((version.media or {}).get("has_alpha"))
    chosen = negotiate(fmt or preset.format, accept, alpha=alpha)
    adhoc = ctx.governance.pack.adhoc if preset.id == ADHOC_PRESET else None
    job = _plan(ctx, session, asset=asset, version=version, preset=preset, fmt=chosen)
    row = session.get(Derivative, job.key)
    if row is not None and ctx.store.exists(row.blob_key):
        return _made(row, version)

    def make() -> Made:
        again = session.get(Derivative, job.key)
        if again is not None and ctx.store.exists(again.blob_key):
            return _made(again, version)
        return _render_and_store(ctx, session, asset=asset, version=version, job=job, adhoc=adhoc)

    return _flights.run(job.key, make, still=lambda m: ctx.store.exists(m.blob_key))


# --- which presets an asset gets ----------------------------------------------------------------


# Per pack (a reload makes a new one), the presets of each (terms, channels) seen lately.
_chosen: weakref.WeakKeyDictionary[GovernancePack, dict[Any, list[Preset]]] = (
    weakref.WeakKeyDictionary()
)
_CHOSEN_MAX = 4096


def presets_for(
    pack: GovernancePack, terms: Mapping[str, Sequence[str]], channels: Sequence[str] = ()
) -> list[Preset]:
    """The presets that serve an asset: by its own terms, and by the channels of the campaigns
    it runs in (a campaign's channel stands in for the asset's channel terms)."""
    key = (tuple(sorted((k, tuple(v)) for k, v in terms.items())), tuple(channels))
    memo = _chosen.get(pack)
    if memo is None:
        memo = _chosen.setdefault(pack, {})
    found = memo.get(key)
    if found is None:
        if len(memo) >= _CHOSEN_MAX:
            memo.clear()
        found = memo[key] = _presets_for(pack, terms, channels)
    return list(found)


def _presets_for(
    pack: GovernancePack, terms: Mapping[str, Sequence[str]], channels: Sequence[str]
) -> list[Preset]:
    # By identity: comparing presets by value (a dataclass's __eq__) cost most of a feed page.
    chosen = {id(p) for p in pack.presets_for(terms)}
    for channel in channels:
        widened = {**{k: list(v) for k, v in terms.items()}, "channel": [channel]}
        chosen.update(id(p) for p in pack.presets_for(widened))
    return [p for p in pack.presets if id(p) in chosen]


def stored_and_copies(
    session: Session, keys: Collection[str], copy_keys: Collection[str]
) -> tuple[dict[str, Stored], dict[str, delivery.CopyDigest]]:
    """`stored(keys)` and `delivery.copies_by_key(copy_keys)` in one query (a feed page)."""
    if not keys or not copy_keys:
        return stored(session, keys), delivery.copies_by_key(session, copy_keys)
    made = sa.select(*_STORED_COLUMNS, sa.literal("d")).where(
        among(session, col(Derivative.key), keys)
    )
    copies = sa.select(
        col(DeliveryCopy.key),
        col(DeliveryCopy.sha256),
        col(DeliveryCopy.size),
        sa.null(),
        sa.null(),
        sa.null(),
        sa.literal("c"),
    ).where(among(session, col(DeliveryCopy.key), set(copy_keys)))
    found: dict[str, Stored] = {}
    copied: dict[str, delivery.CopyDigest] = {}
    for key, sha, size, width, height, compliance, kind in session.execute(
        sa.union_all(made, copies)
    ):
        if kind == "c":
            copied[key] = delivery.CopyDigest(sha, size)
        else:
            found[key] = _stored(sha, size, width, height, compliance)
    return found, copied


# What listings state of a rendered derivative, after its key.
_STORED_COLUMNS = (
    col(Derivative.key),
    col(Derivative.sha256),
    col(Derivative.size),
    col(Derivative.width),
    col(Derivative.height),
    col(Derivative.compliance),
)


def _stored(
    sha256: str, size: int, width: int, height: int, compliance: Mapping[str, Any] | None
) -> Stored:
    return Stored(sha256=sha256, size=size, width=width, height=height, compliance=compliance or {})


def stored(session: Session, keys: Collection[str]) -> dict[str, Stored]:
    """The derivatives already made under these keys, by the columns listings state."""
    if not keys:
        return {}
    rows = session.execute(
        sa.select(*_STORED_COLUMNS).where(among(session, col(Derivative.key), keys))
    )
    return {key: _stored(*values) for key, *values in rows}


def planned_key(
    ctx: Context,
    session: Session,
    *,
    asset: Asset,
    version: AssetVersion,
    preset: Preset,
    fmt: str | None = None,
) -> tuple[str, str]:
    """(cache key, format) a request without Accept would get: what listings report."""
    chosen = negotiate(
        fmt or preset.format, None, alpha=bool((version.media or {}).get("has_alpha"))
    )
    return _plan(ctx, session, asset=asset, version=version, preset=preset, fmt=chosen).key, chosen


# --- the worker ---------------------------------------------------------------------------------


def queue_derivatives(ctx: Context, session: Session, event: dict[str, Any]) -> None:
    """Event reaction: after a publication, a published-metadata change or a campaign tag,
    make the asset's presets in a job of their own, so they are usually ready before anyone
    fetches them."""
    if event.get("type") in _RENDER_EVENTS and event.get("asset_id"):
        enqueue(session, DERIVATIVES_JOB, {"asset_id": str(event["asset_id"])}, now=ctx.now())


def make_derivatives(ctx: Context, session: Session, payload: dict[str, Any]) -> None:
    """The `derivatives.render` job (see `render_presets`)."""
    render_presets(ctx, session, payload)


def render_presets(
    ctx: Context,
    session: Session,
    payload: dict[str, Any],
    *,
    on_refused: Callable[[Preset, DamError], None] | None = None,
) -> list[Made]:
    """Make the published version's derivatives for every preset that serves the asset (by
    its terms and its campaigns' channels). Idempotent: cached keys are not rendered again. A
    preset its output cannot satisfy, or a byte budget it cannot reach, is skipped (and
    passed to `on_refused`): its request answers with the reason."""
    asset = session.get(Asset, uuid.UUID(str(payload["asset_id"])))
    if asset is None or asset.status != AssetStatus.active or asset.published_version is None:
        return []
    version = session.exec(
        select(AssetVersion).where(
            AssetVersion.asset_id == asset.id, AssetVersion.number == asset.published_version
        )
    ).first()
    if version is None or version.review_state != ReviewState.approved or version.kind != "image":
        return []
    pack = ctx.governance.pack
    made = []
    channels = campaign_channels(session, asset.id)
    for preset in presets_for(pack, asset.terms or {}, channels):
        try:
            made.append(derivative(session, ctx=ctx, asset=asset, version=version, preset=preset))
        except (DerivativeNoncompliant, Conflict, Invalid) as exc:
            # Refused for this preset (budget, rules, file): its request says why.
            if on_refused is not None:
                on_refused(preset, exc)
    return made


# --- signed links -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DerivativeLink:
    asset_id: uuid.UUID
    version: int
    preset: str
    expires_at: datetime
    consumer_id: uuid.UUID | None = None
    fmt: str | None = None  # a format override; None: the preset's (auto negotiates)
    key: str | None = None  # the cache key when signed: the URL then names fixed bytes


def sign_link(link: DerivativeLink, *, secret: str) -> str:
    body = {
        "a": link.asset_id.hex,
        "v": link.version,
        "p": link.preset,
        "e": int(link.expires_at.timestamp()),
        "k": link.consumer_id.hex if link.consumer_id else None,
        "f": link.fmt,
        "h": link.key,
    }
    return signing.seal(body, purpose=_PURPOSE, secret=secret)


def verify_link(token: str, *, secret: str, now: datetime) -> DerivativeLink:
    """The link's contents, or 403 when the signature does not match or the link expired."""
    try:
        body = signing.unseal(token, purpose=_PURPOSE, secret=secret)
        link = DerivativeLink(
            asset_id=uuid.UUID(hex=body["a"]),
            version=int(body["v"]),
            preset=str(body["p"]),
            expires_at=datetime.fromtimestamp(int(body["e"]), tz=UTC),
            consumer_id=uuid.UUID(hex=body["k"]) if body.get("k") else None,
            fmt=body.get("f"),
            key=body.get("h"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise Forbidden("this derivative link is not valid", code="invalid_link") from exc
    if link.expires_at <= now:
        raise Forbidden(
            f"this derivative link expired at {link.expires_at.isoformat()}",
            code="link_expired",
        )
    return link


def follow_link(
    session: Session, *, ctx: Context, token: str
) -> tuple[Asset, AssetVersion, Preset, DerivativeLink]:
    """A signed link serves only while its version is the asset's published one and the asset
    is live, and while the key it was issued to is valid: it cannot outlive the approval."""
    now = ctx.now()
    link = verify_link(token, secret=ctx.settings.secret_key, now=now)
    if link.consumer_id is not None:
        key = session.get(ApiKey, link.consumer_id)
        if key is not None and (
            key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now)
        ):
            raise Forbidden(
                "the key this link was issued to is no longer valid", code="invalid_link"
            )
    asset = session.get(Asset, link.asset_id)
    if (
        asset is None
        or asset.status != AssetStatus.active
        or asset.published_version != link.version
        or (asset.rights_expire_at is not None and asset.rights_expire_at <= now)
    ):
        raise NotFound("this derivative is no longer published", code="derivative_not_found")
    preset = ctx.governance.pack.preset(link.preset)
    if preset is None:
        raise NotFound(f"the pack no longer has preset {link.preset!r}", code="preset_not_found")
    version = session.exec(
        select(AssetVersion).where(
            AssetVersion.asset_id == asset.id, AssetVersion.number == link.version
        )
    ).one()
    return asset, version, preset, link


def issue_link(
    session: Session,
    *,
    ctx: Context,
    asset: Asset,
    preset: Preset,
    principal: Principal,
    fmt: str | None = None,
    ttl_seconds: int | None = None,
) -> DerivativeLink:
    """A link to the published version's derivative, naming its current cache key (so the
    URL stands for fixed bytes). 409 `not_published` before anything is approved."""
    if asset.published_version is None or asset.status != AssetStatus.active:
        raise Conflict(
            f"asset {asset.id} has no published version to link to", code="not_published"
        )
    version = session.exec(
        select(AssetVersion).where(
            AssetVersion.asset_id == asset.id, AssetVersion.number == asset.published_version
        )
    ).one()
    key, _fmt = planned_key(ctx, session, asset=asset, version=version, preset=preset, fmt=fmt)
    fixed = (fmt or preset.format) != "auto"  # auto: the bytes depend on each fetcher's Accept
    ttl = ttl_seconds or ctx.settings.download_link_ttl_seconds
    return DerivativeLink(
        asset_id=asset.id,
        version=version.number,
        preset=preset.id,
        expires_at=ctx.now() + timedelta(seconds=ttl),
        consumer_id=principal.id if principal.kind == "key" else None,
        fmt=fmt,
        key=key if fixed else None,
    )


# --- listings -----------------------------------------------------------------------------------


def campaign_channels(session: Session, asset_id: uuid.UUID) -> list[str]:
    """The channels of the campaigns the asset runs in (campaigns without one are left out)."""
    rows = session.exec(
        select(Campaign.channel)
        .join(AssetCampaign, col(AssetCampaign.campaign_id) == col(Campaign.id))
        .where(AssetCampaign.asset_id == asset_id, col(Campaign.channel).is_not(None))
        .distinct()
    )
    return sorted(str(c) for c in rows if c)


def source_of(asset: Asset, version: AssetVersion) -> Source:
    live = Metadata.of(asset) if version.number == asset.published_version else Metadata.of(version)
    return Source(
        asset_id=asset.id,
        version=version.number,
        version_id=version.id,
        sha256=version.sha256,
        width=version.width,
        height=version.height,
        alpha=bool((version.media or {}).get("has_alpha")),
        live=live,
    )


def listing(
    session: Session, *, ctx: Context, asset: Asset, version: AssetVersion, base: str
) -> list[DerivativeOut]:
    if version.kind != "image":
        return []
    channels = campaign_channels(session, asset.id)
    items = planned(ctx, session, [source_of(asset, version)], channels=channels).get(asset.id, [])
    out = []
    for item in items:
        row = item.made
        out.append(
            DerivativeOut(
                preset=item.preset.id,
                label=item.preset.label,
                fit=str(item.preset.fit),
                format=str(item.preset.format),
                width=item.width,
                height=item.height,
                url=f"{base}/api/v1/assets/{asset.id}/derivatives/{item.preset.id}"
                f"?version={version.number}",
                key=item.key,
                rendered_format=item.format,
                size=row.size if row else None,
                sha256=row.sha256 if row else None,
                compliance=str((row.compliance or {}).get("status")) if row else None,
            )
        )
    return out


def focal_out(session: Session, version: AssetVersion) -> FocalPointOut:
    row = focal_point(session, version)
    if row is None:
        return FocalPointOut(version=version.number, x=None, y=None, source="auto")
    return FocalPointOut(
        version=version.number,
        x=row.x,
        y=row.y,
        crops=dict(row.crops or {}),
        source="set",
        set_by=row.set_by,
        set_at=row.set_at,
    )
