"""Who is acting: an API key or a signed-in user, reduced to what permission checks need."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from dam.models import Role

UPLOADERS = frozenset({Role.admin, Role.brand_manager, Role.designer})
REVIEWERS = frozenset({Role.admin, Role.brand_manager})
# Marketers and automation only ever see published, live assets.
RESTRICTED_VIEWERS = frozenset({Role.marketer, Role.automation})


@dataclass(frozen=True)
class Principal:
    id: uuid.UUID
    name: str
    role: Role
    kind: str = "key"  # key | user
    campaign_scope: tuple[str, ...] | None = None

    @property
    def sees_only_published(self) -> bool:
        return self.role in RESTRICTED_VIEWERS

    def may(self, roles: frozenset[Role]) -> bool:
        return self.role in roles


SYSTEM = Principal(id=uuid.UUID(int=0), name="system", role=Role.admin, kind="system")
