"""Search benchmark: a synthetic library, both backends, a mixed query set, p50/p95/p99.

    python scripts/bench/search.py --assets 100000 \
        --database-url postgresql://postgres@127.0.0.1:5432/dam_bench [--skip-generate]
        [--backend whoosh --data-dir /tmp/dam-whoosh [--reuse-index]]

Generates the library (scripts/generate_library.py) into the given, dedicated PostgreSQL
database unless --skip-generate, builds each index with `service.reindex` (timed), then runs
every query kind through `dam.search.service.search_assets` in-process (no HTTP): each query
computes the page, the total and every facet count, as the API does. Budget: p95 <= 100 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generate_library import generate

from dam.config import SearchKind, Settings
from dam.context import build_context
from dam.db import upgrade
from dam.models import Role
from dam.principal import Principal
from dam.search import service
from dam.search.schemas import SearchParams

BUDGET_MS = 100.0
ADMIN = Principal(id=uuid.uuid4(), name="bench admin", role=Role.admin)
MARKETER = Principal(id=uuid.uuid4(), name="bench marketer", role=Role.marketer)
WORDS = ["runner", "tent", "glacier", "boots", "jacket", "summit", "kayak", "campfire", "lake"]
PHRASES = ['"trail runner"', '"in the rain"', '"product shot"', '"deep snow"', '"at dawn"']
PREFIXES = ["gl", "ten", "camp", "bo", "jac", "su", "ka"]
REGIONS = ["emea", "de", "amer", "apac", "nordics", "us"]
CHANNELS = ["social", "email", "instagram", "print", "web"]


def query_kinds(rng: random.Random) -> dict[str, Callable[[], tuple[Principal, SearchParams]]]:
    def p(**kw: object) -> SearchParams:
        return SearchParams.model_validate(kw)

    return {
        "word": lambda: (ADMIN, p(q=rng.choice(WORDS))),
        "two words": lambda: (ADMIN, p(q=f"{rng.choice(WORDS)} {rng.choice(WORDS)}")),
        "phrase": lambda: (ADMIN, p(q=rng.choice(PHRASES))),
        "prefix": lambda: (ADMIN, p(q=f"alpine {rng.choice(PREFIXES)}")),
        "exclusion": lambda: (ADMIN, p(q=f"{rng.choice(WORDS)} -winter")),
        "facet filter": lambda: (ADMIN, p(facets={"region": [rng.choice(REGIONS)]})),
        "facets x2 + type": lambda: (
            ADMIN,
            p(
                type=["image"],
                facets={"region": [rng.choice(REGIONS)], "channel": [rng.choice(CHANNELS)]},
            ),
        ),
        "match all + counts": lambda: (ADMIN, p()),
        "word + facet": lambda: (
            ADMIN,
            p(q=rng.choice(WORDS), facets={"region": [rng.choice(REGIONS)]}),
        ),
        "sort newest": lambda: (ADMIN, p(q=rng.choice(WORDS), sort="newest")),
        "sort title p5": lambda: (ADMIN, p(sort="title", page=5)),
        "marketer word": lambda: (MARKETER, p(q=rng.choice(WORDS))),
        "marketer browse": lambda: (MARKETER, p(facets={"channel": [rng.choice(CHANNELS)]})),
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_backend(
    kind: SearchKind, *, url: str, runs: int, data_dir: Path, reuse_index: bool = False
) -> None:
    settings = Settings(
        database_url=url, search=kind, data_dir=data_dir, taxonomy_dir=Path("taxonomy")
    )
    ctx = build_context(settings)
    upgrade(ctx.engine)
    if reuse_index:
        print(f"\n== {kind.value}: reusing the index under {data_dir}")
    else:
        started = time.perf_counter()
        with Session(ctx.engine) as session:
            count = service.reindex(session, ctx=ctx)
            session.commit()
        build = time.perf_counter() - started
        print(f"\n== {kind.value}: index build {build:.1f} s for {count} assets")
    rng = random.Random(1)
    kinds = query_kinds(rng)
    with Session(ctx.engine) as session:
        # Warm-up: whoosh builds its per-generation filter bitsets on the first search.
        warm = time.perf_counter()
        service.search_assets(session, ctx=ctx, principal=ADMIN, params=SearchParams())
        print(f"first search after build (warm-up): {(time.perf_counter() - warm) * 1000:.0f} ms")
        print(f"{'query kind':<20}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'budget':>9}  avg hits")
        for name, make in kinds.items():
            times: list[float] = []
            totals: list[int] = []
            for _ in range(runs):
                principal, params = make()
                t0 = time.perf_counter()
                page = service.search_assets(session, ctx=ctx, principal=principal, params=params)
                times.append((time.perf_counter() - t0) * 1000)
                totals.append(page.total)
            p95 = pct(times, 0.95)
            verdict = "ok" if p95 <= BUDGET_MS else "OVER"
            print(
                f"{name:<20}{pct(times, 0.5):>9.1f}{p95:>9.1f}{pct(times, 0.99):>9.1f}"
                f"{verdict:>9}  {statistics.mean(totals):,.0f}"
            )
            session.rollback()
    ctx.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=100, help="queries per kind")
    parser.add_argument("--database-url", required=True, help="a dedicated PostgreSQL database")
    parser.add_argument("--skip-generate", action="store_true")
    parser.add_argument("--backend", choices=["whoosh", "postgres", "both"], default="both")
    parser.add_argument(
        "--data-dir", type=Path, help="keep the whoosh index here instead of a temp dir"
    )
    parser.add_argument(
        "--reuse-index",
        action="store_true",
        help="search the index already built (--data-dir, or PostgreSQL) without reindexing",
    )
    args = parser.parse_args()
    settings = Settings(database_url=args.database_url)
    if not args.skip_generate:
        from dam.db import create_db_engine
        from dam.governance.pack import load_pack

        engine = create_db_engine(args.database_url)
        upgrade(engine)
        started = time.perf_counter()
        generate(
            engine,
            pack=load_pack(settings.taxonomy_dir),
            assets=args.assets,
            campaigns=args.campaigns,
            seed=7,
        )
        print(f"generated {args.assets} assets in {time.perf_counter() - started:.1f} s")
        engine.dispose()
    backends = (
        [SearchKind.whoosh, SearchKind.postgres]
        if args.backend == "both"
        else [SearchKind(args.backend)]
    )
    if args.reuse_index and args.data_dir is None and SearchKind.whoosh in backends:
        parser.error("--reuse-index with the whoosh backend needs --data-dir")
    with tempfile.TemporaryDirectory(prefix="dam-bench-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        for kind in backends:
            run_backend(
                kind,
                url=args.database_url,
                runs=args.runs,
                data_dir=data_dir,
                reuse_index=args.reuse_index,
            )


if __name__ == "__main__":
    main()
