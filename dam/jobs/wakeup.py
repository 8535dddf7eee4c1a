"""Waking the worker when a job is committed, instead of at its next poll.

`enqueue` marks its session; when that session commits, the in-process signal of its engine is
set (the embedded worker thread waits on it), and on PostgreSQL the transaction also sent
`NOTIFY dam_jobs`, delivered at commit to every `dam worker` process listening (a rollback
sends nothing). Polling stays as the fallback: a worker that misses a signal (a listener
reconnecting, a job that became due by its `run_after`) finds the job at its next poll.
"""

from __future__ import annotations

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
_signals: weakref.WeakKeyDictionary[Engine, threading.Event] = weakref.WeakKeyDictionary()
_signals_guard = threading.Lock()


def signal_for(engine: Engine) -> threading.Event:
    """The event set whenever a transaction on `engine` commits a new job."""
    with _signals_guard:
        found = _signals.get(engine)
        if found is None:
            found = _signals[engine] = threading.Event()
        return found


def job_enqueued(session: Session) -> None:
    """Called by `enqueue`: the worker is woken when this session's transaction commits."""
    if session.info.get(_PENDING):
        return
    session.info[_PENDING] = True
    if session.get_bind().dialect.name == "postgresql":
        # Transactional: PostgreSQL delivers it at commit, and drops it on rollback.
        session.execute(sa.text(f"NOTIFY {CHANNEL}"))


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

    def __init__(self, engine: Engine, wake: threading.Event, *, retry_seconds: float) -> None:
        super().__init__(name="dam-job-listener", daemon=True)
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self.wake = wake
        self.retry_seconds = retry_seconds
        self.stopping = threading.Event()
        self.listening = threading.Event()

    def run(self) -> None:
        import psycopg

        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
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
