"""The loaded governance pack, swappable at run time. A failed reload keeps the previous pack."""

from __future__ import annotations

import threading
from pathlib import Path

from dam.governance.pack import GovernancePack, load_pack


class GovernanceHolder:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._pack = load_pack(directory)  # raises PackInvalid: the service refuses to start

    @property
    def pack(self) -> GovernancePack:
        return self._pack

    def reload(self) -> tuple[GovernancePack, GovernancePack]:
        """Load the pack again; returns (previous, current). Raises PackInvalid and keeps the
        previous pack when the files on disk are broken."""
        with self._lock:
            fresh = load_pack(self.directory)
            previous, self._pack = self._pack, fresh
            return previous, fresh
