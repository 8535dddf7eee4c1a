"""The worker: which handler runs which outbox job, the periodic tasks, and the loop that claims
and runs them. This is a composition root: the one module that knows every domain's jobs, so
the domains never know each other (a domain emits an event; the reactions are listed here).

PostgreSQL: `FOR UPDATE SKIP LOCKED`, so any number of `dam worker` processes share the queue.
SQLite: one process; a conditional UPDATE claims a job. A claim holds a short lease
(`locked_until`, DAM_JOB_LEASE_SECONDS) that a heartbeat renews while the worker is alive, so a
job that runs for an hour is never taken by a second worker, and a worker that dies mid-job
stops renewing: its jobs are claimed again within a lease. The claim's attempt number is its
fencing token: a worker whose lease was lost (a heartbeat that could not reach the database for
a whole lease) neither renews nor finishes a job that another worker has claimed since.
"""

from __future__ import annotations

import logging
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dam.assets import derivatives as asset_derivatives
from dam.assets import jobs as asset_jobs
from dam.assets import resumable
from dam.collections import saved as saved_searches
from dam.context import Context
from dam.events import EVENT_JOB
from dam.jobs import wakeup
from dam.jobs.outbox import backoff
from dam.jobs.registry import GiveUp, RetryLater
from dam.models import JobStatus, OutboxJob
from dam.notifications import email as notification_email
from dam.notifications import service as notification_service
from dam.search import jobs as search_jobs
from dam.search.service import JOB_KIND as SEARCH_INDEX_JOB
from dam.webhooks import jobs as webhook_jobs
from dam.workflow import expiry, sla

log = logging.getLogger("dam.worker")

# A handler must be idempotent: it may run more than once.
Handler = Callable[[Context, Session, dict[str, Any]], None]

# What happens after a domain event, in this order, in the event job's transaction.
EVENT_REACTIONS: tuple[Handler, ...] = (
    search_jobs.index_event,
    webhook_jobs.fan_out_event,
    asset_jobs.queue_delivery_copies,
    asset_derivatives.queue_derivatives,
    notification_service.notify_event,
)


def react_to_event(ctx: Context, session: Session, event: dict[str, Any]) -> None:
    for react in EVENT_REACTIONS:
        react(ctx, session, event)


HANDLERS: dict[str, Handler] = {
    EVENT_JOB: react_to_event,
    asset_jobs.RENDITIONS_JOB: asset_jobs.make_renditions,
    asset_jobs.DELIVERY_COPIES_JOB: asset_jobs.make_delivery_copies,
    asset_derivatives.DERIVATIVES_JOB: asset_derivatives.make_derivatives,
    SEARCH_INDEX_JOB: search_jobs.index_asset,
    search_jobs.REBUILD_JOB: search_jobs.rebuild_index,
    webhook_jobs.DELIVER_JOB: webhook_jobs.deliver,
    notification_service.EMAIL_JOB: notification_email.send_notification_email,
}

# Run on every loop of the worker; each is cheap when there is nothing to do.
PERIODIC: tuple[Callable[[Context], None], ...] = (
    expiry.rights_sweep,
    saved_searches.check_saved_searches,
    resumable.expiry_sweep,
    sla.sla_sweep,
)


def get_handler(kind: str) -> Handler | None:
    return HANDLERS.get(kind)


def run_scheduled(ctx: Context) -> None:
    for task in PERIODIC:
        task(ctx)


def _lease(ctx: Context) -> timedelta:
    return timedelta(seconds=ctx.settings.job_lease_seconds)


@dataclass(frozen=True)
class Lane:
    """Which job kinds a worker loop claims: `only` these, or all but `excluded`."""

    name: str
    only: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    def condition(self) -> sa.ColumnElement[bool]:
        if self.only:
            return col(OutboxJob.kind).in_(self.only)
        if self.excluded:
            return col(OutboxJob.kind).not_in(self.excluded)
        return sa.true()


