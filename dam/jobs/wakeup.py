"""Waking the worker when a job is committed, instead of at its next poll.

`enqueue` marks its session; when that session commits, the in-process signal of its engine is
set (the embedded worker thread waits on it), and on PostgreSQL the transaction also sent
`NOTIFY dam_jobs`, delivered at commit to every `dam worker` process listening (a rollback
sends nothing). Polling stays as the fallback: a worker that misses a signal (a listener
reconnecting, a job that became due by its `run_after`) finds the job at its next poll.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import weakref

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

log = logging.getLogger("dam.worker")

CHANNEL = "dam_jobs"
_PENDING = "dam_jobs_enqueued"


class Signal:
    """A counter of wake-ups that any number of threads wait on: each waits for the count to
    move past what it saw before its round, so no waiter can swallow another's wake-up (as
    clearing a shared `threading.Event` would)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._count = 0

    def set(self) -> None:
        with self._cond:
            self._count += 1
            self._cond.notify_all()

    def count(self) -> int:
        with self._cond:
            return self._count

    def wait(self, seen: int, timeout: float) -> bool:
        """Until the count differs from `seen` (True) or `timeout` passes (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._count != seen, timeout)


_signals: weakref.WeakKeyDictionary[Engine, Signal] = weakref.WeakKeyDictionary()
_signals_guard = threading.Lock()


def signal_for(engine: Engine) -> Signal:
    """The signal set whenever a transaction on `engine` commits a new job."""
    with _signals_guard:
        found = _signals.get(engine)
        if found is None:
            found = _signals[engine] = Signal()
        return found


def channel_for(engine: Engine) -> str:
    """`dam_jobs`, or `dam_jobs_<digest>` when the database URL picks a schema (an `options`
    search_path): NOTIFY reaches every listener of the database, and services that share one in
    separate schemas must not wake each other's workers."""
    options = engine.url.query.get("options")
    if not options:
        return CHANNEL
    return f"{CHANNEL}_{hashlib.sha256(str(options).encode()).hexdigest()[:16]}"


def job_enqueued(session: Session) -> None:
    """Called by `enqueue`: the worker is woken when this session's transaction commits."""
    if session.info.get(_PENDING):
        return
    session.info[_PENDING] = True
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        engine = bind if isinstance(bind, Engine) else bind.engine
        # Transactional: PostgreSQL delivers it at commit, and drops it on rollback.
        session.execute(sa.text(f"NOTIFY {channel_for(engine)}"))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_PENDING, False):
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        signal_for(engine).set()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


class Listener(threading.Thread):
    """`LISTEN dam_jobs` on a connection of its own, setting `wake` for each notification;
    reconnects after a lost connection (and wakes the worker then, for what it may have
    missed)."""

    def __init__(self, engine: Engine, wake: Signal, *, retry_seconds: float) -> None:
        super().__init__(name="dam-job-listener", daemon=True)
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self.channel = channel_for(engine)
        self.wake = wake
        self.retry_seconds = retry_seconds
        self.stopping = threading.Event()
        self.listening = threading.Event()

    def run(self) -> None:
        import psycopg

        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    self.listening.set()
                    self.wake.set()
                    while not self.stopping.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self.wake.set()
            except Exception:
                log.warning("job listener lost its connection; polling until it is back")
            self.listening.clear()
            self.stopping.wait(self.retry_seconds)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)
