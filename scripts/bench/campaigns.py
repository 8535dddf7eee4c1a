"""Campaign budgets on PostgreSQL: feed p95, metrics ingestion rows/s, creative insights.

    python scripts/bench/campaigns.py [--url postgresql://postgres@127.0.0.1:5432/test]

Builds a throw-away schema with 100k (`--assets`) published assets, 1k campaigns (each asset in
1-3) and 1M metric rows, inserted directly with COPY / INSERT … SELECT (no blobs needed), then
times the real code paths: the feed over real HTTP (`dam serve` in a subprocess on a free port,
an httpx client with keep-alive; the server's CPU time per request read from /proc), through the
in-process ASGI client and as the service call alone; ingestion of 50k rows with the 1M rows
stored (new rows, then restatements, through the service and the HTTP app; the PostgreSQL
backend's CPU read from /proc; the rows are deleted again after); creative insights (whole
months, a channel, a range that cuts through months). Every figure is printed beside its
budget, with `uptime` before and after. `--keep` leaves the schema; `--reuse` runs again on it
without seeding (with `--feed-requests 20` the feed part is short).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
from common import cpu_seconds, free_port, uptime_line, wait_http
from fastapi.testclient import TestClient
from sqlmodel import Session

from dam.app import create_app
from dam.auth import service as auth_service
from dam.campaigns import metrics, reports, service
from dam.config import Settings
from dam.context import build_context
from dam.db import create_db_engine, session_scope, upgrade
from dam.models import CampaignMetric, Role
from dam.principal import SYSTEM

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = "dam_bench_campaigns"
ASSETS = 100_000
CAMPAIGNS = 1_000
STYLES = ["lifestyle", "product-shot", "flat-lay", "on-model", "action", "landscape"]
CHANNELS = ["instagram", "tiktok", "email", "display", "youtube"]
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18]


def feed_over_http(
    url: str, tmp: Path, campaigns: list[str], key: str, requests: int, rnd: random.Random
) -> tuple[list[float], float]:
    """The feed through a real server: (ms per request, server CPU ms per request)."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        DAM_DATABASE_URL=url,
        DAM_DATA_DIR=str(tmp / "server"),
        DAM_TAXONOMY_DIR=str(ROOT / "taxonomy"),
        DAM_RUN_WORKER="false",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "dam.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
            for cid in campaigns[:20]:  # warm-up (one connection, kept alive)
                client.get(f"/api/v1/campaigns/{cid}/assets").raise_for_status()
            samples: list[float] = []
            cpu_before = cpu_seconds(server.pid)
            for _ in range(requests):
                cid = rnd.choice(campaigns)
                start = time.perf_counter()
                response = client.get(f"/api/v1/campaigns/{cid}/assets")
                samples.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, response.text
            cpu_ms = (cpu_seconds(server.pid) - cpu_before) * 1000 / requests
        return samples, cpu_ms
    finally:
        server.terminate()
        server.wait(timeout=30)


