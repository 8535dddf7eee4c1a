"""Ingesting a platform export: rows matched to placements by the platform's own ids, each
attributed to the version its placement pointed to on the row's date (a day in the campaign's
timezone, `dam.campaigns.attribution`), not to whatever is
published at ingest, so re-sending an old day never moves figures between versions.

All-or-nothing by default: any unmatched or invalid row refuses the whole file with 422 listing
them by line. With `on_error="skip"` the good rows are stored and the others come back in the
answer, as lists and as a CSV report (`rejects_csv`). `dry_run` stores nothing and answers what
would be stored and where it would go.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from datetime import date
from decimal import Decimal
from operator import itemgetter
from typing import Any

from sqlmodel import Session, col, select

from dam.campaigns.attribution import Period, live_on, zone
from dam.campaigns.metrics import CURRENCY, FIGURES, MAX_REPORTED, MAX_ROWS, store_rows
from dam.campaigns.placements import periods_of
from dam.campaigns.schemas import AttributedVersion, ExportResult, RejectedRow, UnmatchedRow
from dam.campaigns.service import resolve_channel
from dam.campaigns.sources import WHOLE, ZERO, SourceMapping, check_locale, parse_export
from dam.context import Context
from dam.errors import Invalid
from dam.governance.pack import GovernancePack
from dam.models import Campaign, Placement
from dam.principal import Principal


def _placements(
    session: Session, platform: str, external_ids: set[str]
) -> dict[str, list[Placement]]:
    found: dict[str, list[Placement]] = {}
    ordered = sorted(external_ids)
    for start in range(0, len(ordered), 500):
        for placement in session.exec(
            select(Placement).where(
                col(Placement.platform) == platform,
                col(Placement.external_id).in_(ordered[start : start + 500]),
            )
        ):
            found.setdefault(placement.external_id, []).append(placement)
    return found


def _match(
    candidates: list[Placement], account: str, campaign: Campaign
) -> tuple[Placement | None, str]:
    if not candidates:
        return None, "no placement is registered for this id (POST …/placements)"
    exact = [p for p in candidates if p.account == account] if account else []
    unnamed = [p for p in candidates if p.account == ""]
    chosen = exact or unnamed or (candidates if not account else [])
    if len(chosen) != 1:
        if not chosen:
            return None, f"no placement is registered for this id in account {account}"
        return None, "the id is registered for several accounts; send `account=`"
    if chosen[0].campaign_id != campaign.id:
        return None, "the placement is registered in another campaign"
    return chosen[0], ""


def _channel_for(
    pack: GovernancePack,
    source: SourceMapping,
    campaign: Campaign,
    kind: str,
    placement_channel: str | None,
) -> tuple[str | None, str]:
    """The row's channel (its campaign type's, else the placement's, the source's, the
    campaign's) as a taxonomy term, or None and the problem."""
    text = source.campaign_types.get(kind) if kind else None
    text = text or placement_channel or source.channel or campaign.channel or None
    if text is None:
        return None, "no channel: the campaign has none"
    try:
        return resolve_channel(pack, text), ""
    except Invalid as exc:
        return None, str(exc.detail)


