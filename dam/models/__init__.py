"""Every table, in one module so relationships never need import cycles.

Naming convention on the metadata keeps Alembic constraint names stable across backends.
"""

from __future__ import annotations

import uuid
from datetime import date as Date
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from dam.models.types import dt_column, json_column, new_id, new_ordered_id, utcnow

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Role(StrEnum):
    admin = "admin"
    brand_manager = "brand_manager"
    designer = "designer"
    marketer = "marketer"
    automation = "automation"


class AssetStatus(StrEnum):
    active = "active"
    archived = "archived"
    expired = "expired"


class ReviewState(StrEnum):
    draft = "draft"
    in_review = "in_review"
    approved = "approved"
    rejected = "rejected"


class JobStatus(StrEnum):
    pending = "pending"
    running = "running"
    done = "done"
    failed = "failed"


def _enum(enum: type[StrEnum]) -> sa.Enum:
    # Stored as plain strings (no native PG enum): adding a state is a code change, not a migration.
    return sa.Enum(
        enum, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e]
    )


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=200)
    role: Role = Field(sa_type=_enum(Role))
    prefix: str = Field(max_length=16, index=True)
    key_hash: str = Field(max_length=64, unique=True)
    campaign_scope: list[str] | None = Field(default=None, sa_column=json_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())
    expires_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    last_used_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    created_by: uuid.UUID | None = Field(default=None)
    bootstrap: bool = Field(default=False)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str = Field(default="", max_length=200)
    role: Role = Field(sa_type=_enum(Role))
    password_hash: str = Field(max_length=255)
    disabled: bool = Field(default=False)
    # Part of every session cookie; raising it (sign-out, password change, disable) ends every
    # session the user has, on every device and replica at once.
    session_generation: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())
    last_login_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))


class SignInThrottle(SQLModel, table=True):
    """Failed sign-ins per email (whether or not an account has it, so a lockout reveals
    nothing); shared by every replica because it lives in the database."""

    __tablename__ = "sign_in_throttles"

    key: str = Field(primary_key=True, max_length=64)  # SHA-256 of the normalised email
    failures: int = 0
    locked_until: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class Asset(SQLModel, table=True):
    """The asset row holds the published view: the metadata approved with the published
    version (plus changes that only restrict, which apply at once), or, while nothing is
    published, the newest version's. The working view is the current version's row."""

    __tablename__ = "assets"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    title: str = Field(default="", max_length=500)
    description: str = Field(default="")
    tags: list[str] = Field(default_factory=list, sa_column=json_column(default=list))
    terms: dict[str, list[str]] = Field(default_factory=dict, sa_column=json_column(default=dict))
    status: AssetStatus = Field(default=AssetStatus.active, sa_type=_enum(AssetStatus), index=True)
    current_version: int = Field(default=0)
    published_version: int | None = Field(default=None)
    rights_expire_at: datetime | None = Field(
        default=None, sa_column=dt_column(nullable=True, index=True)
    )
    # The governed fields of the pack's metadata.yaml (creator, credit, copyright …).
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=json_column(default=dict))
    rights_warned_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    # Bumped on every change; the ETag and optimistic concurrency are built on it.
    revision: int = Field(default=1)
    created_by: uuid.UUID | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column(index=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=dt_column(index=True))


