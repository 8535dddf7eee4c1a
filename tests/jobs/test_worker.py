"""The outbox worker on both databases: claim, retry with backoff, give up, lease expiry."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from sqlmodel import Session

from dam import worker
from dam.context import Context
from dam.db import session_scope
from dam.jobs.outbox import backoff, enqueue
from dam.models import JobStatus, OutboxJob
from dam.worker import claim, run_job, run_pending
from tests.conftest import Clock

pytestmark = pytest.mark.usefixtures("db_backend")
CALLS: list[dict[str, Any]] = []


def flaky(ctx: Context, session: Session, payload: dict[str, Any]) -> None:
    CALLS.append(payload)
    if len([c for c in CALLS if c["n"] == payload["n"]]) <= payload["fail_times"]:
        raise RuntimeError(f"transient failure {len(CALLS)}")


@pytest.fixture(autouse=True)
def _flaky_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(worker.HANDLERS, "test.flaky", flaky)


def add_job(ctx: Context, *, fail_times: int, max_attempts: int = 3) -> uuid.UUID:
    with session_scope(ctx.engine) as session:
        job = enqueue(
            session,
            "test.flaky",
            {"n": str(uuid.uuid4()), "fail_times": fail_times},
            now=ctx.now(),
            max_attempts=max_attempts,
        )
        return job.id


def job(ctx: Context, job_id: uuid.UUID) -> OutboxJob:
    with Session(ctx.engine) as session:
        row = session.get(OutboxJob, job_id)
        assert row is not None
        return row


def test_job_runs_once_and_is_done(ctx: Context) -> None:
    job_id = add_job(ctx, fail_times=0)
    assert run_pending(ctx) == 1
    row = job(ctx, job_id)
    assert row.status == JobStatus.done
    assert row.attempts == 1
    assert run_pending(ctx) == 0


def test_failed_job_retries_after_backoff(ctx: Context, clock: Clock) -> None:
    job_id = add_job(ctx, fail_times=1)
    run_pending(ctx)
    row = job(ctx, job_id)
    assert row.status == JobStatus.pending
    assert row.last_error is not None and "transient failure" in row.last_error
    assert row.run_after == clock.now + backoff(1)
    assert run_pending(ctx) == 0  # not due yet
    clock.advance(seconds=backoff(1).total_seconds())
    assert run_pending(ctx) == 1
    row = job(ctx, job_id)
    assert row.status == JobStatus.done
    assert row.attempts == 2
    assert row.last_error is None


def test_job_gives_up_after_max_attempts(ctx: Context, clock: Clock) -> None:
    job_id = add_job(ctx, fail_times=10, max_attempts=3)
    for _ in range(5):
        run_pending(ctx)
        clock.advance(hours=1)
    row = job(ctx, job_id)
    assert row.status == JobStatus.failed
    assert row.attempts == 3
    assert row.finished_at is not None


def test_claimed_job_is_not_claimed_twice_until_its_lease_expires(
    ctx: Context, clock: Clock
) -> None:
    job_id = add_job(ctx, fail_times=0)
    assert claim(ctx) == [job_id]
    assert claim(ctx) == []
    clock.advance(minutes=6)  # the worker holding it died: the lease ran out
    assert claim(ctx) == [job_id]
    run_job(ctx, job_id)
    assert job(ctx, job_id).status == JobStatus.done


def test_unknown_job_kind_is_recorded_as_error(ctx: Context) -> None:
    with session_scope(ctx.engine) as session:
        job_id = enqueue(session, "no.such.kind", {}, now=ctx.now(), max_attempts=1).id
    run_pending(ctx)
    row = job(ctx, job_id)
    assert row.status == JobStatus.failed
    assert row.last_error == "no handler for job kind 'no.such.kind'"


def test_a_crashed_workers_job_is_claimed_again_within_the_lease(
    ctx: Context, clock: Clock
) -> None:
    """The worker that claimed it died (no heartbeat, no finish): ~30 s, not 5 minutes."""
    assert ctx.settings.job_lease_seconds <= 30
    job_id = add_job(ctx, fail_times=0)
    assert claim(ctx) == [job_id]
    clock.advance(seconds=ctx.settings.job_lease_seconds - 1)
    assert claim(ctx) == []
    clock.advance(seconds=2)
    assert claim(ctx) == [job_id]
    run_job(ctx, job_id)
    assert job(ctx, job_id).status == JobStatus.done


SLOW_STARTED = threading.Event()
SLOW_RELEASE = threading.Event()
SLOW_RUNS: list[str] = []


def slow(ctx: Context, session: Session, payload: dict[str, Any]) -> None:
    SLOW_RUNS.append(payload["n"])
    SLOW_STARTED.set()
    assert SLOW_RELEASE.wait(60), "the test never released the job"


def test_a_long_job_keeps_its_lease_and_is_never_run_twice(
    ctx: Context, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(worker.HANDLERS, "test.slow", slow)
    ctx.settings = ctx.settings.model_copy(update={"job_heartbeat_seconds": 0.02})
    SLOW_STARTED.clear()
    SLOW_RELEASE.clear()
    SLOW_RUNS.clear()
    with session_scope(ctx.engine) as session:
        job_id = enqueue(session, "test.slow", {"n": "long"}, now=ctx.now()).id
    first = threading.Thread(target=run_pending, args=(ctx,))
    first.start()
    try:
        assert SLOW_STARTED.wait(30)
        lease = ctx.settings.job_lease_seconds
        for _ in range(6):  # three leases' worth of time while the handler runs
            clock.advance(seconds=lease / 2)
            _wait_for_renewal(ctx, job_id, beyond=clock.now)
            assert claim(ctx) == [], "a second worker took a job that was still running"
    finally:
        SLOW_RELEASE.set()
        first.join(timeout=30)
    assert SLOW_RUNS == ["long"]
    row = job(ctx, job_id)
    assert (row.status, row.attempts, row.locked_until) == (JobStatus.done, 1, None)


def _wait_for_renewal(ctx: Context, job_id: uuid.UUID, *, beyond: Any) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        locked = job(ctx, job_id).locked_until
        if locked is not None and locked > beyond:
            return
        time.sleep(0.01)
    raise AssertionError("the heartbeat did not renew the lease")


def test_a_worker_that_lost_its_lease_does_not_overwrite_the_new_claim(
    ctx: Context, clock: Clock
) -> None:
    job_id = add_job(ctx, fail_times=0)
    [(_, first_token)] = worker.claim_leases(ctx)
    clock.advance(seconds=ctx.settings.job_lease_seconds + 1)
    [(_, second_token)] = worker.claim_leases(ctx)
    assert second_token == first_token + 1
    run_job(ctx, job_id, first_token)  # the first worker wakes up late: it must not run it
    assert job(ctx, job_id).status == JobStatus.running
    run_job(ctx, job_id, second_token)
    assert job(ctx, job_id).status == JobStatus.done
