"""term-level rollups for creative insights, kept by the upsert and by asset_terms triggers

`campaign_term_months` sums `campaign_metric_months` per (facet, term, month, channel,
campaign, currency) with how many assets are behind each row; `campaign_asset_cells` holds
each asset's pattern (the (month, channel) cells it has figures in) and `campaign_term_cells`
how many assets of a term have each pattern. The metrics upsert keeps them for the campaign
months it touches (dam/campaigns/rollup.py); triggers on `asset_terms` move an asset's
figures and pattern between terms when its terms change, on both databases. Filled here from
the existing rollup.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 20:10:00
"""

# ruff: noqa: S608  (the SQL is built from the constant column names below only)

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

EMAIL = ("sends", "deliveries", "opens", "unique_opens", "unsubscribes", "bounces")
FIGURES = (
    "impressions",
    "clicks",
    "conversion_hundredths",
    "spend_cents",
    "revenue_cents",
    *EMAIL,
)
KEY = ("facet", "term", "month", "channel", "campaign_id", "currency")
ROLLUP_KEY = ("month", "channel", "campaign_id", "currency")
# dam.campaigns.rollup.LOCK_KEY ("dam_ctr1").
LOCK_KEY = 0x64616D5F63747231


def _add(row: str) -> str:
    """An asset_terms row's (`row`: NEW) share of the rollup added to its term."""
    figures = ", ".join(FIGURES)
    sums = ", ".join(f"{n} = campaign_term_months.{n} + excluded.{n}" for n in FIGURES)
    return (
        f"INSERT INTO campaign_term_months ({', '.join(KEY)}, assets, {figures})"
        f" SELECT {row}.facet, {row}.term, r.month, r.channel, r.campaign_id, r.currency, 1,"
        f" {', '.join(f'r.{n}' for n in FIGURES)}"
        f" FROM campaign_metric_months r WHERE r.asset_id = {row}.asset_id"
        f" ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET"
        f" assets = campaign_term_months.assets + excluded.assets, {sums};"
        " INSERT INTO campaign_term_cells (facet, term, digest, cells, assets)"
        f" SELECT {row}.facet, {row}.term, p.digest, p.cells, 1"
        f" FROM campaign_asset_cells p WHERE p.asset_id = {row}.asset_id"
        " ON CONFLICT (facet, term, digest) DO UPDATE SET"
        " assets = campaign_term_cells.assets + 1;"
    )


def _remove(row: str) -> str:
    """An asset_terms row's (`row`: OLD) share taken away, rows left at 0 dropped."""
    sums = ", ".join(f"{n} = campaign_term_months.{n} - r.{n}" for n in FIGURES)
    match = " AND ".join(f"campaign_term_months.{k} = r.{k}" for k in ROLLUP_KEY)
    mine = f"campaign_term_months.facet = {row}.facet AND campaign_term_months.term = {row}.term"
    digest = f"(SELECT digest FROM campaign_asset_cells WHERE asset_id = {row}.asset_id)"
    return (
        f"UPDATE campaign_term_months SET assets = campaign_term_months.assets - 1, {sums}"
        f" FROM campaign_metric_months r WHERE r.asset_id = {row}.asset_id AND {mine}"
        f" AND {match};"
        f" DELETE FROM campaign_term_months WHERE {mine} AND assets <= 0"
        f" AND ({', '.join(ROLLUP_KEY)}) IN (SELECT {', '.join(ROLLUP_KEY)}"
        f" FROM campaign_metric_months WHERE asset_id = {row}.asset_id);"
        " UPDATE campaign_term_cells SET assets = assets - 1"
        f" WHERE facet = {row}.facet AND term = {row}.term AND digest = {digest};"
        " DELETE FROM campaign_term_cells"
        f" WHERE facet = {row}.facet AND term = {row}.term AND digest = {digest}"
        " AND assets <= 0;"
    )


PG_FUNCTION = f"""
CREATE FUNCTION dam_campaign_term_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target uuid;
BEGIN
    target := CASE WHEN TG_OP = 'DELETE' THEN OLD.asset_id ELSE NEW.asset_id END;
    -- An asset without figures or campaigns has nothing in the rollups and cannot get any
    -- before this commits (the usual case: a new upload).
    IF NOT EXISTS (SELECT 1 FROM campaign_asset_cells WHERE asset_id = target)
       AND NOT EXISTS (SELECT 1 FROM asset_campaigns WHERE asset_id = target) THEN
        RETURN NULL;
    END IF;
    -- The lock every writer of the term rollups takes (dam.campaigns.rollup.LOCK_KEY): an
    -- ingest that is recounting waits, or is waited for; each statement below then reads
    -- what it committed.
    PERFORM pg_advisory_xact_lock({LOCK_KEY});
    IF NOT EXISTS (SELECT 1 FROM campaign_asset_cells WHERE asset_id = target) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        {_remove("OLD")}
    ELSE
        {_add("NEW")}
    END IF;
    RETURN NULL;
END
$$
"""

