"""The manifest of `dam import`: a CSV with one row per file of the folder.

Columns (header names, case-insensitive; only `filename` is required):

| column | value |
|---|---|
| `filename` | the file's path inside the folder (`shoot/a.jpg`); never outside it |
| `title`, `description` | text |
| `tags` | tags separated by `;` |
| `<facet>` or `terms.<facet>` | terms of that facet (id, label or synonym) separated by `;` |
| `campaign_ids` | campaign ids separated by `;` |
| `rights_expire_at` | ISO 8601 date (`2027-06-30`, midnight UTC) or date-time with a zone |
| `extra.<field>` | a governed field of the pack's metadata.yaml (`extra.creator`, `extra.credit`) |

An empty cell sends nothing for its field, so the file's embedded metadata pre-fills it (as
on every upload); a title still empty comes from the file name. Every problem is reported by
row, before anything is stored: a missing file, a duplicate filename, a path leaving the
folder, a bad date or tag; files of the folder that no row names are listed too. Columns the
tool does not know refuse the whole manifest, naming them.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dam.assets.schemas import AssetMetadataIn

SEPARATOR = ";"
CORE_COLUMNS = ("filename", "title", "description", "tags", "campaign_ids", "rights_expire_at")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


class ManifestInvalid(ValueError):
    """The manifest as a whole cannot be read (its columns, its encoding)."""


@dataclass
class Row:
    line: int  # the CSV line (the header is line 1)
    filename: str
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Manifest:
    rows: list[Row]
    unlisted: list[str]  # files of the folder that no row names


def _split(cell: str) -> list[str]:
    return [part.strip() for part in cell.split(SEPARATOR) if part.strip()]


def _columns(header: list[str], facets: set[str]) -> dict[int, tuple[str, str]]:
    """Column index -> (kind, name): core field, term facet or extra field."""
    found: dict[int, tuple[str, str]] = {}
    unknown: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    for index, raw in enumerate(header):
        name = raw.strip()
        lower = name.lower()
        if lower in CORE_COLUMNS:
            target = ("core", lower)
        elif lower.startswith("terms.") and lower.removeprefix("terms.") in facets:
            target = ("term", lower.removeprefix("terms."))
        elif lower in facets:
            target = ("term", lower)
        elif lower.startswith("extra.") and len(lower) > len("extra."):
            target = ("extra", name[len("extra.") :].strip())
        else:
            unknown.append(name or f"(empty, column {index + 1})")
            continue
        if target in seen:
            raise ManifestInvalid(f"columns {seen[target]!r} and {name!r} both set {target[1]}")
        seen[target] = name
        found[index] = target
    if unknown:
        raise ManifestInvalid(
            f"unknown columns: {', '.join(unknown)}; use {', '.join(CORE_COLUMNS)}, a facet id "
            f"({', '.join(sorted(facets))}) or terms.<facet>, and extra.<field>"
        )
    if ("core", "filename") not in seen:
        raise ManifestInvalid("the manifest has no 'filename' column")
    return found


def _metadata(cells: dict[tuple[str, str], str], row: Row) -> dict[str, Any]:
    out: dict[str, Any] = {}
    terms: dict[str, list[str]] = {}
    extra: dict[str, str] = {}
    for (kind, name), value in cells.items():
        value = value.strip()
        if not value or (kind, name) == ("core", "filename"):
            continue  # empty: left to the file's embedded metadata
        if kind == "term":
            terms[name] = _split(value)
        elif kind == "extra":
            extra[name] = value
        elif name in ("tags", "campaign_ids"):
            out[name] = _split(value)
        elif name == "rights_expire_at":
            out[name] = f"{value}T00:00:00Z" if _DATE.match(value) else value
        else:
            out[name] = value
    if terms:
        out["terms"] = terms
    if extra:
        out["extra"] = extra
    try:
        AssetMetadataIn.model_validate(out)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
            row.problems.append(f"{where}: {err['msg']}")
    return out


def _inside(folder: Path, name: str) -> Path | None:
    candidate = (folder / name).resolve()
    root = folder.resolve()
    return candidate if candidate.is_relative_to(root) and candidate != root else None


def folder_files(folder: Path, *, skip: set[Path]) -> list[str]:
    """Every file under `folder` (not hidden, not the manifest or results), relative, sorted."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.resolve() not in skip:
            found.append(relative.as_posix())
    return found


def read_manifest(path: Path, folder: Path, *, facets: set[str], skip: set[Path]) -> Manifest:
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ManifestInvalid(f"the manifest is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestInvalid(f"the manifest is not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None:
        raise ManifestInvalid("the manifest is empty")
    columns = _columns(header, {f.lower() for f in facets})
    filename_index = next(i for i, (k, n) in columns.items() if (k, n) == ("core", "filename"))
    rows: list[Row] = []
    first_line: dict[str, int] = {}
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue  # blank lines are not rows
        filename = cells[filename_index].strip() if filename_index < len(cells) else ""
        row = Row(line=line, filename=filename)
        if len(cells) > len(header):
            row.problems.append(f"{len(cells)} cells for {len(header)} columns")
        by_column = {
            columns[i]: cells[i] if i < len(cells) else "" for i in columns if i != filename_index
        }
        row.metadata = _metadata(by_column, row)
        if not filename:
            row.problems.append("no filename")
        else:
            key = filename.replace("\\", "/")
            if key in first_line:
                row.problems.append(f"duplicate filename: also on line {first_line[key]}")
            else:
                first_line[key] = line
            inside = _inside(folder, key)
            if inside is None:
                row.problems.append(f"{filename!r} is not inside the folder")
            elif not inside.is_file():
                row.problems.append(f"no file {filename!r} in {folder}")
            else:
                row.path = inside
        rows.append(row)
    listed = {r.path.relative_to(folder.resolve()).as_posix() for r in rows if r.path is not None}
    unlisted = [
        name
        for name in folder_files(folder, skip=skip)
        if name not in listed and name not in first_line
    ]
    return Manifest(rows=rows, unlisted=unlisted)
