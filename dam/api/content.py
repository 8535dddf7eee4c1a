"""Streaming downloads with Range support and safe headers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

from fastapi.responses import RedirectResponse, Response, StreamingResponse

from dam.context import Context
from dam.errors import RangeNotSatisfiable
from dam.media import content_disposition

INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "image/avif"})
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One byte range (the only kind browsers and download managers send); None = whole file.
    Malformed headers are ignored as RFC 9110 allows; unsatisfiable ones get 416."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.groups()
    if not first:
        length = int(last)
        if length == 0:
            raise RangeNotSatisfiable(f"empty suffix range for a {size}-byte file", size=size)
        return max(size - length, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(f"range {header!r} is outside the {size}-byte file", size=size)
    return start, min(end, size - 1)


def security_headers(mime_type: str) -> dict[str, str]:
    headers = {"X-Content-Type-Options": "nosniff"}
    if mime_type not in INLINE_TYPES:
        # SVG, PDF, video: never rendered as a document of this origin.
        headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return headers


class ServedBlob(Protocol):
    """What a download sends: a version's original, or a delivered copy of it."""

    @property
    def blob_key(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def mime_type(self) -> str: ...
    @property
    def filename(self) -> str: ...


def blob_response(
    ctx: Context,
    version: ServedBlob,
    *,
    range_header: str | None,
    allow_redirect: bool = True,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    inline = version.mime_type in INLINE_TYPES
    if allow_redirect and ctx.settings.s3_presign_downloads:
        url = ctx.store.presigned_url(
            version.blob_key,
            expires_seconds=300,
            filename=version.filename,
            content_type=version.mime_type,
            inline=inline,
        )
        if url:
            return RedirectResponse(
                url, status_code=307, headers={"Cache-Control": "no-store", **(extra_headers or {})}
            )
    size = version.size
    byte_range = parse_range(range_header, size)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(version.filename, inline=inline),
        "ETag": f'"{version.sha256}"',
        "Cache-Control": "private, max-age=0, must-revalidate",
        **security_headers(version.mime_type),
        **(extra_headers or {}),
    }
    if byte_range is None:
        headers["Content-Length"] = str(size)
        body: Iterator[bytes] = ctx.store.open(version.blob_key)
        return StreamingResponse(body, media_type=version.mime_type, headers=headers)
    start, end = byte_range
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    return StreamingResponse(
        ctx.store.open(version.blob_key, start=start, end=end),
        status_code=206,
        media_type=version.mime_type,
        headers=headers,
    )


class ServedDerivative(ServedBlob, Protocol):
    def headers(self) -> dict[str, str]: ...


def derivative_response(
    made: ServedDerivative,
    ctx: Context,
    *,
    if_none_match: str | None,
    cache_control: str,
    vary_accept: bool,
    attachment: bool = False,
) -> Response:
    """A derivative's bytes (never redirected: the URL may be the cacheable one) or 304 when
    `If-None-Match` names its ETag; `attachment` makes browsers save it under its name."""
    headers = {**made.headers(), "Cache-Control": cache_control}
    if attachment:
        headers["Content-Disposition"] = content_disposition(made.filename, inline=False)
    if vary_accept:
        headers["Vary"] = "Accept"
    etag = f'"{made.sha256}"'
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers={"ETag": etag, **headers})
    return blob_response(ctx, made, range_header=None, allow_redirect=False, extra_headers=headers)
