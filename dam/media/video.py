"""Video and audio: what a file holds (PyAV, i.e. FFmpeg), a poster frame and a hover clip.

Inspection opens the container, refuses sizes no decoder should be asked to allocate, and
decodes the first frame of the main stream (one thread): that proves the file is decodable
(a container with tracks but no samples, or samples no decoder understands, is refused with 422
``no_decodable_stream``), and the frame carries the display matrix, hence the rotation. Posters
and clips are made by the worker in a child process (see :mod:`dam.media.sandbox`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from dam.errors import Invalid
from dam.media.types import MediaInfo, MediaKind

# Packets read while looking for the first decodable frame; encoders put a keyframe first, and
# a file that yields nothing after this many packets is not worth more.
_FIRST_FRAME_PACKETS = 400
_BLACK_LUMA = 20  # mean 8-bit luma below which a frame counts as black (fade-in, slate)
_POSTER_SEARCH_SECONDS = 3.0


def _refused(detail: str) -> Invalid:
    return Invalid(detail, code="no_decodable_stream")


def open_container(path: Path) -> Any:
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise _refused(f"the file cannot be read as video or audio: {exc}") from exc


def _is_picture(stream: Any) -> bool:
    """Cover art inside an audio file shows up as a one-frame video stream."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def main_streams(container: Any) -> tuple[Any | None, Any | None]:
    video = next((s for s in container.streams.video if not _is_picture(s)), None)
    audio = next(iter(container.streams.audio), None)
    return video, audio


def first_frame(container: Any, stream: Any) -> Any | None:
    """The first frame decoded from ``stream``, reading a bounded number of packets."""
    stream.codec_context.thread_count = 1
    read = 0
    try:
        for packet in container.demux(stream):
            read += 1
            for frame in packet.decode():
                return frame
            if read >= _FIRST_FRAME_PACKETS:
                return None
    except (av.error.FFmpegError, ValueError, IndexError, MemoryError):
        return None
    return None


def inspect_av(path: Path, *, fmt: str, mime: str, max_pixels: int, audio_format: str) -> MediaInfo:
    """Container, duration, codecs, frame rate, bit rate, rotation and audio presence.

    ``fmt`` and ``mime`` are what the bytes were sniffed as; a file with no video stream is the
    ``audio`` kind, reported as ``audio_format`` (M4A for ISO media, WEBM for WebM). Errors: 422
    ``no_decodable_stream``, ``video_too_large`` (a declared frame above ``max_pixels``).
    """
    container = open_container(path)
    try:
        video, audio = main_streams(container)
        if video is None and audio is None:
            raise _refused(f"the {fmt} file has no video or audio stream")
        main: Any = video if video is not None else audio
        if main.codec_context is None or main.codec_context.codec is None:
            raise _refused(f"no decoder for the {main.type} stream of this {fmt} file")
        if video is not None:
            width, height = video.codec_context.width or 0, video.codec_context.height or 0
            if width <= 0 or height <= 0:
                raise _refused(f"the video stream declares a size of {width}x{height}")
            if width * height > max_pixels:
                raise Invalid(
                    f"video frames are {width}x{height} ({width * height} pixels), above the "
                    f"limit of {max_pixels} pixels",
                    code="video_too_large",
                )
        frame = first_frame(container, main)
        if frame is None:
            raise _refused(f"no {main.type} frame could be decoded from this {fmt} file")
        duration = _duration(container, main)
        info = MediaInfo(
            kind=MediaKind.video if video is not None else MediaKind.audio,
            format=fmt if video is not None else audio_format,
            mime_type=mime if video is not None else _audio_mime(audio_format),
            duration=duration,
            bit_rate=int(container.bit_rate) if container.bit_rate else None,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name
            if audio is not None and audio.codec_context is not None
            else None,
        )
        if video is not None:
            rotation = int(getattr(frame, "rotation", 0) or 0) % 360
            # Quarter turns swap the sides: report what the player shows.
            turned = rotation in (90, 270)
            info.width, info.height = (height, width) if turned else (width, height)
            info.rotation = rotation
            info.video_codec = video.codec_context.name
            info.frame_rate = _rate(video)
            # WebM does not store a frame count; duration x rate is what players show.
            counted = int(video.frames or 0)
            if not counted and duration and info.frame_rate:
                counted = round(duration * info.frame_rate)
            info.frames = max(counted, 1)
        return info
    finally:
        container.close()


def _audio_mime(audio_format: str) -> str:
    return "audio/webm" if audio_format == "WEBM" else "audio/mp4"


def _duration(container: Any, stream: Any) -> float | None:
    if container.duration:
        return round(container.duration / av.time_base, 3)
    if stream.duration and stream.time_base:
        return round(float(stream.duration * stream.time_base), 3)
    return None


def _rate(stream: Any) -> float | None:
    rate: Fraction | None = stream.average_rate or stream.guessed_rate
    if not rate:
        return None
    value = float(rate)
    return round(value, 3) if math.isfinite(value) and value > 0 else None


# --- stills and clips (run in the rendering child) ------------------------------------------


