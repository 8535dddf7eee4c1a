"""Platform exports as they are downloaded, read through source mappings.

A mapping is data (`SOURCES` below, documented in README.md): which of the platform's columns
hold which field, which identify the placement (the platform's ad or campaign id), the date
column(s), the number locale the platform writes (None: the user's locale, so it must be
declared with `?locale=` whenever a value would otherwise be ambiguous), the default channel
and how the platform's campaign types map to channels (platform names are not taxonomy
synonyms). Lines before the header (report titles, date ranges) and total lines are skipped;
columns the mapping does not name (CTR, Avg. CPC …) are ignored. Rows must be daily.

Numbers: `--` and empty cells are empty; currency signs and codes and `%` are dropped; the
locale decides grouping and decimal separators. A value that could be read two ways is refused
with its line and column, never guessed: a count with a separator and no declared locale
(`12.000` impressions), or money or conversions with exactly three digits after their only
separator (`1.234`); a count with a decimal separator in the declared locale is refused too.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial
from typing import Any

from dam.bounds import (
    MAX_YEAR,
    MIN_YEAR,
    check_metric_amount,
    check_metric_count,
    check_metric_money,
)
from dam.errors import Invalid
from dam.governance.metric_sources import (
    FRACTIONAL,
    LOCALES,
    MONEY,
    WHOLE,
    SourceMapping,
    parse_source_text,
)
from dam.governance.pack import GovernancePack

CHANNEL_FACET = "channel"
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
__all__ = ["FRACTIONAL", "LOCALES", "MONEY", "WHOLE", "SourceMapping"]

ID_FIELDS = ("external_id", "external_name", "account")
DATE_FIELDS = ("date", "date_end")
TEXT_FIELDS = ("currency", "campaign_type")

EMPTY = {"", "--", "-", "\u2014", "n/a", "N/A"}
# Digits, or digits grouped by commas, with an optional decimal point: en's common forms.
_PLAIN = re.compile(r"(\d+|\d{1,3}(?:,\d{3})+)(\.\d+)?")
_SIGNS = re.compile(r"[$€£¥%]|^[A-Z]{3}\s*|\s*[A-Z]{3}$")


def get_source(pack: GovernancePack, name: str) -> SourceMapping:
    """A built-in source or one the governance pack declares (`sources/<name>.yaml`)."""
    source = pack.metric_sources.get(name)
    if source is None:
        raise Invalid(
            f"unknown source {name!r} (known: {', '.join(sorted(pack.metric_sources))}; "
            "declare others in the governance pack's sources/ or send a `mapping`)",
            code="unknown_source",
        )
    return source


def inline_source(pack: GovernancePack, text: bytes) -> SourceMapping:
    """A mapping sent with the upload (multipart part `mapping`, the format of the pack's
    `sources/*.yaml`), validated the same way; 422 listing its problems as `mapping:line`."""
    channels = pack.facet(CHANNEL_FACET).lookup if pack.has_facet(CHANNEL_FACET) else None
    mapping, errors = parse_source_text(text, name="inline", channels=channels)
    if mapping is None:
        raise Invalid(
            "the mapping is not valid: " + "; ".join(str(e) for e in errors),
            code="invalid_mapping",
            problems=[str(e) for e in errors],
        )
    return mapping


def check_locale(locale: str | None) -> str | None:
    if locale is None:
        return None
    short = locale.strip().lower().replace("_", "-").split("-")[0]
    if short not in LOCALES:
        raise Invalid(
            f"unknown locale {locale!r} (known: {', '.join(sorted(LOCALES))})",
            code="unknown_locale",
        )
    return short


class CellError(ValueError):
    pass


def parse_number(text: str, *, locale: str | None, kind: str) -> Decimal | None:
    """`kind`: "whole", "fractional" or "money". None for an empty cell."""
    raw = text.strip()
    if raw.isdigit():  # the common case, and unambiguous in every locale
        return Decimal(raw)
    if raw in EMPTY:
        return None
    if locale is not None and LOCALES[locale][1] == ".":
        plain = _PLAIN.fullmatch(raw)
        if plain and not (kind == "whole" and plain.group(2)):
            return Decimal(raw.replace(",", ""))
    value = _SIGNS.sub("", raw).replace("\u00a0", " ").replace("\u202f", " ").strip()
    if not value or not re.fullmatch(r"[0-9][0-9., ]*", value):
        raise CellError(f"{raw!r} is not a number")
    if locale is None:
        number = _undeclared(value, raw, kind)
    else:
        number = _declared(value, raw, kind, locale)
    try:
        return Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the patterns above admit digits only
        raise CellError(f"{raw!r} is not a number") from exc


def _undeclared(value: str, raw: str, kind: str) -> str:
    dots, commas = value.count("."), value.count(",")
    if " " in value:
        raise CellError(f"{raw!r} is grouped with spaces; declare the export's locale")
    if dots and commas:
        # Both separators: the last one is the decimal separator, the other groups.
        decimal_sep = "." if value.rfind(".") > value.rfind(",") else ","
        group = "," if decimal_sep == "." else "."
        return _split(value, raw, kind, group, decimal_sep)
    if not dots and not commas:
        return value
    sep = "." if dots else ","
    parts = value.split(sep)
    if kind == "whole" or len(parts) > 2 or len(parts[1]) == 3:
        raise CellError(
            f"{raw!r} is ambiguous: {sep!r} could group thousands or mark decimals; declare the "
            "export's number locale (e.g. locale=en or locale=de)"
        )
    return value.replace(sep, ".")


def _declared(value: str, raw: str, kind: str, locale: str) -> str:
    group, decimal_sep = LOCALES[locale]
    return _split(value, raw, kind, group, decimal_sep, declared=locale)


def _split(
    value: str, raw: str, kind: str, group: str, decimal_sep: str, declared: str | None = None
) -> str:
    whole, sep, fraction = value.partition(decimal_sep)
    other = {".", ",", " "} - {group, decimal_sep}
    if any(ch in value for ch in other) or decimal_sep in fraction or group in fraction:
        raise CellError(f"{raw!r} is not a number in locale {declared or 'of this export'}")
    if group in whole and not re.fullmatch(rf"\d{{1,3}}({re.escape(group)}\d{{3}})+", whole):
        raise CellError(f"{raw!r} has misplaced thousands separators")
    if sep and kind == "whole":
        hint = f" in locale {declared}" if declared else ""
        raise CellError(
            f"{raw!r} is not a whole number{hint}; if the export groups thousands with "
            f"{decimal_sep!r}, declare its locale"
        )
    if sep and kind == "money" and group not in whole and len(fraction) == 3 and not declared:
        raise CellError(f"{raw!r} is ambiguous; declare the export's number locale")
    return whole.replace(group, "") + (f".{fraction}" if sep else "")


def _totals_pattern(prefixes: tuple[str, ...]) -> re.Pattern[str] | None:
    """Total lines ("Total: Account" in Google Ads, "Grand Total:" in Campaign Manager 360)
    start with one of the source's prefixes, as a word."""
    if not prefixes:
        return None
    alternatives = "|".join(r"\s+".join(map(re.escape, p.split())) for p in prefixes)
    return re.compile(rf"(?:{alternatives})\b", re.IGNORECASE)


