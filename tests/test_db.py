"""dam.db helpers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from dam.db import among
from dam.models import DeliveryCopy

pytestmark = pytest.mark.usefixtures("db_backend")


def test_among_matches_exactly_the_values_given(engine: Engine) -> None:
    # On PostgreSQL the values travel as one array literal: quotes, backslashes, commas and
    # braces in them must not split or change an element.
    keys = ['a"b', "c\\d", "e,f", "{g}", "plain", "NULL"]
    with Session(engine) as session:
        for key in [*keys, "other"]:
            session.add(
                DeliveryCopy(
                    key=key,
                    blob_key=f"b/{key}",
                    source_sha256="0" * 64,
                    sha256="1" * 64,
                    size=1,
                    mime_type="image/jpeg",
                    method="rewritten",
                    created_at=datetime(2026, 1, 1, tzinfo=UTC),
                )
            )
        session.commit()
        found = session.execute(
            sa.select(col(DeliveryCopy.key)).where(among(session, col(DeliveryCopy.key), keys))
        ).scalars()
        assert sorted(found) == sorted(keys)
        none = session.execute(
            sa.select(col(DeliveryCopy.key)).where(among(session, col(DeliveryCopy.key), []))
        ).all()
        assert none == []