CELLS = "EXISTS (SELECT 1 FROM campaign_asset_cells WHERE asset_id = {row}.asset_id)"


def _pattern(cells: set[tuple[str, str]]) -> tuple[str, str]:
    # The same text and digest as dam.campaigns.rollup.pattern.
    text = json.dumps(sorted(cells), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32], text


def _fill() -> None:
    figures = ", ".join(FIGURES)
    op.execute(
        f"INSERT INTO campaign_term_months ({', '.join(KEY)}, assets, {figures})"
        " SELECT t.facet, t.term, r.month, r.channel, r.campaign_id, r.currency, count(*),"
        f" {', '.join(f'sum(r.{n})' for n in FIGURES)}"
        " FROM campaign_metric_months r JOIN asset_terms t ON t.asset_id = r.asset_id"
        " GROUP BY t.facet, t.term, r.month, r.channel, r.campaign_id, r.currency"
    )
    bind = op.get_bind()
    # On SQLite the ids are passed through as stored (no parsing): the migration copies, it
    # does not judge.
    uuid_type: sa.types.TypeEngine[object] = (
        sa.Uuid() if bind.dialect.name == "postgresql" else sa.String()
    )
    cells = sa.table(
        "campaign_asset_cells",
        sa.column("asset_id", uuid_type),
        sa.column("digest", sa.String()),
        sa.column("cells", sa.String()),
    )
    rollup = sa.table(
        "campaign_metric_months",
        sa.column("asset_id", uuid_type),
        sa.column("month", sa.Date()),
        sa.column("channel", sa.String()),
    )
    last = None
    while True:
        page = sa.select(rollup.c.asset_id).distinct().order_by(rollup.c.asset_id).limit(1000)
        if last is not None:
            page = page.where(rollup.c.asset_id > last)
        chunk = list(bind.execute(page).scalars())
        if not chunk:
            break
        last = chunk[-1]
        found: dict[object, set[tuple[str, str]]] = {}
        for asset_id, month, channel in bind.execute(
            sa.select(rollup.c.asset_id, rollup.c.month, rollup.c.channel)
            .where(rollup.c.asset_id.in_(chunk))
            .distinct()
        ):
            found.setdefault(asset_id, set()).add((month.isoformat(), channel))
        rows = []
        for asset_id, asset_cells in found.items():
            digest, text = _pattern(asset_cells)
            rows.append({"asset_id": asset_id, "digest": digest, "cells": text})
        bind.execute(sa.insert(cells), rows)
    op.execute(
        "INSERT INTO campaign_term_cells (facet, term, digest, cells, assets)"
        " SELECT t.facet, t.term, c.digest, min(c.cells), count(*)"
        " FROM campaign_asset_cells c JOIN asset_terms t ON t.asset_id = c.asset_id"
        " GROUP BY t.facet, t.term, c.digest"
    )


def upgrade() -> None:
    op.create_table(
        "campaign_term_months",
        sa.Column("facet", sa.String(), nullable=False),
        sa.Column("term", sa.String(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("assets", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in FIGURES),
        sa.PrimaryKeyConstraint(*KEY, name="pk_campaign_term_months"),
    )
    op.create_index(
        "ix_campaign_term_months_campaign_id_month",
        "campaign_term_months",
        ["campaign_id", "month"],
    )
    op.create_table(
        "campaign_asset_cells",
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("cells", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("asset_id", name="pk_campaign_asset_cells"),
    )
    op.create_table(
        "campaign_term_cells",
        sa.Column("facet", sa.String(), nullable=False),
        sa.Column("term", sa.String(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("cells", sa.String(), nullable=False),
        sa.Column("assets", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("facet", "term", "digest", name="pk_campaign_term_cells"),
    )
    _fill()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER asset_terms_campaign_rollups AFTER INSERT OR DELETE ON asset_terms"
            " FOR EACH ROW EXECUTE FUNCTION dam_campaign_term_rollups()"
        )
    else:
        op.execute(
            "CREATE TRIGGER asset_terms_campaign_rollups_insert AFTER INSERT ON asset_terms"
            f" WHEN {CELLS.format(row='NEW')} BEGIN {_add('NEW')} END"
        )
        op.execute(
            "CREATE TRIGGER asset_terms_campaign_rollups_delete AFTER DELETE ON asset_terms"
            f" WHEN {CELLS.format(row='OLD')} BEGIN {_remove('OLD')} END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER asset_terms_campaign_rollups ON asset_terms")
        op.execute("DROP FUNCTION dam_campaign_term_rollups()")
    else:
        op.execute("DROP TRIGGER asset_terms_campaign_rollups_insert")
        op.execute("DROP TRIGGER asset_terms_campaign_rollups_delete")
    op.drop_table("campaign_term_cells")
    op.drop_table("campaign_asset_cells")
    op.drop_index("ix_campaign_term_months_campaign_id_month", table_name="campaign_term_months")
    op.drop_table("campaign_term_months")