def parse_date(text: str, formats: tuple[str, ...] = ()) -> date:
    """ISO 8601, else the source's formats (Google Ads' "Nov 20, 2026" with US dates)."""
    raw = text.strip()
    day: date | None = None
    try:
        day = date.fromisoformat(raw[:10])
    except ValueError:
        for fmt in formats:
            try:
                day = datetime.strptime(raw, fmt).date()
                break
            except ValueError:
                continue
    if day is None:
        hint = f" or {', '.join(formats)}" if formats else ""
        raise CellError(f"{raw!r} is not a date (give ISO 8601, e.g. 2026-11-20{hint})")
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise CellError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return day


@dataclass
class ExportRow:
    line: int
    values: dict[str, Any]


@dataclass
class ParsedExport:
    rows: list[ExportRow]
    problems: dict[int, list[dict[str, str]]]
    skipped: list[int]
    currency: str | None
    # The fields the header's columns fill (every row's values has each of them).
    fields: frozenset[str] = frozenset()


def _header_index(lines: list[list[str]], source: SourceMapping, *, dated: bool) -> int:
    needed = {"date", "external_id"} & set(source.columns.values())
    if dated:
        needed.discard("date")
    best: tuple[int, set[str]] = (-1, set())
    candidates = list(enumerate(lines[:50]))
    if source.header_line is not None:
        # The mapping says where the header is: only that line may be it.
        at = source.header_line - 1
        candidates = [(at, lines[at])] if at < len(lines) else []
    for index, cells in candidates:
        fields = {f[0] for f in (source.field_of(c) for c in cells) if f is not None}
        if needed <= fields:
            return index
        if len(fields) > len(best[1]):
            best = (index, fields)
    missing = sorted(name for name, target in source.columns.items() if target in needed - best[1])
    if source.header_line is not None:
        where = f"line {source.header_line} is not the header: it lacks"
    else:
        where = "no header line with"
    detail = f"{where} the {source.title}'s columns {', '.join(missing)}"
    if "date" in needed - best[1]:
        detail += f"; rows must be daily: {source.daily_hint}"
    raise Invalid(detail, code="invalid_export")


