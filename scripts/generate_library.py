"""Generate a synthetic asset library directly in the database, in bulk.

    python scripts/generate_library.py --assets 100000 --campaigns 1000 \
        --database-url postgresql://postgres@127.0.0.1:5432/dam_bench

Rows are realistic for search and campaign benchmarks (titles, descriptions, terms of the shipped
governance pack, tags, campaign links, review/lifecycle states, 1-3 versions per asset) but
HAVE NO BLOBS: every version carries a fake SHA-256 and a blob key that does not exist, so
downloads, renditions and `dam storage check` will report them missing. Use a dedicated database.
Perceptual hashes are clustered in shoots and studio looks as real ones are (`Phashes`).
After loading, build the search index with `dam search reindex` (the bench does it itself).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from dam.config import Settings
from dam.db import create_db_engine, upgrade
from dam.governance.pack import GovernancePack, load_pack
from dam.models import Asset, AssetCampaign, AssetVersion, Campaign

ADJECTIVES = [
    "alpine",
    "misty",
    "rugged",
    "quiet",
    "bright",
    "frosty",
    "golden",
    "windswept",
    "coastal",
    "urban",
    "wild",
]
SUBJECTS = [
    "trail",
    "runner",
    "hiker",
    "climber",
    "tent",
    "backpack",
    "jacket",
    "boots",
    "fleece",
    "summit",
    "ridge",
    "lake",
    "forest",
    "campfire",
    "glacier",
    "canyon",
    "family",
    "kayak",
    "skier",
    "cyclist",
]
SCENES = [
    "at dawn",
    "at sunset",
    "in the rain",
    "on granite",
    "above the clouds",
    "by the lake",
    "in deep snow",
    "on the ridge",
    "in the studio",
    "on white",
    "at basecamp",
    "in autumn light",
]
DESCRIPTIONS = [
    "Lifestyle photo of a {s} {c}, shot for the {season} campaign.",
    "Product shot of the {s} range with detail on seams and fabric.",
    "Social tile featuring a {a} {s} for {season} launches.",
    "Banner artwork: {a} {s} {c}, cropped for web and display.",
    "Catalogue spread with the {s} line; print-ready, CMYK.",
]
TAGS = [
    "spring",
    "summer",
    "autumn",
    "winter",
    "hero",
    "teaser",
    "launch",
    "sale",
    "outdoor",
    "studio",
    "night",
    "snow",
    "rain",
    "waterproof",
    "lightweight",
    "recycled",
    "kids",
    "women",
    "men",
    "team",
]
KINDS = [("image", 0.8), ("video", 0.08), ("document", 0.07), ("vector", 0.05)]
SIZES = [(1600, 1200), (1200, 1600), (1080, 1080), (1920, 1080), (800, 2000)]
CHANNELS = ["email", "social", "web", "display", "print", "ooh"]


def _leaves(pack: GovernancePack, facet_id: str) -> list[str]:
    facet = pack.facet(facet_id)
    return [t.id for t in facet.terms.values() if not t.deprecated]


def _weighted(rng: random.Random, choices: list[tuple[str, float]]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _flip(value: int, rng: random.Random, low: int, high: int) -> int:
    """`value` with between `low` and `high` of its 64 bits flipped."""
    for bit in rng.sample(range(64), rng.randint(low, high)):
        value ^= 1 << bit
    return value


class Phashes:
    """Perceptual hashes clustered as a real library's are, not uniform: assets come in shoots
    (a new shoot every ~12 assets on average) whose photos lie 3-12 bits from the shoot's
    centre; one asset in six is a near-duplicate (0-3 bits) of an earlier one of its shoot; one
    shoot in five is a studio set-up (white background, packshot) centred 4-10 bits from one of
    a handful of shared studio looks, which makes dense regions across shoots; a new version
    moves 0-4 bits from the previous one. `near` are hashes (e.g. of the files a benchmark will
    upload) that one shoot in ten is centred 2-8 bits from, so uploads find lookalikes as they
    do in use. `uniform` draws every hash at random from the generator's own stream (the
    distribution of earlier runs)."""

    def __init__(self, seed: int, *, uniform: bool = False, near: tuple[str, ...] = ()) -> None:
        self.rng = random.Random(seed * 7919 + 1)
        self.uniform = uniform
        self.near = [int(h, 16) for h in near]
        self.studios = [self.rng.getrandbits(64) for _ in range(6)]
        self.shoot: list[int] = []
        self.centre = 0

    def first(self, main: random.Random) -> str:
        if self.uniform:
            return f"{main.getrandbits(64):016x}"
        rng = self.rng
        if not self.shoot or rng.random() < 1 / 12:
            roll = rng.random()
            if self.near and roll < 0.1:
                self.centre = _flip(rng.choice(self.near), rng, 2, 8)
            elif roll < 0.3:
                self.centre = _flip(rng.choice(self.studios), rng, 4, 10)
            else:
                self.centre = rng.getrandbits(64)
            self.shoot = []
        if self.shoot and rng.random() < 1 / 6:
            value = _flip(rng.choice(self.shoot), rng, 0, 3)
        else:
            value = _flip(self.centre, rng, 3, 12)
        self.shoot.append(value)
        return f"{value:016x}"

    def next_version(self, previous: str, main: random.Random) -> str:
        if self.uniform:
            return f"{main.getrandbits(64):016x}"
        return f"{_flip(int(previous, 16), self.rng, 0, 4):016x}"


def generate(
    engine: sa.engine.Engine,
    *,
    pack: GovernancePack,
    assets: int,
    campaigns: int,
    seed: int,
    phashes: Phashes | None = None,
) -> None:
    rng = random.Random(seed)
    hashes = phashes or Phashes(seed)
    now = datetime.now(UTC)
    facets = {f.id: _leaves(pack, f.id) for f in pack.facets}
    campaign_ids = [
        f"{rng.choice(['SPRING', 'SUMMER', 'FALL', 'WINTER', 'HOLIDAY'])}{24 + n % 3}-"
        f"{rng.choice(CHANNELS).upper()}-{n:04d}"
        for n in range(campaigns)
    ]
    tables = SQLModel.metadata.tables
    with engine.begin() as conn:
        rows = [
            {
                "id": c,
                "name": c.replace("-", " ").title(),
                "channel": c.split("-")[1].lower(),
                "created_at": now,
                "updated_at": now,
            }
            for c in campaign_ids
        ]
        if rows:
            conn.execute(sa.insert(tables[Campaign.__tablename__]), rows)
    batch = 5000
    started = time.perf_counter()
    for start in range(0, assets, batch):
        asset_rows: list[dict[str, Any]] = []
        version_rows: list[dict[str, Any]] = []
        link_rows: list[dict[str, Any]] = []
        for n in range(start, min(start + batch, assets)):
            asset_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            subject, adjective = rng.choice(SUBJECTS), rng.choice(ADJECTIVES)
            title = f"{adjective.capitalize()} {subject} {rng.choice(SCENES)}"
            season = rng.choice(["spring", "summer", "autumn", "winter"])
            description = rng.choice(DESCRIPTIONS).format(
                s=subject, a=adjective, c=rng.choice(SCENES), season=season
            )
            terms: dict[str, list[str]] = {}
            for facet in pack.facets:
                if not facet.required and rng.random() < 0.3:
                    continue
                count = rng.randint(1, 2) if facet.multi else 1
                terms[facet.id] = sorted(set(rng.sample(facets[facet.id], count)))
            created = now - timedelta(seconds=rng.randint(0, 3 * 365 * 86400))
            versions = rng.choice([1, 1, 1, 2, 3])
            roll = rng.random()
            state = (
                "approved"
                if roll < 0.7
                else "in_review"
                if roll < 0.8
                else "draft"
                if roll < 0.9
                else "rejected"
            )
            status = "active"
            lifecycle = rng.random()
            if lifecycle < 0.05:
                status = "archived"
            elif lifecycle < 0.08:
                status = "expired"
            published = versions if state == "approved" else (versions - 1 or None)
            if state != "approved" and published is not None:
                published = published if rng.random() < 0.5 else None
            kind = _weighted(rng, KINDS)
            width, height = rng.choice(SIZES)
            # The asset row is the published view; each version carries its own metadata. Half
            # of the assets with a pending draft have a draft title (a metadata change).
            metadata: dict[str, Any] = {
                "title": title,
                "description": description,
                "tags": sorted(set([*rng.sample(TAGS, rng.randint(1, 4)), season])),
                "terms": terms,
                "rights_expire_at": None,
            }
            draft = dict(metadata)
            if published is not None and published != versions and rng.random() < 0.5:
                draft["title"] = f"{title} revised"
            asset_rows.append(
                {
                    "id": asset_id,
                    **metadata,
                    "status": status,
                    "current_version": versions,
                    "published_version": published,
                    "rights_warned_at": None,
                    "revision": versions,
                    "created_by": None,
                    "created_at": created,
                    "updated_at": created,
                }
            )
            phash = ""
            for number in range(1, versions + 1):
                phash = hashes.next_version(phash, rng) if phash else hashes.first(rng)
                sha = hashlib.sha256(f"synthetic-{asset_id}-{number}".encode()).hexdigest()
                ext = {"image": "jpg", "video": "mp4", "document": "pdf", "vector": "svg"}[kind]
                version_rows.append(
                    {
                        "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                        "asset_id": asset_id,
                        "number": number,
                        "blob_key": f"blobs/{sha[:2]}/{sha[2:4]}/{sha}",
                        "sha256": sha,
                        "size": rng.randint(50_000, 20_000_000),
                        "mime_type": f"{kind}/{ext}",
                        "format": ext,
                        "kind": kind,
                        "filename": f"{subject}_{adjective}_{n:06d}_v{number}.{ext}",
                        "width": width,
                        "height": height,
                        "color_mode": "RGB",
                        "icc_profile": None,
                        "phash": phash,
                        "media": {},
                        "renditions": {},
                        "compliance": None,
                        "compliance_status": rng.choice(["pass", "pass", "pass", "warn", "fail"]),
                        "review_state": state if number == versions else "approved",
                        "review_reason": None,
                        "reviewed_by": None,
                        "reviewed_at": None,
                        "submitted_at": None,
                        "restored_from": None,
                        "edited_from": None,
                        **(draft if number == versions else metadata),
                        "created_by": None,
                        "created_at": created + timedelta(days=number - 1),
                    }
                )
            if campaign_ids and rng.random() < 0.6:
                for campaign in set(rng.sample(campaign_ids, rng.randint(1, 3))):
                    link_rows.append(
                        {
                            "asset_id": asset_id,
                            "campaign_id": campaign,
                            "added_by": None,
                            "added_at": created,
                        }
                    )
        with engine.begin() as conn:
            conn.execute(sa.insert(tables[Asset.__tablename__]), asset_rows)
            conn.execute(sa.insert(tables[AssetVersion.__tablename__]), version_rows)
            if link_rows:
                conn.execute(sa.insert(tables[AssetCampaign.__tablename__]), link_rows)
        if engine.dialect.name == "postgresql":
            # Fresh statistics, and with them fresh plans in the triggers' statements: a
            # trigger's cached plan made while a table was nearly empty (a seq scan) stays until
            # the table is analyzed, and autovacuum may be off or late, so the per-row checks
            # of the term-rollup trigger scanned asset_campaigns once per asset_terms row
            # (4,000 assets/s at the start, 160/s at 35k).
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE assets, asset_versions, asset_campaigns, asset_terms")
        done = min(start + batch, assets)
        rate = done / (time.perf_counter() - started)
        print(f"{done}/{assets} assets ({rate:,.0f}/s)", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", help="default: DAM_DATABASE_URL")
    parser.add_argument("--taxonomy-dir", type=Path, default=None)
    parser.add_argument(
        "--uniform-phash",
        action="store_true",
        help="random perceptual hashes (earlier runs' library) instead of clustered shoots",
    )
    args = parser.parse_args()
    settings = Settings()
    url = args.database_url or settings.resolved_database_url
    engine = create_db_engine(url)
    upgrade(engine)
    pack = load_pack(args.taxonomy_dir or settings.taxonomy_dir)
    generate(
        engine,
        pack=pack,
        assets=args.assets,
        campaigns=args.campaigns,
        seed=args.seed,
        phashes=Phashes(args.seed, uniform=args.uniform_phash),
    )


if __name__ == "__main__":
    main()
