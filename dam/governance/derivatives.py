"""`derivatives.yaml` of the governance pack: channel-ready derivative presets and the limits
of ad-hoc transforms.

A preset says what a channel needs from an image (target box, fit, aspect, format, quality or
byte budget, colour handling, which metadata the file carries) and, with `when`, which assets
it serves, scoped by terms exactly like the brand rules. The file is optional: without it a
pack has no presets and ad-hoc transforms use :data:`DEFAULT_LIMITS`.

A preset must be able to satisfy the blocking file rules of the channel it serves (format, size,
dimensions, aspect, colour mode): :func:`unsatisfiable` finds the ones it never can, and the
loader refuses the pack naming both the preset and the rule, so `dam governance check` fails
before any asset is rendered. The rendered output is judged again against the same rules
(`dam.assets.derivatives`), with the asset's own terms.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType
from typing import Any, Protocol

import yaml

from dam.governance.checks import Subject, parse_size
from dam.governance.yamlsource import _NULL_TAG, _line, _named, _Source, _value
from dam.media.types import MediaInfo, MediaKind

__all__ = [
    "DEFAULT_LIMITS",
    "DERIVATIVES_FILE",
    "FILE_CHECKS",
    "AdhocLimits",
    "Colour",
    "Fit",
    "OutputFormat",
    "Preset",
    "PresetMetadata",
    "parse_derivatives",
    "unsatisfiable",
]

DERIVATIVES_FILE = "derivatives.yaml"
_PRESET_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")
_HEX = re.compile(r"^#([0-9a-fA-F]{6})$")
# No preset or ad-hoc request may ask for more than this, whatever the pack says.
HARD_MAX_SIDE = 10_000
HARD_MAX_PIXELS = 40_000_000
# Checks that judge the file itself; the others (metadata, rights, provenance) judged the asset
# when it was approved and are not the derivative's business.
FILE_CHECKS = frozenset(
    {
        "format_in",
        "max_file_size",
        "min_dimensions",
        "max_dimensions",
        "dimensions_in",
        "aspect_ratio_in",
        "max_megapixels",
        "color_mode_in",
        "icc_profile_in",
    }
)


class Fit(StrEnum):
    cover = "cover"  # fill the box exactly, cropping around the focal point
    contain = "contain"  # the whole image inside the box, padded to the box with `background`
    inside = "inside"  # the whole image within the box, never padded, never upscaled


class OutputFormat(StrEnum):
    jpeg = "jpeg"
    png = "png"
    webp = "webp"
    avif = "avif"
    auto = "auto"  # AVIF, WebP or JPEG from the request's Accept header

    @property
    def lossy(self) -> bool:
        return self is not OutputFormat.png


class PresetMetadata(StrEnum):
    write = "write"  # the published view's governed fields, as delivered copies carry them
    none = "none"  # nothing embedded at all


@dataclass(frozen=True)
class Colour:
    convert: str = "srgb"  # srgb | keep
    icc: str = "strip"  # embed | strip


@dataclass(frozen=True)
class Preset:
    id: str
    label: str
    description: str | None
    when: Mapping[str, tuple[str, ...]]
    fit: Fit
    width: int | None
    height: int | None
    long_side: int | None
    aspect: tuple[float, float] | None  # (w, h) as written, e.g. (4, 5)
    format: OutputFormat
    quality: int
    min_quality: int
    max_bytes: int | None
    background: tuple[int, int, int]
    colour: Colour
    metadata: PresetMetadata
    line: int = 0
    _scope: Mapping[str, frozenset[str]] = field(default_factory=dict, repr=False)

    def applies_to(self, terms: Mapping[str, Sequence[str]]) -> bool:
        """Every facet of `when` carries one of its terms or their descendants (as rules)."""
        for facet, allowed in self._scope.items():
            values = terms.get(facet)
            if not values or allowed.isdisjoint(values):
                return False
        return True

    @property
    def box(self) -> tuple[int, int]:
        """The target box (width, height): exact for cover/contain, an upper bound for inside."""
        return target_box(
            width=self.width, height=self.height, long_side=self.long_side, aspect=self.aspect
        )

    def definition(self) -> dict[str, Any]:
        """What the pixels depend on; its digest is part of every cache key."""
        return {
            "fit": str(self.fit),
            "width": self.width,
            "height": self.height,
            "long_side": self.long_side,
            "aspect": list(self.aspect) if self.aspect else None,
            "format": str(self.format),
            "quality": self.quality,
            "min_quality": self.min_quality,
            "max_bytes": self.max_bytes,
            "background": "#{:02x}{:02x}{:02x}".format(*self.background),
            "colour": {"convert": self.colour.convert, "icc": self.colour.icc},
            "metadata": str(self.metadata),
        }

    @cached_property
    def digest(self) -> str:
        # Cached: part of every cache key, asked for per preset and item of a feed page; the
        # preset is frozen, so its definition never changes.
        text = json.dumps(self.definition(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        width, height = self.box
        return {
            "id": self.id,
            "label": self.label,
            "description": self.description,
            "when": {facet: list(terms) for facet, terms in self.when.items()},
            **self.definition(),
            "box": {"width": width, "height": height},
        }


@dataclass(frozen=True)
class AdhocLimits:
    """What `?w=&h=&fit=&format=` may ask for (derivatives.yaml `adhoc`)."""

    enabled: bool = True
    max_width: int = 2400
    max_height: int = 2400
    max_pixels: int = 4_000_000
    formats: frozenset[str] = frozenset({"jpeg", "png", "webp", "avif", "auto"})
    quality: int = 82
    metadata: PresetMetadata = PresetMetadata.write

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "max_width": self.max_width,
            "max_height": self.max_height,
            "max_pixels": self.max_pixels,
            "formats": sorted(self.formats),
            "quality": self.quality,
            "metadata": str(self.metadata),
        }


DEFAULT_LIMITS = AdhocLimits()


def target_box(
    *,
    width: int | None,
    height: int | None,
    long_side: int | None,
    aspect: tuple[float, float] | None,
) -> tuple[int, int]:
    """(width, height) of the box a preset describes; a side it leaves open is HARD_MAX_SIDE."""
    ratio = aspect[0] / aspect[1] if aspect else None
    if width and height:
        return width, height
    if long_side:
        if ratio is None:
            return long_side, long_side
        if ratio >= 1:
            return long_side, max(1, round(long_side / ratio))
        return max(1, round(long_side * ratio)), long_side
    if width:
        return width, (max(1, round(width / ratio)) if ratio else HARD_MAX_SIDE)
    if height:
        return (max(1, round(height * ratio)) if ratio else HARD_MAX_SIDE), height
    return HARD_MAX_SIDE, HARD_MAX_SIDE


# --- loading --------------------------------------------------------------------------------------

_PRESET_KEYS = (
    "label",
    "description",
    "when",
    "fit",
    "width",
    "height",
    "long_side",
    "aspect",
    "format",
    "quality",
    "min_quality",
    "max_bytes",
    "background",
    "colour",
    "metadata",
)
_INT_TAG = "tag:yaml.org,2002:int"

WhenParser = Callable[[_Source, str, yaml.Node], "dict[str, tuple[str, ...]] | None"]


@dataclass
class DerivativesDraft:
    presets: list[Preset]
    limits: AdhocLimits


def _int(src: _Source, node: yaml.Node, what: str, low: int, high: int) -> int | None:
    if isinstance(node, yaml.ScalarNode) and node.tag == _INT_TAG:
        try:
            value = int(node.value)
        except ValueError:
            value = None
        if value is not None and low <= value <= high:
            return value
        src.error(node, f"{what} must be between {low} and {high}, not {node.value}")
        return None
    src.error(node, f"{what} must be a whole number, not {node.value!r}")
    return None


def _choice(src: _Source, node: yaml.Node, what: str, options: Sequence[str]) -> str | None:
    text = src.text(node, what)
    if text is None:
        return None
    if text not in options:
        src.error(node, f"{what} must be one of {', '.join(options)}, not '{text}'")
        return None
    return text


def _avif_available() -> bool:
    from PIL import features

    return bool(features.check("avif"))


def _parse_limits(src: _Source, node: yaml.Node) -> AdhocLimits | None:
    keys = src.mapping(
        node,
        "adhoc",
        optional=("enabled", "max_width", "max_height", "max_pixels", "formats", "quality"),
    )
    if keys is None:
        return None
    values: dict[str, Any] = {}
    ok = True
    if (n := _value("enabled", keys)) is not None:
        values["enabled"] = src.flag(n, "adhoc.enabled")
        ok = ok and values["enabled"] is not None
    for name in ("max_width", "max_height"):
        if (n := _value(name, keys)) is not None:
            values[name] = _int(src, n, f"adhoc.{name}", 1, HARD_MAX_SIDE)
            ok = ok and values[name] is not None
    if (n := _value("max_pixels", keys)) is not None:
        values["max_pixels"] = _int(src, n, "adhoc.max_pixels", 1, HARD_MAX_PIXELS)
        ok = ok and values["max_pixels"] is not None
    if (n := _value("quality", keys)) is not None:
        values["quality"] = _int(src, n, "adhoc.quality", 1, 100)
        ok = ok and values["quality"] is not None
    if (n := _value("formats", keys)) is not None:
        formats = set()
        for text, item in src.texts(n, "adhoc.formats"):
            if text not in OutputFormat.__members__:
                src.error(item, f"adhoc.formats: unknown format '{text}'; use {_FORMATS}")
                ok = False
            elif text == "avif" and not _avif_available():
                src.error(item, "adhoc.formats: this server's Pillow cannot write AVIF")
                ok = False
            else:
                formats.add(text)
        values["formats"] = frozenset(formats)
    return AdhocLimits(**values) if ok else None


_FORMATS = ", ".join(OutputFormat.__members__)


def _parse_preset(
    src: _Source, item: yaml.Node, parse_when: WhenParser | None
) -> tuple[str, Preset | None] | None:
    keys = src.mapping(item, _named("preset", item), required=("id",), optional=_PRESET_KEYS)
    if keys is None:
        return None
    id_node = _value("id", keys)
    preset_id = None if id_node is None else src.text(id_node, "preset id")
    if preset_id is None or id_node is None:
        return None
    what = f"preset '{preset_id}'"
    errors_before = len(src.errors)
    if not _PRESET_ID.match(preset_id):
        src.error(id_node, f"preset id '{preset_id}' must be lowercase letters, digits, - or _")

    label = preset_id
    if (n := _value("label", keys)) is not None:
        label = src.text(n, f"{what}: label") or preset_id
    description = None
    if (n := _value("description", keys)) is not None:
        description = src.text(n, f"{what}: description")
    when: dict[str, tuple[str, ...]] | None = {}
    if (n := _value("when", keys)) is not None:
        if parse_when is not None:
            when = parse_when(src, preset_id, n)
        elif not isinstance(n, yaml.MappingNode):
            src.error(n, f"{what}: when must map facets to lists of terms")

    fit = Fit.inside
    if (n := _value("fit", keys)) is not None:
        text = _choice(src, n, f"{what}: fit", list(Fit.__members__))
        fit = Fit(text) if text else fit
    sides: dict[str, int | None] = {}
    for name in ("width", "height", "long_side"):
        sides[name] = None
        if (n := _value(name, keys)) is not None:
            sides[name] = _int(src, n, f"{what}: {name}", 1, HARD_MAX_SIDE)
    aspect: tuple[float, float] | None = None
    aspect_node = _value("aspect", keys)
    if aspect_node is not None:
        text = src.text(aspect_node, f"{what}: aspect")
        match = _RATIO.match(text or "")
        if text is not None and (match is None or 0 in (float(match[1]), float(match[2]))):
            src.error(aspect_node, f"{what}: aspect '{text}' must look like 4:5 or 1.91:1")
        elif match is not None:
            aspect = (float(match[1]), float(match[2]))
    width, height, long_side = sides["width"], sides["height"], sides["long_side"]
    given = [name for name in ("width", "height", "long_side") if name in keys]
    if not given:
        src.error(item, f"{what}: give a target size (width, height or long_side)")
    elif long_side is not None and (width or height):
        src.error(item, f"{what}: long_side cannot be combined with width or height")
    elif width and height and aspect:
        src.error(aspect_node or item, f"{what}: width and height already fix the aspect")
    elif fit is not Fit.inside and not (width and height) and aspect is None and given:
        src.error(
            item, f"{what}: fit {fit} needs an exact box: width and height, or one side and aspect"
        )
    if not given or len(src.errors) > errors_before:
        box_w, box_h = 1, 1
    else:
        box_w, box_h = target_box(width=width, height=height, long_side=long_side, aspect=aspect)
    if fit is not Fit.inside and box_w * box_h > HARD_MAX_PIXELS:
        src.error(item, f"{what}: {box_w}x{box_h} is more than {HARD_MAX_PIXELS} pixels")

    fmt = OutputFormat.jpeg
    fmt_node = _value("format", keys)
    if fmt_node is not None:
        text = _choice(src, fmt_node, f"{what}: format", list(OutputFormat.__members__))
        fmt = OutputFormat(text) if text else fmt
        if fmt is OutputFormat.avif and not _avif_available():
            src.error(fmt_node, f"{what}: this server's Pillow cannot write AVIF")
    quality = 82
    if (n := _value("quality", keys)) is not None:
        if not fmt.lossy:
            src.error(n, f"{what}: quality applies to jpeg, webp and avif, not png")
        quality = _int(src, n, f"{what}: quality", 1, 100) or quality
    min_quality = min(40, quality)
    if (n := _value("min_quality", keys)) is not None:
        min_quality = _int(src, n, f"{what}: min_quality", 1, 100) or min_quality
        if min_quality > quality:
            src.error(n, f"{what}: min_quality {min_quality} is above quality {quality}")
    max_bytes = None
    if (n := _value("max_bytes", keys)) is not None:
        if not fmt.lossy:
            src.error(n, f"{what}: max_bytes needs a lossy format (jpeg, webp, avif or auto)")
        raw = n.value if isinstance(n, yaml.ScalarNode) else None
        try:
            max_bytes = parse_size(int(raw) if n.tag == _INT_TAG and raw else str(raw))
        except (ValueError, TypeError) as exc:
            src.error(n, f"{what}: max_bytes: {exc}")
    background = (255, 255, 255)
    if (n := _value("background", keys)) is not None:
        text = src.text(n, f"{what}: background")
        match = _HEX.match(text or "")
        if text is not None and match is None:
            src.error(n, f"{what}: background '{text}' must be a colour like '#ffffff' (quoted)")
        elif match is not None:
            digits = match[1]
            background = (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
    colour = Colour()
    if (n := _value("colour", keys)) is not None:
        colour_keys = src.mapping(n, f"{what}: colour", optional=("convert", "icc"))
        if colour_keys is not None:
            convert, icc = colour.convert, colour.icc
            if (c := _value("convert", colour_keys)) is not None:
                convert = _choice(src, c, f"{what}: colour.convert", ("srgb", "keep")) or convert
            if (c := _value("icc", colour_keys)) is not None:
                icc = _choice(src, c, f"{what}: colour.icc", ("embed", "strip")) or icc
            colour = Colour(convert=convert, icc=icc)
    metadata = PresetMetadata.write
    if (n := _value("metadata", keys)) is not None:
        text = _choice(src, n, f"{what}: metadata", list(PresetMetadata.__members__))
        metadata = PresetMetadata(text) if text else metadata

    if len(src.errors) > errors_before or when is None:
        return preset_id, None
    return preset_id, Preset(
        id=preset_id,
        label=label,
        description=description,
        when=MappingProxyType(dict(when)),
        fit=fit,
        width=width,
        height=height,
        long_side=long_side,
        aspect=aspect,
        format=fmt,
        quality=quality,
        min_quality=min_quality,
        max_bytes=max_bytes,
        background=background,
        colour=colour,
        metadata=metadata,
        line=_line(item),
    )


def parse_derivatives(
    src: _Source, root: yaml.Node, parse_when: WhenParser | None
) -> DerivativesDraft | None:
    """Validate `derivatives.yaml`; errors go to `src` with their lines. None when invalid.

    `parse_when` validates a `when` mapping against the taxonomy (None when the taxonomy could
    not be read: then only the shape is checked)."""
    keys = src.mapping(root, "derivatives", optional=("presets", "adhoc"))
    if keys is None:
        return None
    errors_before = len(src.errors)
    limits = DEFAULT_LIMITS
    if (node := _value("adhoc", keys)) is not None:
        limits = _parse_limits(src, node) or DEFAULT_LIMITS
    presets: list[Preset] = []
    seen: dict[str, int] = {}
    node = _value("presets", keys)
    items = (
        []
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG)
        else src.sequence(node, "presets") or []
    )
    for item in items:
        parsed = _parse_preset(src, item, parse_when)
        if parsed is None:
            continue
        preset_id, preset = parsed
        if preset_id in seen:
            src.error(item, f"duplicate preset id '{preset_id}' (first at line {seen[preset_id]})")
            continue
        seen[preset_id] = _line(item)
        if preset is not None:
            presets.append(preset)
    if len(src.errors) > errors_before:
        return None
    return DerivativesDraft(presets=presets, limits=limits)


class _FacetLike(Protocol):
    def descendants(self, term_id: str) -> frozenset[str]: ...


def with_scope(preset: Preset, facets: Mapping[str, _FacetLike]) -> Preset:
    """The preset with `when` widened to descendants, so matching is one set test per facet."""
    from dataclasses import replace

    scope = {
        facet_id: frozenset().union(*(facets[facet_id].descendants(t) for t in term_ids))
        for facet_id, term_ids in preset.when.items()
    }
    return replace(preset, _scope=MappingProxyType(scope))


# --- the channel rules a preset serves ------------------------------------------------------------


def channel_rules(
    preset: Preset, rules: Sequence[Any], terms: Mapping[str, Sequence[str]]
) -> list[Any]:
    """The enabled file rules of the channel the preset serves, for an asset with `terms`:
    rules scoped by a facet of the preset's `when` that apply once the preset's terms stand in
    for the asset's in those facets (an asset for email and Instagram, rendered by an Instagram
    preset, is judged by the Instagram rules)."""
    judged = {
        **{k: list(v) for k, v in terms.items()},
        **{k: list(v) for k, v in preset.when.items()},
    }
    return [
        rule
        for rule in rules
        if rule.enabled
        and rule.check in FILE_CHECKS
        and any(facet in preset.when for facet in rule.when)
        and rule.applies_to(judged)
    ]


def output_subject(
    *, width: int, height: int, fmt: str, size: int, mode: str, icc: str | None, terms: Any
) -> Subject:
    """What the rules judge of a derivative: its own pixels and bytes."""
    media = MediaInfo(
        kind=MediaKind.image,
        format=fmt,
        mime_type=f"image/{fmt.lower()}",
        width=width,
        height=height,
        color_mode=mode,
        icc_profile=icc,
        has_alpha=mode in ("RGBA", "LA"),
    )
    return Subject(media=media, size=size, filename=f"derivative.{fmt.lower()}", terms=terms)


def _candidate_formats(preset: Preset) -> list[str]:
    if preset.format is OutputFormat.auto:
        return ["JPEG"]  # the fallback every client gets: what a channel's rules must accept
    return ["JPEG" if preset.format is OutputFormat.jpeg else str(preset.format).upper()]


def unsatisfiable(preset: Preset, rules: Sequence[Any]) -> list[tuple[Any, str]]:
    """Blocking channel rules the preset can never satisfy, with why: judged on the output it
    always produces (its format, its exact box for cover/contain, its box as the largest size
    for inside, its byte budget when it has one). Rules that need more than the preset knows
    (another facet, the asset's own pixels) are left to the check of each rendered file."""
    width, height = preset.box
    exact = preset.fit is not Fit.inside
    found: list[tuple[Any, str]] = []
    for rule in channel_rules(preset, rules, {}):
        if str(rule.severity) != "block":
            continue
        if not all(facet in preset.when for facet in rule.when):
            continue  # also scoped by something only the asset has (asset_type: banner …)
        if not exact and rule.check in (
            "aspect_ratio_in",
            "dimensions_in",
            "max_megapixels",
            "max_dimensions",
        ):
            continue  # inside: the box is only the largest size; the source's shape decides
        if rule.check == "max_file_size" and preset.max_bytes is None:
            continue  # the rendered file is judged; a budget would promise it
        for fmt in _candidate_formats(preset):
            subject = output_subject(
                width=width,
                height=height,
                fmt=fmt,
                size=preset.max_bytes or 1,
                mode="RGB",
                icc="sRGB IEC61966-2.1" if preset.colour.icc == "embed" else None,
                terms={k: list(v) for k, v in preset.when.items()},
            )
            findings = rule.run(subject)
            if findings:
                found.append((rule, findings[0].message))
                break
    return found
