"""What bytes leave the building: originals for the people who made them, delivered copies for
everyone else.

Marketers, automation keys and delivery links get a copy of the published version's file that
carries the governed metadata of the published view (title, description, credit, copyright,
usage terms, licence end, the asset id and version, the campaign for a delivery link) in
XMP/IPTC, with location data stripped as the pack's metadata.yaml says (`strips_location`).
The stored original and its SHA-256 never change: the copy is a blob of its own, cached under a
key of (source bytes, governed metadata, privacy setting), so an approved metadata change is
never served with stale rights. Formats that cannot be rewritten are delivered unchanged when
they carry no location, and refused (409 `location_not_removable`) when they do: location never
leaks (dam/media/METADATA.md has the table per format).

Copies are made on first use, and ahead of it by the worker (`assets.jobs.make_delivery_copies`,
after a publication, a published-metadata change or a campaign tag), so a campaign feed can
state the digest of what its links serve (`copy_key`, `copies_by_key`) without making anything.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, col

from dam.assets.metadata import Metadata
from dam.context import Context
from dam.db import among, insert_new
from dam.media.writeback import DeliveryMetadata, delivery_cache_key, write_delivery_copy
from dam.models import Asset, AssetVersion, DeliveryCopy
from dam.principal import Principal
from dam.storage import read_to_file

DELIVERY_PREFIX = "derived/delivery"
# Who gets the original as stored: the roles that upload and review it.
ORIGINAL_AUDIENCES = frozenset({"admin", "brand_manager", "designer"})
# The audience of campaign delivery links (GET /deliveries/{token}).
DELIVERY_LINK_AUDIENCE = "delivery_link"


@dataclass(frozen=True)
class Served:
    """The bytes a download sends, beside the original they were made from."""

    blob_key: str
    sha256: str
    size: int
    mime_type: str
    filename: str
    original_sha256: str
    original_size: int

    def headers(self) -> dict[str, str]:
        return {
            "X-DAM-SHA256": self.sha256,
            "X-DAM-Size": str(self.size),
            "X-DAM-Original-SHA256": self.original_sha256,
            "X-DAM-Original-Size": str(self.original_size),
        }


def audience_of(principal: Principal) -> str:
    return principal.role.value


def governed_metadata(
    asset: Asset, version: AssetVersion, *, campaign_id: str | None = None
) -> DeliveryMetadata:
    """The published view's governed fields, as a delivered copy carries them."""
    return governed_fields(
        asset_id=asset.id, version=version.number, live=Metadata.of(asset), campaign_id=campaign_id
    )


def governed_fields(
    *, asset_id: uuid.UUID, version: int, live: Metadata, campaign_id: str | None = None
) -> DeliveryMetadata:
    """`governed_metadata` from the published view's values, for callers that read columns."""
    extra = live.extra

    def text(name: str) -> str | None:
        value = extra.get(name)
        if isinstance(value, list):
            value = "; ".join(str(v) for v in value)
        return str(value) if value else None

    creator = extra.get("creator") or ()
    return DeliveryMetadata(
        asset_id=str(asset_id),
        version=version,
        title=live.title or None,
        description=live.description or None,
        creator=tuple(creator if isinstance(creator, list) else [str(creator)]),
        credit=text("credit"),
        copyright=text("copyright"),
        usage_terms=text("usage_terms"),
        # The last day the rights hold: expiry is the instant they end (a file's licence end
        # 2027-06-30 is stored as 2027-07-01T00:00Z and must leave as 2027-06-30 again).
        licence_end=(live.rights_expire_at - timedelta(microseconds=1)).date()
        if live.rights_expire_at
        else None,
        campaign_id=campaign_id,
    )


def original(version: AssetVersion) -> Served:
    return Served(
        blob_key=version.blob_key,
        sha256=version.sha256,
        size=version.size,
        mime_type=version.mime_type,
        filename=version.filename,
        original_sha256=version.sha256,
        original_size=version.size,
    )


