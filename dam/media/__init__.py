"""Media handling: type sniffing, inspection, renditions and client filenames."""

from dam.media.filenames import content_disposition, safe_filename
from dam.media.inspect import (
    dominant_colors,
    hash_distance,
    inspect_file,
    open_raster,
    phash,
)
from dam.media.renditions import RENDITION_MIME, RENDITIONS, make_rendition
from dam.media.sniff import sniff, sniff_bytes
from dam.media.svg import SVG_MAX_BYTES, SvgRoot, check_svg
from dam.media.types import MediaInfo, MediaKind

__all__ = [
    "RENDITIONS",
    "RENDITION_MIME",
    "SVG_MAX_BYTES",
    "MediaInfo",
    "MediaKind",
    "SvgRoot",
    "check_svg",
    "content_disposition",
    "dominant_colors",
    "hash_distance",
    "inspect_file",
    "make_rendition",
    "open_raster",
    "phash",
    "safe_filename",
    "sniff",
    "sniff_bytes",
]
