"""What media inspection learns about a file; governance checks and the asset rows read it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class MediaKind(StrEnum):
    image = "image"
    vector = "vector"
    document = "document"
    video = "video"
    audio = "audio"  # audio-only MP4/M4A: never mislabelled as video


@dataclass
class MediaInfo:
    kind: MediaKind
    format: str  # JPEG, PNG, WEBP, TIFF, GIF, AVIF, HEIF, SVG, PDF, MP4, MOV, WEBM, M4A
    mime_type: str
    width: int | None = None
    height: int | None = None
    color_mode: str | None = None  # Pillow mode name: RGB, RGBA, CMYK, L, P, ...
    # Bits per channel sample as stored in the file (16 for a 16-bit PNG or TIFF, which Pillow
    # may still open as mode RGB), None when the format does not say.
    bit_depth: int | None = None
    icc_profile: str | None = None  # ICC profile description, e.g. "sRGB IEC61966-2.1"
    has_alpha: bool = False
    orientation: int | None = None  # EXIF orientation 1..8
    dpi: tuple[float, float] | None = None
    exif: dict[str, Any] = field(default_factory=dict)
    keywords: list[str] = field(default_factory=list)  # IPTC/XMP keywords
    phash: str | None = None  # 64-bit perceptual hash as 16 hex chars
    frames: int = 1  # animated GIF/WebP frame count, PDF pages unknown -> 1
    # Dominant colours of the image: [[r, g, b], share] with shares summing to ~1.
    dominant_colors: list[tuple[tuple[int, int, int], float]] = field(default_factory=list)
    # PDF (pypdfium2): width/height above are page 1's displayed size in points (/Rotate
    # applied, CropBox within MediaBox).
    pages: int | None = None
    encrypted: bool = False  # needs a password to open, or carries an owner password
    password_required: bool = False  # cannot be opened (or rendered) without the user password
    pdf_permissions: list[str] | None = None  # print, modify, copy, annotate ... when encrypted
    pdf_version: str | None = None  # "1.7"
    # The document information dictionary (Title, Author, Creator, Producer ...), as read while
    # inspecting; kept apart from embedded-metadata extraction so the two can be merged.
    pdf_info: dict[str, str] = field(default_factory=dict)
    # Video and audio (PyAV): width/height above are the displayed size (rotation applied).
    duration: float | None = None  # seconds
    video_codec: str | None = None  # FFmpeg codec name: h264, hevc, vp9, prores ...
    audio_codec: str | None = None
    frame_rate: float | None = None
    bit_rate: int | None = None  # bits per second of the whole file
    has_audio: bool = False
    rotation: int | None = None  # degrees clockwise the player turns the picture: 0/90/180/270

    @property
    def megapixels(self) -> float | None:
        if self.width is None or self.height is None:
            return None
        return self.width * self.height / 1_000_000

    @property
    def display_size(self) -> tuple[int, int] | None:
        """Width and height as viewers show the image: EXIF orientations 5-8 swap the sides."""
        if self.width is None or self.height is None:
            return None
        if self.orientation in (5, 6, 7, 8):
            return self.height, self.width
        return self.width, self.height

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = str(self.kind)
        return data
