"""Everything a request, a worker or a CLI command needs, built once from Settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from dam.config import Settings
from dam.db import create_db_engine
from dam.governance.holder import GovernanceHolder
from dam.models.types import utcnow
from dam.storage import BlobStore, get_blob_store


@dataclass
class Context:
    settings: Settings
    engine: Engine
    store: BlobStore
    governance: GovernanceHolder
    clock: Callable[[], datetime] = utcnow
    extras: dict[str, Any] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()


def build_context(settings: Settings, *, engine: Engine | None = None) -> Context:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Context(
        settings=settings,
        engine=engine or create_db_engine(settings.resolved_database_url),
        store=get_blob_store(settings),
        governance=GovernanceHolder(settings.taxonomy_dir),
    )