class AssetVersion(SQLModel, table=True):
    __tablename__ = "asset_versions"
    __table_args__ = (sa.UniqueConstraint("asset_id", "number"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    asset_id: uuid.UUID = Field(foreign_key="assets.id", index=True)
    number: int
    blob_key: str = Field(max_length=200)
    sha256: str = Field(max_length=64, index=True)
    size: int = Field(sa_type=sa.BigInteger)
    mime_type: str = Field(max_length=100)
    format: str = Field(max_length=16)
    kind: str = Field(max_length=16)
    filename: str = Field(max_length=255)
    width: int | None = None
    height: int | None = None
    color_mode: str | None = Field(default=None, max_length=16)
    icc_profile: str | None = Field(default=None, max_length=255)
    phash: str | None = Field(default=None, max_length=16, index=True)
    media: dict[str, Any] = Field(default_factory=dict, sa_column=json_column(default=dict))
    renditions: dict[str, str] = Field(default_factory=dict, sa_column=json_column(default=dict))
    compliance: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    compliance_status: str | None = Field(default=None, max_length=8, index=True)
    review_state: ReviewState = Field(
        default=ReviewState.draft, sa_type=_enum(ReviewState), index=True
    )
    review_reason: str | None = None
    reviewed_by: uuid.UUID | None = None
    reviewed_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    submitted_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    restored_from: int | None = None
    # Made by a metadata edit: version `edited_from`'s file with the edited metadata.
    edited_from: int | None = None
    # The metadata this version was submitted (and is reviewed) with.
    title: str = Field(default="", max_length=500)
    description: str = Field(default="")
    tags: list[str] = Field(default_factory=list, sa_column=json_column(default=list))
    terms: dict[str, list[str]] = Field(default_factory=dict, sa_column=json_column(default=dict))
    rights_expire_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=json_column(default=dict))
    # EXIF/IPTC/XMP/PDF/container/C2PA read from the file (dam.media.embedded), location
    # included: who may see it is decided when it is shown.
    embedded: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    created_by: uuid.UUID | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class DeliveryCopy(SQLModel, table=True):
    """A delivered copy of an original (governed metadata written, location stripped), stored
    as a blob under `key`: the cache key of its source bytes, metadata and privacy setting."""

    __tablename__ = "delivery_copies"

    key: str = Field(primary_key=True, max_length=64)
    blob_key: str = Field(max_length=200)
    source_sha256: str = Field(max_length=64, index=True)
    sha256: str = Field(max_length=64)
    size: int = Field(sa_type=sa.BigInteger)
    mime_type: str = Field(max_length=100)
    method: str = Field(max_length=16)  # rewritten | remuxed | unchanged
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class FocalPoint(SQLModel, table=True):
    """Where a version's subject is (normalised 0..1 on the upright image), and optional crop
    boxes per derivative preset; derivatives crop around it. Absent: a content-aware default."""

    __tablename__ = "focal_points"

    version_id: uuid.UUID = Field(foreign_key="asset_versions.id", primary_key=True)
    x: float
    y: float
    # preset id -> [x0, y0, x1, y1], normalised
    crops: dict[str, list[float]] = Field(default_factory=dict, sa_column=json_column(default=dict))
    set_by: uuid.UUID | None = None
    set_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class Derivative(SQLModel, table=True):
    """A rendered channel derivative, stored as a blob under `key`: the digest of its source
    bytes, preset definition, output format, focal point and the metadata it carries."""

    __tablename__ = "derivatives"

    key: str = Field(primary_key=True, max_length=64)
    blob_key: str = Field(max_length=200)
    asset_id: uuid.UUID = Field(foreign_key="assets.id", index=True)
    version: int
    preset: str = Field(max_length=64)
    source_sha256: str = Field(max_length=64, index=True)
    sha256: str = Field(max_length=64)
    size: int = Field(sa_type=sa.BigInteger)
    format: str = Field(max_length=8)
    mime_type: str = Field(max_length=100)
    width: int
    height: int
    # The governed-output check of the channel rules: {"status", "violations"} (warnings only:
    # a derivative with a blocking violation is never stored).
    compliance: dict[str, Any] = Field(default_factory=dict, sa_column=json_column(default=dict))
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class BlobOwner(SQLModel, table=True):
    """Which asset a file's bytes belong to: one per SHA-256, taken with an atomic insert, so
    two simultaneous uploads of the same bytes cannot both make an asset (the second gets 409
    `duplicate`). Restores and metadata edits reuse their own asset's bytes and take none."""

    __tablename__ = "blob_owners"

    sha256: str = Field(primary_key=True, max_length=64)
    asset_id: uuid.UUID = Field(foreign_key="assets.id", index=True)
    version: int


class AuditEvent(SQLModel, table=True):
    """Append-only: rows are inserted in the transaction of the change and never updated."""

    __tablename__ = "audit_events"

    # Time-ordered, so events of one transaction (which share `at`) keep their order.
    id: uuid.UUID = Field(default_factory=new_ordered_id, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=dt_column(index=True))
    actor_id: uuid.UUID | None = Field(default=None, index=True)
    actor_name: str = Field(default="", max_length=320)
    actor_role: str = Field(default="", max_length=32)
    action: str = Field(max_length=64, index=True)
    asset_id: uuid.UUID | None = Field(default=None, index=True)
    version: int | None = None
    target: str | None = Field(default=None, max_length=200)
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=json_column(default=dict))
    request_id: str | None = Field(default=None, max_length=64)
    # A change of the published view (what marketers and automation see); the others concern
    # drafts and are shown only to uploaders and reviewers.
    published: bool = Field(default=False)


