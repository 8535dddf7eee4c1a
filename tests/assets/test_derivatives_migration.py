"""Migration 0016 on a fresh SQLite file: tables and column up, and down again to 0015."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command

from dam.db import alembic_config, create_db_engine


def _state(engine: sa.Engine) -> tuple[set[str], set[str]]:
    inspector = sa.inspect(engine)
    tables = set(inspector.get_table_names())
    columns = {c["name"] for c in inspector.get_columns("delivery_events")}
    return tables, columns


def test_0016_adds_focal_points_derivatives_and_the_delivered_preset(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    engine = create_db_engine(url)
    try:
        for target, present in (("0015", False), ("head", True)):
            with engine.begin() as conn:
                cfg = alembic_config(url)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, target)
            tables, columns = _state(engine)
            assert ({"focal_points", "derivatives"} <= tables) is present
            assert ("preset" in columns) is present
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0015")
        tables, columns = _state(engine)
        assert not {"focal_points", "derivatives"} & tables
        assert "preset" not in columns
    finally:
        engine.dispose()
