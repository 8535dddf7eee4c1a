"""Pre-filling asset metadata from a file's embedded block, with the mapping of the pack's
`metadata.yaml` (`dam.governance.metadata`); explicit metadata from the request always wins."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from dam.governance.metadata import (
    _TAGS_MAX,
    _TEXT_MAX,
    _TITLE_MAX,
    EMBEDDED_FIELDS,
    FieldMapping,
)
from dam.governance.pack import GovernancePack
from dam.media.embedded import EmbeddedMetadata, licence_end_as_expiry

__all__ = ["embedded_for", "prefill"]


# --- pre-filling ----------------------------------------------------------------------------------


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, Mapping | Sequence):
        return len(value) > 0
    return True


def _value_of(metadata: EmbeddedMetadata, source: str) -> tuple[Any, str | None]:
    """The value of an embedded field or raw key, and the raw key it came from."""
    if source in EMBEDDED_FIELDS:
        value = getattr(metadata.embedded, source)
        return value, metadata.sources.get(source, source)
    block, _, rest = source.partition(".")
    table = metadata.raw.get(block.lower() if block in ("Exif", "Iptc", "Xmp") else block, {})
    key = source if block in ("Exif", "Iptc", "Xmp") else rest
    value = table.get(key)
    if isinstance(value, Mapping):
        value = value.get('lang="x-default"') or next(iter(value.values()), None)
    return value, source


def _as_text(value: Any) -> str | None:
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value if str(v).strip())
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return text or None


def _as_list(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [" ".join(str(v).split()) for v in items if isinstance(v, str) and v.strip()]


def _as_expiry(value: Any) -> datetime | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, str):
        return None
    text = value.strip().replace(":", "-", 2) if re.match(r"^\d{4}:\d{2}:\d{2}", value) else value
    if len(text) == 10:
        return licence_end_as_expiry(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return licence_end_as_expiry(text[:10])
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _explicit_facets(pack: GovernancePack, terms: Mapping[str, Any]) -> set[str]:
    given = set()
    for name, values in terms.items():
        facet = pack.resolve_facet(name) if isinstance(name, str) else None
        if facet is not None and _present(values):
            given.add(facet)
    return given


def prefill(
    pack: GovernancePack,
    embedded: EmbeddedMetadata | None,
    explicit: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Asset metadata from `explicit` (what the request says) completed from the file.

    Returns `(fields, sources)`: `fields` is `explicit` with every mapped field it leaves empty
    filled from the embedded block (title, description, tags, terms, rights_expire_at as an
    aware datetime, and the pack's extra fields as text); `sources` maps each field that came
    from the file to the raw key it was read from (`"terms.visual_style"` for terms). A field
    present and non-empty in `explicit` is never replaced; terms are completed per facet, so an
    explicit `visual_style` keeps the file's keywords out of that facet only.
    """
    fields: dict[str, Any] = dict(explicit)
    sources: dict[str, str] = {}
    if embedded is None:
        return fields, sources
    policy = pack.metadata
    for mapping in policy.mappings:
        if mapping.field == "terms":
            _prefill_terms(pack, mapping, embedded, fields, sources)
            continue
        if _present(explicit.get(mapping.field)):
            continue
        for source in mapping.sources:
            value, origin = _value_of(embedded, source)
            converted = _convert(mapping.field, value)
            if _present(converted):
                fields[mapping.field] = converted
                sources[mapping.field] = origin or source
                break
    return fields, sources


def _convert(target: str, value: Any) -> Any:
    if target == "tags":
        seen: set[str] = set()
        tags = []
        for word in _as_list(value):
            if word.casefold() not in seen:
                seen.add(word.casefold())
                tags.append(word[:100])
        return tags[:_TAGS_MAX]
    if target == "rights_expire_at":
        return _as_expiry(value)
    text = _as_text(value)
    if text is None:
        return None
    return text[: _TITLE_MAX if target == "title" else _TEXT_MAX]


def _prefill_terms(
    pack: GovernancePack,
    mapping: FieldMapping,
    embedded: EmbeddedMetadata,
    fields: dict[str, Any],
    sources: dict[str, str],
) -> None:
    explicit_terms = fields.get("terms") if isinstance(fields.get("terms"), Mapping) else {}
    assert isinstance(explicit_terms, Mapping)
    taken = _explicit_facets(pack, explicit_terms)
    words: list[tuple[str, str]] = []
    for source in mapping.sources:
        value, origin = _value_of(embedded, source)
        words += [(w, origin or source) for w in _as_list(value)]
    found: dict[str, list[str]] = {}
    origins: dict[str, str] = {}
    for facet_id in mapping.facets:
        if facet_id in taken or not pack.has_facet(facet_id):
            continue
        facet = pack.facet(facet_id)
        for word, origin in words:
            term_id = facet.resolve(word)
            if term_id is None or term_id in found.get(facet_id, []):
                continue
            if not facet.multi and found.get(facet_id):
                continue
            found.setdefault(facet_id, []).append(term_id)
            origins[facet_id] = origin
    if not found:
        return
    merged = {str(k): v for k, v in explicit_terms.items()}
    for facet_id, term_ids in found.items():
        merged[facet_id] = term_ids
        sources[f"terms.{facet_id}"] = origins[facet_id]
    fields["terms"] = merged


def embedded_for(role: str, pack: GovernancePack, metadata: EmbeddedMetadata) -> dict[str, Any]:
    """The embedded block as `role` may see it: without GPS and place names unless allowed."""
    return metadata.to_json(include_location=pack.metadata.may_see_location(role))