def upright(frame: Any, long_side: int) -> Any:
    """A decoded frame as an RGB Pillow image at most ``long_side`` px, turned as the display
    matrix says. swscale shrinks it before it becomes RGB: a 4K frame never exists as a 25 MB
    RGB copy."""
    width, height = frame.width, frame.height
    scale = min(1.0, long_side / max(width, height))
    size = max(2, round(width * scale)), max(2, round(height * scale))
    image = frame.reformat(width=size[0], height=size[1], format="rgb24").to_image()
    rotation = int(getattr(frame, "rotation", 0) or 0) % 360
    # PyAV reports the counter-clockwise angle; Pillow's rotate() turns counter-clockwise.
    return image.rotate(rotation, expand=True) if rotation else image


def _luma(frame: Any) -> float:
    small = frame.reformat(width=32, height=18, format="gray")
    plane = bytes(small.planes[0])
    row = small.planes[0].line_size
    values = [plane[y * row + x] for y in range(18) for x in range(32)]
    return sum(values) / len(values)


def _frames_from(container: Any, stream: Any, start: float) -> Iterator[Any]:
    """Frames at or after ``start`` seconds (seeking to the keyframe before it)."""
    if start > 0 and stream.time_base:
        target = int(start / stream.time_base) + (stream.start_time or 0)
        try:
            container.seek(target, stream=stream, backward=True, any_frame=False)
        except av.error.FFmpegError:
            container.seek(0)
    for frame in container.decode(stream):
        if frame.time is not None and frame.time + 1e-3 < start:
            continue
        yield frame


def _keyframe_poster(path: Path, start: float, threads: int) -> Any | None:
    """The first keyframe at or before ``start`` that is not black (or one of the next few):
    one or two frame decodes instead of every frame up to the offset."""
    container = open_container(path)
    try:
        video, _audio = main_streams(container)
        if video is None:
            return None
        video.codec_context.thread_count = threads
        video.codec_context.skip_frame = "NONKEY"
        if start > 0 and video.time_base:
            target = int(start / video.time_base) + (video.start_time or 0)
            try:
                container.seek(target, stream=video, backward=True, any_frame=False)
            except av.error.FFmpegError:
                return None
        try:
            for seen, frame in enumerate(container.decode(video)):
                if _luma(frame) >= _BLACK_LUMA:
                    return frame
                if seen >= 3:
                    return None
        except (av.error.FFmpegError, ValueError):
            return None
        return None
    finally:
        container.close()


def poster_frame(path: Path, *, offset: float, threads: int, long_side: int) -> Any:
    """The frame at ``offset`` seconds (less for short clips), skipping black frames.

    The keyframe at or before the offset is tried first (cheap); when it and the next few
    keyframes are black (a fade-in, a slate), frames are decoded one by one from the offset for
    up to 3 s, keeping the brightest when everything is dark.
    """
    container = open_container(path)
    try:
        video, _audio = main_streams(container)
        if video is None:
            raise _refused("the file has no video stream")
        duration = _duration(container, video) or 0.0
    finally:
        container.close()
    start = min(offset, duration / 3) if duration else 0.0
    frame = _keyframe_poster(path, start, threads)
    if frame is not None:
        return upright(frame, long_side)
    container = open_container(path)
    try:
        video, _audio = main_streams(container)
        assert video is not None
        video.codec_context.thread_count = threads
        best, best_luma = None, -1.0
        for frame in _frames_from(container, video, start):
            luma = _luma(frame)
            if luma > best_luma:
                best, best_luma = frame, luma
            if luma >= _BLACK_LUMA or (frame.time or 0) > start + _POSTER_SEARCH_SECONDS:
                break
        if best is None:
            container.seek(0)
            best = first_frame(container, video)
        if best is None:
            raise _refused("no video frame could be decoded")
        return upright(best, long_side)
    finally:
        container.close()


def hover_clip(
    path: Path, out: Path, *, long_side: int, seconds: float, fps: int, threads: int
) -> None:
    """A muted H.264 MP4 of the first ``seconds`` seconds, ``long_side`` px, ``fps`` frames per
    second, small enough for a library tile to play on hover (moov first for streaming)."""
    source = open_container(path)
    try:
        video, _audio = main_streams(source)
        if video is None:
            raise _refused("the file has no video stream")
        video.codec_context.thread_count = threads
        # Frames no other frame refers to are dropped by the lower clip frame rate anyway.
        video.codec_context.skip_frame = "NONREF"
        target = None
        with av.open(str(out), mode="w", format="mp4", options={"movflags": "+faststart"}) as sink:
            stream = sink.add_stream("libx264", rate=fps)
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "30", "preset": "veryfast", "tune": "fastdecode"}
            stream.codec_context.thread_count = 1
            next_time, written = 0.0, 0
            for frame in source.decode(video):
                at = frame.time if frame.time is not None else next_time
                if at > seconds:
                    break
                if at + 1e-6 < next_time:
                    continue
                image = upright(frame, long_side)
                if target is None:
                    # H.264 in yuv420p needs even sides.
                    target = (max(2, image.width // 2 * 2), max(2, image.height // 2 * 2))
                    stream.width, stream.height = target
                if image.size != target:
                    image = image.crop((0, 0, *target))
                encoded = av.VideoFrame.from_image(image)
                encoded.pts = written
                sink.mux(stream.encode(encoded))
                written += 1
                next_time = written / fps
            if written == 0:
                raise _refused("no video frame could be decoded")
            sink.mux(stream.encode(None))
    finally:
        source.close()
