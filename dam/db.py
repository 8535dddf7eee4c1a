"""Engine construction and migrations. Services take a Session and never commit."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_db_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_pre_ping=True
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take control so that a writer's
        # transaction starts immediately and waits on busy_timeout instead of failing later.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def insert_new(
    session: Session, table: Any, values: dict[str, Any], *, unique: Sequence[str]
) -> bool:
    """INSERT the row unless one with the same `unique` columns exists; True when this call
    inserted it. Atomic where a look-up-then-insert races: on PostgreSQL a concurrent inserter
    waits for the first transaction and then finds its row (READ COMMITTED), instead of failing
    with a unique violation; SQLite serialises writers anyway."""
    target = table.__table__ if hasattr(table, "__table__") else table
    dialect = session.get_bind().dialect.name
    make = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        make(target)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(unique))
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT run through the ORM session.
        .returning(target.c[unique[0]])
    )
    return session.execute(statement).first() is not None


def among(session: Session, column: Any, values: Collection[Any]) -> sa.ColumnElement[bool]:
    """`column IN (values)`; on PostgreSQL `column = ANY(CAST(:values AS type[]))` with the
    array written as one text parameter: the statement's text is the same whatever the number
    of values (psycopg converts it once), and one string is far cheaper to send than a
    parameter per value or a list psycopg adapts element by element."""
    if session.get_bind().dialect.name == "postgresql":
        text = "{" + ",".join(_array_element(str(v)) for v in values) + "}"
        return column == sa.any_(sa.cast(sa.literal(text, sa.Text), sa.ARRAY(column.type)))
    return column.in_(list(values))


def _array_element(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # the "begin" listener above issues BEGIN itself
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work outside a request (CLI, worker): commit on success, roll back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    """Apply every migration (idempotent; used by `dam db upgrade` and `dam serve`)."""
    from alembic import command

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # API replicas and workers start together; one migrates, the others wait for it.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(724000001)")
        cfg = alembic_config(str(engine.url.render_as_string(hide_password=False)))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
