"""Performance metrics ingestion: a batch of daily rows per campaign, asset and channel.

All rows are validated before anything is written, so a batch is applied whole or not at all
(or, with `on_error=skip`, its good rows are, and the others are answered).
Writing is an `INSERT … ON CONFLICT DO UPDATE` on the natural key, which makes re-sending a
day replace it (platforms restate yesterday's figures) and a retried request harmless.

The monthly rollup (`campaign_metric_months`, read by the creative-insights report) is rebuilt
in the same transaction for every (campaign, asset, month) the batch touched, from the rows
now stored: a recount rather than delta arithmetic, so it is exact and idempotent by
construction, whatever was there before.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator, Sequence
from datetime import date as Date
from datetime import datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from operator import attrgetter
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from dam.audit.service import record
from dam.bounds import MetricAmount, MetricCount, MetricMoney, SafeDate, VersionNumber
from dam.campaigns import rollup
from dam.campaigns.attribution import Period, live_on, publication_periods, zone
from dam.campaigns.service import resolve_channel
from dam.campaigns.sums import cents
from dam.context import Context
from dam.errors import Invalid
from dam.models import Asset, AssetCampaign, Campaign, CampaignMetric, CampaignMetricMonth
from dam.principal import Principal

MAX_ROWS = 100_000
# Rows per statement: 11 parameters each stays far below SQLite's and PostgreSQL's limits.
CHUNK = 2_000
# Bad rows listed in a 422; the count says how many there were in all.
MAX_REPORTED = 1_000
CENT = Decimal("0.01")
KEY = ("campaign_id", "asset_id", "date", "channel", "placement")
EMAIL = ("sends", "deliveries", "opens", "unique_opens", "unsubscribes", "bounces")
FIGURES = ("impressions", "clicks", "conversions", "spend", "revenue", *EMAIL)
VALUES = ("version", *FIGURES, "currency", "attributed", "updated_at")
CURRENCY = re.compile(r"[A-Z]{3}")
CSV_COLUMNS = frozenset(
    {
        "asset_id",
        "date",
        "channel",
        "version",
        "impressions",
        "clicks",
        "conversions",
        "spend",
        "revenue",
        "currency",
        *EMAIL,
    }
)


class MetricRowIn(BaseModel):
    """One daily row; every figure is held to the bounds of `dam.bounds` (one day of one
    asset on one channel), so no batch can store a value that a sum could overflow on."""

    model_config = ConfigDict(extra="forbid")

    asset_id: uuid.UUID
    date: SafeDate
    channel: str | None = Field(default=None, max_length=64)
    version: VersionNumber | None = None
    impressions: MetricCount = 0
    clicks: MetricCount = 0
    conversions: MetricAmount = Decimal(0)
    spend: MetricMoney = Decimal(0)
    revenue: MetricMoney = Decimal(0)
    sends: MetricCount = 0
    deliveries: MetricCount = 0
    opens: MetricCount = 0
    unique_opens: MetricCount = 0
    unsubscribes: MetricCount = 0
    bounces: MetricCount = 0
    # ISO 4217 code of spend and revenue; stored as given, never converted.
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")

    @field_validator("conversions", "spend", "revenue")
    @classmethod
    def _cents(cls, value: Decimal) -> Decimal:
        # Platforms report fractions of a cent or of a conversion; the columns hold hundredths.
        return value.quantize(CENT, rounding=ROUND_HALF_UP)


_ROWS = TypeAdapter(list[MetricRowIn])


def rows_from_csv(text: str) -> list[dict[str, Any]]:
    """CSV with a header line; blank cells take the default (0 or none)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if reader.fieldnames is None:
        raise Invalid("the CSV is empty; it needs a header line", code="invalid_csv")
    header = [(name or "").strip().lower() for name in reader.fieldnames]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    missing = sorted({"asset_id", "date"} - set(header))
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"unknown columns: {', '.join(unknown)}")
        if missing:
            parts.append(f"missing columns: {', '.join(missing)}")
        raise Invalid(
            f"{'; '.join(parts)} (allowed: {', '.join(sorted(CSV_COLUMNS))})", code="invalid_csv"
        )
    reader.fieldnames = header
    rows: list[dict[str, Any]] = []
    try:
        for raw in reader:
            if None in raw:
                rows.append({"__extra_cells__": raw[None]})
                continue
            rows.append({k: v.strip() for k, v in raw.items() if v is not None and v.strip()})
    except csv.Error as exc:
        raise Invalid(f"the CSV is malformed: {exc}", code="invalid_csv") from exc
    return rows