def _copy_key(
    ctx: Context,
    asset: Asset,
    version: AssetVersion,
    *,
    audience: str,
    campaign_id: str | None,
) -> tuple[str, DeliveryMetadata, frozenset[str]]:
    strip = ctx.governance.pack.metadata.strips_location(audience)
    metadata = governed_metadata(asset, version, campaign_id=campaign_id)
    return delivery_cache_key(version.sha256, metadata, strip=strip), metadata, strip


def copy_key(
    ctx: Context,
    *,
    asset_id: uuid.UUID,
    version: int,
    source_sha256: str,
    live: Metadata,
    audience: str,
    campaign_id: str | None = None,
) -> str:
    """The cache key `served` looks the copy up by, from column values (the feed reads no
    rows whole). Same inputs, same function: a feed never states another copy's digest."""
    strip = ctx.governance.pack.metadata.strips_location(audience)
    metadata = governed_fields(
        asset_id=asset_id, version=version, live=live, campaign_id=campaign_id
    )
    return delivery_cache_key(source_sha256, metadata, strip=strip)


def served(
    session: Session,
    *,
    ctx: Context,
    asset: Asset,
    version: AssetVersion,
    audience: str,
    campaign_id: str | None = None,
) -> Served:
    """The bytes `audience` (a role, or `delivery_link`) gets for `version`: the original for
    uploaders and reviewers, else the delivered copy, made on first use and then cached."""
    if audience in ORIGINAL_AUDIENCES:
        return original(version)
    key, metadata, strip = _copy_key(
        ctx, asset, version, audience=audience, campaign_id=campaign_id
    )
    row = session.get(DeliveryCopy, key)
    if row is None or not ctx.store.exists(row.blob_key):
        row = _make_copy(session, ctx=ctx, version=version, key=key, metadata=metadata, strip=strip)
    return Served(
        blob_key=row.blob_key,
        sha256=row.sha256,
        size=row.size,
        mime_type=row.mime_type,
        filename=version.filename,
        original_sha256=version.sha256,
        original_size=version.size,
    )


def _make_copy(
    session: Session,
    *,
    ctx: Context,
    version: AssetVersion,
    key: str,
    metadata: DeliveryMetadata,
    strip: frozenset[str],
) -> DeliveryCopy:
    """Blob first, then the row (a crash leaves at most an unreferenced blob). Two requests
    making the same copy at once both write the same key; the first row wins."""
    tmp_dir = ctx.settings.data_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_dir, prefix="delivery-") as work:
        source = Path(work) / "source"
        read_to_file(ctx.store, version.blob_key, source)
        copy = write_delivery_copy(
            source, Path(work) / "copy", fmt=version.format, metadata=metadata, strip=strip
        )
        blob_key = f"{DELIVERY_PREFIX}/{key[:2]}/{key}"
        ctx.store.put_file(blob_key, copy.path, content_type=version.mime_type)
    values = {
        "key": key,
        "blob_key": blob_key,
        "source_sha256": version.sha256,
        "sha256": copy.sha256,
        "size": copy.size,
        "mime_type": version.mime_type,
        "method": copy.method,
        "created_at": ctx.now(),
    }
    insert_new(session, DeliveryCopy, values, unique=("key",))
    made = session.get(DeliveryCopy, key)
    assert made is not None
    return made


class CopyDigest(NamedTuple):
    sha256: str
    size: int


def copies_by_key(session: Session, keys: Collection[str]) -> dict[str, CopyDigest]:
    """The digests of the delivered copies already made under these cache keys (see
    `copy_key`), by columns: what a feed states of each."""
    wanted = set(keys)
    if not wanted:
        return {}
    rows = session.execute(
        sa.select(col(DeliveryCopy.key), col(DeliveryCopy.sha256), col(DeliveryCopy.size)).where(
            among(session, col(DeliveryCopy.key), wanted)
        )
    )
    return {key: CopyDigest(sha256, size) for key, sha256, size in rows}
