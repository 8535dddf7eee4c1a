"""The loaded governance pack, swappable at run time. A failed reload keeps the previous pack.

The pack is read on first use, so commands that never judge an asset (`dam storage init`,
`dam keys`, `dam db upgrade`) work without it; `dam serve` loads it before it listens
(`dam.app.prepare`), so the service still refuses to start on a broken pack.
"""

from __future__ import annotations

import threading
from pathlib import Path

from dam.governance.pack import GovernancePack, load_pack


class GovernanceHolder:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._pack: GovernancePack | None = None

    @property
    def pack(self) -> GovernancePack:
        """The pack in force; the first access loads it and raises PackInvalid if it is broken."""
        pack = self._pack
        if pack is not None:
            return pack
        with self._lock:
            if self._pack is None:
                self._pack = load_pack(self.directory)
            return self._pack

    def load(self) -> GovernancePack:
        """Load the pack now if it is not loaded yet (start-up); raises PackInvalid."""
        return self.pack

    def reload(self) -> tuple[GovernancePack, GovernancePack]:
        """Load the pack again; returns (previous, current). Raises PackInvalid and keeps the
        previous pack when the files on disk are broken."""
        with self._lock:
            fresh = load_pack(self.directory)
            # Never loaded before: there is no earlier pack to compare with, only this one.
            previous = self._pack if self._pack is not None else fresh
            self._pack = fresh
            return previous, fresh
