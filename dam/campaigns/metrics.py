"""Performance metrics ingestion: a batch of daily rows per campaign, asset and channel.

All rows are validated before anything is written, so a batch is applied whole or not at all
(or, with `on_error=skip`, its good rows are, and the others are answered). A valid batch is
checked by pydantic's own constraints in one pass (`_FastRow`); a batch with any bad row goes
through `MetricRowIn`, which names every problem.
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
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from operator import attrgetter, itemgetter
from typing import Annotated, Any, Required

import sqlalchemy as sa
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    with_config,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from dam.audit.service import record
from dam.bounds import (
    MAX_METRIC_COUNT,
    MAX_METRIC_MONEY,
    MetricAmount,
    MetricCount,
    MetricMoney,
    SafeDate,
    VersionNumber,
)
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

# The fast path of a batch: the fields and bounds of `MetricRowIn` held by pydantic's own
# constraints (no Python call per figure), into plain dicts, the dates checked by `SafeDate`
# once per distinct value, the rounding to hundredths done while the rows are built. It only
# ever accepts what `MetricRowIn` accepts, with the same values; a batch it does not accept
# whole goes through `MetricRowIn`, which names every problem.
_Count = Annotated[int, Field(ge=0, le=MAX_METRIC_COUNT)]
_Amount = Annotated[Decimal, Field(ge=0, le=MAX_METRIC_COUNT, allow_inf_nan=False)]
_Money = Annotated[Decimal, Field(ge=0, le=MAX_METRIC_MONEY, allow_inf_nan=False)]


@with_config(ConfigDict(extra="forbid"))
class _FastRow(TypedDict, total=False):
    asset_id: Required[uuid.UUID]
    date: Required[Any]
    channel: Annotated[str, Field(max_length=64)] | None
    version: VersionNumber | None
    impressions: _Count
    clicks: _Count
    conversions: _Amount
    spend: _Money
    revenue: _Money
    sends: _Count
    deliveries: _Count
    opens: _Count
    unique_opens: _Count
    unsubscribes: _Count
    bounces: _Count
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")] | None


_FAST_ROWS = TypeAdapter(list[_FastRow])
_DATE = TypeAdapter(SafeDate)
ZERO = Decimal(0)
HUNDREDTHS = frozenset({"conversions", "spend", "revenue"})


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


def _fast_parse(raw_rows: list[Any]) -> list[dict[str, Any]] | None:
    """Every row as a dict of valid values, or None when any row is not valid."""
    try:
        parsed = _FAST_ROWS.validate_python(raw_rows)
    except ValidationError:
        return None
    days: dict[tuple[type, Any], Date] = {}
    for row in parsed:
        value = row["date"]
        key = (type(value), value)
        try:
            row["date"] = days[key]
        except KeyError:
            try:
                row["date"] = days[key] = _DATE.validate_python(value)
            except ValidationError:
                return None
        except TypeError:  # not hashable, so not a date
            return None
    return parsed  # type: ignore[return-value]


def _slow_parse(
    raw_rows: list[Any], bad: dict[int, list[dict[str, str]]]
) -> list[dict[str, Any] | None]:
    """Each row through `MetricRowIn` (None for a bad one), its problems added to `bad`."""
    for index, raw in enumerate(raw_rows):
        if isinstance(raw, dict) and "__extra_cells__" in raw:
            _problems(bad, index, "", "the line has more cells than the header")
    try:
        models: list[MetricRowIn | None] = list(_ROWS.validate_python(raw_rows))
    except ValidationError as exc:
        for err in exc.errors():
            loc = err["loc"]
            index = int(loc[0])
            if index in bad and not loc[1:]:
                continue
            _problems(bad, index, ".".join(str(p) for p in loc[1:]), str(err["msg"]))
        # Rows that passed are still checked below, so one 422 lists every problem.
        models = []
        for index, raw in enumerate(raw_rows):
            try:
                models.append(MetricRowIn.model_validate(raw) if index not in bad else None)
            except ValidationError:
                models.append(None)
    return [dict(row) if row is not None else None for row in models]


def check_rows(
    session: Session, *, ctx: Context, campaign: Campaign, raw_rows: Sequence[Any]
) -> tuple[list[dict[str, Any]], dict[int, list[dict[str, str]]]]:
    """The rows ready to write (with their 0-based `_index`), and the problems of the others
    by index. A batch that is not a list, is empty or is too long is refused whole."""
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
    fast = _fast_parse(raw_rows)
    parsed: list[dict[str, Any] | None] = (
        list(fast) if fast is not None else _slow_parse(raw_rows, bad)
    )
    pack = ctx.governance.pack
    # Keyed by the id's integer: a UUID hashes and compares in Python, an int in C.
    asset_ids: dict[int, uuid.UUID] = {}
    unversioned: set[int] = set()
    for row in parsed:
        if row is not None:
            ident = row["asset_id"].int
            asset_ids[ident] = row["asset_id"]
            if row.get("version") is None:
                unversioned.add(ident)
    members = {
        asset_id.int: versions
        for asset_id, versions in _campaign_assets(
            session, campaign.id, set(asset_ids.values())
        ).items()
    }
    history = publication_periods(session, {asset_ids[ident] for ident in unversioned})
    tz = zone(campaign.timezone)
    # The version published for the larger part of the day (`dam.campaigns.attribution`):
    # one for every day of an asset published once, None for an asset never approved.
    fixed: dict[int, int | None] = {}
    periods_of: dict[int, list[Period]] = {}
    for asset_id, periods in history.items():
        if len(periods) == 1:
            fixed[asset_id.int] = periods[0].version
        else:
            periods_of[asset_id.int] = periods
    channels: dict[str, str] = {}
    seen: dict[tuple[int, Date, str], int] = {}
    now = ctx.now()
    ready: list[dict[str, Any]] = []
    blank: dict[str, Any] = {
        "_index": 0,
        "campaign_id": campaign.id,
        "asset_id": None,
        "date": None,
        "channel": None,
        "placement": "",
        "version": None,
        **{name: ZERO if name in HUNDREDTHS else 0 for name in FIGURES},
        "currency": "",
        "attributed": False,
        "updated_at": now,
    }
    default_channel = campaign.channel
    for index, row in enumerate(parsed):
        if row is None:
            continue
        channel_text = row.get("channel") or default_channel
        channel = channels.get(channel_text) if channel_text else None
        if not channel_text:
            _problems(bad, index, "channel", "no channel given and the campaign has none")
        elif channel is None:
            try:
                channel = channels[channel_text] = resolve_channel(pack, channel_text)
            except Invalid as exc:
                _problems(bad, index, "channel", str(exc.detail))
        asset_id = row["asset_id"]
        ident = asset_id.int
        versions = members.get(ident)
        version = row.get("version")
        if versions is None:
            _problems(bad, index, "asset_id", f"asset {asset_id} is not in campaign {campaign.id}")
        elif version is not None and version > versions[1]:
            _problems(bad, index, "version", f"asset {asset_id} has no version {version}")
        if channel is None or versions is None:
            continue
        day = row["date"]
        key = (ident, day, channel)
        if key in seen:
            _problems(bad, index, "", f"same asset, date and channel as row {seen[key]}")
            continue
        seen[key] = index
        attributed = version is None
        if attributed:
            version = fixed.get(ident)
            if version is None and ident in periods_of:
                version = live_on(periods_of[ident], day, tz).version
        # The row's own values over the defaults (the key order is the defaults').
        out = dict(blank)
        out.update(row)
        out["_index"] = index
        out["channel"] = channel
        out["version"] = version
        # Platforms report fractions of a cent or of a conversion; the columns hold hundredths
        # (`MetricRowIn._cents`, which the slow path has applied already).
        out["conversions"] = out["conversions"].quantize(CENT, rounding=ROUND_HALF_UP)
        out["spend"] = out["spend"].quantize(CENT, rounding=ROUND_HALF_UP)
        out["revenue"] = out["revenue"].quantize(CENT, rounding=ROUND_HALF_UP)
        out["currency"] = (out["currency"] or "").upper()
        out["attributed"] = attributed
        ready.append(out)
    # A row is good only if every check passed (a duplicate key is a problem of the later row).
    return [r for r in ready if r["_index"] not in bad] if bad else ready, bad


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
    values_of = itemgetter(*columns)
    with raw.cursor() as cursor, cursor.copy(f"COPY metrics_in ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(values_of(row))
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
    by_campaign: dict[str, Sequence[dict[str, Any]]] = {}
    campaign_ids = set(map(itemgetter("campaign_id"), rows))
    if len(campaign_ids) == 1:  # the usual batch: its rows, without a pass in Python
        by_campaign[campaign_ids.pop()] = rows
    else:
        for row in rows:
            by_campaign.setdefault(row["campaign_id"], []).append(row)  # type: ignore[attr-defined]
    rollup.lock(session)
    for campaign_id, mine in sorted(by_campaign.items()):
        dates = list(map(itemgetter("date"), mine))
        start, end = min(dates).replace(day=1), next_month(max(dates))
        ids = list(map(itemgetter("asset_id"), mine))
        # Keyed by the id's integer (hashed in C; a UUID orders by it too).
        unique = dict(zip(map(attrgetter("int"), ids), ids, strict=True))
        assets = [unique[key] for key in sorted(unique)]
        for chunk in _chunks(assets, 500):
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
        rollup.refresh(session, campaign_id, start, end, assets)


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