def parse_export(
    text: str, *, source: SourceMapping, locale: str | None, day: date | None = None
) -> ParsedExport:
    """Rows by file line number (1-based), with every problem named by line and column. `day`:
    the date of every row of a one-day export without a date column (Iterable's metrics)."""
    locale = locale or source.locale
    try:
        lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error as exc:
        raise Invalid(f"the export is malformed CSV: {exc}", code="invalid_export") from exc
    start = _header_index(lines, source, dated=day is not None)
    header = lines[start]
    mapped: list[tuple[int, str, str, str | None]] = []  # position, column, field, currency
    for position, name in enumerate(header):
        found = source.field_of(name)
        if found is not None:
            mapped.append((position, name.strip(), found[0], found[1]))
    header_currency = next((c for *_, c in mapped if c), None) or source.currency
    if any(target == "date" for _, _, target, _ in mapped):
        if day is not None:
            raise Invalid(
                "the export has its own date column; `date=` is for a one-day export without one",
                code="invalid_export",
            )
    elif day is None:  # pragma: no cover - _header_index refused it already
        raise Invalid("the export has no date column", code="invalid_export")
    rows: list[ExportRow] = []
    problems: dict[int, list[dict[str, str]]] = {}
    skipped = list(range(1, start + 1))
    converters = [
        (p, column, target, _converter(target, locale, source.date_formats))
        for p, column, target, _ in mapped
    ]
    totals = _totals_pattern(source.totals)
    # Total lines say so in their first cell or in the date column ("Total: Account"); the
    # pattern runs only on a cell starting like one of the prefixes (a 100k-row export).
    firsts = {prefix.strip()[:1] for prefix in source.totals}
    firsts |= {c.lower() for c in firsts} | {c.upper() for c in firsts} | {" ", "\t"}
    marks = sorted({0, *(p for p, _, target, _ in mapped if target == "date")})
    body: list[tuple[int, list[str]]] = []
    for offset, cells in enumerate(lines[start + 1 :], start=start + 2):
        if not cells or not any(cells):
            continue
        if (
            totals is not None
            and (cells[0][:1] in firsts or len(marks) > 1)
            and _is_total(cells, marks, totals, firsts)
        ):
            skipped.append(offset)
            continue
        body.append((offset, cells))
    # Column by column: one converter over a whole column is several times faster than every
    # converter on every row; a column with a bad cell is gone through again cell by cell to
    # name each problem.
    bad: dict[int, list[dict[str, str]]] = {}
    columns: list[list[Any]] = []
    width = max((p for p, *_ in converters), default=0) + 1
    grid: list[tuple[str, ...]] = list(
        zip(*(c if len(c) >= width else c + [""] * (width - len(c)) for _, c in body), strict=False)
    )
    for position, column, _, convert in converters:
        cells_of = grid[position] if grid else ()
        try:
            columns.append(list(map(convert, cells_of)))
        except CellError:
            converted: list[Any] = []
            for index, cell in enumerate(cells_of):
                try:
                    converted.append(convert(cell))
                except CellError as exc:
                    converted.append(None)
                    bad.setdefault(index, []).append({"field": column, "message": str(exc)})
            columns.append(converted)
    targets = [target for _, _, target, _ in converters]
    if not grid:
        columns = [[] for _ in converters]
    spans_days = "date_end" in targets
    for index, converted_row in enumerate(zip(*columns, strict=True)):
        offset = body[index][0]
        values: dict[str, Any] = dict(zip(targets, converted_row, strict=True))
        problems_here = bad.get(index, [])
        if spans_days and values.get("date") and values["date_end"] not in (None, values["date"]):
            problems_here.append(
                {
                    "field": "date",
                    "message": f"the row spans {values['date']} to {values['date_end']}; "
                    f"rows must be daily: {source.daily_hint}",
                }
            )
        if problems_here:
            problems[offset] = problems_here
            continue
        if spans_days:
            del values["date_end"]
        if day is not None:
            values["date"] = day
        if header_currency and not values.get("currency"):
            values["currency"] = header_currency
        rows.append(ExportRow(line=offset, values=values))
    if not rows and not problems:
        raise Invalid("the export has no data rows", code="invalid_export")
    return ParsedExport(
        rows=rows,
        problems=problems,
        skipped=skipped,
        currency=header_currency,
        fields=frozenset(targets) - {"date_end"},
    )