def _problems(bad: dict[int, list[dict[str, str]]], index: int, field: str, message: str) -> None:
    bad.setdefault(index, []).append({"field": field, "message": message})


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _campaign_assets(
    session: Session, campaign_id: str, asset_ids: set[uuid.UUID]
) -> dict[uuid.UUID, tuple[int | None, int]]:
    """(published_version, current_version) of each given asset that is in the campaign."""
    found: dict[uuid.UUID, tuple[int | None, int]] = {}
    ordered = sorted(asset_ids)
    for chunk in _chunks(ordered, 500):
        rows = session.exec(
            select(col(Asset.id), col(Asset.published_version), col(Asset.current_version))
            .join(AssetCampaign, col(AssetCampaign.asset_id) == col(Asset.id))
            .where(
                col(AssetCampaign.campaign_id) == campaign_id,
                col(AssetCampaign.asset_id).in_(chunk),
            )
        )
        for asset_id, published, current in rows:
            found[asset_id] = (published, current)
    return found


def validate_rows(
    session: Session, *, ctx: Context, campaign: Campaign, raw_rows: Sequence[Any]
) -> list[dict[str, Any]]:
    """Every row checked; returns the rows ready to write or raises one 422 naming each bad
    row by its 0-based index."""
    ready, bad = check_rows(session, ctx=ctx, campaign=campaign, raw_rows=raw_rows)
    if bad:
        listed = [{"index": i, "problems": bad[i]} for i in sorted(bad)[:MAX_REPORTED]]
        raise Invalid(
            f"{len(bad)} of {len(raw_rows)} rows are not valid; nothing was stored",
            code="invalid_metric_rows",
            bad_row_count=len(bad),
            rows=listed,
        )
    return ready


def _published_on(
    history: dict[uuid.UUID, list[Period]], asset_id: uuid.UUID, day: Date, tz: tzinfo
) -> int | None:
    """The version published for the larger part of the day (see `dam.campaigns.attribution`);
    None for an asset never approved."""
    periods = history.get(asset_id)
    return live_on(periods, day, tz).version if periods else None


def check_rows(
    session: Session, *, ctx: Context, campaign: Campaign, raw_rows: Sequence[Any]
) -> tuple[list[dict[str, Any]], dict[int, list[dict[str, str]]]]:
    """The rows ready to write, and the problems of the others by 0-based index. A batch that
    is not a list, is empty or is too long is refused whole."""
    if not isinstance(raw_rows, list):
        raise Invalid('send a JSON list of rows or {"rows": [...]}', code="invalid_metric_rows")
    if not raw_rows:
        raise Invalid("the batch has no rows", code="invalid_metric_rows")
    if len(raw_rows) > MAX_ROWS:
        raise Invalid(
            f"a batch holds at most {MAX_ROWS} rows; this one has {len(raw_rows)}",
            code="too_many_rows",
        )
    bad: dict[int, list[dict[str, str]]] = {}
    for index, raw in enumerate(raw_rows):
        if isinstance(raw, dict) and "__extra_cells__" in raw:
            _problems(bad, index, "", "the line has more cells than the header")
    try:
        parsed: list[MetricRowIn | None] = list(_ROWS.validate_python(raw_rows))
    except ValidationError as exc:
        for err in exc.errors():
            loc = err["loc"]
            index = int(loc[0])
            if index in bad and not loc[1:]:
                continue
            _problems(bad, index, ".".join(str(p) for p in loc[1:]), str(err["msg"]))
        # Rows that passed are still checked below, so one 422 lists every problem.
        parsed = []
        for index, raw in enumerate(raw_rows):
            try:
                parsed.append(MetricRowIn.model_validate(raw) if index not in bad else None)
            except ValidationError:
                parsed.append(None)

    pack = ctx.governance.pack
    members = _campaign_assets(
        session, campaign.id, {row.asset_id for row in parsed if row is not None}
    )
    history = publication_periods(
        session, {row.asset_id for row in parsed if row is not None and row.version is None}
    )
    tz = zone(campaign.timezone)
    channels: dict[str, str] = {}
    seen: dict[tuple[uuid.UUID, Date, str], int] = {}
    now = ctx.now()
    ready: list[dict[str, Any]] = []
    campaign_id = campaign.id
    figures_of = attrgetter(*FIGURES)
    for index, row in enumerate(parsed):
        if row is None:
            continue
        channel_text = row.channel or campaign.channel
        channel: str | None = None
        if not channel_text:
            _problems(bad, index, "channel", "no channel given and the campaign has none")
        elif channel_text in channels:
            channel = channels[channel_text]
        else:
            try:
                channel = channels[channel_text] = resolve_channel(pack, channel_text)
            except Invalid as exc:
                _problems(bad, index, "channel", str(exc.detail))
        versions = members.get(row.asset_id)
        if versions is None:
            _problems(
                bad, index, "asset_id", f"asset {row.asset_id} is not in campaign {campaign.id}"
            )
        elif row.version is not None and row.version > versions[1]:
            _problems(bad, index, "version", f"asset {row.asset_id} has no version {row.version}")
        if channel is None or versions is None:
            continue
        key = (row.asset_id, row.date, channel)
        if key in seen:
            _problems(bad, index, "", f"same asset, date and channel as row {seen[key]}")
            continue
        seen[key] = index
        ready.append(
            {
                "_index": index,
                "campaign_id": campaign_id,
                "asset_id": row.asset_id,
                "date": row.date,
                "channel": channel,
                "placement": "",
                "version": row.version
                if row.version is not None
                else _published_on(history, row.asset_id, row.date, tz),
                **dict(zip(FIGURES, figures_of(row), strict=True)),
                "currency": (row.currency or "").upper(),
                "attributed": row.version is None,
                "updated_at": now,
            }
        )
    # A row is good only if every check passed (a duplicate key is a problem of the later row).
    return [r for r in ready if r["_index"] not in bad], bad