class OutboxJob(SQLModel, table=True):
    __tablename__ = "outbox_jobs"
    __table_args__ = (sa.Index("ix_outbox_jobs_claim", "status", "run_after"),)

    # Time-ordered: jobs due at the same moment are claimed in the order they were enqueued.
    id: uuid.UUID = Field(default_factory=new_ordered_id, primary_key=True)
    kind: str = Field(max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=json_column(default=dict))
    status: JobStatus = Field(default=JobStatus.pending, sa_type=_enum(JobStatus))
    attempts: int = 0
    max_attempts: int = 8
    run_after: datetime = Field(default_factory=utcnow, sa_column=dt_column())
    locked_until: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())
    finished_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_records"
    __table_args__ = (sa.UniqueConstraint("principal_id", "key"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    principal_id: uuid.UUID
    key: str = Field(max_length=200)
    request_hash: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] = Field(default_factory=dict, sa_column=json_column(default=dict))
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column(index=True))


class Webhook(SQLModel, table=True):
    __tablename__ = "webhooks"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    url: str = Field(max_length=2000)
    events: list[str] = Field(default_factory=list, sa_column=json_column(default=list))
    secret: str = Field(max_length=200)
    active: bool = True
    created_by: uuid.UUID | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    webhook_id: uuid.UUID = Field(foreign_key="webhooks.id", index=True)
    event_id: uuid.UUID = Field(index=True)
    event_type: str = Field(max_length=64)
    attempt: int
    succeeded: bool
    status_code: int | None = None
    error: str | None = None
    duration_ms: int | None = None
    at: datetime = Field(default_factory=utcnow, sa_column=dt_column())
    next_attempt_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))


