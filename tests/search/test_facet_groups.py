"""The grouping strings PostgreSQL counts facets from must give exactly the per-key counts."""

from __future__ import annotations

from collections import Counter

from dam.search.document import COUNTED_PREFIXES
from dam.search.postgres_backend import GROUP_SEP, expand_group_counts, facet_groups

DOCS = [
    [
        "f:region:de",
        "f:region:emea",
        "f:region:global",
        "type:image",
        "status:active",
        "campaign:SPRING26-EMAIL",
        "campaign:SUMMER26",
        "f:asset_type:photo",
        "tag:spring",
    ],
    [
        "f:region:fr",
        "f:region:emea",
        "f:region:global",
        "type:image",
        "status:archived",
        "campaign:SUMMER26",
        "f:asset_type:photo",
    ],
    ["f:asset_type:logo", "type:vector", "status:active"],
]


def test_grouped_counts_equal_key_counts() -> None:
    prefixes = tuple(COUNTED_PREFIXES)
    expected = Counter(k for doc in DOCS for k in doc if k.startswith(prefixes))
    grouped = Counter(g for doc in DOCS for g in facet_groups(doc) or [])
    assert expand_group_counts(grouped.items(), prefixes) == dict(expected)


def test_each_facet_is_one_group_and_campaigns_stand_alone() -> None:
    groups = facet_groups(DOCS[0])
    assert groups is not None
    assert "campaign:SUMMER26" in groups and "campaign:SPRING26-EMAIL" in groups
    region = [g for g in groups if "f:region:de" in g]
    assert region == [
        GROUP_SEP + GROUP_SEP.join(["f:region:de", "f:region:emea", "f:region:global"])
    ]
    assert not any("tag:spring" in g for g in groups)  # tags are not counted as facets


def test_key_containing_the_separator_falls_back_to_keys() -> None:
    assert facet_groups(["f:region:de", "f:brand:x" + GROUP_SEP + "y"]) is None


def test_expansion_keeps_only_requested_prefixes() -> None:
    rows = [(GROUP_SEP + "type:image" + GROUP_SEP + "status:active", 3), ("campaign:A", 2)]
    assert expand_group_counts(rows, ("type:",)) == {"type:image": 3}