def seed(engine, rnd: random.Random) -> tuple[list[str], dict[str, list[uuid.UUID]]]:  # type: ignore[no-untyped-def]
    campaigns = [f"BENCH{i:04d}-{CHANNELS[i % len(CHANNELS)].upper()}" for i in range(CAMPAIGNS)]
    members: dict[str, list[uuid.UUID]] = {c: [] for c in campaigns}
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(
            "COPY campaigns (id, name, channel, created_at, updated_at) FROM STDIN"
        ) as cp:
            for i, cid in enumerate(campaigns):
                cp.write_row((cid, cid.title(), CHANNELS[i % len(CHANNELS)], NOW, NOW))
        with (
            cur.copy(
                "COPY assets (id, title, description, tags, terms, status, current_version,"
                " published_version, revision, created_at, updated_at) FROM STDIN"
            ) as assets_cp,
        ):
            ids = [uuid.UUID(int=rnd.getrandbits(128), version=4) for _ in range(ASSETS)]
            for n, aid in enumerate(ids):
                terms = {
                    "asset_type": ["photo"],
                    "brand": ["halden"],
                    "visual_style": rnd.sample(STYLES, rnd.choice((1, 1, 2))),
                }
                stamp = NOW - timedelta(seconds=ASSETS - n)
                assets_cp.write_row(
                    (
                        aid,
                        f"Asset {n}",
                        "",
                        "[]",
                        json.dumps(terms),
                        "active",
                        1,
                        1,
                        1,
                        stamp,
                        stamp,
                    )
                )
        with cur.copy(
            "COPY asset_versions (id, asset_id, number, blob_key, sha256, size, mime_type, format,"
            " kind, filename, width, height, media, renditions, review_state, created_at)"
            " FROM STDIN"
        ) as cp:
            for n, aid in enumerate(ids):
                sha = f"{n:064x}"
                cp.write_row(
                    (
                        uuid.uuid4(),
                        aid,
                        1,
                        f"blobs/{sha[:2]}/{sha[2:4]}/{sha}",
                        sha,
                        123456,
                        "image/jpeg",
                        "JPEG",
                        "image",
                        f"a{n}.jpg",
                        1600,
                        1200,
                        "{}",
                        json.dumps({"thumb": f"r/{sha}/thumb.webp"}),
                        "approved",
                        NOW,
                    )
                )
        with cur.copy("COPY asset_campaigns (asset_id, campaign_id, added_at) FROM STDIN") as cp:
            for aid in ids:
                for cid in rnd.sample(campaigns, rnd.choice((1, 2, 3))):
                    members[cid].append(aid)
                    cp.write_row((aid, cid, NOW))
        raw.commit()
    finally:
        raw.close()
    return campaigns, members


def seeded(engine) -> tuple[list[str], dict[str, list[uuid.UUID]]]:  # type: ignore[no-untyped-def]
    """The campaigns and their members of a kept schema, in the order `seed` made them."""
    with engine.connect() as conn:
        campaigns = list(conn.exec_driver_sql("SELECT id FROM campaigns ORDER BY id").scalars())
        members: dict[str, list[uuid.UUID]] = {c: [] for c in campaigns}
        for cid, aid in conn.exec_driver_sql(
            "SELECT ac.campaign_id, ac.asset_id FROM asset_campaigns ac"
            " JOIN assets a ON a.id = ac.asset_id ORDER BY a.created_at, ac.campaign_id"
        ):
            members[cid].append(aid)
    return campaigns, members


def _seeded(url: str) -> bool:
    """Whether the schema holds a library to reuse (--reuse on an empty one seeds it)."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.exec_driver_sql("SELECT to_regclass('asset_campaigns')").scalar())
    finally:
        engine.dispose()


def fill_metrics(engine, days: int) -> int:  # type: ignore[no-untyped-def]
    """Metrics for every (asset, campaign) link over `days` days, written in SQL, then the
    monthly rollup recounted (asset_terms fills itself: triggers on `assets`)."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(
            """
            INSERT INTO campaign_metrics (campaign_id, asset_id, date, channel, version,
                impressions, clicks, conversions, spend, revenue, updated_at)
            SELECT ac.campaign_id, ac.asset_id, DATE '2026-10-01' + d, c.channel, 1,
                   1000 + (hashtext(ac.asset_id::text || d) & 1023),
                   10 + (hashtext(ac.campaign_id || d) & 63),
                   (hashtext(ac.asset_id::text) & 7),
                   ((hashtext(ac.asset_id::text || 's' || d) & 4095) / 100.0)::numeric(14,2),
                   ((hashtext(ac.asset_id::text || 'r' || d) & 16383) / 100.0)::numeric(14,2),
                   now()
            FROM asset_campaigns ac JOIN campaigns c ON c.id = ac.campaign_id,
                 generate_series(0, %s - 1) AS d
            """,
            (days,),
        )
        raw.commit()
    finally:
        raw.close()
    # Written in SQL, past the upsert that keeps the monthly rollup: recount it once.
    with session_scope(engine) as session:
        metrics.rebuild_rollup(session)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("ANALYZE")
        raw.commit()
        cur.execute("SELECT count(*) FROM campaign_metrics")
        return int(cur.fetchone()[0])
    finally:
        raw.close()