class Campaign(SQLModel, table=True):
    __tablename__ = "campaigns"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=300)
    channel: str | None = Field(default=None, max_length=64)
    objective: str | None = Field(default=None, max_length=300)
    starts_on: Date | None = None
    ends_on: Date | None = None
    # IANA name: metric rows' reporting dates are days in this zone.
    timezone: str = Field(default="UTC", max_length=64, sa_column_kwargs={"server_default": "UTC"})
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class AssetCampaign(SQLModel, table=True):
    __tablename__ = "asset_campaigns"

    asset_id: uuid.UUID = Field(foreign_key="assets.id", primary_key=True)
    campaign_id: str = Field(foreign_key="campaigns.id", primary_key=True, index=True)
    added_by: uuid.UUID | None = None
    added_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class DeliveryEvent(SQLModel, table=True):
    __tablename__ = "delivery_events"
    __table_args__ = (
        sa.Index("ix_delivery_events_campaign_asset", "campaign_id", "asset_id"),
        sa.Index("ix_delivery_events_client_key_at", "client_key", "at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    asset_id: uuid.UUID = Field(foreign_key="assets.id")
    version: int
    campaign_id: str = Field(foreign_key="campaigns.id")
    consumer_id: uuid.UUID | None = None
    channel: str | None = Field(default=None, max_length=64)
    # The placement the link was fetched for (`?placement=`): evidence of what ran where.
    placement_id: uuid.UUID | None = None
    # The derivative preset fetched (None: the delivered copy of the original).
    preset: str | None = Field(default=None, max_length=64)
    # Digest of the link and the fetching client: one delivery per pair within a window.
    client_key: str | None = Field(default=None, max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class CampaignMetric(SQLModel, table=True):
    """One row per campaign, asset, day, channel and placement; re-sending a day replaces it.
    `placement` is the placement's id (hex) for rows from a platform export, '' for rows
    reported per asset, so two ads running one creative on one day never collide."""

    __tablename__ = "campaign_metrics"

    campaign_id: str = Field(foreign_key="campaigns.id", primary_key=True)
    asset_id: uuid.UUID = Field(foreign_key="assets.id", primary_key=True, index=True)
    date: Date = Field(primary_key=True)
    channel: str = Field(primary_key=True, max_length=64)
    placement: str = Field(default="", primary_key=True, max_length=32)
    version: int | None = None
    impressions: int = Field(default=0, sa_type=sa.BigInteger)
    clicks: int = Field(default=0, sa_type=sa.BigInteger)
    # Platforms attribute fractions of a conversion (data-driven attribution).
    conversions: Decimal = Field(default=Decimal(0), sa_type=sa.Numeric(16, 2))
    spend: Decimal = Field(default=Decimal(0), sa_type=sa.Numeric(14, 2))
    revenue: Decimal = Field(default=Decimal(0), sa_type=sa.Numeric(14, 2))
    # The email family (stored as sent by email platforms).
    sends: int = Field(default=0, sa_type=sa.BigInteger)
    deliveries: int = Field(default=0, sa_type=sa.BigInteger)
    opens: int = Field(default=0, sa_type=sa.BigInteger)
    unique_opens: int = Field(default=0, sa_type=sa.BigInteger)
    unsubscribes: int = Field(default=0, sa_type=sa.BigInteger)
    bounces: int = Field(default=0, sa_type=sa.BigInteger)
    # ISO 4217 code of spend and revenue as the source gave it; '' when it gave none.
    currency: str = Field(default="", max_length=3, sa_column_kwargs={"server_default": ""})
    # The version was worked out here (placement or publication history), not sent: a change
    # of the campaign's timezone re-attributes the row.
    attributed: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    updated_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class Placement(SQLModel, table=True):
    """Where a version runs: one ad, creative or email image on a platform. (platform, account,
    external_id) maps to exactly one asset version at a time; `PlacementPeriod` keeps what it
    pointed to before."""

    __tablename__ = "placements"
    __table_args__ = (sa.UniqueConstraint("platform", "account", "external_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    campaign_id: str = Field(foreign_key="campaigns.id", index=True, max_length=64)
    platform: str = Field(max_length=32)
    # '' when the platform has no accounts or none was given (a NULL would not be unique).
    account: str = Field(default="", max_length=128)
    external_id: str = Field(max_length=256)
    external_name: str | None = Field(default=None, max_length=512)
    asset_id: uuid.UUID = Field(foreign_key="assets.id", index=True)
    version: int
    channel: str | None = Field(default=None, max_length=64)
    first_seen: Date | None = None
    last_seen: Date | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class PlacementPeriod(SQLModel, table=True):
    """What a placement pointed to from `valid_from` until `valid_to` (open: still does)."""

    __tablename__ = "placement_periods"

    placement_id: uuid.UUID = Field(
        foreign_key="placements.id", primary_key=True, ondelete="CASCADE"
    )
    valid_from: datetime = Field(sa_column=dt_column(primary_key=True))
    valid_to: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    asset_id: uuid.UUID = Field(foreign_key="assets.id")
    version: int
    set_by: uuid.UUID | None = None


class AssetTerm(SQLModel, table=True):
    """One row per asset, facet and term id, kept in step with `Asset.terms` by database
    triggers (migration 0004), so every write path, raw SQL and COPY included, maintains it."""

    __tablename__ = "asset_terms"

    # Unbounded: a term id the pack accepts must never make an asset write fail here.
    facet: str = Field(primary_key=True)
    term: str = Field(primary_key=True)
    asset_id: uuid.UUID = Field(
        primary_key=True, index=True, foreign_key="assets.id", ondelete="CASCADE"
    )


class PhashBand(SQLModel, table=True):
    """A version's 64-bit perceptual hash as four indexed 16-bit bands (4 hex digits each),
    kept in step by database triggers (migration 0010). Two hashes within Hamming distance r
    share at least one band within r // 4 (pigeonhole), so a look-up reads the versions that
    match one of a few hundred band values instead of every hash."""

    __tablename__ = "phash_bands"

    band: int = Field(primary_key=True, sa_type=sa.SmallInteger)
    chunk: str = Field(primary_key=True, max_length=4)
    asset_id: uuid.UUID = Field(primary_key=True)
    number: int = Field(primary_key=True)


class CampaignMetricMonth(SQLModel, table=True):
    """`campaign_metrics` summed per month, rebuilt for the touched keys by every upsert.
    Money is held in cents and conversions in hundredths so sums stay exact and cheap on both
    databases."""

    __tablename__ = "campaign_metric_months"

    campaign_id: str = Field(primary_key=True, max_length=64)
    asset_id: uuid.UUID = Field(primary_key=True, index=True)
    month: Date = Field(primary_key=True)
    channel: str = Field(primary_key=True, max_length=64)
    # Money is summed per currency (never converted): '' for rows that gave none.
    currency: str = Field(
        default="", primary_key=True, max_length=3, sa_column_kwargs={"server_default": ""}
    )
    impressions: int = Field(default=0, sa_type=sa.BigInteger)
    clicks: int = Field(default=0, sa_type=sa.BigInteger)
    conversion_hundredths: int = Field(default=0, sa_type=sa.BigInteger)
    spend_cents: int = Field(default=0, sa_type=sa.BigInteger)
    revenue_cents: int = Field(default=0, sa_type=sa.BigInteger)
    sends: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    deliveries: int = Field(
        default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"}
    )
    opens: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    unique_opens: int = Field(
        default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"}
    )
    unsubscribes: int = Field(
        default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"}
    )
    bounces: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})


class CampaignTermMonth(SQLModel, table=True):
    """`campaign_metric_months` summed per term of the assets (via `asset_terms`), campaign,
    month, channel and currency: what creative insights read for whole months. `assets` is
    how many rollup rows (one per asset) are behind the row; a row at 0 is deleted. Kept in
    step by the metrics upsert (a recount of the touched campaign months) and by triggers on
    `asset_terms` (migration 0021), so a term edit is reflected in the same transaction."""

    __tablename__ = "campaign_term_months"
    __table_args__ = (
        sa.Index("ix_campaign_term_months_campaign_id_month", "campaign_id", "month"),
    )

    facet: str = Field(primary_key=True)
    term: str = Field(primary_key=True)
    month: Date = Field(primary_key=True)
    channel: str = Field(primary_key=True, max_length=64)
    campaign_id: str = Field(primary_key=True, max_length=64)
    currency: str = Field(default="", primary_key=True, max_length=3)
    assets: int = Field(default=0, sa_type=sa.BigInteger)
    impressions: int = Field(default=0, sa_type=sa.BigInteger)
    clicks: int = Field(default=0, sa_type=sa.BigInteger)
    conversion_hundredths: int = Field(default=0, sa_type=sa.BigInteger)
    spend_cents: int = Field(default=0, sa_type=sa.BigInteger)
    revenue_cents: int = Field(default=0, sa_type=sa.BigInteger)
    sends: int = Field(default=0, sa_type=sa.BigInteger)
    deliveries: int = Field(default=0, sa_type=sa.BigInteger)
    opens: int = Field(default=0, sa_type=sa.BigInteger)
    unique_opens: int = Field(default=0, sa_type=sa.BigInteger)
    unsubscribes: int = Field(default=0, sa_type=sa.BigInteger)
    bounces: int = Field(default=0, sa_type=sa.BigInteger)


class CampaignAssetCells(SQLModel, table=True):
    """The (month, channel) cells in which an asset has figures in any campaign, as a JSON
    list (`cells`) and its digest: the asset's pattern. Written by the metrics upsert."""

    __tablename__ = "campaign_asset_cells"

    asset_id: uuid.UUID = Field(primary_key=True)
    digest: str = Field(max_length=32)
    cells: str


class CampaignTermCells(SQLModel, table=True):
    """How many assets of a term have each pattern of cells (`CampaignAssetCells`): the
    number of distinct assets with figures under any month and channel filter is the sum over
    the patterns that meet the filter, without reading an asset. Kept by the metrics upsert
    and by the `asset_terms` triggers (migration 0021)."""

    __tablename__ = "campaign_term_cells"

    facet: str = Field(primary_key=True)
    term: str = Field(primary_key=True)
    digest: str = Field(primary_key=True, max_length=32)
    cells: str
    assets: int = Field(default=0, sa_type=sa.BigInteger)


class UploadState(StrEnum):
    receiving = "receiving"
    completed = "completed"  # the asset was created: `asset_id`
    failed = "failed"  # the last chunk arrived and the upload was refused: `error`


class ResumableUpload(SQLModel, table=True):
    """A tus upload (dam.assets.resumable): its bytes so far live in DAM_DATA_DIR/uploads/<id>
    until the last chunk makes the asset; the row outlives them until it expires, so a client
    that lost the last response can still ask for the outcome."""

    __tablename__ = "resumable_uploads"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    created_by: uuid.UUID = Field(index=True)
    state: UploadState = Field(default=UploadState.receiving, sa_type=_enum(UploadState))
    length: int = Field(sa_type=sa.BigInteger)
    offset: int = Field(default=0, sa_type=sa.BigInteger)
    # What tus Upload-Metadata carried, decoded: filename, filetype and the `metadata` JSON.
    upload_metadata: dict[str, str] = Field(
        default_factory=dict, sa_column=json_column(default=dict)
    )
    # A PATCH holds the upload while it writes; another one meanwhile is refused (423).
    locked_until: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    asset_id: uuid.UUID | None = Field(default=None)
    # The refusal as the API's error body, with its HTTP status under "status".
    error: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())
    expires_at: datetime = Field(sa_column=dt_column(index=True))


# --- review stages, comments, notifications, briefs (issue 19) ------------------------------


class RoundState(StrEnum):
    open = "open"
    approved = "approved"
    rejected = "rejected"
    # A newer version was submitted (or the asset archived) before this one was decided.
    superseded = "superseded"


class StageState(StrEnum):
    waiting = "waiting"  # an earlier step is not approved yet
    active = "active"  # waiting for its approvers; its SLA clock runs
    approved = "approved"
    rejected = "rejected"
    cancelled = "cancelled"  # its round ended (rejected or superseded) before it was decided


class ReviewRound(SQLModel, table=True):
    """One submission of one version: the stages it passes through are fixed when it is
    submitted, from the pack in force then, so a pack change never re-routes work in flight."""

    __tablename__ = "review_rounds"
    __table_args__ = (sa.UniqueConstraint("asset_id", "number"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    asset_id: uuid.UUID = Field(foreign_key="assets.id", index=True)
    version: int
    number: int  # 1, 2, … per asset
    state: RoundState = Field(default=RoundState.open, sa_type=_enum(RoundState), index=True)
    pack_revision: str = Field(default="", max_length=64)
    submitted_by: uuid.UUID | None = None
    submitted_at: datetime = Field(default_factory=utcnow, sa_column=dt_column(index=True))
    closed_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    closed_by: uuid.UUID | None = None
    reason: str | None = None


class ReviewStageRun(SQLModel, table=True):
    """One pack stage within one round, with the pack's settings copied in."""

    __tablename__ = "review_stage_runs"
    __table_args__ = (sa.Index("ix_review_stage_runs_state_due", "state", "due_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    round_id: uuid.UUID = Field(foreign_key="review_rounds.id", index=True)
    asset_id: uuid.UUID = Field(foreign_key="assets.id", index=True)
    stage: str = Field(max_length=64)
    label: str = Field(default="", max_length=200)
    step: int = 0
    roles: list[str] = Field(default_factory=list, sa_column=json_column(default=list))
    users: list[str] = Field(default_factory=list, sa_column=json_column(default=list))
    require: str = Field(default="any", max_length=8)
    sla_hours: float | None = None
    keep_on_resubmit: bool = False
    state: StageState = Field(default=StageState.waiting, sa_type=_enum(StageState))
    # Approved in an earlier round and kept (`keep_on_resubmit`): no approver acted this round.
    carried: bool = False
    started_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    due_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    # When approvers are warned that the due time nears (DAM_SLA_WARNING_HOURS before it, in
    # working hours), and when they were.
    warn_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    warned_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    completed_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    breached_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))


class ReviewDecision(SQLModel, table=True):
    __tablename__ = "review_decisions"

    id: uuid.UUID = Field(default_factory=new_ordered_id, primary_key=True)
    stage_run_id: uuid.UUID = Field(foreign_key="review_stage_runs.id", index=True)
    round_id: uuid.UUID = Field(foreign_key="review_rounds.id", index=True)
    actor_id: uuid.UUID | None = None
    actor_name: str = Field(default="", max_length=320)
    actor_role: str = Field(default="", max_length=32)
    # What the approval counted for: "role:<role>" or "user:<email>" (for `require: all`).
    counts_for: str = Field(default="", max_length=360)
    verdict: str = Field(max_length=16)  # approved | rejected
    reason: str | None = None
    at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class Comment(SQLModel, table=True):
    """A comment on one version, optionally pinned to a point or box of its preview
    (coordinates as fractions of the width and height), a PDF page or a video time."""

    __tablename__ = "comments"

    id: uuid.UUID = Field(default_factory=new_ordered_id, primary_key=True)
    asset_id: uuid.UUID = Field(foreign_key="assets.id", index=True)
    version: int
    author_id: uuid.UUID | None = None
    author_name: str = Field(default="", max_length=320)
    body: str
    pin: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    mentions: list[str] = Field(default_factory=list, sa_column=json_column(default=list))
    resolved: bool = False
    resolved_by: uuid.UUID | None = None
    resolved_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class Notification(SQLModel, table=True):
    """One line of someone's inbox. `recipient_id` is a principal id (a user or an API key)."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_recipient_created", "recipient_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=new_ordered_id, primary_key=True)
    recipient_id: uuid.UUID
    kind: str = Field(max_length=32)
    title: str = Field(max_length=500)
    body: str = Field(default="")
    asset_id: uuid.UUID | None = Field(default=None, index=True)
    version: int | None = None
    brief_id: uuid.UUID | None = None
    # The domain event that caused it: one notification per event and recipient.
    event_id: uuid.UUID | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=json_column(default=dict))
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())
    read_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True))
    email_status: str | None = Field(default=None, max_length=16)  # queued | sent | failed


class BriefStatus(StrEnum):
    open = "open"
    cancelled = "cancelled"


class Brief(SQLModel, table=True):
    """A creative request: what is wanted, for which campaign and terms, by when."""

    __tablename__ = "briefs"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    title: str = Field(max_length=300)
    objective: str = Field(default="")
    campaign_id: str | None = Field(default=None, foreign_key="campaigns.id", max_length=64)
    terms: dict[str, list[str]] = Field(default_factory=dict, sa_column=json_column(default=dict))
    # [{"id": "ig-45", "label": "Instagram 4:5", "quantity": 3}, …]
    deliverables: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=json_column(default=list)
    )
    due_at: datetime | None = Field(default=None, sa_column=dt_column(nullable=True, index=True))
    notes: str = Field(default="")
    # What "worked before" is ranked by on the brief's page: roas | ctr | conversion_rate …
    kpi: str = Field(default="roas", max_length=32)
    status: BriefStatus = Field(default=BriefStatus.open, sa_type=_enum(BriefStatus))
    created_by: uuid.UUID | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=dt_column(index=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


class BriefAsset(SQLModel, table=True):
    __tablename__ = "brief_assets"

    brief_id: uuid.UUID = Field(foreign_key="briefs.id", primary_key=True)
    asset_id: uuid.UUID = Field(foreign_key="assets.id", primary_key=True, index=True)
    deliverable: str = Field(max_length=64)
    linked_by: uuid.UUID | None = None
    linked_at: datetime = Field(default_factory=utcnow, sa_column=dt_column())


# The collections domain's tables (its own module; after the naming convention is set).
from dam.models.collections import (  # noqa: E402
    Collection,
    CollectionGrant,
    CollectionItem,
    SavedSearch,
    SavedSearchMatch,
    ShareLink,
    ShareLinkEvent,
)

__all__ = [
    "ApiKey",
    "Asset",
    "AssetCampaign",
    "AssetStatus",
    "AssetTerm",
    "AssetVersion",
    "AuditEvent",
    "BlobOwner",
    "Brief",
    "BriefAsset",
    "BriefStatus",
    "Campaign",
    "CampaignAssetCells",
    "CampaignMetric",
    "CampaignMetricMonth",
    "CampaignTermCells",
    "CampaignTermMonth",
    "Collection",
    "CollectionGrant",
    "CollectionItem",
    "Comment",
    "DeliveryCopy",
    "DeliveryEvent",
    "Derivative",
    "FocalPoint",
    "IdempotencyRecord",
    "JobStatus",
    "Notification",
    "OutboxJob",
    "PhashBand",
    "Placement",
    "PlacementPeriod",
    "ResumableUpload",
    "ReviewDecision",
    "ReviewRound",
    "ReviewStageRun",
    "ReviewState",
    "Role",
    "RoundState",
    "SavedSearch",
    "SavedSearchMatch",
    "ShareLink",
    "ShareLinkEvent",
    "StageState",
    "UploadState",
    "User",
    "Webhook",
    "WebhookDelivery",
]
