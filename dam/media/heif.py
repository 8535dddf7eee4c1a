"""HEIF/HEIC (iPhone photos and other HEVC-coded stills) through ``pillow-heif``.

Registering its opener makes ``HEIF`` one more Pillow format, so inspection and renditions take
the raster path unchanged: the pixel limit is checked against the header before anything is
decoded. Thumbnails, depth maps and auxiliary images stored beside the primary image are never
decoded.
"""

from __future__ import annotations

import threading

import pillow_heif

_lock = threading.Lock()
_registered = False


def register() -> None:
    """Make Pillow open HEIF/HEIC files (idempotent, thread-safe)."""
    global _registered
    with _lock:
        if _registered:
            return
        pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
        _registered = True


register()