def main() -> None:
    global ASSETS  # the seed and the report read the size
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--feed-requests", type=int, default=500)
    parser.add_argument("--keep", action="store_true", help="keep the schema for EXPLAIN")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="run on the schema a --keep run left (no seeding, its 1M rows stay)",
    )
    parser.add_argument("--schema", default=SCHEMA, help="the throw-away schema's name")
    parser.add_argument(
        "--assets", type=int, default=ASSETS, help="library size (docs/scaling.md: 1,000,000)"
    )
    parser.add_argument(
        "--feed-only", action="store_true", help="time the feed only (no ingestion, no insights)"
    )
    args = parser.parse_args()
    ASSETS = args.assets
    rnd = random.Random(26)

    sep = "&" if "?" in args.url else "?"
    url = f"{args.url}{sep}options=-csearch_path%3D{args.schema}"
    reuse = args.reuse and _seeded(url)
    if not reuse:
        admin = create_db_engine(args.url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {args.schema} CASCADE")
            conn.exec_driver_sql(f"CREATE SCHEMA {args.schema}")
        admin.dispose()
    engine = create_db_engine(url)
    upgrade(engine)
    tmp = Path(tempfile.mkdtemp(prefix="dam-bench-"))
    settings = Settings(
        database_url=url, data_dir=tmp, taxonomy_dir=ROOT / "taxonomy", run_worker=False
    )
    ctx = build_context(settings, engine=engine)
    ctx.clock = lambda: NOW

    t0 = time.perf_counter()
    if reuse:
        campaigns, members = seeded(engine)
        ASSETS = len({aid for ids in members.values() for aid in ids})
    else:
        campaigns, members = seed(engine, rnd)
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    links = sum(len(v) for v in members.values())
    print(
        f"{'found' if reuse else 'seeded'} {ASSETS} assets, {len(campaigns)} campaigns, "
        f"{links} links in {time.perf_counter() - t0:.1f}s"
    )

    with session_scope(engine) as session:
        _, automation_key = auth_service.create_key(
            session, role=Role.automation, name="bench", actor=SYSTEM, now=NOW
        )
    headers = {"Authorization": f"Bearer {automation_key}"}
    app = create_app(ctx=ctx, run_worker=False)
    results: list[tuple[str, str, str, bool]] = []

    print(f"before: {uptime_line()}")
    http_real, server_cpu = feed_over_http(
        url, tmp, campaigns, automation_key, args.feed_requests, rnd
    )
    results.append(
        (
            "campaign feed p95, HTTP (uvicorn)",
            f"{p95(http_real):.1f} ms",
            "<= 15 ms",
            p95(http_real) <= 15,
        )
    )
    print(
        f"feed over HTTP: median {statistics.median(http_real):.1f} ms, "
        f"server CPU {server_cpu:.1f} ms/request"
    )

    with TestClient(app) as client:
        # --- feed -----------------------------------------------------------------------
        for cid in campaigns[:20]:  # warm-up
            client.get(f"/api/v1/campaigns/{cid}/assets", headers=headers)
        http_ms: list[float] = []
        sizes: list[int] = []
        for _ in range(args.feed_requests):
            cid = rnd.choice(campaigns)
            start = time.perf_counter()
            response = client.get(f"/api/v1/campaigns/{cid}/assets", headers=headers)
            http_ms.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.text
            sizes.append(len(response.json()["items"]))
        svc_ms: list[float] = []
        principal = auth_service.authenticate(Session(engine), token=automation_key, now=NOW)
        cpu_start = time.process_time()
        for _ in range(args.feed_requests):
            cid = rnd.choice(campaigns)
            start = time.perf_counter()
            with Session(engine) as session:
                campaign = service.get_campaign(session, cid, principal=principal)
                service.campaign_feed(
                    session,
                    ctx=ctx,
                    campaign=campaign,
                    principal=principal,
                    base_url="http://bench/",
                    limit=100,
                )
            svc_ms.append((time.perf_counter() - start) * 1000)
        svc_cpu = (time.process_time() - cpu_start) * 1000 / args.feed_requests
        print(
            f"feed: {statistics.mean(sizes):.0f} items/page on average (limit 100); service "
            f"call median {statistics.median(svc_ms):.1f} ms, CPU {svc_cpu:.1f} ms/call"
        )
        results.append(
            (
                "campaign feed p95, in-process ASGI",
                f"{p95(http_ms):.1f} ms",
                "<= 15 ms",
                p95(http_ms) <= 15,
            )
        )
        results.append(
            ("campaign feed p95, service", f"{p95(svc_ms):.1f} ms", "<= 15 ms", p95(svc_ms) <= 15)
        )
        if args.feed_only:
            finish(args, engine, results)
            return

        # --- ingestion, with the 1M rows of the insights below already stored ---------------
        with engine.connect() as conn:
            stored = conn.exec_driver_sql("SELECT count(*) FROM campaign_metrics").scalar_one()
        if stored < 1_000_000:
            with engine.begin() as conn:
                conn.exec_driver_sql("TRUNCATE campaign_metrics")
            stored = fill_metrics(engine, -(-1_000_000 // links))
        print(f"campaign_metrics: {stored:,} rows before ingesting")
        big = max(members, key=lambda c: len(members[c]))
        assets = members[big]
        days = [date(2025, 1, 1) + timedelta(days=d) for d in range(250)]
        batch = [
            {
                "asset_id": str(aid),
                "date": day.isoformat(),
                "channel": "instagram",
                "impressions": rnd.randint(0, 10_000),
                "clicks": rnd.randint(0, 300),
                "conversions": rnd.randint(0, 20),
                "spend": f"{rnd.uniform(0, 90):.2f}",
                "revenue": f"{rnd.uniform(0, 400):.2f}",
            }
            for aid in assets
            for day in days
        ][:50_000]
        rates: list[float] = []
        for attempt in range(3):  # first inserts, then restatements (the update path)
            if attempt:  # a restatement changes the figures (an unchanged row is not rewritten)
                batch = [{**row, "impressions": row["impressions"] + 1} for row in batch]
            start, cpu_start = time.perf_counter(), time.process_time()
            with session_scope(engine) as session:
                backend = session.connection().connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
                server_start = cpu_seconds(backend)
                campaign = service.get_campaign(session, big, principal=SYSTEM)
                n, _ = metrics.ingest_metrics(
                    session, ctx=ctx, campaign=campaign, raw_rows=batch, actor=SYSTEM
                )
                server_cpu = cpu_seconds(backend) - server_start
            rates.append(n / (time.perf_counter() - start))
            label = "insert" if attempt == 0 else "upsert"
            print(
                f"ingest service {label}: {n} rows, {rates[-1]:,.0f} rows/s "
                f"(client CPU {time.process_time() - cpu_start:.2f} s, "
                f"PostgreSQL backend CPU {server_cpu:.2f} s before the commit)"
            )
        # Over HTTP a restatement too (a re-sent day whose figures changed).
        batch = [{**row, "impressions": row["impressions"] + 1} for row in batch]
        body = json.dumps(batch)
        start, cpu_start = time.perf_counter(), time.process_time()
        response = client.post(
            f"/api/v1/campaigns/{big}/metrics",
            content=body,
            headers={**headers, "Content-Type": "application/json"},
        )
        http_rate = len(batch) / (time.perf_counter() - start)
        assert response.status_code == 200, response.text
        print(
            f"ingest HTTP JSON upsert: {len(batch)} rows, {http_rate:,.0f} rows/s "
            f"(client and app CPU {time.process_time() - cpu_start:.2f} s)"
        )
        results.append(
            (
                "metrics ingestion, service",
                f"{min(rates):,.0f} rows/s",
                ">= 20,000 rows/s",
                min(rates) >= 20_000,
            )
        )
        results.append(
            (
                "metrics ingestion, HTTP JSON",
                f"{http_rate:,.0f} rows/s",
                ">= 20,000 rows/s",
                http_rate >= 20_000,
            )
        )
        # The batch's rows go again (and their rollups are recounted), so the insights below
        # read the 1M rows, and a --reuse run ingests new rows again.
        with session_scope(engine) as session:
            table = CampaignMetric.__table__  # type: ignore[attr-defined]
            session.execute(
                sa.delete(table).where(
                    table.c.campaign_id == big, table.c.date >= days[0], table.c.date <= days[-1]
                )
            )
            metrics.refresh_rollup(
                session,
                [
                    {"campaign_id": big, "asset_id": uuid.UUID(row["asset_id"]), "date": day}
                    for row in batch[:: len(days)]
                    for day in (days[0], days[-1])
                ],
            )

    # --- creative insights over 1M rows ------------------------------------------------------
    total = stored
    pack = ctx.governance.pack
    cases = [
        ("creative insights, whole library", {}),
        ("creative insights, channel=social", {"channel": "social"}),
        (
            "creative insights, Oct 2026 (a month)",
            {"date_from": date(2026, 10, 1), "date_to": date(2026, 10, 31)},
        ),
    ]
    timings: list[float] = []
    cpu_start = time.process_time()
    calls = 0
    for i in range(24):
        label, params = cases[i % len(cases)]
        start = time.perf_counter()
        with Session(engine) as session:
            report = reports.creative_insights(session, pack=pack, facet="visual_style", **params)
        calls += 1
        if i >= len(cases):  # the first round is the warm-up
            timings.append((time.perf_counter() - start) * 1000)
    insights_cpu = (time.process_time() - cpu_start) * 1000 / calls
    print(
        f"insights: {len(report.items)} terms, e.g. {report.items[0].term} "
        f"roas={report.items[0].roas:.3f} assets={report.items[0].assets} "
        f"campaigns={report.items[0].campaigns}; median {statistics.median(timings):.0f} ms, "
        f"client CPU {insights_cpu:.1f} ms/call"
    )
    results.append(
        (
            f"creative insights over {total / 1e6:.1f}M rows, p95",
            f"{p95(timings):.0f} ms",
            "<= 200 ms",
            p95(timings) <= 200,
        )
    )
    # A range that cuts through a month reads those days from the daily table (not budgeted).
    start = time.perf_counter()
    with Session(engine) as session:
        reports.creative_insights(
            session,
            pack=pack,
            facet="visual_style",
            date_from=date(2026, 10, 2),
            date_to=date(2026, 10, 3),
        )
    print(f"insights, 2 days inside a month: {(time.perf_counter() - start) * 1000:.0f} ms")

    finish(args, engine, results)


def finish(args: argparse.Namespace, engine, results: list[tuple[str, str, str, bool]]) -> None:  # type: ignore[no-untyped-def]
    print()
    print(f"after:  {uptime_line()} ({os.cpu_count()} cores)")
    print(f"{'measure':40} {'result':>16}   {'budget':<18} ok")
    for name, value, budget, ok in results:
        print(f"{name:40} {value:>16}   {budget:<18} {'yes' if ok else 'NO'}")

    engine.dispose()
    if args.keep:
        return
    admin = create_db_engine(args.url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {args.schema} CASCADE")
    admin.dispose()


if __name__ == "__main__":
    main()
