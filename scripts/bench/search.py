"""Search benchmark: a synthetic library, both backends, every query kind, under a concurrent
upload stream, beside SQLite FTS5 on the same documents.

    python scripts/bench/search.py --assets 100000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/dam_bench [--skip-generate]
        [--backend whoosh|postgres|both] [--data-dir /tmp/dam-whoosh [--reuse-index]]

Generates the library (scripts/generate_library.py) into the given, dedicated PostgreSQL
database unless --skip-generate, then for each backend:
- builds the index with `service.reindex` (timed; whoosh: budget <= 150 s) and times the first
  search after it (budget <= 200 ms);
- starts `dam serve` on the same database and data dir (its in-process worker keeps the index in
  step) and a client uploading a distinct JPEG every --upload-gap-ms through it: the index
  changes under the queries, as in use;
- runs every query kind --runs times, three ways each time: the backend alone
  (`build_request` + `backend.search`), the service (`search_assets`: page hydration, facet
  labels) and the HTTP API of that server (GET /api/v1/search). Budgets: p95 <= 70 ms per kind
  for the service; the API path adds <= 10 ms p50 to the backend.
The peer is SQLite FTS5 (standard library) over the same documents' title and body, tokenized
the same way: its build time, and per text kind the page (bm25) plus the total, without facet
counts (FTS5 has none); the ratio is ours / FTS5 at p95. Every figure is printed with the load.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import free_port, load_average
from freshness import jpeg, wait_http
from generate_library import generate

from dam.config import SearchKind, Settings
from dam.context import build_context
from dam.db import upgrade
from dam.models import Role
from dam.principal import Principal
from dam.search import service
from dam.search.document import iter_all_documents
from dam.search.query import tokenize
from dam.search.schemas import SearchParams

BUDGET_MS = 70.0
API_OVERHEAD_BUDGET_MS = 10.0
REBUILD_BUDGET_S = 150.0
FIRST_SEARCH_BUDGET_MS = 200.0
ADMIN = Principal(id=uuid.uuid4(), name="bench admin", role=Role.admin)
MARKETER = Principal(id=uuid.uuid4(), name="bench marketer", role=Role.marketer)
WORDS = ["runner", "tent", "glacier", "boots", "jacket", "summit", "kayak", "campfire", "lake"]
PHRASES = ['"trail runner"', '"in the rain"', '"product shot"', '"deep snow"', '"at dawn"']
PREFIXES = ["gl", "ten", "camp", "bo", "jac", "su", "ka"]
REGIONS = ["emea", "de", "amer", "apac", "nordics", "us"]
CHANNELS = ["social", "email", "instagram", "print", "web"]


@dataclass
class Query:
    principal: Principal
    params: SearchParams
    # The same query for FTS5, when it has one: (MATCH expression, order by newest).
    fts: tuple[str, bool] | None = None


def query_kinds(rng: random.Random) -> dict[str, Callable[[], Query]]:
    def p(**kw: object) -> SearchParams:
        return SearchParams.model_validate(kw)

    def word() -> Query:
        w = rng.choice(WORDS)
        return Query(ADMIN, p(q=w), (w, False))

    def two() -> Query:
        a, b = rng.choice(WORDS), rng.choice(WORDS)
        return Query(ADMIN, p(q=f"{a} {b}"), (f"{a} {b}", False))

    def phrase() -> Query:
        ph = rng.choice(PHRASES)
        return Query(ADMIN, p(q=ph), (ph, False))

    def prefix() -> Query:
        pre = rng.choice(PREFIXES)
        return Query(ADMIN, p(q=f"alpine {pre}"), (f"alpine {pre}*", False))

    def exclusion() -> Query:
        w = rng.choice(WORDS)
        return Query(ADMIN, p(q=f"{w} -winter"), (f"{w} NOT winter", False))

    def newest() -> Query:
        w = rng.choice(WORDS)
        return Query(ADMIN, p(q=w, sort="newest"), (w, True))

    return {
        "word": word,
        "two words": two,
        "phrase": phrase,
        "prefix": prefix,
        "exclusion": exclusion,
        "facet filter": lambda: Query(ADMIN, p(facets={"region": [rng.choice(REGIONS)]})),
        "facets x2 + type": lambda: Query(
            ADMIN,
            p(
                type=["image"],
                facets={"region": [rng.choice(REGIONS)], "channel": [rng.choice(CHANNELS)]},
            ),
        ),
        "match all + counts": lambda: Query(ADMIN, p()),
        "word + facet": lambda: Query(
            ADMIN, p(q=rng.choice(WORDS), facets={"region": [rng.choice(REGIONS)]})
        ),
        "sort newest": newest,
        "sort title p5": lambda: Query(ADMIN, p(sort="title", page=5)),
        "marketer word": lambda: Query(MARKETER, p(q=rng.choice(WORDS))),
        "marketer browse": lambda: Query(MARKETER, p(facets={"channel": [rng.choice(CHANNELS)]})),
    }


def http_params(params: SearchParams) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if params.q:
        out.append(("q", params.q))
    out.extend(("type", t) for t in params.type)
    for facet, values in params.facets.items():
        out.extend((facet, v) for v in values)
    if params.sort:
        out.append(("sort", params.sort.value))
    if params.page != 1:
        out.append(("page", str(params.page)))
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- the peer: SQLite FTS5 on the same documents ------------------------------------------------


class Fts5:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)

    def build(self, url: str, taxonomy: Path) -> tuple[float, int]:
        from dam.db import create_db_engine
        from dam.governance.pack import load_pack

        engine = create_db_engine(url)
        docs = list(iter_all_documents(engine, pack=load_pack(taxonomy)))
        engine.dispose()
        started = time.perf_counter()
        self.db.execute(
            "CREATE VIRTUAL TABLE docs USING fts5(title, body, created UNINDEXED, "
            "tokenize='unicode61 remove_diacritics 0')"
        )
        with self.db:
            self.db.executemany(
                "INSERT INTO docs (title, body, created) VALUES (?, ?, ?)",
                (
                    (
                        " ".join(tokenize(d.title)),
                        " ".join(tokenize(d.body)),
                        d.created_at.isoformat(),
                    )
                    for d in docs
                ),
            )
        self.db.execute("INSERT INTO docs(docs) VALUES ('optimize')")
        return time.perf_counter() - started, len(docs)

    def search(self, match: str, newest: bool) -> int:
        order = "created DESC" if newest else "bm25(docs, 3.0, 1.0)"
        rows = self.db.execute(
            f"SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY {order} LIMIT 25",
            (match,),
        ).fetchall()
        (total,) = self.db.execute(
            "SELECT count(*) FROM docs WHERE docs MATCH ?", (match,)
        ).fetchone()
        return len(rows) + total


# --- the upload stream --------------------------------------------------------------------------


@dataclass
class Server:
    base: str
    admin_key: str
    marketer_key: str
    proc: subprocess.Popen[bytes]
    uploads: int = 0
    failures: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def stream(self, gap_s: float) -> None:
        def run() -> None:
            headers = {"Authorization": f"Bearer {self.admin_key}"}
            with httpx.Client(base_url=self.base, headers=headers, timeout=60) as client:
                n = 0
                while not self.stopping.is_set():
                    seed = 7_000_000 + n + int(time.time() * 1000) % 1_000_000 * 10
                    n += 1
                    metadata = (
                        '{"title": "Upload stream photo", "description": "A photo uploaded '
                        'during the search benchmark.", "terms": {"asset_type": ["photo"], '
                        '"usage_rights": ["owned"]}}'
                    )
                    response = client.post(
                        "/api/v1/assets",
                        files={"file": (f"stream-{seed}.jpg", jpeg(seed), "image/jpeg")},
                        data={"metadata": metadata},
                    )
                    if response.status_code == 201:
                        self.uploads += 1
                    elif response.status_code != 409:
                        self.failures.append(f"{response.status_code} {response.text[:200]}")
                    self.stopping.wait(gap_s)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=60)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_server(kind: SearchKind, url: str, data_dir: Path) -> Server:
    env = dict(os.environ)
    admin_key = "dam_" + secrets.token_urlsafe(24)
    env.update(
        DAM_DATABASE_URL=url,
        DAM_SEARCH=kind.value,
        DAM_DATA_DIR=str(data_dir),
        DAM_BOOTSTRAP_ADMIN_KEY=admin_key,
    )
    cli = [sys.executable, "-m", "dam.cli"]
    marketer = subprocess.run(
        [*cli, "keys", "create", "--role", "marketer", "--name", "search bench"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    log = open(data_dir / f"serve-{kind.value}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/readyz")
    return Server(base=base, admin_key=admin_key, marketer_key=marketer, proc=proc)


# --- the run ------------------------------------------------------------------------------------


def run_backend(
    kind: SearchKind, *, url: str, args: argparse.Namespace, data_dir: Path, fts: Fts5 | None
) -> None:
    settings = Settings(
        database_url=url, search=kind, data_dir=data_dir, taxonomy_dir=Path("taxonomy")
    )
    ctx = build_context(settings)
    upgrade(ctx.engine)
    print(f"\n== {kind.value} ({load_average()})")
    if args.reuse_index:
        print(f"reusing the index under {data_dir}")
    else:
        started, cpu = time.perf_counter(), time.process_time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        with Session(ctx.engine) as session:
            count = service.reindex(session, ctx=ctx)
            session.commit()
        build = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        child_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        budget = f"  (budget <= {REBUILD_BUDGET_S:.0f} s)" if kind == SearchKind.whoosh else ""
        verdict = "" if not budget else ("  OK" if build <= REBUILD_BUDGET_S else "  OVER")
        print(
            f"index build: {build:.1f} s for {count} assets (CPU: this process "
            f"{time.process_time() - cpu:.1f} s, index processes {child_cpu:.1f} s)"
            f"{budget}{verdict}  [{load_average()}]"
        )
    with Session(ctx.engine) as session:
        warm = time.perf_counter()
        service.search_assets(session, ctx=ctx, principal=ADMIN, params=SearchParams())
        first = (time.perf_counter() - warm) * 1000
        verdict = "OK" if first <= FIRST_SEARCH_BUDGET_MS else "OVER"
        print(
            f"first search after it: {first:.0f} ms  (budget <= {FIRST_SEARCH_BUDGET_MS:.0f} ms)"
            f"  {verdict}"
        )
    server = None if args.no_upload_stream else start_server(kind, url, data_dir)
    if server is not None:
        server.stream(args.upload_gap_ms / 1000)
    backend = service.get_search(ctx)
    pack = ctx.governance.pack
    rng = random.Random(1)
    print(
        f"{'query kind':<20}{'backend':>9}{'service':>9}{'p95':>7}{'p99':>7}{'api':>7}"
        f"{'api-be':>8}{'fts5':>7}{'ratio':>7}  p50 ms unless named; budget p95 <= "
        f"{BUDGET_MS:.0f}, api-be <= {API_OVERHEAD_BUDGET_MS:.0f}"
    )
    over: list[str] = []
    http = httpx.Client(base_url=server.base, timeout=30) if server else None
    try:
        for name, make in query_kinds(rng).items():
            be: list[float] = []
            sv: list[float] = []
            api: list[float] = []
            peer: list[float] = []
            for _ in range(args.runs):
                query = make()
                with Session(ctx.engine) as session:
                    t0 = time.perf_counter()
                    request = service.build_request(
                        query.params, pack=pack, principal=query.principal
                    )
                    backend.search(session, request)
                    t1 = time.perf_counter()
                    session.rollback()
                    t2 = time.perf_counter()
                    service.search_assets(
                        session, ctx=ctx, principal=query.principal, params=query.params
                    )
                    t3 = time.perf_counter()
                    session.rollback()
                be.append((t1 - t0) * 1000)
                sv.append((t3 - t2) * 1000)
                if http is not None and server is not None:
                    key = server.admin_key if query.principal is ADMIN else server.marketer_key
                    t4 = time.perf_counter()
                    response = http.get(
                        "/api/v1/search",
                        params=http_params(query.params),
                        headers={"Authorization": f"Bearer {key}"},
                    )
                    api.append((time.perf_counter() - t4) * 1000)
                    response.raise_for_status()
                if fts is not None and query.fts is not None:
                    t5 = time.perf_counter()
                    fts.search(*query.fts)
                    peer.append((time.perf_counter() - t5) * 1000)
            p95 = pct(sv, 0.95)
            api_col = f"{statistics.median(api):>7.1f}" if api else f"{'-':>7}"
            extra = statistics.median(api) - statistics.median(be) if api else None
            extra_col = f"{extra:>8.1f}" if extra is not None else f"{'-':>8}"
            peer_col = f"{pct(peer, 0.95):>7.1f}" if peer else f"{'-':>7}"
            ratio_col = f"{p95 / pct(peer, 0.95):>6.1f}x" if peer else f"{'-':>7}"
            if p95 > BUDGET_MS:
                over.append(f"{name} p95")
            if extra is not None and extra > API_OVERHEAD_BUDGET_MS:
                over.append(f"{name} api")
            print(
                f"{name:<20}{statistics.median(be):>9.1f}{statistics.median(sv):>9.1f}"
                f"{p95:>7.1f}{pct(sv, 0.99):>7.1f}{api_col}{extra_col}{peer_col}{ratio_col}"
            )
    finally:
        if http is not None:
            http.close()
        if server is not None:
            server.stop()
    if server is not None:
        print(
            f"upload stream: {server.uploads} uploads during the queries "
            f"({len(server.failures)} failed{': ' + server.failures[0] if server.failures else ''})"
        )
    print(f"over budget: {', '.join(over) if over else 'none'}  [{load_average()}]")
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
    parser.add_argument("--no-upload-stream", action="store_true")
    parser.add_argument("--upload-gap-ms", type=float, default=250.0)
    parser.add_argument("--no-fts5", action="store_true", help="skip the SQLite FTS5 peer")
    args = parser.parse_args()
    print(f"start: {load_average()}  ({os.cpu_count()} cores)")
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
        fts = None
        if not args.no_fts5:
            fts = Fts5(Path(tmp) / "fts5.sqlite3")
            seconds, count = fts.build(args.database_url, Path("taxonomy"))
            built = f"built in {seconds:.1f} s for {count} documents"
            print(f"SQLite FTS5 peer: {built}  [{load_average()}]")
        data_dir = args.data_dir or Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        for kind in backends:
            run_backend(kind, url=args.database_url, args=args, data_dir=data_dir, fts=fts)


if __name__ == "__main__":
    main()
