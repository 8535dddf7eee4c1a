"""The worker is woken by a committed job, not only by its poll: the in-process signal on both
databases, and LISTEN/NOTIFY across processes on PostgreSQL."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from dam import worker
from dam.context import Context
from dam.db import session_scope
from dam.jobs import wakeup
from dam.jobs.outbox import enqueue
from dam.models import JobStatus, OutboxJob
from dam.search.service import JOB_KIND as SEARCH_INDEX_JOB
from dam.worker import WorkerThread

pytestmark = pytest.mark.usefixtures("db_backend")
# Far longer than any wait below: a job that ran within them was woken, not polled for.
POLL_SECONDS = 120.0
WAIT_SECONDS = 20.0
ran: list[str] = []
ran_event = threading.Event()


def record(ctx: Context, session: Session, payload: dict[str, Any]) -> None:
    ran.append(payload["n"])
    ran_event.set()


@pytest.fixture(autouse=True)
def _handler(monkeypatch: pytest.MonkeyPatch, ctx: Context) -> None:
    monkeypatch.setitem(worker.HANDLERS, "test.record", record)
    monkeypatch.setattr(ctx.settings, "worker_poll_seconds", POLL_SECONDS)
    ran.clear()
    ran_event.clear()


def commit_job(ctx: Context) -> str:
    n = str(uuid.uuid4())
    with session_scope(ctx.engine) as session:
        enqueue(session, "test.record", {"n": n}, now=ctx.now())
    return n


def _wait_until_asleep(thread: WorkerThread) -> None:
    """Until every lane of the worker waits on the signal (or the poll)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        lanes = [thread, *thread.lanes]
        if len(lanes) > 1 and all(_waiting(t) for t in lanes):
            return
        time.sleep(0.01)
    raise AssertionError("the worker never went idle")


def _waiting(thread: threading.Thread) -> bool:
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code.co_name == "wait_for":
            return True
        frame = frame.f_back
    return False


def test_committed_job_sets_the_engines_signal(ctx: Context) -> None:
    signal = wakeup.signal_for(ctx.engine)
    before = signal.count()

    commit_job(ctx)

    assert signal.count() == before + 1


def test_rolled_back_job_does_not_set_the_signal(ctx: Context) -> None:
    signal = wakeup.signal_for(ctx.engine)
    before = signal.count()
    with Session(ctx.engine) as session:
        enqueue(session, "test.record", {"n": "x"}, now=ctx.now())
        session.flush()
        session.rollback()
        # The session is used again: the mark of the rolled-back transaction is gone.
        session.add(OutboxJob(kind="test.record", payload={}, run_after=ctx.now()))
        session.commit()

    assert signal.count() == before


def test_idle_worker_runs_a_committed_job_without_waiting_for_its_poll(ctx: Context) -> None:
    thread = WorkerThread(ctx)
    thread.start()
    try:
        if thread.listener is not None:
            assert thread.listener.listening.wait(WAIT_SECONDS)
        # Let the first rounds find nothing, so the worker is asleep on its poll.
        _wait_until_asleep(thread)
        n = commit_job(ctx)

        assert ran_event.wait(WAIT_SECONDS), "the worker slept through a committed job"
        assert ran == [n]
    finally:
        thread.stop()
    with Session(ctx.engine) as session:
        statuses = list(session.exec(select(OutboxJob.status)))
    assert statuses == [JobStatus.done]


@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)
def test_notify_wakes_a_listener_of_another_process_only_on_commit(ctx: Context) -> None:
    # A signal of its own, as a `dam worker` process has: only NOTIFY can reach it.
    other = wakeup.Signal()
    listener = wakeup.Listener(ctx.engine, other, retry_seconds=0.1)
    listener.start()
    try:
        assert listener.listening.wait(WAIT_SECONDS)
        assert other.wait(0, WAIT_SECONDS)  # set once on connecting, for what it may have missed
        seen = other.count()
        with Session(ctx.engine) as session:
            enqueue(session, "test.record", {"n": "rolled back"}, now=ctx.now())
            session.flush()
            session.rollback()
        assert not other.wait(seen, 1.0), "a rolled-back transaction notified the listener"
        commit_job(ctx)
        assert other.wait(seen, WAIT_SECONDS)
    finally:
        listener.stop()


def test_index_job_runs_while_a_slow_job_holds_the_other_lane(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()

    def block(ctx: Context, session: Session, payload: dict[str, Any]) -> None:
        started.set()
        release.wait(WAIT_SECONDS)

    monkeypatch.setitem(worker.HANDLERS, "test.block", block)
    monkeypatch.setitem(worker.HANDLERS, SEARCH_INDEX_JOB, record)
    thread = WorkerThread(ctx)
    thread.start()
    try:
        with session_scope(ctx.engine) as session:
            enqueue(session, "test.block", {}, now=ctx.now())
        assert started.wait(WAIT_SECONDS)
        with session_scope(ctx.engine) as session:
            enqueue(session, SEARCH_INDEX_JOB, {"n": "index"}, now=ctx.now())

        assert ran_event.wait(WAIT_SECONDS), "the index job waited behind the slow one"
        assert not release.is_set()
        assert ran == ["index"]
    finally:
        release.set()
        thread.stop()


def test_each_schema_of_a_database_has_a_channel_of_its_own() -> None:
    """NOTIFY reaches every listener of the database: services sharing one in separate
    schemas (as the test workers do) must not wake each other."""
    plain = sa.create_engine("postgresql+psycopg://u@h/db")
    one = sa.create_engine("postgresql+psycopg://u@h/db?options=-csearch_path%3Done")
    two = sa.create_engine("postgresql+psycopg://u@h/db?options=-csearch_path%3Dtwo")
    channels = [wakeup.channel_for(e) for e in (plain, one, two)]
    assert channels[0] == "dam_jobs"
    assert len(set(channels)) == 3
    assert all(c.startswith("dam_jobs_") for c in channels[1:])
    assert channels[1] == wakeup.channel_for(
        sa.create_engine("postgresql+psycopg://other@h/db?options=-csearch_path%3Done")
    )