def rejects_csv(rejected: list[RejectedRow], unmatched: list[UnmatchedRow]) -> str:
    """The rows that were not stored, one line per problem, in file order:
    `line,external_id,column,reason` (a row unmatched to a placement has an empty column)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["line", "external_id", "column", "reason"])
    lines: list[tuple[int, int, list[str]]] = []
    for row in rejected:
        for order, problem in enumerate(row.problems):
            lines.append((row.line, order, ["", problem.get("field", ""), problem["message"]]))
    for item in unmatched:
        lines.append((item.line, -1, [item.external_id or "", "", item.reason]))
    for line, _, cells in sorted(lines, key=lambda entry: (entry[0], entry[1])):
        writer.writerow([line, *cells])
    return out.getvalue()


def ingest_export(
    session: Session,
    *,
    ctx: Context,
    campaign: Campaign,
    text: str,
    source: SourceMapping,
    locale: str | None,
    account: str | None,
    external_id: str | None,
    dry_run: bool,
    actor: Principal,
    skip_errors: bool = False,
    default_currency: str | None = None,
    export_day: date | None = None,
) -> ExportResult:
    parsed = parse_export(text, source=source, locale=check_locale(locale), day=export_day)
    if len(parsed.rows) > MAX_ROWS:
        raise Invalid(
            f"an export holds at most {MAX_ROWS} rows; this one has {len(parsed.rows)}",
            code="too_many_rows",
        )
    needs_id = "external_id" not in source.columns.values()
    if needs_id and not external_id:
        raise Invalid(
            f"a {source.title} carries no placement id: send `external_id=` (the id the "
            "placement was registered with)",
            code="invalid_export",
        )
    for row in parsed.rows:
        if needs_id:
            row.values["external_id"] = external_id
    problems: dict[int, list[dict[str, str]]] = {k: list(v) for k, v in parsed.problems.items()}
    ids = {str(r.values.get("external_id")) for r in parsed.rows if r.values.get("external_id")}
    by_id = _placements(session, source.platform, ids)
    # Matching depends on the id and the account only: once per pair, not per row.
    matches: dict[tuple[str, str], tuple[Placement | None, str]] = {}
    matched: list[tuple[int, Placement, dict[str, Any]]] = []
    unmatched: list[UnmatchedRow] = []
    for row in parsed.rows:
        values = row.values
        ext = values.get("external_id")
        name = values.get("external_name")
        if not ext:
            unmatched.append(
                UnmatchedRow(line=row.line, external_id=None, external_name=name, reason="no id")
            )
            continue
        row_account = str(values.get("account") or account or "").strip()
        pair = (str(ext), row_account)
        found = matches.get(pair)
        if found is None:
            found = matches[pair] = _match(by_id.get(str(ext), []), row_account, campaign)
        placement, reason = found
        if placement is None:
            unmatched.append(
                UnmatchedRow(line=row.line, external_id=str(ext), external_name=name, reason=reason)
            )
            continue
        matched.append((row.line, placement, row.values))

    periods = periods_of(session, {p.id for p, _ in matches.values() if p is not None})
    tz = zone(campaign.timezone)
    pack = ctx.governance.pack
    column_of = {target: column for column, target in source.columns.items()}
    seen: dict[tuple[str, date, str], int] = {}
    # Figures the source does not fill are zero; the others were checked while parsing.
    filled = [name for name in FIGURES if name in source.fields]
    zeros = {name: 0 if name in WHOLE else ZERO for name in FIGURES}
    now = ctx.now()
    ready: list[dict[str, Any]] = []
    currencies: set[str] = set()
    # Per placement (by its stored id, a str: UUIDs hash slowly): its channel fallback; per
    # (placement, type): the channel or the problem; per placement and day: the period.
    channels: dict[tuple[str, str], tuple[str | None, str]] = {}
    lives: dict[tuple[str, date], Period] = {}
    spans: dict[str, list[Any]] = {}
    good_currencies: set[str] = set()
    totals: dict[str, Decimal | int] = {name: 0 for name in FIGURES}
    per_period: Counter[int] = Counter()
    period_of: dict[int, Period] = {}
    # The parsed row becomes the stored row: the figures the header lacks are zero, the
    # placement's own columns go.
    absent = {name: zeros[name] for name in FIGURES if name not in parsed.fields}
    extras = [
        name
        for name in ("external_id", "external_name", "account", "campaign_type")
        if name in parsed.fields
    ]
    campaign_id = campaign.id
    hexes: dict[int, str] = {}
    for line, placement, values in matched:
        pid_hex = hexes.get(id(placement))
        if pid_hex is None:
            pid_hex = hexes[id(placement)] = placement.id.hex
        day: date = values["date"]
        period = lives.get((pid_hex, day))
        if period is None:
            period = lives[(pid_hex, day)] = live_on(periods[placement.id], day, tz)
        kind = str(values.get("campaign_type") or "").strip().lower()
        resolved = channels.get((pid_hex, kind))
        if resolved is None:
            resolved = channels[(pid_hex, kind)] = _channel_for(
                pack, source, campaign, kind, placement.channel
            )
        channel, problem = resolved
        if channel is None:
            problems.setdefault(line, []).append({"field": "channel", "message": problem})
            continue
        currency = str(values.get("currency") or default_currency or "").strip().upper()
        if currency and currency not in good_currencies:
            if not CURRENCY.fullmatch(currency):
                problems.setdefault(line, []).append(
                    {
                        "field": column_of.get("currency", "currency"),
                        "message": f"{currency!r} is not an ISO 4217 currency code (e.g. USD, EUR)",
                    }
                )
                continue
            good_currencies.add(currency)
        # The stored key is (asset, day, channel, placement); the placement and the day decide
        # the asset.
        key = (pid_hex, day, channel)
        if key in seen:
            problems.setdefault(line, []).append(
                {"field": "", "message": f"same placement and day as line {seen[key]}"}
            )
            continue
        seen[key] = line
        if currency:
            currencies.add(currency)
        for name in extras:
            del values[name]
        values.update(absent)
        values["campaign_id"] = campaign_id
        values["asset_id"] = period.asset_id
        values["channel"] = channel
        values["placement"] = pid_hex
        values["version"] = period.version
        values["currency"] = currency
        values["attributed"] = True
        values["updated_at"] = now
        ready.append(values)
        per_period[id(period)] += 1
        period_of[id(period)] = period
        span = spans.get(pid_hex)
        if span is None:
            spans[pid_hex] = [placement, day, day]
        elif day < span[1]:
            span[1] = day
        elif day > span[2]:
            span[2] = day
    for name in filled:
        totals[name] = sum(map(itemgetter(name), ready))
    versions: Counter[tuple[uuid.UUID, int]] = Counter()
    for ident, n in per_period.items():
        versions[(period_of[ident].asset_id, period_of[ident].version)] += n
    rejected = [RejectedRow(line=n, problems=problems[n]) for n in sorted(problems)]
    if not dry_run and not skip_errors and (rejected or unmatched):
        raise Invalid(
            f"{len(rejected)} rows are not valid and {len(unmatched)} match no placement; "
            "nothing was stored (`dry_run=true` previews a file)",
            code="invalid_export",
            rows=[r.model_dump() for r in rejected[:MAX_REPORTED]],
            unmatched=[u.model_dump() for u in unmatched[:MAX_REPORTED]],
        )
    if not dry_run and ready:
        for placement, lo, hi in spans.values():
            placement.first_seen = min(lo, placement.first_seen or lo)
            placement.last_seen = max(hi, placement.last_seen or hi)
            session.add(placement)
        store_rows(
            session,
            campaign=campaign,
            actor=actor,
            rows=ready,
            now=now,
            details={"source": source.name},
        )
    return ExportResult(
        campaign_id=campaign.id,
        source=source.name,
        dry_run=dry_run,
        rows=len(ready),
        skipped_lines=parsed.skipped,
        unmatched=unmatched,
        rejected=rejected,
        rejects_csv=rejects_csv(rejected, unmatched) if rejected or unmatched else None,
        totals={name: float(value) for name, value in totals.items()},
        currencies=sorted(currencies),
        attributed=[
            AttributedVersion(asset_id=a, version=v, rows=n)
            for (a, v), n in sorted(versions.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))
        ],
    )