def _is_total(
    cells: list[str], marks: list[int], totals: re.Pattern[str], firsts: set[str]
) -> bool:
    for position in marks:
        if position < len(cells):
            cell = cells[position]
            if cell[:1] in firsts and totals.match(cell.strip()):
                return True
    return False


def _date_cell(cell: str, formats: tuple[str, ...] = ()) -> date:
    text = cell.strip()
    if text in EMPTY:
        raise CellError("the date is missing")
    return parse_date(text, formats)


def _text_cell(cell: str) -> str | None:
    text = cell.strip()
    return None if text in EMPTY else text


def _converter(
    target: str, locale: str | None, formats: tuple[str, ...] = ()
) -> Callable[[str], Any]:
    if target in DATE_FIELDS:
        return _memo(partial(_date_cell, formats=formats))
    if target in ID_FIELDS or target in TEXT_FIELDS:
        return _text_cell
    if target in WHOLE:
        return _memo(partial(_whole, locale=locale))
    checks = check_metric_amount if target in FRACTIONAL else check_metric_money
    return _memo(
        partial(
            _hundredths,
            locale=locale,
            kind="fractional" if target in FRACTIONAL else "money",
            check=checks,
        )
    )


def _whole(cell: str, *, locale: str | None) -> int:
    """A count as stored: empty is 0; held to the metric row's bounds (`dam.bounds`)."""
    value = parse_number(cell, locale=locale, kind="whole")
    if value is None:
        return 0
    if value != value.to_integral_value():
        raise CellError("must be a whole number")
    try:
        return check_metric_count(int(value))
    except ValueError as exc:
        raise CellError(str(exc)) from exc


def _hundredths(
    cell: str, *, locale: str | None, kind: str, check: Callable[[Decimal], Decimal]
) -> Decimal:
    """Conversions or money as stored: empty is 0.00, rounded to hundredths, within bounds."""
    value = parse_number(cell, locale=locale, kind=kind)
    if value is None:
        return ZERO
    try:
        return check(value).quantize(CENT, rounding=ROUND_HALF_UP)
    except ValueError as exc:
        raise CellError(str(exc)) from exc


_MEMO_SIZE = 65_536


def _memo(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """The same cell text converts the same way: dates repeat on every row of a day, counts
    and amounts often; bounded so a file of distinct values costs no more than without."""
    seen: dict[str, Any] = {}

    def cached(cell: str) -> Any:
        hit = seen.get(cell, _MISS)
        if hit is _MISS:
            hit = convert(cell)
            if len(seen) < _MEMO_SIZE:
                seen[cell] = hit
        return hit

    return cached


_MISS = object()