# Keeping the index in step with a commit takes milliseconds; renditions of a video, a
# rebuild or a webhook that times out take seconds. Each worker runs the quick kinds in a loop
# of their own, so an upload is searchable without waiting behind the earlier uploads'
# renditions (upload -> searchable p95 <= 300 ms, issue 22).
QUICK_KINDS = (EVENT_JOB, SEARCH_INDEX_JOB)
QUICK_LANE = Lane("quick", only=QUICK_KINDS)
LANES = (QUICK_LANE, Lane("slow", excluded=QUICK_KINDS))
ANY = Lane("any")


def claim_leases(ctx: Context, *, limit: int = 10, lane: Lane = ANY) -> list[tuple[uuid.UUID, int]]:
    """Claims due jobs (and jobs whose lease ran out) of the lane's kinds; returns each with
    its attempt number, the token its lease is renewed and finished with."""
    now = ctx.now()
    claimable = sa.and_(
        lane.condition(),
        sa.or_(
            sa.and_(col(OutboxJob.status) == JobStatus.pending, col(OutboxJob.run_after) <= now),
            sa.and_(col(OutboxJob.status) == JobStatus.running, col(OutboxJob.locked_until) < now),
        ),
    )
    with Session(ctx.engine) as session:
        query = (
            select(OutboxJob.id)
            .where(claimable)
            .order_by(col(OutboxJob.run_after), col(OutboxJob.id))
            .limit(limit)
        )
        if ctx.settings.is_postgres:
            query = query.with_for_update(skip_locked=True)
        ids = list(session.exec(query))
        claimed: list[tuple[uuid.UUID, int]] = []
        for job_id in ids:
            result = session.execute(
                sa.update(OutboxJob)
                .where(col(OutboxJob.id) == job_id, claimable)
                .values(
                    status=JobStatus.running,
                    locked_until=now + _lease(ctx),
                    attempts=OutboxJob.attempts + 1,
                )
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                attempts = session.exec(
                    select(OutboxJob.attempts).where(col(OutboxJob.id) == job_id)
                ).one()
                claimed.append((job_id, attempts))
        session.commit()
    return claimed


def claim(ctx: Context, *, limit: int = 10) -> list[uuid.UUID]:
    return [job_id for job_id, _ in claim_leases(ctx, limit=limit)]


def _owned(job_id: uuid.UUID, attempts: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        col(OutboxJob.id) == job_id,
        col(OutboxJob.status) == JobStatus.running,
        col(OutboxJob.attempts) == attempts,
    )


class Heartbeat:
    """Renews the leases of the jobs this worker holds, every DAM_JOB_HEARTBEAT_SECONDS, from
    its own thread (a handler may block for as long as it likes). Started on first use."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.held: dict[uuid.UUID, int] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def hold(self, leases: list[tuple[uuid.UUID, int]]) -> None:
        with self.lock:
            self.held.update(leases)
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="dam-heartbeat", daemon=True)
            self.thread.start()

    def release(self, job_id: uuid.UUID) -> None:
        with self.lock:
            self.held.pop(job_id, None)

    def __enter__(self) -> Heartbeat:
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=10)

    def _run(self) -> None:
        while not self.stopping.wait(self.ctx.settings.job_heartbeat_seconds):
            try:
                self.renew()
            except Exception:
                # The next beat tries again; the lease is several beats long.
                log.exception("could not renew job leases")

    def renew(self) -> None:
        with self.lock:
            held = dict(self.held)
        if not held:
            return
        until = self.ctx.now() + _lease(self.ctx)
        lost: list[uuid.UUID] = []
        with Session(self.ctx.engine) as session:
            for job_id, attempts in held.items():
                result = session.execute(
                    sa.update(OutboxJob).where(_owned(job_id, attempts)).values(locked_until=until)
                )
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    lost.append(job_id)
            session.commit()
        for job_id in lost:
            log.warning("lost the lease of job %s (finished, or claimed by another worker)", job_id)
            self.release(job_id)


def run_job(ctx: Context, job_id: uuid.UUID, attempts: int | None = None) -> None:
    """Runs a claimed job; `attempts` is the claim's token (read from the row when omitted)."""
    with Session(ctx.engine, expire_on_commit=False) as session:
        job = session.get(OutboxJob, job_id)
        if job is None or job.status != JobStatus.running:
            return
        if attempts is not None and job.attempts != attempts:
            return  # claimed again by another worker since
        kind, payload, attempts, max_attempts = (
            job.kind,
            dict(job.payload),
            job.attempts,
            job.max_attempts,
        )
    fn = get_handler(kind)
    error: str | None = None
    give_up = False
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
            error, give_up = str(exc) or "gave up", True
        except Exception as exc:
            log.exception("job %s (%s) failed on attempt %d", job_id, kind, attempts)
            error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
    _finish(ctx, job_id, error=error, attempts=attempts, max_attempts=max_attempts, give_up=give_up)


def _finish(
    ctx: Context,
    job_id: uuid.UUID,
    *,
    error: str | None,
    attempts: int,
    max_attempts: int,
    give_up: bool = False,
) -> None:
    """Record the outcome; `attempts` is the claim's fencing token (a worker that lost the
    lease finishes nothing), `give_up` fails the job without further attempts."""
    now = ctx.now()
    values: dict[str, Any]
    if error is None:
        values = {"status": JobStatus.done, "finished_at": now, "last_error": None}
    elif give_up or attempts >= max_attempts:
        values = {"status": JobStatus.failed, "finished_at": now, "last_error": error}
    else:
        values = {
            "status": JobStatus.pending,
            "run_after": now + backoff(attempts),
            "last_error": error,
        }
    with Session(ctx.engine) as session:
        result = session.execute(
            sa.update(OutboxJob).where(_owned(job_id, attempts)).values(locked_until=None, **values)
        )
        session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        log.warning(
            "job %s was claimed by another worker while it ran; its result is theirs", job_id
        )


def run_pending(ctx: Context, *, max_rounds: int = 100, lane: Lane = ANY) -> int:
    """Run every job that is due now (of the lane's kinds); returns how many ran. Tests and the
    CLI use it."""
    ran = 0
    with Heartbeat(ctx) as heartbeat:
        for _ in range(max_rounds):
            leases = claim_leases(ctx, lane=lane)
            if not leases:
                break
            heartbeat.hold(leases)
            for job_id, attempts in leases:
                try:
                    run_job(ctx, job_id, attempts)
                finally:
                    heartbeat.release(job_id)
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
    """The worker: the embedded mode's in-process worker, and `dam worker`'s.

    One loop per lane (`LANES`), each in its own thread: it runs what is due, then sleeps
    until a job is committed (`dam.jobs.wakeup`: the in-process signal, and on PostgreSQL
    `LISTEN dam_jobs` for jobs committed by other processes) or DAM_WORKER_POLL_SECONDS pass,
    whichever comes first. The periodic tasks run in the slow lane."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(name="dam-worker", daemon=True)
        self.ctx = ctx
        self.stopping = threading.Event()
        self.wake = wakeup.signal_for(ctx.engine)
        self.listener: wakeup.Listener | None = None
        self.lanes: list[threading.Thread] = []

    def run(self) -> None:
        settings = self.ctx.settings
        if settings.worker_wake and settings.is_postgres:
            self.listener = wakeup.Listener(
                self.ctx.engine, self.wake, retry_seconds=settings.worker_poll_seconds
            )
            self.listener.start()
        self.lanes = [
            threading.Thread(target=self._loop, args=(lane,), name=f"dam-worker-{lane.name}")
            for lane in LANES[:-1]
        ]
        for thread in self.lanes:
            thread.start()
        self._loop(LANES[-1])
        for thread in self.lanes:
            thread.join(timeout=10)

    def _loop(self, lane: Lane) -> None:
        poll = self.ctx.settings.worker_poll_seconds
        wake = self.ctx.settings.worker_wake
        while not self.stopping.is_set():
            # Read before claiming: a job committed from here on ends the sleep below.
            seen = self.wake.count()
            try:
                if lane is LANES[-1]:
                    run_scheduled(self.ctx)
                ran = run_pending(self.ctx, max_rounds=10, lane=lane)
            except Exception:
                log.exception("worker loop error (%s jobs)", lane.name)
                ran = 0
            if ran or self.stopping.is_set():
                continue
            if wake:
                self.wake.wait(seen, poll)
            else:  # DAM_WORKER_WAKE=false: polling alone
                self.stopping.wait(poll)

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        if self.listener is not None:
            self.listener.stop()
        self.join(timeout=10)
