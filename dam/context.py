"""Everything a request, a worker or a CLI command needs, built from Settings.

Each part is built on first use, so a command takes only what it touches: `dam keys` opens the
database and never builds the blob store, and nothing here loads the governance pack (the holder
reads it on first use; `dam serve` and `dam worker` load it at start).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from dam.config import Settings
from dam.db import create_db_engine
from dam.governance.holder import GovernanceHolder
from dam.models.types import utcnow
from dam.storage import BlobStore, get_blob_store


class Context:
    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        store: BlobStore | None = None,
        governance: GovernanceHolder | None = None,
        clock: Callable[[], datetime] = utcnow,
        extras: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self._engine = engine
        self._store = store
        self._governance = governance
        self.clock = clock
        self.extras: dict[str, Any] = extras if extras is not None else {}
        # Request threads may ask for a part at once; each is built once.
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        # Creating an engine opens no connection; a bad URL scheme fails here, a bad host at
        # the first query.
        with self._lock:
            if self._engine is None:
                self._engine = create_db_engine(self.settings.resolved_database_url)
            return self._engine

    @engine.setter
    def engine(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def store(self) -> BlobStore:
        with self._lock:
            if self._store is None:
                self._store = get_blob_store(self.settings)
            return self._store

    @store.setter
    def store(self, store: BlobStore) -> None:
        self._store = store

    @property
    def governance(self) -> GovernanceHolder:
        with self._lock:
            if self._governance is None:
                self._governance = GovernanceHolder(self.settings.taxonomy_dir)
            return self._governance

    @governance.setter
    def governance(self, governance: GovernanceHolder) -> None:
        self._governance = governance

    def now(self) -> datetime:
        return self.clock()


def build_context(settings: Settings, *, engine: Engine | None = None) -> Context:
    # Nothing is created here: the SQLite engine, the filesystem store, the search index and the
    # temp-file writers each make their directory under DAM_DATA_DIR when they first need it.
    return Context(settings, engine=engine)
