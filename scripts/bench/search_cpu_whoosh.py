"""CPU time per whoosh query on a new index generation, for a machine too loaded for wall times.

    python scripts/bench/search_cpu_whoosh.py DATA_DIR/search/whoosh [--runs 8] [KIND ...]

Opens an index already built (e.g. by `scripts/bench/search.py --data-dir DATA_DIR`), and for
each query kind of the search bench (or the named ones) writes one document before each query,
as an upload does, so every query runs on a new generation; prints the median and the largest
CPU time (`time.process_time`) of those queries, and of the same query repeated on the same
generation, with the load. Run the code before and after a change in consecutive minutes: CPU
time moves far less with the load than wall time. The written documents stay in the index
(`dam search reindex` removes them).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_average
from search import query_kinds

from dam.governance.pack import load_pack
from dam.search import service
from dam.search.document import SearchDocument
from dam.search.whoosh_backend import WhooshBackend


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("index", type=Path, help="the whoosh index directory (holds CURRENT)")
    parser.add_argument("kinds", nargs="*", help="query kinds (default: all)")
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_intermixed_args()
    pack = load_pack(Path(__file__).resolve().parents[2] / "taxonomy")
    backend = WhooshBackend(args.index)
    kinds = query_kinds(random.Random(1))
    print(f"start: {load_average()}")
    first = kinds["match all + counts"]()
    request = service.build_request(first.params, pack=pack, principal=first.principal)
    wall, cpu = time.perf_counter(), time.process_time()
    backend.search(None, request)  # type: ignore[arg-type]
    print(
        f"first search: {(time.perf_counter() - wall) * 1000:.0f} ms wall, "
        f"{(time.process_time() - cpu) * 1000:.0f} ms CPU"
    )
    print(f"{'query kind':<20}{'new gen p50':>12}{'max':>8}{'same gen p50':>14}  ms CPU")
    for name, make in kinds.items():
        if args.kinds and name not in args.kinds:
            continue
        fresh: list[float] = []
        again: list[float] = []
        for _ in range(args.runs):
            query = make()
            request = service.build_request(query.params, pack=pack, principal=query.principal)
            doc_id = uuid.uuid4()
            backend.update(
                None,  # type: ignore[arg-type]
                upsert=[
                    SearchDocument(
                        doc_id=doc_id,
                        asset_id=doc_id,
                        title="Upload stream photo",
                        body="A photo uploaded during the search benchmark.",
                        keys=("visible:1", "view:working", "type:image", "status:active"),
                        created_at=datetime.now(UTC),
                        title_sort="upload stream photo",
                        revision=1,
                    )
                ],
                delete=[],
            )
            for out in (fresh, again):
                cpu = time.process_time()
                backend.search(None, request)  # type: ignore[arg-type]
                out.append((time.process_time() - cpu) * 1000)
        print(
            f"{name:<20}{statistics.median(fresh):>12.1f}{max(fresh):>8.1f}"
            f"{statistics.median(again):>14.1f}"
        )
    print(f"end: {load_average()}")


if __name__ == "__main__":
    main()
