"""Claims outbox jobs and runs them.

PostgreSQL: `FOR UPDATE SKIP LOCKED`, so any number of `dam worker` processes share the queue.
SQLite: one process; a conditional UPDATE claims a job. A claim holds a lease (`locked_until`);
a worker that dies mid-job leaves the lease to expire and another worker takes the job again.
"""

from __future__ import annotations

import logging
import threading
import traceback
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dam.context import Context
from dam.jobs.registry import GiveUp, RetryLater, get_handler
from dam.models import JobStatus, OutboxJob

log = logging.getLogger("dam.worker")
LEASE = timedelta(minutes=5)


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s … capped at 30 minutes."""
    return timedelta(seconds=min(2**attempts, 1800))


def claim(ctx: Context, *, limit: int = 10) -> list[uuid.UUID]:
    now = ctx.now()
    claimable = sa.or_(
        sa.and_(col(OutboxJob.status) == JobStatus.pending, col(OutboxJob.run_after) <= now),
        sa.and_(col(OutboxJob.status) == JobStatus.running, col(OutboxJob.locked_until) < now),
    )
    with Session(ctx.engine) as session:
        query = (
            select(OutboxJob.id).where(claimable).order_by(col(OutboxJob.run_after)).limit(limit)
        )
        if ctx.settings.is_postgres:
            query = query.with_for_update(skip_locked=True)
        ids = list(session.exec(query))
        claimed: list[uuid.UUID] = []
        for job_id in ids:
            result = session.execute(
                sa.update(OutboxJob)
                .where(col(OutboxJob.id) == job_id, claimable)
                .values(
                    status=JobStatus.running,
                    locked_until=now + LEASE,
                    attempts=OutboxJob.attempts + 1,
                )
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(job_id)
        session.commit()
    return claimed


def run_job(ctx: Context, job_id: uuid.UUID) -> None:
    with Session(ctx.engine, expire_on_commit=False) as session:
        job = session.get(OutboxJob, job_id)
        if job is None or job.status != JobStatus.running:
            return
        kind, payload, attempts, max_attempts = (
            job.kind,
            dict(job.payload),
            job.attempts,
            job.max_attempts,
        )
    fn = get_handler(kind)
    error: str | None = None
    if fn is None:
        error = f"no handler for job kind {kind!r}"
    else:
        try:
            with Session(ctx.engine, expire_on_commit=False) as session:
                fn(ctx, session, payload)
                session.commit()
        except RetryLater as exc:
            error = str(exc) or "retry requested"
        except GiveUp as exc:
            log.warning("job %s (%s) gave up: %s", job_id, kind, exc)
            error, attempts = str(exc) or "gave up", max_attempts
        except Exception as exc:
            log.exception("job %s (%s) failed on attempt %d", job_id, kind, attempts)
            error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
    _finish(ctx, job_id, error=error, attempts=attempts, max_attempts=max_attempts)


def _finish(
    ctx: Context, job_id: uuid.UUID, *, error: str | None, attempts: int, max_attempts: int
) -> None:
    now = ctx.now()
    with Session(ctx.engine) as session:
        job = session.get(OutboxJob, job_id)
        if job is None:
            return
        if error is None:
            job.status = JobStatus.done
            job.finished_at = now
            job.last_error = None
        elif attempts >= max_attempts:
            job.status = JobStatus.failed
            job.finished_at = now
            job.last_error = error
        else:
            job.status = JobStatus.pending
            job.run_after = now + backoff(attempts)
            job.last_error = error
        job.locked_until = None
        session.add(job)
        session.commit()


def run_pending(ctx: Context, *, max_rounds: int = 100) -> int:
    """Run every job that is due now; returns how many ran. Tests and the CLI use it."""
    ran = 0
    for _ in range(max_rounds):
        ids = claim(ctx)
        if not ids:
            break
        for job_id in ids:
            run_job(ctx, job_id)
            ran += 1
    return ran


def pending_count(ctx: Context) -> int:
    with Session(ctx.engine) as session:
        return session.exec(
            select(sa.func.count())
            .select_from(OutboxJob)
            .where(col(OutboxJob.status).in_([JobStatus.pending, JobStatus.running]))
        ).one()


class WorkerThread(threading.Thread):
    """The embedded mode's in-process worker."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(name="dam-worker", daemon=True)
        self.ctx = ctx
        self.stopping = threading.Event()

    def run(self) -> None:
        from dam.jobs.scheduler import run_scheduled

        while not self.stopping.is_set():
            try:
                run_scheduled(self.ctx)
                ran = run_pending(self.ctx, max_rounds=10)
            except Exception:
                log.exception("worker loop error")
                ran = 0
            if not ran:
                self.stopping.wait(self.ctx.settings.worker_poll_seconds)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)
