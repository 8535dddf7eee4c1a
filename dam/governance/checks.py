"""The fixed library of brand-rule checks.

Each check is a function `(params, subject) -> list[Finding]` registered in `CHECKS` with a
pydantic model that declares and validates its parameters when the pack loads. A check returns
no findings when it passes *and* when it does not apply to the subject (no file information, a
vector where pixel sizes are meaningless, a PDF without dimensions, no dominant colours): rules
judge what can be measured and never fail an asset for data inspection could not provide.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Generic, Literal, NamedTuple, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dam.media.embedded import AI_SOURCE_TYPES, Embedded
from dam.media.types import MediaInfo, MediaKind

__all__ = [
    "CHECKS",
    "KNOWN_FORMATS",
    "CheckParams",
    "CheckSpec",
    "Finding",
    "Subject",
    "ciede2000",
    "srgb_to_lab",
]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class Subject:
    """What the rules judge: one file (its inspected media) plus the asset's metadata.

    `terms` must already be canonical (see `normalize_terms`). A naive `rights_expire_at` is
    read as UTC, because SQLite hands back naive datetimes. `embedded` is the normalised block
    read from the file (:func:`dam.media.embedded.read_embedded`); `extra` holds the governed
    fields the pack's `metadata.yaml` declares beyond the core ones (creator, credit, copyright,
    usage_terms, model_release, ai_disclosure …), as the asset will store them.
    """

    media: MediaInfo | None
    size: int
    filename: str
    title: str | None = None
    description: str | None = None
    tags: Sequence[str] = ()
    terms: Mapping[str, Sequence[str]] = field(default_factory=dict)
    campaigns: Sequence[str] = ()
    rights_expire_at: datetime | None = None
    now: datetime = field(default_factory=_utcnow)
    embedded: Embedded | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class Finding(NamedTuple):
    message: str
    expected: Any
    actual: Any


class CheckParams(BaseModel):
    # strict: a quoted "1200" in YAML is a mistake worth reporting, not something to coerce.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


P = TypeVar("P", bound=CheckParams)


@dataclass(frozen=True)
class CheckSpec(Generic[P]):
    name: str
    params: type[P]
    run: Callable[[P, Subject], list[Finding]]
    summary: str


CHECKS: dict[str, CheckSpec[Any]] = {}


CheckFn = Callable[[P, Subject], list[Finding]]


def _check(name: str, params: type[P]) -> Callable[[CheckFn[P]], CheckFn[P]]:
    def register(fn: CheckFn[P]) -> CheckFn[P]:
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        CHECKS[name] = CheckSpec(name=name, params=params, run=fn, summary=summary)
        return fn

    return register


# The names media inspection reports in `MediaInfo.format`; common spellings map onto them so a
# rule saying `JPG` means what its author meant instead of silently never matching.
KNOWN_FORMATS = frozenset(
    {
        *("JPEG", "PNG", "WEBP", "TIFF", "GIF", "AVIF", "HEIF", "SVG", "PDF"),
        *("MP4", "MOV", "WEBM", "M4A"),
    }
)
_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF", "HEIC": "HEIF", "QUICKTIME": "MOV"}

# Pillow mode names, matched case-insensitively but reported as Pillow spells them. The
# premultiplied in-memory modes (La, RGBa) are left out: files never carry them, and they would
# collide with LA and RGBA once case is ignored.
_COLOR_MODES = {
    m.upper(): m
    for m in (
        *("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr"),
        *("LAB", "HSV", "I", "F", "I;16", "I;16B", "I;16L", "I;16N"),
    )
}

_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KIB": 1024,
    "MIB": 1024**2,
    "GIB": 1024**3,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_RATIO_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")
_WXH_RE = re.compile(r"^\s*(\d+)\s*[xX\u00d7]\s*(\d+)\s*$")
_HEX_RE = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def parse_size(value: int | str) -> int:
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("size must be positive")
        return value
    match = _SIZE_RE.match(value)
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(f"{value!r} is not a size; write e.g. 1048576, '500 KB' or '1 MiB'")
    size = round(float(match.group(1)) * _UNITS[unit])
    if size <= 0:
        raise ValueError("size must be positive")
    return size


def format_size(size: int, *, binary: bool = True) -> str:
    if binary:
        units = (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024))
    else:
        units = (("GB", 1000**3), ("MB", 1000**2), ("KB", 1000))
    for unit, factor in units:
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} B"


def _parse_ratio(text: str) -> float:
    match = _RATIO_RE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a ratio; write e.g. '4:5' or '1.91:1'")
    w, h = float(match.group(1)), float(match.group(2))
    if w <= 0 or h <= 0:
        raise ValueError(f"{text!r}: both sides of a ratio must be positive")
    return w / h


def _describe_ratio(width: int, height: int) -> str:
    divisor = math.gcd(width, height)
    w, h = width // divisor, height // divisor
    if w <= 50 and h <= 50:
        return f"{w}:{h}"
    return f"{width / height:.3g}:1"


def _parse_hex(text: str) -> tuple[int, int, int]:
    match = _HEX_RE.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a hex colour; write e.g. '#1F3A5F' (quoted in YAML)")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02X}{:02X}{:02X}".format(*rgb)


def _sized(media: MediaInfo | None) -> tuple[int, int] | None:
    """Pixel size as viewers see it (after EXIF orientation) for rasters and video; None for
    vectors and documents. A 1350 x 1080 photo tagged orientation 6 is judged as 1080 x 1350."""
    if media is None or media.kind not in (MediaKind.image, MediaKind.video):
        return None
    return media.display_size


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- colour science -------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def srgb_to_lab(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """8-bit sRGB to CIELAB (D65 white, 2° observer)."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047
    y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
    z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    fx, fy, fz = f(x), f(y), f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def ciede2000(lab1: tuple[float, float, float], lab2: tuple[float, float, float]) -> float:
    """CIEDE2000 colour difference (Sharma, Wu & Dalal 2005; kL = kC = kH = 1)."""
    l1, a1, b1 = lab1
    l2, a2, b2 = lab2
    c_bar = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_bar**7 / (c_bar**7 + 25**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360 if c1p else 0.0
    h2p = math.degrees(math.atan2(b2, a2p)) % 360 if c2p else 0.0

    dl = l2 - l1
    dc = c2p - c1p
    if c1p * c2p == 0:
        dh_angle = 0.0
    elif abs(h2p - h1p) <= 180:
        dh_angle = h2p - h1p
    elif h2p - h1p > 180:
        dh_angle = h2p - h1p - 360
    else:
        dh_angle = h2p - h1p + 360
    dh = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh_angle / 2))

    l_bar = (l1 + l2) / 2
    cp_bar = (c1p + c2p) / 2
    if c1p * c2p == 0:
        h_bar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_bar = (h1p + h2p) / 2
    elif h1p + h2p < 360:
        h_bar = (h1p + h2p + 360) / 2
    else:
        h_bar = (h1p + h2p - 360) / 2
    t = (
        1
        - 0.17 * math.cos(math.radians(h_bar - 30))
        + 0.24 * math.cos(math.radians(2 * h_bar))
        + 0.32 * math.cos(math.radians(3 * h_bar + 6))
        - 0.20 * math.cos(math.radians(4 * h_bar - 63))
    )
    d_theta = 30 * math.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * math.sqrt(cp_bar**7 / (cp_bar**7 + 25**7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / math.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * cp_bar
    s_h = 1 + 0.015 * cp_bar * t
    r_t = -math.sin(math.radians(2 * d_theta)) * r_c
    return math.sqrt(
        (dl / s_l) ** 2 + (dc / s_c) ** 2 + (dh / s_h) ** 2 + r_t * (dc / s_c) * (dh / s_h)
    )


# --- file type --------------------------------------------------------------------------------


class FormatInParams(CheckParams):
    formats: list[str] = Field(min_length=1)

    @field_validator("formats")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        out = []
        for name in value:
            canonical = _FORMAT_ALIASES.get(name.upper(), name.upper())
            if canonical not in KNOWN_FORMATS:
                raise ValueError(
                    f"unknown format {name!r}; known: {', '.join(sorted(KNOWN_FORMATS))}"
                )
            out.append(canonical)
        return out


@_check("format_in", FormatInParams)
def format_in(params: FormatInParams, subject: Subject) -> list[Finding]:
    """The file format (sniffed from the bytes) is one of `formats`."""
    if subject.media is None:
        return []
    actual = subject.media.format.upper()
    if actual in params.formats:
        return []
    return [
        Finding(
            f"{actual} files are not allowed here; use {', '.join(params.formats)}",
            params.formats,
            actual,
        )
    ]


class KindInParams(CheckParams):
    kinds: list[Literal["image", "vector", "document", "video", "audio"]] = Field(min_length=1)


@_check("kind_in", KindInParams)
def kind_in(params: KindInParams, subject: Subject) -> list[Finding]:
    """The kind of media (image, vector, document, video, audio) is one of `kinds`."""
    if subject.media is None:
        return []
    actual = str(subject.media.kind)
    if actual in params.kinds:
        return []
    return [Finding(f"{actual} files are not allowed here", list(params.kinds), actual)]


class MaxFileSizeParams(CheckParams):
    max: int | str
    _bytes: int = PrivateAttr(default=0)

    # "plain": a union would report one error per member type; one clear message is better.
    @field_validator("max", mode="plain")
    @classmethod
    def _parse(cls, value: Any) -> int | str:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError("give a number of bytes or a size such as '500 KB' or '1 MiB'")
        parse_size(value)
        return value

    def model_post_init(self, context: Any, /) -> None:
        self._bytes = parse_size(self.max)


@_check("max_file_size", MaxFileSizeParams)
def max_file_size(params: MaxFileSizeParams, subject: Subject) -> list[Finding]:
    """The file is at most `max` bytes (`'500 KB'`, `'1 MiB'` or a number of bytes)."""
    if subject.size <= params._bytes:
        return []
    # Speak the units the rule was written in: a "250 KB" limit reported as "244 KiB" confuses.
    written = params.max if isinstance(params.max, str) else None
    binary = written is None or "i" in written.lower()
    limit = written.strip() if written else format_size(params._bytes)
    return [
        Finding(
            f"file is {format_size(subject.size, binary=binary)}; the limit is {limit}",
            params._bytes,
            subject.size,
        )
    ]


# --- pixels -------------------------------------------------------------------------------------


class _BoxParams(CheckParams):
    width: int | None = Field(default=None, gt=0)
    height: int | None = Field(default=None, gt=0)
    any_orientation: bool = False

    @model_validator(mode="after")
    def _some_side(self) -> Self:
        if self.width is None and self.height is None:
            raise ValueError("give width, height or both")
        if self.any_orientation and (self.width is None or self.height is None):
            raise ValueError("any_orientation needs both width and height")
        return self

    def expected(self) -> dict[str, int]:
        return {k: v for k, v in (("width", self.width), ("height", self.height)) if v is not None}

    def box(self) -> str:
        if self.width is not None and self.height is not None:
            return f"{self.width} x {self.height} px"
        if self.width is not None:
            return f"{self.width} px wide"
        return f"{self.height} px high"


def _fits(actual: tuple[int, int], params: _BoxParams, *, minimum: bool) -> bool:
    w, h = actual
    limit_w, limit_h = params.width, params.height
    if params.any_orientation:
        assert limit_w is not None and limit_h is not None
        w, h = max(w, h), min(w, h)
        limit_w, limit_h = max(limit_w, limit_h), min(limit_w, limit_h)
    if minimum:
        return (limit_w is None or w >= limit_w) and (limit_h is None or h >= limit_h)
    return (limit_w is None or w <= limit_w) and (limit_h is None or h <= limit_h)


def _dimension_findings(params: _BoxParams, subject: Subject, *, minimum: bool) -> list[Finding]:
    size = _sized(subject.media)
    if size is None or _fits(size, params, minimum=minimum):
        return []
    either = " (either orientation)" if params.any_orientation else ""
    word = "smaller" if minimum else "larger"
    return [
        Finding(
            f"{size[0]} x {size[1]} px is {word} than {params.box()}{either}",
            params.expected(),
            {"width": size[0], "height": size[1]},
        )
    ]


class MinDimensionsParams(_BoxParams):
    pass


@_check("min_dimensions", MinDimensionsParams)
def min_dimensions(params: MinDimensionsParams, subject: Subject) -> list[Finding]:
    """Pixel size is at least `width` x `height`; `any_orientation` compares long/short edges."""
    return _dimension_findings(params, subject, minimum=True)


class MaxDimensionsParams(_BoxParams):
    pass


@_check("max_dimensions", MaxDimensionsParams)
def max_dimensions(params: MaxDimensionsParams, subject: Subject) -> list[Finding]:
    """Pixel size is at most `width` x `height`; `any_orientation` compares long/short edges."""
    return _dimension_findings(params, subject, minimum=False)


class DimensionsInParams(CheckParams):
    sizes: list[str] = Field(min_length=1)
    scales: list[int] = Field(default=[1], min_length=1)
    _allowed: frozenset[tuple[int, int]] = PrivateAttr(default=frozenset())

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, value: list[str]) -> list[str]:
        for text in value:
            if _WXH_RE.match(text) is None:
                raise ValueError(f"{text!r} is not a size; write e.g. '300x250'")
        return value

    @field_validator("scales")
    @classmethod
    def _scales(cls, value: list[int]) -> list[int]:
        if any(s < 1 for s in value):
            raise ValueError("scales must be whole numbers of at least 1")
        return value

    def model_post_init(self, context: Any, /) -> None:
        allowed: set[tuple[int, int]] = set()
        for text in self.sizes:
            match = _WXH_RE.match(text)
            assert match is not None
            w, h = int(match.group(1)), int(match.group(2))
            allowed.update((w * s, h * s) for s in self.scales)
        self._allowed = frozenset(allowed)


@_check("dimensions_in", DimensionsInParams)
def dimensions_in(params: DimensionsInParams, subject: Subject) -> list[Finding]:
    """Pixel size is exactly one of `sizes` (e.g. IAB ad units), at any of `scales` (2 = retina)."""
    size = _sized(subject.media)
    if size is None or size in params._allowed:
        return []
    scales = "" if params.scales == [1] else f" at scale {'/'.join(map(str, params.scales))}"
    return [
        Finding(
            f"{size[0]}x{size[1]} is not a standard size; use {', '.join(params.sizes)}{scales}",
            params.sizes,
            f"{size[0]}x{size[1]}",
        )
    ]


class AspectRatioInParams(CheckParams):
    ratios: list[str] = Field(min_length=1)
    tolerance: float = Field(default=0.01, ge=0, lt=1)
    _values: tuple[float, ...] = PrivateAttr(default=())

    @field_validator("ratios")
    @classmethod
    def _ratios(cls, value: list[str]) -> list[str]:
        for text in value:
            _parse_ratio(text)
        return value

    def model_post_init(self, context: Any, /) -> None:
        self._values = tuple(_parse_ratio(r) for r in self.ratios)


@_check("aspect_ratio_in", AspectRatioInParams)
def aspect_ratio_in(params: AspectRatioInParams, subject: Subject) -> list[Finding]:
    """Width:height is within `tolerance` (relative, 0.01 = 1 %) of one of `ratios`."""
    size = _sized(subject.media)
    if size is None or size[1] == 0:
        return []
    actual = size[0] / size[1]
    if any(abs(actual / target - 1) <= params.tolerance for target in params._values):
        return []
    return [
        Finding(
            f"aspect ratio {_describe_ratio(*size)} ({size[0]} x {size[1]} px) is not one of "
            f"{', '.join(params.ratios)}",
            params.ratios,
            _describe_ratio(*size),
        )
    ]


class MaxMegapixelsParams(CheckParams):
    max: float = Field(gt=0)


@_check("max_megapixels", MaxMegapixelsParams)
def max_megapixels(params: MaxMegapixelsParams, subject: Subject) -> list[Finding]:
    """Width x height is at most `max` million pixels."""
    size = _sized(subject.media)
    if size is None:
        return []
    megapixels = size[0] * size[1] / 1_000_000
    if megapixels <= params.max:
        return []
    return [
        Finding(
            f"{megapixels:.1f} megapixels is more than the {params.max:g} allowed",
            params.max,
            round(megapixels, 2),
        )
    ]


class MinDpiParams(CheckParams):
    min: float = Field(gt=0)
    if_missing: Literal["pass", "fail"] = "fail"


@_check("min_dpi", MinDpiParams)
def min_dpi(params: MinDpiParams, subject: Subject) -> list[Finding]:
    """Raster resolution metadata is at least `min` DPI (print)."""
    media = subject.media
    if media is None or media.kind != MediaKind.image:
        return []
    if media.dpi is None:
        if params.if_missing == "pass":
            return []
        return [Finding(f"the file records no DPI; {params.min:g} needed", params.min, None)]
    actual = min(media.dpi)
    if actual >= params.min:
        return []
    return [Finding(f"{actual:g} DPI is below {params.min:g} DPI", params.min, actual)]


# --- colour -------------------------------------------------------------------------------------


class ColorModeInParams(CheckParams):
    modes: list[str] = Field(min_length=1)

    @field_validator("modes")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        out = []
        for mode in value:
            if mode.upper() not in _COLOR_MODES:
                known = ", ".join(sorted(set(_COLOR_MODES.values())))
                raise ValueError(f"unknown colour mode {mode!r}; Pillow modes are {known}")
            out.append(_COLOR_MODES[mode.upper()])
        return out


@_check("color_mode_in", ColorModeInParams)
def color_mode_in(params: ColorModeInParams, subject: Subject) -> list[Finding]:
    """The pixel colour mode (Pillow's name: RGB, RGBA, CMYK, L, P …) is one of `modes`."""
    media = subject.media
    if media is None or media.color_mode is None:
        return []
    if media.color_mode in params.modes:
        return []
    return [
        Finding(
            f"colour mode {media.color_mode} is not allowed here; use {', '.join(params.modes)}",
            params.modes,
            media.color_mode,
        )
    ]


class IccProfileInParams(CheckParams):
    profiles: list[str] = Field(min_length=1)
    missing_profile: Literal["assume_srgb", "fail"] = "assume_srgb"

    @field_validator("profiles")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if any(not p.strip() for p in value):
            raise ValueError("profile names must not be empty")
        return value


@_check("icc_profile_in", IccProfileInParams)
def icc_profile_in(params: IccProfileInParams, subject: Subject) -> list[Finding]:
    """The embedded ICC profile description contains one of `profiles` (case-insensitive)."""
    media = subject.media
    if media is None or media.kind != MediaKind.image:
        return []
    profile = media.icc_profile
    if profile is None:
        if params.missing_profile == "fail":
            return [
                Finding(
                    f"no ICC profile is embedded; embed {' or '.join(params.profiles)}",
                    params.profiles,
                    None,
                )
            ]
        # Browsers and most apps render untagged pixels as sRGB, so that is what they are.
        profile = "sRGB"
    folded = profile.casefold()
    if any(p.casefold() in folded for p in params.profiles):
        return []
    return [
        Finding(
            f"ICC profile {profile!r} is not {' or '.join(params.profiles)}",
            params.profiles,
            media.icc_profile,
        )
    ]


class TransparencyRequiredParams(CheckParams):
    pass


@_check("transparency_required", TransparencyRequiredParams)
def transparency_required(params: TransparencyRequiredParams, subject: Subject) -> list[Finding]:
    """A raster image has an alpha channel (vectors pass; documents and video are skipped)."""
    media = subject.media
    if media is None or media.kind != MediaKind.image or media.has_alpha:
        return []
    return [
        Finding(
            f"the {media.format} has no transparency; export it with a transparent background",
            "alpha channel",
            "opaque",
        )
    ]


class PaletteParams(CheckParams):
    colors: list[str] = Field(min_length=1)
    max_delta_e: float = Field(default=10.0, gt=0)
    min_share: float = Field(default=0.5, gt=0, le=1)
    ignore_neutrals: bool = False
    neutral_chroma: float = Field(default=8.0, ge=0)
    _labs: tuple[tuple[float, float, float], ...] = PrivateAttr(default=())

    @field_validator("colors")
    @classmethod
    def _hexes(cls, value: list[str]) -> list[str]:
        return [_hex(_parse_hex(c)) for c in value]

    def model_post_init(self, context: Any, /) -> None:
        self._labs = tuple(srgb_to_lab(_parse_hex(c)) for c in self.colors)


@_check("palette", PaletteParams)
def palette(params: PaletteParams, subject: Subject) -> list[Finding]:
    """At least `min_share` of the dominant colour is within CIEDE2000 `max_delta_e` of `colors`."""
    media = subject.media
    if media is None or not media.dominant_colors:
        return []
    judged = 0.0
    on_palette = 0.0
    off: list[tuple[float, str]] = []
    for (r, g, b), share in media.dominant_colors:
        # Stored reports hand colours back as JSON lists; the Lab cache needs hashable ints.
        rgb = (int(r), int(g), int(b))
        lab = srgb_to_lab(rgb)
        if params.ignore_neutrals and math.hypot(lab[1], lab[2]) < params.neutral_chroma:
            continue
        judged += share
        if min(ciede2000(lab, brand) for brand in params._labs) <= params.max_delta_e:
            on_palette += share
        else:
            off.append((share, _hex(rgb)))
    if judged <= 0:
        return []
    ratio = on_palette / judged
    if ratio >= params.min_share:
        return []
    off.sort(reverse=True)
    return [
        Finding(
            f"{ratio:.0%} of the image's colour is within ΔE00 {params.max_delta_e:g} of the "
            f"brand palette; at least {params.min_share:.0%} is expected",
            {"min_share": params.min_share, "max_delta_e": params.max_delta_e},
            {"share": round(ratio, 3), "off_palette": [color for _, color in off[:5]]},
        )
    ]


# --- metadata -----------------------------------------------------------------------------------


class TextField(CheckParams):
    min_length: int = Field(default=1, ge=1)


class CountField(CheckParams):
    min_count: int = Field(default=1, ge=1)


class RequiredFieldsParams(CheckParams):
    title: TextField | None = None
    description: TextField | None = None
    tags: CountField | None = None
    campaigns: CountField | None = None

    @model_validator(mode="after")
    def _some_field(self) -> Self:
        if not any((self.title, self.description, self.tags, self.campaigns)):
            raise ValueError("name at least one of title, description, tags, campaigns")
        return self


@_check("required_fields", RequiredFieldsParams)
def required_fields(params: RequiredFieldsParams, subject: Subject) -> list[Finding]:
    """Title/description have at least `min_length` characters; tags/campaigns `min_count`."""
    findings = []
    for name, rule, value in (
        ("title", params.title, subject.title),
        ("description", params.description, subject.description),
    ):
        if rule is None:
            continue
        length = len((value or "").strip())
        if length == 0:
            findings.append(
                Finding(f"{name} is missing", {"field": name, "min_length": rule.min_length}, 0)
            )
        elif length < rule.min_length:
            findings.append(
                Finding(
                    f"{name} has {length} characters; at least {rule.min_length} are needed",
                    {"field": name, "min_length": rule.min_length},
                    length,
                )
            )
    for name, count_rule, items in (
        ("tags", params.tags, subject.tags),
        ("campaigns", params.campaigns, subject.campaigns),
    ):
        if count_rule is None:
            continue
        count = len([i for i in items if i.strip()])
        if count < count_rule.min_count:
            findings.append(
                Finding(
                    f"{count} {name} given; at least {count_rule.min_count} needed",
                    {"field": name, "min_count": count_rule.min_count},
                    count,
                )
            )
    return findings


class FacetsRequiredParams(CheckParams):
    facets: list[str] = Field(min_length=1)

    @field_validator("facets")
    @classmethod
    def _known(cls, value: list[str], info: ValidationInfo) -> list[str]:
        known = (info.context or {}).get("facets")
        if known is not None:
            unknown = [f for f in value if f not in known]
            if unknown:
                raise ValueError(
                    f"unknown facet {unknown[0]!r}; facets are {', '.join(sorted(known))}"
                )
        return value


@_check("facets_required", FacetsRequiredParams)
def facets_required(params: FacetsRequiredParams, subject: Subject) -> list[Finding]:
    """Each facet in `facets` has at least one term (for facets not `required` everywhere)."""
    return [
        Finding(f"no {facet} term is set", {"facet": facet}, [])
        for facet in params.facets
        if not subject.terms.get(facet)
    ]


class FilenamePatternParams(CheckParams):
    pattern: str
    ignore_case: bool = False
    example: str | None = None
    _regex: re.Pattern[str] = PrivateAttr(default=re.compile(""))

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _example_matches(self) -> Self:
        flags = re.IGNORECASE if self.ignore_case else 0
        if self.example is not None and not re.fullmatch(self.pattern, self.example, flags):
            raise ValueError(f"example {self.example!r} does not match the pattern")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._regex = re.compile(self.pattern, re.IGNORECASE if self.ignore_case else 0)


@_check("filename_pattern", FilenamePatternParams)
def filename_pattern(params: FilenamePatternParams, subject: Subject) -> list[Finding]:
    """The original file name (without folders) fully matches the regular expression `pattern`."""
    name = re.split(r"[\\/]", subject.filename)[-1]
    if params._regex.fullmatch(name):
        return []
    hint = f", e.g. {params.example}" if params.example else ""
    return [
        Finding(
            f"file name {name!r} does not follow the naming convention{hint}",
            params.pattern,
            name,
        )
    ]


class RightsExpiryRequiredParams(CheckParams):
    allow_past: bool = False


@_check("rights_expiry_required", RightsExpiryRequiredParams)
def rights_expiry_required(params: RightsExpiryRequiredParams, subject: Subject) -> list[Finding]:
    """A rights expiry date is set and, unless `allow_past`, is still in the future."""
    if subject.rights_expire_at is None:
        return [Finding("a rights expiry date is required", "rights_expire_at", None)]
    expires = _aware(subject.rights_expire_at)
    if params.allow_past or expires > subject.now:
        return []
    return [
        Finding(
            f"usage rights expired on {expires.date().isoformat()}",
            "a future rights_expire_at",
            expires.isoformat(),
        )
    ]


class RightsValidForParams(CheckParams):
    days: int = Field(ge=1)


@_check("rights_valid_for", RightsValidForParams)
def rights_valid_for(params: RightsValidForParams, subject: Subject) -> list[Finding]:
    """When a rights expiry is set, it is at least `days` days away (unset = perpetual, passes)."""
    if subject.rights_expire_at is None:
        return []
    expires = _aware(subject.rights_expire_at)
    if expires >= subject.now + timedelta(days=params.days):
        return []
    left = (expires - subject.now).days
    return [
        Finding(
            f"usage rights end on {expires.date().isoformat()} ({max(left, 0)} days left); "
            f"at least {params.days} days are expected",
            params.days,
            left,
        )
    ]


# --- embedded metadata, privacy and provenance --------------------------------------------------


def _governed_field(value: str, info: ValidationInfo) -> str:
    known = (info.context or {}).get("fields")
    if known is not None and value not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise ValueError(
            f"unknown field {value!r}; metadata.yaml declares these governed fields: {listed}"
        )
    return value


def _filled(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, Sequence | Mapping):
        return any(_filled(v) for v in (value.values() if isinstance(value, Mapping) else value))
    return True


class LocationAbsentParams(CheckParams):
    names: bool = False


@_check("location_absent", LocationAbsentParams)
def location_absent(params: LocationAbsentParams, subject: Subject) -> list[Finding]:
    """The file carries no GPS position (with `names`, no place names either)."""
    embedded = subject.embedded
    if embedded is None:
        return []
    found = []
    if embedded.gps is not None:
        found.append("GPS coordinates")
    if params.names and (embedded.location or embedded.locations_shown):
        found.append("place names")
    if not found:
        return []
    # The report names what is there, never the coordinates themselves.
    return [
        Finding(
            f"the file carries {' and '.join(found)}; remove them before uploading",
            "no location",
            found,
        )
    ]


_CREDIT_FIELDS: dict[str, str] = {
    "creator": "creator",
    "credit": "credit",
    "copyright": "copyright_notice",
    "usage_terms": "usage_terms",
}


class CreditsRequiredParams(CheckParams):
    fields: list[Literal["creator", "credit", "copyright", "usage_terms"]] = Field(min_length=1)
    accept_embedded: bool = True


@_check("credits_required", CreditsRequiredParams)
def credits_required(params: CreditsRequiredParams, subject: Subject) -> list[Finding]:
    """Each of `fields` (creator, credit, copyright, usage_terms) is set, on the asset or (with
    `accept_embedded`) in the file's embedded metadata."""
    findings = []
    for name in params.fields:
        if _filled(subject.extra.get(name)):
            continue
        embedded = subject.embedded
        if (
            params.accept_embedded
            and embedded is not None
            and _filled(getattr(embedded, _CREDIT_FIELDS[name]))
        ):
            continue
        findings.append(Finding(f"{name.replace('_', ' ')} is missing", {"field": name}, None))
    return findings


_RELEASED = frozenset({"MR-UMR", "MR-LMR"})


class ModelReleaseRequiredParams(CheckParams):
    field: str = "model_release"
    accept_embedded: bool = True
    applies_to: Literal["all", "people_shown"] = "all"

    @field_validator("field")
    @classmethod
    def _known(cls, value: str, info: ValidationInfo) -> str:
        return _governed_field(value, info)


@_check("model_release_required", ModelReleaseRequiredParams)
def model_release_required(params: ModelReleaseRequiredParams, subject: Subject) -> list[Finding]:
    """People shots carry a model release: the asset's `field`, or (with `accept_embedded`) a
    PLUS release status MR-UMR/MR-LMR or release id in the file; `applies_to: people_shown`
    judges only files that name persons shown."""
    embedded = subject.embedded
    status = embedded.model_release_status if embedded is not None else None
    if params.applies_to == "people_shown" and not (embedded and embedded.persons_shown):
        return []
    if status == "MR-NAP" or _filled(subject.extra.get(params.field)):
        return []
    if (
        params.accept_embedded
        and embedded is not None
        and (status in _RELEASED or embedded.model_release_ids)
    ):
        return []
    said = " (the file says there is none)" if status == "MR-NON" else ""
    return [
        Finding(
            f"no model release is recorded{said}; fill in {params.field}",
            {"field": params.field},
            status,
        )
    ]


# IPTC NewsCodes "Digital Source Type" (cv.iptc.org/newscodes/digitalsourcetype), 2025.
DIGITAL_SOURCE_TYPES = frozenset(
    {
        "digitalCapture",
        "computationalCapture",
        "negativeFilm",
        "positiveFilm",
        "print",
        "minorHumanEdits",
        "humanEdits",
        "compositeCapture",
        "algorithmicallyEnhanced",
        "dataDrivenMedia",
        "digitalArt",
        "digitalCreation",
        "virtualRecording",
        "composite",
        "compositeSynthetic",
        "trainedAlgorithmicMedia",
        "compositeWithTrainedAlgorithmicMedia",
        "algorithmicMedia",
        "screenCapture",
    }
)


def _source_types(value: list[str]) -> list[str]:
    by_fold = {t.casefold(): t for t in DIGITAL_SOURCE_TYPES}
    out = []
    for text in value:
        code = text.rstrip("/").rsplit("/", 1)[-1]
        if code.casefold() not in by_fold:
            raise ValueError(
                f"unknown digital source type {text!r}; IPTC codes are "
                f"{', '.join(sorted(DIGITAL_SOURCE_TYPES))}"
            )
        out.append(by_fold[code.casefold()])
    return out


class ProvenanceInParams(CheckParams):
    sources: list[str] = Field(min_length=1)
    if_unknown: Literal["pass", "fail"] = "pass"

    @field_validator("sources")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        return _source_types(value)


@_check("provenance_in", ProvenanceInParams)
def provenance_in(params: ProvenanceInParams, subject: Subject) -> list[Finding]:
    """Every digital source type the file declares (IPTC DigitalSourceType, C2PA actions) is one
    of `sources`; files that declare none pass unless `if_unknown: fail`."""
    declared = subject.embedded.source_types if subject.embedded is not None else []
    if not declared:
        if params.if_unknown == "pass":
            return []
        return [Finding("the file does not declare how it was made", params.sources, None)]
    outside = [t for t in declared if t not in params.sources]
    if not outside:
        return []
    ai = " (AI-generated)" if any(t in AI_SOURCE_TYPES for t in outside) else ""
    return [
        Finding(
            f"the file declares digital source type {', '.join(outside)}{ai}; allowed here: "
            f"{', '.join(params.sources)}",
            params.sources,
            outside,
        )
    ]


class AiDisclosureRequiredParams(CheckParams):
    field: str = "ai_disclosure"
    sources: list[str] = Field(default_factory=lambda: sorted(AI_SOURCE_TYPES), min_length=1)

    @field_validator("field")
    @classmethod
    def _known(cls, value: str, info: ValidationInfo) -> str:
        return _governed_field(value, info)

    @field_validator("sources")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        return _source_types(value)


@_check("ai_disclosure_required", AiDisclosureRequiredParams)
def ai_disclosure_required(params: AiDisclosureRequiredParams, subject: Subject) -> list[Finding]:
    """A file declaring an AI digital source type (IPTC or C2PA) has the disclosure `field`."""
    declared = subject.embedded.source_types if subject.embedded is not None else []
    generated = [t for t in declared if t in params.sources]
    if not generated or _filled(subject.extra.get(params.field)):
        return []
    return [
        Finding(
            f"the file declares {', '.join(generated)} (AI-generated); fill in {params.field} "
            "with the disclosure shown to audiences",
            {"field": params.field},
            generated,
        )
    ]


# --- documents ----------------------------------------------------------------------------------


class MaxPagesParams(CheckParams):
    max: int = Field(gt=0)


@_check("max_pages", MaxPagesParams)
def max_pages(params: MaxPagesParams, subject: Subject) -> list[Finding]:
    """A PDF has at most `max` pages (one that cannot be opened without a password is skipped)."""
    media = subject.media
    if media is None or media.kind != MediaKind.document or media.pages is None:
        return []
    if media.pages <= params.max:
        return []
    return [
        Finding(
            f"the document has {media.pages} pages; at most {params.max} are allowed",
            params.max,
            media.pages,
        )
    ]


class PdfEncryptionForbiddenParams(CheckParams):
    allow_owner_password: bool = False


@_check("pdf_encryption_forbidden", PdfEncryptionForbiddenParams)
def pdf_encryption_forbidden(
    params: PdfEncryptionForbiddenParams, subject: Subject
) -> list[Finding]:
    """A PDF is not encrypted; `allow_owner_password` lets through files anyone can open whose
    owner password only restricts printing, copying or editing."""
    media = subject.media
    if media is None or media.kind != MediaKind.document or not media.encrypted:
        return []
    if media.password_required:
        return [
            Finding(
                "the PDF needs a password to open; upload it without protection",
                "not encrypted",
                "password required",
            )
        ]
    if params.allow_owner_password:
        return []
    allowed = ", ".join(media.pdf_permissions or []) or "nothing"
    return [
        Finding(
            f"the PDF is encrypted with an owner password (readers may: {allowed}); "
            "upload it without protection",
            "not encrypted",
            "owner password",
        )
    ]


# --- video and audio ----------------------------------------------------------------------------


def _timed(media: MediaInfo | None) -> float | None:
    if media is None or media.kind not in (MediaKind.video, MediaKind.audio):
        return None
    return media.duration


def _seconds(value: float) -> str:
    if value >= 60:
        minutes, rest = divmod(value, 60)
        return f"{int(minutes)} min {rest:.3g} s" if rest else f"{int(minutes)} min"
    return f"{value:.3g} s"


class DurationParams(CheckParams):
    seconds: float = Field(gt=0)


@_check("max_duration", DurationParams)
def max_duration(params: DurationParams, subject: Subject) -> list[Finding]:
    """Video or audio runs at most `seconds` seconds."""
    duration = _timed(subject.media)
    if duration is None or duration <= params.seconds:
        return []
    return [
        Finding(
            f"it runs {_seconds(duration)}; at most {_seconds(params.seconds)} is allowed",
            params.seconds,
            duration,
        )
    ]


@_check("min_duration", DurationParams)
def min_duration(params: DurationParams, subject: Subject) -> list[Finding]:
    """Video or audio runs at least `seconds` seconds."""
    duration = _timed(subject.media)
    if duration is None or duration >= params.seconds:
        return []
    return [
        Finding(
            f"it runs {_seconds(duration)}; at least {_seconds(params.seconds)} is needed",
            params.seconds,
            duration,
        )
    ]


# FFmpeg's decoder names for the video codecs creative files arrive in; common spellings map onto
# them so `H.265` means `hevc`.
KNOWN_VIDEO_CODECS = frozenset(
    {
        *("h264", "hevc", "vp8", "vp9", "av1", "prores", "mpeg4", "mpeg2video", "mpeg1video"),
        *("mjpeg", "dnxhd", "theora", "vc1", "wmv3", "h263", "cfhd", "qtrle", "png", "gif"),
    }
)
_CODEC_ALIASES = {
    "avc": "h264",
    "avc1": "h264",
    "h.264": "h264",
    "x264": "h264",
    "h265": "hevc",
    "h.265": "hevc",
    "hvc1": "hevc",
    "hev1": "hevc",
    "x265": "hevc",
    "av01": "av1",
    "apch": "prores",
    "dnxhr": "dnxhd",
}


class VideoCodecInParams(CheckParams):
    codecs: list[str] = Field(min_length=1)

    @field_validator("codecs")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        out = []
        for name in value:
            canonical = _CODEC_ALIASES.get(name.lower(), name.lower())
            if canonical not in KNOWN_VIDEO_CODECS:
                raise ValueError(
                    f"unknown video codec {name!r}; known: {', '.join(sorted(KNOWN_VIDEO_CODECS))}"
                )
            out.append(canonical)
        return out


@_check("video_codec_in", VideoCodecInParams)
def video_codec_in(params: VideoCodecInParams, subject: Subject) -> list[Finding]:
    """A video's codec (FFmpeg's name: h264, hevc, vp9, av1, prores …) is one of `codecs`."""
    media = subject.media
    if media is None or media.kind != MediaKind.video or media.video_codec is None:
        return []
    if media.video_codec in params.codecs:
        return []
    return [
        Finding(
            f"the video is {media.video_codec}; use {', '.join(params.codecs)}",
            params.codecs,
            media.video_codec,
        )
    ]


class NoParams(CheckParams):
    pass


@_check("audio_required", NoParams)
def audio_required(params: NoParams, subject: Subject) -> list[Finding]:
    """A video has a sound track."""
    media = subject.media
    if media is None or media.kind != MediaKind.video or media.has_audio:
        return []
    return [Finding("the video has no sound track", "audio", "no audio")]


@_check("audio_forbidden", NoParams)
def audio_forbidden(params: NoParams, subject: Subject) -> list[Finding]:
    """A video has no sound track (autoplaying placements play muted, or refuse sound)."""
    media = subject.media
    if media is None or media.kind != MediaKind.video or not media.has_audio:
        return []
    codec = f" ({media.audio_codec})" if media.audio_codec else ""
    return [Finding(f"the video has a sound track{codec}; remove it", "no audio", "audio")]


_BITRATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:bps|bit/s|b/s)?\s*$")
_BITRATE_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3}


