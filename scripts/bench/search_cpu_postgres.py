"""CPU per search query on PostgreSQL, per query kind: a figure the neighbours' load does not
change as much as wall time (on a shared machine at load 10 a query's wall time is mostly
waiting for a core).

    python scripts/bench/search_cpu_postgres.py --database-url postgresql://postgres@127.0.0.1:5432/dam_x

Runs the query kinds of scripts/bench/search.py (same generator, same seed) against an index
already built there (`dam search reindex` with DAM_SEARCH=postgres), on one connection, and
prints per kind: the backend's wall p50/p95, the CPU its PostgreSQL server process spent per
query (from /proc/<pid>/stat, so the server must run on this machine), this process's CPU
per query, how many of the results were capped (total_relation "gte"), and the service's
(search_assets: hydration, highlights, facet labels) extra CPU over the backend. The budget
printed beside it is the search bench's: 70 ms p95 wall.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import cpu_seconds, load_average
from search import BUDGET_MS, pct, query_kinds

from dam.config import SearchKind, Settings
from dam.context import build_context
from dam.search import service


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--runs", type=int, default=20, help="queries per kind")
    args = parser.parse_args()
    settings = Settings(
        database_url=args.database_url,
        search=SearchKind.postgres,
        data_dir=Path(os.environ.get("TMPDIR", "/tmp")) / "dam-search-cpu",
        taxonomy_dir=Path("taxonomy"),
    )
    ctx = build_context(settings)
    backend = service.get_search(ctx)
    pack = ctx.governance.pack
    print(f"start: {load_average()}  ({os.cpu_count()} cores)")
    print(
        f"{'query kind':<20}{'be p50':>8}{'be p95':>8}{'pg cpu':>8}{'py cpu':>8}{'capped':>8}"
        f"{'svc cpu':>9}  ms (cpu: per query); wall budget p95 <= {BUDGET_MS:.0f}"
    )
    rng = random.Random(1)
    with Session(ctx.engine) as session:
        pid = int(session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
        session.rollback()
        for name, make in query_kinds(rng).items():
            queries = [make() for _ in range(args.runs)]
            requests = [
                service.build_request(q.params, pack=pack, principal=q.principal) for q in queries
            ]
            for request in requests[:3]:  # warm the caches and the key ids
                backend.search(session, request)
                session.rollback()
            wall: list[float] = []
            capped = 0
            pg0, py0 = cpu_seconds(pid), time.process_time()
            for request in requests:
                started = time.perf_counter()
                result = backend.search(session, request)
                wall.append((time.perf_counter() - started) * 1000)
                # getattr: the script also runs against code from before the match cap.
                capped += getattr(result, "total_relation", "eq") == "gte"
                session.rollback()
            pg1, py1 = cpu_seconds(pid), time.process_time()
            for query in queries:
                service.search_assets(
                    session, ctx=ctx, principal=query.principal, params=query.params
                )
                session.rollback()
            py2 = time.process_time()
            n = len(requests)
            print(
                f"{name:<20}{statistics.median(wall):>8.1f}{pct(wall, 0.95):>8.1f}"
                f"{(pg1 - pg0) * 1000 / n:>8.1f}{(py1 - py0) * 1000 / n:>8.1f}"
                f"{f'{capped}/{n}':>8}{((py2 - py1) - (py1 - py0)) * 1000 / n:>9.1f}"
            )
    print(f"end: {load_average()}")
    ctx.engine.dispose()


if __name__ == "__main__":
    main()
