"""Metric source mappings of the governance pack: how a platform's export reads as metric rows.

A mapping is one YAML file: the built-in ones under `dam/governance/builtin_sources/` (Google
Ads, Meta, Campaign Manager 360, Braze, Iterable), a pack's own under `<pack>/sources/`, the
file's name being the source's name (`?source=` of a metrics upload). Both are read by the same
parser, so a built-in is an example of the format (`taxonomy/README.md`, "sources/"). Every
problem names its file and line, like the rest of the pack; a pack source may not reuse a
built-in's name (give it another name and the same `platform`).

What a mapping says: which platform columns hold which metric field, which identify the
placement (ad id, ad or creative name, account), the date column and its format, the number
locale, the currency column (or a column header carrying the code), which lines to skip
(the header's line, total lines), the default channel and how the platform's campaign types
map to channels (platform names are not taxonomy synonyms).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from types import MappingProxyType

import yaml

from dam.governance.yamlsource import _NULL_TAG, PackError, _hint, _Source

__all__ = [
    "BUILTIN_DIR",
    "FIELDS",
    "LOCALES",
    "SOURCES_DIR",
    "SourceMapping",
    "builtin_sources",
    "parse_source_text",
    "parse_sources",
]

SOURCES_DIR = "sources"
BUILTIN_DIR = Path(__file__).parent / "builtin_sources"

# Metric fields a column can fill, by kind; the rows' bounds apply to them afterwards.
WHOLE = (
    "impressions",
    "clicks",
    "sends",
    "deliveries",
    "opens",
    "unique_opens",
    "unsubscribes",
    "bounces",
)
FRACTIONAL = ("conversions",)
MONEY = ("spend", "revenue")
FIELDS = (*WHOLE, *FRACTIONAL, *MONEY)

# Locale → (grouping separator, decimal separator).
LOCALES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "en": (",", "."),
        "de": (".", ","),
        "es": (".", ","),
        "it": (".", ","),
        "nl": (".", ","),
        "pt": (".", ","),
        "da": (".", ","),
        "fr": (" ", ","),
    }
)
DEFAULT_TOTALS = ("Total", "Grand Total")
CHANNEL_FACET = "channel"
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
_CODE = re.compile(r"^[A-Z]{3}$")
_KEYS = (
    "title",
    "platform",
    "placement",
    "date",
    "locale",
    "currency",
    "columns",
    "patterns",
    "skip",
    "channel",
    "campaign_types",
    "daily_hint",
)


@dataclass(frozen=True)
class SourceMapping:
    name: str
    platform: str  # the placements' `platform`
    title: str
    # Platform column (exact, case-insensitive) → field: metric fields and the placement's
    # `external_id`, `external_name`, `account`, `date`, `date_end`, `currency`,
    # `campaign_type`.
    columns: Mapping[str, str]
    # Regex on a column's header → field; a `currency` group gives the column's currency,
    # e.g. "Amount spent (USD)".
    patterns: Mapping[str, str] = field(default_factory=dict)
    locale: str | None = None
    channel: str | None = None
    # Lower-cased platform campaign type → channel (None: no channel from the type).
    campaign_types: Mapping[str, str | None] = field(default_factory=dict)
    daily_hint: str = ""
    # strptime formats of the date column, tried after ISO 8601.
    date_formats: tuple[str, ...] = ()
    # 1-based line of the header; None: the first of 50 lines carrying the needed columns.
    header_line: int | None = None
    # Prefixes (case-insensitive) that mark total lines in the first cell or the date column.
    totals: tuple[str, ...] = DEFAULT_TOTALS
    # The currency of every row when the export has no currency column and no ?currency=.
    currency: str | None = None
    origin: str = "built-in"  # "built-in" or the pack file that declares it

    def field_of(self, header: str) -> tuple[str, str | None] | None:
        """(field, currency from the header) for a platform column, or None."""
        key = header.strip().lower()
        for name, target in self.columns.items():
            if name.lower() == key:
                return target, None
        for pattern, target in self.patterns.items():
            match = re.fullmatch(pattern, header.strip(), flags=re.IGNORECASE)
            if match:
                return target, (match.groupdict().get("currency") or None)
        return None

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(self.columns.values()) | frozenset(self.patterns.values())

    def to_json(self) -> dict[str, object]:
        by_field: dict[str, list[str]] = {}
        for column, target in self.columns.items():
            by_field.setdefault(target, []).append(column)
        return {
            "name": self.name,
            "platform": self.platform,
            "title": self.title,
            "origin": self.origin,
            "placement": {
                key: by_field.get(target, [])
                for key, target in (
                    ("id", "external_id"),
                    ("name", "external_name"),
                    ("account", "account"),
                )
                if by_field.get(target)
            },
            "date": {
                "column": by_field.get("date", []),
                "end_column": by_field.get("date_end", []),
                "formats": list(self.date_formats),
            },
            "locale": self.locale,
            "currency": {"column": by_field.get("currency", []), "code": self.currency},
            "columns": {c: t for c, t in self.columns.items() if t in FIELDS},
            "patterns": dict(self.patterns),
            "skip": {"header_line": self.header_line, "totals": list(self.totals)},
            "channel": self.channel,
            "campaign_types": {
                "column": by_field.get("campaign_type", []),
                "channels": dict(self.campaign_types),
            },
            "daily_hint": self.daily_hint,
        }


def _get(keys: Mapping[str, tuple[yaml.Node, yaml.Node]], key: str) -> yaml.Node | None:
    entry = keys.get(key)
    return None if entry is None else entry[1]


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG


def _columns_of(src: _Source, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node]]:
    """A column name, or a list of names (aliases: the first present is used)."""
    if isinstance(node, yaml.SequenceNode):
        return src.texts(node, what)
    value = src.text(node, what)
    return [] if value is None else [(value, node)]


def _channel(
    src: _Source, node: yaml.Node, what: str, channels: Mapping[str, str] | None
) -> str | None:
    text = src.text(node, what)
    if text is None or channels is None:
        return text
    term = channels.get(" ".join(text.split()).casefold())
    if term is None:
        src.error(
            node,
            f"{what}: '{text}' is not a channel of the taxonomy"
            f"{_hint(text, sorted(set(channels.values())))}",
        )
        return None
    return term


def parse_source(
    src: _Source, root: yaml.Node, name: str, channels: Mapping[str, str] | None
) -> SourceMapping | None:
    """One mapping file; problems go to `src` with their lines. None when invalid."""
    what = f"source '{name}'"
    keys = src.mapping(root, what, required=("title", "columns"), optional=_KEYS[1:])
    if keys is None:
        return None
    before = len(src.errors)
    columns: dict[str, str] = {}
    column_lines: dict[str, int] = {}

    def add(column: str, target: str, node: yaml.Node) -> None:
        folded = column.lower()
        if folded in column_lines:
            src.error(
                node,
                f"{what}: column '{column}' is mapped twice (first at line {column_lines[folded]})",
            )
            return
        column_lines[folded] = int(node.start_mark.line) + 1
        columns[column] = target

    title_node = _get(keys, "title")
    title = src.text(title_node, f"{what}: title") if title_node is not None else None
    platform = name
    if (node := _get(keys, "platform")) is not None:
        text = src.text(node, f"{what}: platform")
        if text is not None and not _NAME.match(text):
            src.error(node, f"{what}: platform '{text}' must be lowercase letters, digits and _")
        elif text is not None:
            platform = text

    if (node := _get(keys, "placement")) is not None and not _is_null(node):
        part = src.mapping(node, f"{what}: placement", optional=("id", "name", "account"))
        for key, target in (
            ("id", "external_id"),
            ("name", "external_name"),
            ("account", "account"),
        ):
            if part is not None and (value := _get(part, key)) is not None:
                for column, item in _columns_of(src, value, f"{what}: placement.{key}"):
                    add(column, target, item)

    date_formats: list[str] = []
    if (node := _get(keys, "date")) is not None:
        part = src.mapping(
            node, f"{what}: date", required=("column",), optional=("format", "end_column")
        )
        if part is not None:
            for key, target in (("column", "date"), ("end_column", "date_end")):
                if (value := _get(part, key)) is not None:
                    for column, item in _columns_of(src, value, f"{what}: date.{key}"):
                        add(column, target, item)
            if (value := _get(part, "format")) is not None:
                for fmt, item in _columns_of(src, value, f"{what}: date.format"):
                    problem = _format_problem(fmt)
                    if problem:
                        src.error(item, f"{what}: date.format '{fmt}' {problem}")
                    else:
                        date_formats.append(fmt)

    locale: str | None = None
    if (node := _get(keys, "locale")) is not None and not _is_null(node):
        text = src.text(node, f"{what}: locale")
        if text is not None and text not in LOCALES:
            src.error(
                node,
                f"{what}: unknown locale '{text}'{_hint(text, LOCALES)}; "
                f"known: {', '.join(sorted(LOCALES))}",
            )
        else:
            locale = text

    currency: str | None = None
    if (node := _get(keys, "currency")) is not None:
        part = src.mapping(node, f"{what}: currency", optional=("column", "code"))
        if part is not None:
            if (value := _get(part, "column")) is not None:
                for column, item in _columns_of(src, value, f"{what}: currency.column"):
                    add(column, "currency", item)
            if (value := _get(part, "code")) is not None:
                code = src.text(value, f"{what}: currency.code")
                if code is not None and not _CODE.match(code):
                    src.error(value, f"{what}: currency.code '{code}' is not an ISO 4217 code")
                else:
                    currency = code

    if (node := _get(keys, "columns")) is not None:
        if not isinstance(node, yaml.MappingNode) or not node.value:
            src.error(node, f"{what}: columns must map platform columns to metric fields")
        else:
            for key_node, value_node in node.value:
                header = src.text(key_node, f"{what}: column name")
                wanted = src.text(value_node, f"{what}: columns.{key_node.value}")
                if header is None or wanted is None:
                    continue
                if wanted not in FIELDS:
                    src.error(
                        value_node,
                        f"{what}: unknown field '{wanted}'{_hint(wanted, FIELDS)}; metric "
                        f"fields are {', '.join(FIELDS)} (ids, dates and currency have their "
                        "own sections: placement, date, currency)",
                    )
                    continue
                add(header, wanted, key_node)

    patterns: dict[str, str] = {}
    if (node := _get(keys, "patterns")) is not None:
        if not isinstance(node, yaml.MappingNode):
            src.error(node, f"{what}: patterns must map header patterns to metric fields")
        else:
            for key_node, value_node in node.value:
                pattern = src.text(key_node, f"{what}: pattern")
                wanted = src.text(value_node, f"{what}: patterns value")
                if pattern is None or wanted is None:
                    continue
                try:
                    compiled = re.compile(pattern)
                except re.error as exc:
                    src.error(key_node, f"{what}: pattern '{pattern}' is not a valid regex: {exc}")
                    continue
                if set(compiled.groupindex) - {"currency"}:
                    src.error(
                        key_node, f"{what}: pattern '{pattern}': the only named group is 'currency'"
                    )
                elif wanted not in FIELDS:
                    src.error(
                        value_node, f"{what}: unknown field '{wanted}'{_hint(wanted, FIELDS)}"
                    )
                else:
                    patterns[pattern] = wanted

    header_line: int | None = None
    totals: tuple[str, ...] = DEFAULT_TOTALS
    if (node := _get(keys, "skip")) is not None:
        part = src.mapping(node, f"{what}: skip", optional=("header_line", "totals"))
        if part is not None:
            if (value := _get(part, "header_line")) is not None:
                text = value.value if isinstance(value, yaml.ScalarNode) else ""
                if not (isinstance(text, str) and text.isdigit() and 1 <= int(text) <= 1000):
                    src.error(
                        value, f"{what}: skip.header_line must be a line number from 1 to 1000"
                    )
                else:
                    header_line = int(text)
            if (value := _get(part, "totals")) is not None:
                totals = (
                    ()
                    if _is_null(value)
                    else tuple(t for t, _ in src.texts(value, f"{what}: skip.totals"))
                )

    channel: str | None = None
    if (node := _get(keys, "channel")) is not None and not _is_null(node):
        channel = _channel(src, node, f"{what}: channel", channels)

    campaign_types: dict[str, str | None] = {}
    if (node := _get(keys, "campaign_types")) is not None:
        part = src.mapping(node, f"{what}: campaign_types", required=("column", "channels"))
        if part is not None:
            if (value := _get(part, "column")) is not None:
                for column, item in _columns_of(src, value, f"{what}: campaign_types.column"):
                    add(column, "campaign_type", item)
            value = _get(part, "channels")
            if value is not None and not isinstance(value, yaml.MappingNode):
                src.error(
                    value, f"{what}: campaign_types.channels must map campaign types to channels"
                )
            elif value is not None:
                for key_node, value_node in value.value:
                    kind = src.text(key_node, f"{what}: campaign type")
                    if kind is None:
                        continue
                    campaign_types[kind.lower()] = (
                        None
                        if _is_null(value_node)
                        else _channel(
                            src, value_node, f"{what}: campaign_types.channels.{kind}", channels
                        )
                    )

    daily_hint = ""
    if (node := _get(keys, "daily_hint")) is not None:
        daily_hint = src.text(node, f"{what}: daily_hint") or ""

    targets = set(columns.values()) | set(patterns.values())
    if not targets & set(FIELDS):
        src.error(root, f"{what}: map at least one metric column")
    if "date" not in targets:
        src.error(root, f"{what}: name the date column (date.column); rows must be daily")
    if len(src.errors) > before or title is None:
        return None
    return SourceMapping(
        name=name,
        platform=platform,
        title=title,
        columns=MappingProxyType(columns),
        patterns=MappingProxyType(patterns),
        locale=locale,
        channel=channel,
        campaign_types=MappingProxyType(campaign_types),
        daily_hint=daily_hint or "export one row per day",
        date_formats=tuple(date_formats),
        header_line=header_line,
        totals=totals,
        currency=currency,
        origin="built-in" if src.path.parent == BUILTIN_DIR else src.name,
    )


def _format_problem(fmt: str) -> str | None:
    if not {"%d", "%j"} & {fmt[i : i + 2] for i in range(len(fmt) - 1)}:
        return "has no day (%d)"
    try:
        parsed = datetime.strptime(datetime(2026, 11, 20).strftime(fmt), fmt)
    except (ValueError, re.error) as exc:  # re.error: a directive given twice ("%d %d")
        return f"is not a date format: {exc}"
    if parsed.date() != datetime(2026, 11, 20).date():
        return "does not read back the date it writes (give day, month and year)"
    return None


def _read_dir(
    directory: Path, errors: list[PackError], channels: Mapping[str, str] | None
) -> tuple[dict[str, SourceMapping], bytes]:
    found: dict[str, SourceMapping] = {}
    data = b""
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        src = _Source(path, errors)
        if path.suffix not in (".yaml", ".yml"):
            src.error(None, "a source mapping is a .yaml file")
            continue
        if not _NAME.match(path.stem):
            src.error(
                None,
                f"the file name '{path.stem}' is the source's name: lowercase letters, digits "
                "and _ (2 to 32)",
            )
            continue
        root = src.compose()
        data += path.name.encode() + b"\0" + src.data
        if root is None:
            continue
        if path.stem in found:
            src.error(None, f"source '{path.stem}' is declared twice")
            continue
        mapping = parse_source(src, root, path.stem, channels)
        if mapping is not None:
            found[path.stem] = mapping
    return found, data


@cache
def builtin_sources() -> Mapping[str, SourceMapping]:
    """The shipped mappings; a problem in one is a bug of this package, so it raises."""
    errors: list[PackError] = []
    found, _ = _read_dir(BUILTIN_DIR, errors, None)
    if errors:
        raise RuntimeError("; ".join(str(e) for e in errors))
    return MappingProxyType(found)


def parse_sources(
    directory: Path, errors: list[PackError], channels: Mapping[str, str] | None
) -> tuple[Mapping[str, SourceMapping], bytes]:
    """The built-ins and the pack's `sources/*.yaml`, and the bytes read (for the digest)."""
    sources = dict(builtin_sources())
    if not directory.is_dir():
        return MappingProxyType(sources), b""
    own, data = _read_dir(directory, errors, channels)
    for name, mapping in own.items():
        if name in sources:
            errors.append(
                PackError(
                    mapping.origin,
                    None,
                    f"'{name}' is a built-in source; name the file otherwise (the placements' "
                    f"platform stays `platform: {sources[name].platform}`)",
                )
            )
            continue
        sources[name] = mapping
    return MappingProxyType(sources), data


def parse_source_text(
    text: bytes, *, name: str, channels: Mapping[str, str] | None, label: str = "mapping"
) -> tuple[SourceMapping | None, list[PackError]]:
    """A mapping in the same format sent inline (the metrics upload's `mapping` part), its
    problems named `mapping:line`."""
    errors: list[PackError] = []
    src = _Source(Path(label), errors, data=text)
    root = src.compose()
    mapping = None if root is None else parse_source(src, root, name, channels)
    return mapping, errors
