"""Issue 16 budget on PostgreSQL: a 100k-row Google Ads ad report ingests in <= 10 s.

    python scripts/bench/exports.py [--url postgresql://postgres@127.0.0.1:5432/test]

Builds a throw-away schema with one campaign, 50 published assets (rows inserted with COPY, no
blobs needed) and 1,000 placements registered through the API, then posts a 100k-row export
(1,000 ads x 100 days, in the layout of tests/campaigns/test_sources.py) through the HTTP app
(in-process ASGI client: auth, body guard, parsing, matching, attribution and the upsert are all
timed), first as new rows, then re-sent (the update path), then as a dry run.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from dam.app import create_app
from dam.auth import service as auth_service
from dam.config import Settings
from dam.context import build_context
from dam.db import create_db_engine, session_scope, upgrade
from dam.models import Role
from dam.principal import SYSTEM

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = "dam_bench_exports"
ASSETS = 50
ADS = 1_000
DAYS = 100
CAMPAIGN = "BENCH-ADS"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
HEADER = (
    "Day,Campaign,Ad group,Ad ID,Ad name,Currency code,Impr.,Clicks,CTR,Avg. CPC,Cost,"
    "Conversions,Conv. value,Campaign type\n"
)


def seed(engine) -> list[uuid.UUID]:  # type: ignore[no-untyped-def]
    ids = [uuid.uuid4() for _ in range(ASSETS)]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(
            "COPY campaigns (id, name, channel, created_at, updated_at) FROM STDIN"
        ) as cp:
            cp.write_row((CAMPAIGN, "Bench ads", "display", NOW, NOW))
        with cur.copy(
            "COPY assets (id, title, description, tags, terms, status, current_version,"
            " published_version, revision, created_at, updated_at) FROM STDIN"
        ) as cp:
            for n, aid in enumerate(ids):
                cp.write_row((aid, f"Asset {n}", "", "[]", "{}", "active", 1, 1, 1, NOW, NOW))
        with cur.copy(
            "COPY asset_versions (id, asset_id, number, blob_key, sha256, size, mime_type, format,"
            " kind, filename, width, height, media, renditions, review_state, created_at)"
            " FROM STDIN"
        ) as cp:
            for n, aid in enumerate(ids):
                sha = f"{n:064x}"
                key = f"blobs/{sha[:2]}/{sha[2:4]}/{sha}"
                cp.write_row(
                    (uuid.uuid4(), aid, 1, key, sha, 1, "image/jpeg", "JPEG", "image",
                     f"a{n}.jpg", 1600, 1200, "{}", "{}", "approved", NOW)
                )  # fmt: skip
        with cur.copy("COPY asset_campaigns (asset_id, campaign_id, added_at) FROM STDIN") as cp:
            for aid in ids:
                cp.write_row((aid, CAMPAIGN, NOW))
        raw.commit()
    finally:
        raw.close()
    return ids


def export(rnd: random.Random) -> str:
    lines = ["Ad report\n", '"August 1, 2026 - November 8, 2026"\n', HEADER]
    first = date(2026, 8, 1)
    for d in range(DAYS):
        day = (first + timedelta(days=d)).isoformat()
        for ad in range(ADS):
            impressions = rnd.randint(0, 50_000)
            clicks = rnd.randint(0, 900)
            lines.append(
                f'{day},Bench,Group {ad % 20},{7_000_000 + ad},Ad {ad},USD,"{impressions:,}",'
                f"{clicks},1.00%,0.30,{rnd.uniform(0, 400):.2f},{rnd.uniform(0, 9):.2f},"
                f'"{rnd.uniform(0, 3000):,.2f}",{"Search" if ad % 2 else "Display"}\n'
            )
    lines.append('Total: Account,,,,,USD,"1",1,,,1.00,1.00,1.00,\n')
    return "".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--schema", default=SCHEMA, help="the throw-away schema's name")
    args = parser.parse_args()
    schema = args.schema
    rnd = random.Random(16)
    admin = create_db_engine(args.url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    admin.dispose()
    sep = "&" if "?" in args.url else "?"
    url = f"{args.url}{sep}options=-csearch_path%3D{schema}"
    engine = create_db_engine(url)
    upgrade(engine)
    settings = Settings(
        database_url=url,
        data_dir=Path(tempfile.mkdtemp(prefix="dam-bench-")),
        taxonomy_dir=ROOT / "taxonomy",
        run_worker=False,
    )
    ctx = build_context(settings, engine=engine)
    ctx.clock = lambda: NOW
    assets = seed(engine)
    with session_scope(engine) as session:
        _, key = auth_service.create_key(
            session, role=Role.automation, name="bench", actor=SYSTEM, now=NOW
        )
    headers = {"Authorization": f"Bearer {key}"}
    body = export(rnd).encode()
    rows = ADS * DAYS
    path = f"/api/v1/campaigns/{CAMPAIGN}/metrics"
    params = {"source": "google_ads", "locale": "en"}
    results: list[tuple[str, float, float]] = []
    with TestClient(create_app(ctx=ctx, run_worker=False)) as client:
        for ad in range(ADS):
            placement = {
                "platform": "google_ads",
                "external_id": str(7_000_000 + ad),
                "asset_id": str(assets[ad % ASSETS]),
            }
            response = client.post(
                f"/api/v1/campaigns/{CAMPAIGN}/placements", headers=headers, json=placement
            )
            assert response.status_code == 201, response.text
        csv_headers = {**headers, "Content-Type": "text/csv"}
        for label, extra in (("new rows", {}), ("re-sent", {}), ("dry run", {"dry_run": "true"})):
            start, cpu_start = time.perf_counter(), time.process_time()
            response = client.post(
                path, headers=csv_headers, params={**params, **extra}, content=body
            )
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
            assert response.status_code == 200, response.text[:500]
            assert response.json()["rows"] == rows, response.json()["rows"]
            results.append((label, elapsed, cpu))
    load = os.getloadavg()
    print(
        f"{rows:,}-row Google Ads export ({len(body) / 2**20:.1f} MiB), PostgreSQL, load average"
        f" {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores"
    )
    for label, elapsed, cpu in results:
        verdict = "ok" if elapsed <= 10 else "OVER"
        print(
            f"  {label:9s} {elapsed:6.2f} s  ({rows / elapsed:,.0f} rows/s, client CPU"
            f" {cpu:.2f} s)  budget <= 10 s  {verdict}"
        )
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


if __name__ == "__main__":
    main()
