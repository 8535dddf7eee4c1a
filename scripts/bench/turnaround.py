"""The turnaround report over a synthetic review history on embedded SQLite: N assets, each
with one to three review rounds of two stages, the figures computed as the API does.
There is no budget for it in DESIGN.md; the figure is for the issue note.

    python scripts/bench/turnaround.py [--assets 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from dam.db import create_db_engine, upgrade
from dam.governance import load_pack
from dam.models import (
    Asset,
    AssetVersion,
    ReviewRound,
    ReviewStageRun,
    ReviewState,
    RoundState,
    StageState,
)
from dam.views.turnaround import turnaround_report

ROOT = Path(__file__).resolve().parents[2]
CHANNELS = ["instagram", "email", "web", "display", "print"]


def build(session: Session, n: int, rng: random.Random) -> None:
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    for i in range(n):
        t = start + timedelta(minutes=17 * i)
        asset = Asset(
            id=uuid.uuid4(),
            title=f"Asset {i}",
            terms={"asset_type": ["photo"], "channel": [rng.choice(CHANNELS)]},
            current_version=1,
            published_version=1,
            created_at=t,
            updated_at=t,
        )
        session.add(asset)
        session.add(
            AssetVersion(
                asset_id=asset.id,
                number=1,
                blob_key=f"blobs/{i}",
                sha256=f"{i:064x}",
                size=1,
                mime_type="image/jpeg",
                format="JPEG",
                kind="image",
                filename=f"{i}.jpg",
                review_state=ReviewState.approved,
                created_at=t,
            )
        )
        rounds = rng.choice((1, 1, 2, 3))
        submitted = t + timedelta(hours=rng.uniform(0, 8))
        for number in range(1, rounds + 1):
            last = number == rounds
            round_ = ReviewRound(
                asset_id=asset.id,
                version=1,
                number=number,
                state=RoundState.approved if last else RoundState.rejected,
                submitted_at=submitted,
            )
            session.add(round_)
            clock = submitted
            for step, stage in enumerate(("brand", "legal")):
                took = timedelta(hours=rng.uniform(0.5, 30))
                session.add(
                    ReviewStageRun(
                        round_id=round_.id,
                        asset_id=asset.id,
                        stage=stage,
                        label=stage.title(),
                        step=step,
                        roles=["brand_manager"],
                        sla_hours=8,
                        state=StageState.approved if last or step == 0 else StageState.rejected,
                        started_at=clock,
                        due_at=clock + timedelta(hours=16),
                        completed_at=clock + took,
                    )
                )
                clock += took
            round_.closed_at = clock
            submitted = clock + timedelta(hours=rng.uniform(1, 24))
        if i % 2000 == 1999:
            session.commit()
    session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    pack = load_pack(ROOT / "taxonomy")
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_db_engine(f"sqlite:///{tmp}/bench.sqlite3")
        upgrade(engine)
        with Session(engine) as session:
            build(session, args.assets, random.Random(19))
        samples = []
        now = datetime(2027, 1, 1, tzinfo=UTC)
        for _ in range(args.repeat):
            with Session(engine) as session:
                started = time.perf_counter()
                report = turnaround_report(session, pack=pack, now=now)
                samples.append(time.perf_counter() - started)
        engine.dispose()
    load = os.getloadavg()[0]
    print(
        f"turnaround report, {args.assets} assets, {report.stages[0].decided} brand decisions: "
        f"median {statistics.median(samples) * 1000:.0f} ms over {args.repeat} runs "
        f"(no budget; load {load:.1f})"
    )


if __name__ == "__main__":
    main()