def rejects_csv(bad: dict[int, list[dict[str, str]]]) -> str:
    """`index,column,reason`, one line per problem, in batch order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["index", "column", "reason"])
    for index in sorted(bad):
        for problem in bad[index]:
            writer.writerow([index, problem["field"], problem["message"]])
    return out.getvalue()


def _copy_upsert(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """PostgreSQL: the rows COPYed into a temporary table, then one INSERT … SELECT … ON
    CONFLICT: several times faster than executemany for a 100k-row export."""
    columns = [*KEY, *VALUES]
    names = ", ".join(columns)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in VALUES)
    # A re-sent row that changes nothing is not rewritten (its `updated_at` stays when its
    # figures last changed): most of a re-sent export is yesterday's rows as they were.
    changed = " OR ".join(
        f"campaign_metrics.{name} IS DISTINCT FROM EXCLUDED.{name}"
        for name in VALUES
        if name != "updated_at"
    )
    session.execute(
        sa.text(
            "CREATE TEMPORARY TABLE IF NOT EXISTS metrics_in"
            " (LIKE campaign_metrics INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
    )
    session.execute(sa.text("TRUNCATE metrics_in"))
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(f"COPY metrics_in ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[name] for name in columns])
    # Constant column names only.
    session.execute(
        sa.text(
            f"INSERT INTO campaign_metrics ({names}) SELECT {names} FROM metrics_in"  # noqa: S608
            f" ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {updates} WHERE {changed}"
        )
    )
    session.execute(sa.text("TRUNCATE metrics_in"))


def upsert_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or replace on (campaign, asset, date, channel, placement): on PostgreSQL through
    COPY, on SQLite in chunks sent as executemany."""
    table = CampaignMetric.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        _copy_upsert(session, rows)
        refresh_rollup(session, rows)
        return
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[name] for name in KEY],
        set_={name: stmt.excluded[name] for name in VALUES},
        where=sa.or_(
            *(
                table.c[name].is_distinct_from(stmt.excluded[name])
                for name in VALUES
                if name != "updated_at"
            )
        ),
    )
    for chunk in _chunks(rows, CHUNK):
        session.execute(stmt, list(chunk))
    refresh_rollup(session, rows)


def month_of(dialect: str, column: Any) -> Any:
    """The first day of the column's month, as the rollup's `month` key."""
    if dialect == "postgresql":
        return sa.cast(sa.func.date_trunc("month", column), sa.Date)
    return sa.func.date(column, "start of month")


