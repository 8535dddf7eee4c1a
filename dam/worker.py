"""The worker: which handler runs which outbox job, the periodic tasks, and the loop that claims
and runs them. This is a composition root: the one module that knows every domain's jobs, so
the domains never know each other (a domain emits an event; the reactions are listed here).

PostgreSQL: `FOR UPDATE SKIP LOCKED`, so any number of `dam worker` processes share the queue.
SQLite: one process; a conditional UPDATE claims a job. A claim holds a lease (`locked_until`);
a worker that dies mid-job leaves the lease to expire and another worker takes the job again.
"""

from __future__ import annotations

import logging
import threading
import traceback
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dam.assets import jobs as asset_jobs
from dam.context import Context
from dam.events import EVENT_JOB
from dam.jobs.outbox import backoff
from dam.jobs.registry import GiveUp, RetryLater
from dam.models import JobStatus, OutboxJob
from dam.search import jobs as search_jobs
from dam.search.service import JOB_KIND as SEARCH_INDEX_JOB
from dam.webhooks import jobs as webhook_jobs
from dam.workflow import expiry

log = logging.getLogger("dam.worker")
LEASE = timedelta(minutes=5)

# A handler must be idempotent: it may run more than once.
Handler = Callable[[Context, Session, dict[str, Any]], None]

# What happens after a domain event, in this order, in the event job's transaction.
EVENT_REACTIONS: tuple[Handler, ...] = (
    search_jobs.index_event,
    webhook_jobs.fan_out_event,
)


def react_to_event(ctx: Context, session: Session, event: dict[str, Any]) -> None:
    for react in EVENT_REACTIONS:
        react(ctx, session, event)


HANDLERS: dict[str, Handler] = {
    EVENT_JOB: react_to_event,
    asset_jobs.RENDITIONS_JOB: asset_jobs.make_renditions,
    SEARCH_INDEX_JOB: search_jobs.index_asset,
    search_jobs.REBUILD_JOB: search_jobs.rebuild_index,
    webhook_jobs.DELIVER_JOB: webhook_jobs.deliver,
}

# Run on every loop of the worker; each is cheap when there is nothing to do.
PERIODIC: tuple[Callable[[Context], None], ...] = (expiry.rights_sweep,)


def get_handler(kind: str) -> Handler | None:
    return HANDLERS.get(kind)


def run_scheduled(ctx: Context) -> None:
    for task in PERIODIC:
        task(ctx)


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
