from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dam.bounds import SafeDate, VersionNumber


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=2, max_length=64, examples=["SPRING26-EMAIL"])
    name: str = Field(min_length=1, max_length=300)
    channel: str | None = Field(default=None, max_length=64)
    objective: str | None = Field(default=None, max_length=300)
    starts_on: SafeDate | None = None
    ends_on: SafeDate | None = None
    timezone: str = Field(
        default="UTC",
        max_length=64,
        description="IANA name; metric rows' reporting dates are days in this zone.",
        examples=["Europe/Berlin"],
    )

    @model_validator(mode="after")
    def _dates(self) -> CampaignIn:
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        return self


class CampaignPatch(BaseModel):
    """Only the fields present change; `null` clears channel, objective and dates."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=300)
    channel: str | None = Field(default=None, max_length=64)
    objective: str | None = Field(default=None, max_length=300)
    starts_on: SafeDate | None = None
    ends_on: SafeDate | None = None
    timezone: str | None = Field(default=None, max_length=64)


class CampaignOut(BaseModel):
    id: str
    name: str
    channel: str | None
    objective: str | None
    starts_on: date | None
    ends_on: date | None
    timezone: str
    created_at: datetime
    updated_at: datetime


class CampaignPage(BaseModel):
    total: int
    page: int
    page_size: int
    items: list[CampaignOut]


class AssetCampaignsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaign_ids: list[str] = Field(min_length=1, max_length=200)


class FeedDerivative(BaseModel):
    """A preset that serves the item (by its channel terms and the campaign's channel)."""

    preset: str
    label: str
    format: str = Field(description="The format a fetcher without `Accept` gets.")
    width: int | None
    height: int | None
    url: str = Field(description="Signed delivery link of this preset's derivative.")
    sha256: str | None = Field(description="Digest of the rendered bytes; null until rendered.")
    size: int | None = Field(description="Size of the rendered bytes; null until rendered.")


class FeedItem(BaseModel):
    id: uuid.UUID
    title: str
    version: int
    sha256: str = Field(description="SHA-256 of the stored original (never changes).")
    size: int = Field(description="Size of the stored original in bytes.")
    mime_type: str
    kind: str
    width: int | None
    height: int | None
    terms: dict[str, list[str]]
    renditions: dict[str, str]
    download_url: str
    download_sha256: str | None = Field(
        description="SHA-256 of the bytes `download_url` serves: the delivered copy for this "
        "campaign, with the governed metadata (and the campaign id) written in and location "
        "stripped, so it differs from `sha256`. Null while the copy is not made yet (the "
        "worker makes it when the version is published or tagged with the campaign) or when "
        "the file cannot be delivered (the link answers 409); never the digest of other bytes."
    )
    download_size: int | None = Field(
        description="Size in bytes of what `download_url` serves; null exactly when "
        "`download_sha256` is."
    )
    download_expires_at: datetime
    updated_at: datetime
    derivatives: list[FeedDerivative] = Field(default_factory=list)


class FeedPage(BaseModel):
    campaign_id: str
    items: list[FeedItem]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class RemovedItem(BaseModel):
    id: uuid.UUID
    reason: Literal["untagged", "archived", "expired", "unpublished"]
    at: datetime = Field(description="When the asset left the campaign's feed.")


class RemovedPage(BaseModel):
    campaign_id: str
    since: datetime
    items: list[RemovedItem]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class EmailTotals(BaseModel):
    """The email family's figures (rows on an email channel) and the rates derived from them;
    a rate is null when its denominator is zero."""

    sends: int = 0
    deliveries: int = 0
    opens: int = 0
    unique_opens: int = 0
    clicks: int = 0
    unsubscribes: int = 0
    bounces: int = 0
    conversions: float = 0
    revenue: Decimal = Decimal("0.00")
    delivery_rate: float | None = Field(default=None, description="deliveries / sends")
    open_rate: float | None = Field(
        default=None,
        description="unique opens / deliveries (total opens when no unique opens are reported)",
    )
    click_rate: float | None = Field(default=None, description="clicks / deliveries")
    click_to_open_rate: float | None = Field(default=None, description="clicks / unique opens")
    unsubscribe_rate: float | None = Field(default=None, description="unsubscribes / deliveries")
    bounce_rate: float | None = Field(default=None, description="bounces / sends")


class Totals(BaseModel):
    """Sums of every row, and the paid family's ratios (rows on channels other than email):
    CTR, conversion rate, cost per conversion, ROAS; a ratio is null when its denominator is
    zero. `email` holds the email family's figures and rates."""

    impressions: int = 0
    clicks: int = 0
    conversions: float = 0
    spend: Decimal = Decimal("0.00")
    revenue: Decimal = Decimal("0.00")
    ctr: float | None = None
    conversion_rate: float | None = None
    cost_per_conversion: Decimal | None = None
    roas: float | None = None
    families: list[Literal["paid", "email"]] = Field(
        default_factory=list, description="The metric families the rows belong to."
    )
    email: EmailTotals | None = Field(
        default=None,
        description="Open, click, unsubscribe and bounce rates; null without email rows.",
    )


class CurrencyTotals(BaseModel):
    """Money of the rows reported in one currency (null: rows that gave none); never converted."""

    currency: str | None
    conversions: float = 0
    spend: Decimal = Decimal("0.00")
    revenue: Decimal = Decimal("0.00")
    cost_per_conversion: Decimal | None = None
    roas: float | None = None


class AssetPerformance(Totals):
    """Lifetime figures of one asset across every campaign; part of the asset JSON. Money
    by currency in `by_currency`: `spend`/`revenue` add currencies up as stored."""

    campaigns: int = 0
    deliveries: int = 0
    currencies: list[str | None] = Field(default_factory=list)
    by_currency: list[CurrencyTotals] = Field(default_factory=list)


class PerformanceRow(Totals):
    asset_id: uuid.UUID
    title: str
    version: int | None
    deliveries: int = 0
    by_currency: list[CurrencyTotals] = Field(
        default_factory=list,
        description="Spend and revenue per currency; `spend`/`revenue` above add every currency"
        " up as stored and are meaningful only when there is one.",
    )


class PerformanceReport(BaseModel):
    campaign_id: str
    date_from: date | None
    date_to: date | None
    channel: str | None
    totals: Totals
    currencies: list[str | None] = Field(
        default_factory=list, description="Currencies the rows were reported in (null: none)."
    )
    by_currency: list[CurrencyTotals] = Field(default_factory=list)
    deliveries: int
    items: list[PerformanceRow]


class InsightRow(Totals):
    term: str
    label: str
    assets: int
    campaigns: int
    currencies: list[str | None] = Field(default_factory=list)
    by_currency: list[CurrencyTotals] = Field(
        default_factory=list,
        description="Spend and revenue per currency (never converted); `spend`/`revenue` above"
        " add currencies up as stored.",
    )


class InsightsReport(BaseModel):
    facet: str
    date_from: date | None
    date_to: date | None
    channel: str | None
    items: list[InsightRow]


class RejectedIndex(BaseModel):
    index: int = Field(description="0-based position of the row in the batch.")
    problems: list[dict[str, str]]


class MetricsResult(BaseModel):
    campaign_id: str
    rows: int = Field(description="Rows inserted or replaced.")
    rejected: list[RejectedIndex] = Field(
        default_factory=list, description="With `on_error=skip`: the rows not stored."
    )
    rejects_csv: str | None = Field(
        default=None,
        description="With `on_error=skip`: the rejected rows as CSV (`index,column,reason`);"
        " null when every row was good.",
    )


# Platform ids and names are printable text (PostgreSQL cannot even store a NUL).
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


class PlacementIn(BaseModel):
    """Register where a version runs. `version` defaults to the version published now, pinned."""

    model_config = ConfigDict(extra="forbid")

    platform: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$", examples=["google_ads", "meta"])
    account: str | None = Field(default=None, max_length=128, pattern=NO_CONTROL)
    external_id: str = Field(
        min_length=1, max_length=256, pattern=NO_CONTROL, examples=["612345678901"]
    )
    external_name: str | None = Field(default=None, max_length=512, pattern=NO_CONTROL)
    asset_id: uuid.UUID
    version: VersionNumber | None = None
    channel: str | None = Field(default=None, max_length=64)


class PlacementPeriodOut(BaseModel):
    asset_id: uuid.UUID
    version: int
    valid_from: datetime
    valid_to: datetime | None


class PlacementOut(BaseModel):
    id: uuid.UUID
    campaign_id: str
    platform: str
    account: str | None
    external_id: str
    external_name: str | None
    asset_id: uuid.UUID
    version: int
    channel: str | None
    first_seen: date | None
    last_seen: date | None
    created_at: datetime
    updated_at: datetime
    history: list[PlacementPeriodOut]


class PlacementPage(BaseModel):
    items: list[PlacementOut]


class UnmatchedRow(BaseModel):
    line: int
    external_id: str | None
    external_name: str | None
    reason: str


class RejectedRow(BaseModel):
    line: int
    problems: list[dict[str, str]]


class AttributedVersion(BaseModel):
    asset_id: uuid.UUID
    version: int
    rows: int


class ExportResult(BaseModel):
    """A platform export read through a source mapping: what was (or, with `dry_run`, would
    be) stored, attributed to which versions, and what could not be."""

    campaign_id: str
    source: str
    dry_run: bool
    rows: int
    skipped_lines: list[int]
    unmatched: list[UnmatchedRow]
    rejected: list[RejectedRow]
    rejects_csv: str | None = Field(
        default=None,
        description="The unmatched and rejected rows as CSV (`line,external_id,column,reason`),"
        " to save as a report; null when every row was good.",
    )
    totals: dict[str, float]
    currencies: list[str]
    attributed: list[AttributedVersion]


class MetricSourcePage(BaseModel):
    items: list[dict[str, Any]] = Field(
        description="One source mapping each, as `dam.governance.metric_sources` reads it."
    )