def next_month(day: Date) -> Date:
    return Date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _rebuild(session: Session, where: list[Any], rollup_where: list[Any]) -> None:
    # Plain sums are safe here: a rollup row sums one row per day and placement of one asset,
    # and rows and placements per asset are bounded (`dam.bounds`), so no sum can leave a
    # 64-bit integer.
    raw = CampaignMetric.__table__  # type: ignore[attr-defined]
    table = CampaignMetricMonth.__table__  # type: ignore[attr-defined]
    month = month_of(session.get_bind().dialect.name, raw.c.date)
    session.execute(sa.delete(table).where(*rollup_where))
    summed = (
        sa.select(
            raw.c.campaign_id,
            raw.c.asset_id,
            month,
            raw.c.channel,
            raw.c.currency,
            sa.func.sum(raw.c.impressions),
            sa.func.sum(raw.c.clicks),
            sa.func.sum(cents(raw.c.conversions)),
            sa.func.sum(cents(raw.c.spend)),
            sa.func.sum(cents(raw.c.revenue)),
            *(sa.func.sum(raw.c[name]) for name in EMAIL),
        )
        .where(*where)
        .group_by(raw.c.campaign_id, raw.c.asset_id, month, raw.c.channel, raw.c.currency)
    )
    names = [
        "campaign_id",
        "asset_id",
        "month",
        "channel",
        "currency",
        "impressions",
        "clicks",
        "conversion_hundredths",
        "spend_cents",
        "revenue_cents",
        *EMAIL,
    ]
    session.execute(sa.insert(table).from_select(names, summed))


def refresh_rollup(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Recount the rollup for each campaign and asset the rows touch, over the months between
    the earliest and latest day they carry (per campaign; a few untouched months in between
    are recounted too, which is harmless), then the term rollups of those campaign months and
    the touched assets' patterns (`dam.campaigns.rollup`)."""
    raw = CampaignMetric.__table__  # type: ignore[attr-defined]
    table = CampaignMetricMonth.__table__  # type: ignore[attr-defined]
    spans: dict[str, tuple[Date, Date, set[uuid.UUID]]] = {}
    for row in rows:
        first, last, assets = spans.get(row["campaign_id"], (row["date"], row["date"], set()))
        assets.add(row["asset_id"])
        spans[row["campaign_id"]] = (min(first, row["date"]), max(last, row["date"]), assets)
    rollup.lock(session)
    for campaign_id, (first, last, assets) in sorted(spans.items()):
        start, end = first.replace(day=1), next_month(last)
        for chunk in _chunks(sorted(assets), 500):
            _rebuild(
                session,
                [
                    raw.c.campaign_id == campaign_id,
                    raw.c.asset_id.in_(chunk),
                    raw.c.date >= start,
                    raw.c.date < end,
                ],
                [
                    table.c.campaign_id == campaign_id,
                    table.c.asset_id.in_(chunk),
                    table.c.month >= start,
                    table.c.month < end,
                ],
            )
        rollup.refresh(session, campaign_id, start, end, sorted(assets))


def rebuild_rollup(session: Session) -> None:
    """Recount the whole rollup and the term rollups (after rows were written outside
    `upsert_rows`, e.g. a bulk load in SQL)."""
    rollup.lock(session)
    _rebuild(session, [], [])
    rollup.rebuild(session)


def ingest_metrics(
    session: Session,
    *,
    ctx: Context,
    campaign: Campaign,
    raw_rows: Sequence[Any],
    actor: Principal,
    skip_errors: bool = False,
) -> tuple[int, dict[int, list[dict[str, str]]]]:
    """Rows stored, and (with `skip_errors`) the problems of the rows left out; without it
    any bad row refuses the batch."""
    if skip_errors:
        checked, bad = check_rows(session, ctx=ctx, campaign=campaign, raw_rows=raw_rows)
    else:
        checked, bad = validate_rows(session, ctx=ctx, campaign=campaign, raw_rows=raw_rows), {}
    rows = list(checked)
    for row in rows:
        del row["_index"]
    if not rows:
        return 0, bad
    store_rows(
        session,
        campaign=campaign,
        actor=actor,
        rows=rows,
        now=ctx.now(),
        details={"channels": sorted({row["channel"] for row in rows})},
    )
    return len(rows), bad


def store_rows(
    session: Session,
    *,
    campaign: Campaign,
    actor: Principal,
    rows: Sequence[dict[str, Any]],
    now: datetime,
    details: dict[str, Any],
) -> None:
    """Upserts validated rows (not empty) and audits the ingest: how many, which days, and the
    caller's `details` (channels for rows sent per asset, the source for a platform export)."""
    upsert_rows(session, rows)
    dates = [row["date"] for row in rows]
    record(
        session,
        actor=actor,
        action="campaign.metrics_ingested",
        target=campaign.id,
        changes={
            "rows": len(rows),
            **details,
            "from": min(dates).isoformat(),
            "to": max(dates).isoformat(),
        },
        now=now,
    )
