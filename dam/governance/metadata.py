"""`metadata.yaml` of the governance pack: how embedded metadata pre-fills asset fields, which
roles may see location data, and what leaves the building.

The file is optional; without it :data:`DEFAULT_POLICY` applies (the mapping documented in
`taxonomy/README.md`). :func:`dam.governance.prefill.prefill` is the one place that turns a
file's embedded block into asset metadata; explicit metadata from the request always wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import yaml

from dam.governance.yamlsource import _FacetDraft, _Source

__all__ = [
    "AUDIENCES",
    "CORE_FIELDS",
    "DEFAULT_POLICY",
    "EMBEDDED_FIELDS",
    "METADATA_FILE",
    "FieldMapping",
    "MetadataPolicy",
]

METADATA_FILE = "metadata.yaml"

# Normalised embedded fields a mapping may read, and whether each holds a list or a date.
EMBEDDED_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "title": "text",
        "headline": "text",
        "description": "text",
        "keywords": "list",
        "creator": "list",
        "credit": "text",
        "copyright_notice": "text",
        "usage_terms": "text",
        "web_statement": "text",
        "licence_start": "date",
        "licence_end": "date",
        "capture_date": "date",
        "camera_make": "text",
        "camera_model": "text",
        "lens": "text",
        "persons_shown": "list",
        "model_release_status": "text",
        "model_release_ids": "list",
        "property_release_status": "text",
        "digital_source_type": "text",
    }
)
_RAW_KEY = re.compile(
    r"^(Exif|Iptc|Xmp)\.[A-Za-z0-9]+\.[A-Za-z0-9_:\[\]/.-]+$|^(pdf|container)\.\S+$"
)
# Asset fields every asset has; anything else a mapping names is a governed extra field.
CORE_FIELDS = ("title", "description", "tags", "terms", "rights_expire_at")
_FIELD_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_TITLE_MAX = 500
_TEXT_MAX = 2000
_TAGS_MAX = 50

ROLES = ("admin", "brand_manager", "designer", "marketer", "automation")
# Where bytes go: derived files, and the recipients of originals.
AUDIENCES = ("renditions", "derivatives", *ROLES, "delivery_link")
STRIP_CATEGORIES = ("gps", "location")


@dataclass(frozen=True)
class FieldMapping:
    field: str
    sources: tuple[str, ...]  # embedded field names or raw keys, first non-empty wins
    facets: tuple[str, ...] = ()  # terms only: facets whose labels/synonyms keywords resolve in


@dataclass(frozen=True)
class MetadataPolicy:
    mappings: tuple[FieldMapping, ...]
    location_visible_to: frozenset[str]
    strip: frozenset[str]  # gps | location
    strip_from: frozenset[str]  # audiences

    @property
    def extra_fields(self) -> tuple[str, ...]:
        """Governed fields beyond the core ones (creator, credit, …), in declaration order."""
        return tuple(m.field for m in self.mappings if m.field not in CORE_FIELDS)

    def may_see_location(self, role: str) -> bool:
        """Whether the embedded block shown to `role` keeps GPS and place names."""
        return role in self.location_visible_to

    def strips_location(self, audience: str) -> frozenset[str]:
        """What to take out of bytes going to `audience` (a role, `delivery_link`,
        `renditions`, `derivatives`): a subset of {"gps", "location"}, empty when untouched."""
        return self.strip if audience in self.strip_from else frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            "fields": {
                m.field: {
                    "from": list(m.sources),
                    **({"facets": list(m.facets)} if m.facets else {}),
                }
                for m in self.mappings
            },
            "privacy": {
                "location_visible_to": sorted(self.location_visible_to),
                "strip": sorted(self.strip),
                "strip_from": sorted(self.strip_from),
            },
        }


DEFAULT_POLICY = MetadataPolicy(
    mappings=(
        FieldMapping("title", ("title", "headline")),
        FieldMapping("description", ("description",)),
        FieldMapping("tags", ("keywords",)),
        FieldMapping("rights_expire_at", ("licence_end",)),
        FieldMapping("creator", ("creator",)),
        FieldMapping("credit", ("credit",)),
        FieldMapping("copyright", ("copyright_notice",)),
        FieldMapping("usage_terms", ("usage_terms",)),
        FieldMapping("model_release", ("model_release_ids",)),
    ),
    location_visible_to=frozenset({"admin", "brand_manager", "designer"}),
    strip=frozenset(STRIP_CATEGORIES),
    strip_from=frozenset({"renditions", "derivatives", "marketer", "automation", "delivery_link"}),
)


# --- loading --------------------------------------------------------------------------------------


def parse_metadata(
    src: _Source, root: yaml.Node, facets: Mapping[str, _FacetDraft] | None
) -> MetadataPolicy | None:
    """Validate `metadata.yaml`; errors go to `src` with their lines. None when invalid."""
    keys = src.mapping(root, "metadata", optional=("fields", "privacy"))
    if keys is None:
        return None
    errors_before = len(src.errors)
    mappings = DEFAULT_POLICY.mappings
    if (node := _get("fields", keys)) is not None:
        mappings = _parse_fields(src, node, facets)
    visible = DEFAULT_POLICY.location_visible_to
    strip = DEFAULT_POLICY.strip
    strip_from = DEFAULT_POLICY.strip_from
    if (node := _get("privacy", keys)) is not None:
        privacy = src.mapping(
            node, "privacy", optional=("location_visible_to", "strip", "strip_from")
        )
        if privacy is not None:
            if (value := _get("location_visible_to", privacy)) is not None:
                visible = _choices(src, value, "privacy.location_visible_to", ROLES)
            if (value := _get("strip", privacy)) is not None:
                strip = _choices(src, value, "privacy.strip", STRIP_CATEGORIES)
                if strip and "gps" not in strip:
                    src.error(
                        value,
                        "privacy.strip: 'location' without 'gps' would keep the "
                        "coordinates while removing place names; list gps too",
                    )
            if (value := _get("strip_from", privacy)) is not None:
                strip_from = _choices(src, value, "privacy.strip_from", AUDIENCES)
    if len(src.errors) > errors_before:
        return None
    return MetadataPolicy(
        mappings=mappings, location_visible_to=visible, strip=strip, strip_from=strip_from
    )


def _get(key: str, keys: Mapping[str, tuple[yaml.Node, yaml.Node]]) -> yaml.Node | None:
    entry = keys.get(key)
    return None if entry is None else entry[1]


def _choices(src: _Source, node: yaml.Node, what: str, allowed: Sequence[str]) -> frozenset[str]:
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return frozenset()
    out = set()
    for text, item in src.texts(node, what):
        if text not in allowed:
            src.error(item, f"{what}: unknown value '{text}'; use {', '.join(allowed)}")
        else:
            out.add(text)
    return frozenset(out)


def _parse_fields(
    src: _Source, node: yaml.Node, facets: Mapping[str, _FacetDraft] | None
) -> tuple[FieldMapping, ...]:
    if not isinstance(node, yaml.MappingNode):
        src.error(node, "fields must map asset fields to their sources")
        return ()
    out: list[FieldMapping] = []
    seen: set[str] = set()
    for key_node, value_node in node.value:
        name = key_node.value if isinstance(key_node, yaml.ScalarNode) else ""
        if not _FIELD_ID.match(name):
            src.error(key_node, f"fields: '{name}' must be lowercase letters, digits and _")
            continue
        if name in seen:
            src.error(key_node, f"fields: '{name}' is listed twice")
            continue
        seen.add(name)
        what = f"fields.{name}"
        if isinstance(value_node, yaml.ScalarNode) and value_node.tag == "tag:yaml.org,2002:null":
            out.append(FieldMapping(name, ()))  # governed, filled by people only
            continue
        optional = ("from", "facets") if name == "terms" else ("from",)
        keys = src.mapping(value_node, what, optional=optional)
        if keys is None:
            continue
        sources: list[str] = []
        if (from_node := _get("from", keys)) is not None:
            for text, item in src.texts(from_node, f"{what}.from"):
                problem = _source_problem(name, text)
                if problem:
                    src.error(item, f"{what}.from: {problem}")
                else:
                    sources.append(text)
        facet_ids: list[str] = []
        if name == "terms":
            facets_node = _get("facets", keys)
            if facets_node is None:
                src.error(value_node, f"{what}: list the facets keywords may become terms of")
            else:
                for text, item in src.texts(facets_node, f"{what}.facets"):
                    if facets is not None and text not in facets:
                        src.error(item, f"{what}.facets: unknown facet '{text}'")
                    else:
                        facet_ids.append(text)
        out.append(FieldMapping(name, tuple(sources), tuple(facet_ids)))
    return tuple(out)


def _source_problem(target: str, source: str) -> str | None:
    kind = EMBEDDED_FIELDS.get(source)
    if kind is None:
        if _RAW_KEY.match(source):
            return None  # a raw key (Xmp.plus.LicenseEndDate, Iptc.Application2.Credit…)
        names = ", ".join(EMBEDDED_FIELDS)
        return (
            f"unknown source '{source}'; use an embedded field ({names}) or a raw key such "
            "as Xmp.dc.title or Iptc.Application2.ObjectName"
        )
    if target == "rights_expire_at" and kind != "date":
        return f"rights_expire_at needs a date; '{source}' is {kind}"
    if target == "terms" and kind != "list" and kind != "text":
        return f"terms are taken from words; '{source}' is a {kind}"
    return None