def parse_bitrate(value: int | str) -> int:
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("a bit rate must be positive")
        return value
    match = _BITRATE_RE.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a bit rate; write e.g. 8000000, '8 Mbps' or '800 kbps'")
    rate = round(float(match.group(1)) * _BITRATE_UNITS[match.group(2).lower()])
    if rate <= 0:
        raise ValueError("a bit rate must be positive")
    return rate


def format_bitrate(rate: int) -> str:
    for unit, factor in (("Gbps", 1000**3), ("Mbps", 1000**2), ("kbps", 1000)):
        if rate >= factor:
            return f"{rate / factor:.3g} {unit}"
    return f"{rate} bps"


class MaxBitrateParams(CheckParams):
    max: int | str
    _bps: int = PrivateAttr(default=0)

    @field_validator("max", mode="plain")
    @classmethod
    def _parse(cls, value: Any) -> int | str:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError("give bits per second or a rate such as '8 Mbps' or '800 kbps'")
        parse_bitrate(value)
        return value

    def model_post_init(self, context: Any, /) -> None:
        self._bps = parse_bitrate(self.max)


@_check("max_bitrate", MaxBitrateParams)
def max_bitrate(params: MaxBitrateParams, subject: Subject) -> list[Finding]:
    """Video or audio averages at most `max` bits per second (`'8 Mbps'`, `'800 kbps'`)."""
    media = subject.media
    if media is None or media.kind not in (MediaKind.video, MediaKind.audio):
        return []
    if media.bit_rate is None or media.bit_rate <= params._bps:
        return []
    return [
        Finding(
            f"it averages {format_bitrate(media.bit_rate)}; the limit is "
            f"{format_bitrate(params._bps)}",
            params._bps,
            media.bit_rate,
        )
    ]
