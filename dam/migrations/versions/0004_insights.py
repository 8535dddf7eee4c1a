"""creative insights: asset_terms (kept by triggers) and the monthly metrics rollup

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 12:00:00

`asset_terms` mirrors `assets.terms` one row per (facet, term, asset). Triggers keep it in
step on both databases, so every write path (ORM, raw SQL, COPY) maintains it without the
services having to remember. `campaign_metric_months` is written by the metrics upsert
(dam/campaigns/metrics.py), which rebuilds the touched keys from `campaign_metrics`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PG_FUNCTION = """
CREATE FUNCTION dam_sync_asset_terms() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM asset_terms WHERE asset_id = NEW.id;
    END IF;
    INSERT INTO asset_terms (facet, term, asset_id)
    SELECT DISTINCT f.key, t.value, NEW.id
    FROM jsonb_each(CASE WHEN jsonb_typeof(NEW.terms) = 'object' THEN NEW.terms
                         ELSE '{}'::jsonb END) AS f,
         jsonb_array_elements_text(CASE WHEN jsonb_typeof(f.value) = 'array' THEN f.value
                                        ELSE '[]'::jsonb END) AS t;
    RETURN NULL;
END
$$
"""

SQLITE_SELECT = """
    SELECT DISTINCT f.key, t.value, NEW.id
    FROM json_each(NEW.terms) AS f, json_each(f.value) AS t
    WHERE json_valid(NEW.terms) AND json_type(NEW.terms) = 'object' AND f.type = 'array';
"""


def upgrade() -> None:
    op.create_table(
        "asset_terms",
        sa.Column("facet", sa.String(), nullable=False),
        sa.Column("term", sa.String(), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name="fk_asset_terms_asset_id_assets", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("facet", "term", "asset_id", name="pk_asset_terms"),
    )
    op.create_index("ix_asset_terms_asset_id", "asset_terms", ["asset_id"])
    op.create_table(
        "campaign_metric_months",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("conversions", sa.BigInteger(), nullable=False),
        sa.Column("spend_cents", sa.BigInteger(), nullable=False),
        sa.Column("revenue_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "campaign_id", "asset_id", "month", "channel", name="pk_campaign_metric_months"
        ),
    )
    op.create_index("ix_campaign_metric_months_asset_id", "campaign_metric_months", ["asset_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER assets_sync_terms AFTER INSERT OR UPDATE OF terms ON assets"
            " FOR EACH ROW EXECUTE FUNCTION dam_sync_asset_terms()"
        )
        op.execute("UPDATE assets SET terms = terms")
        month = "date_trunc('month', date)::date"
    else:
        op.execute(
            "CREATE TRIGGER assets_insert_terms AFTER INSERT ON assets BEGIN"
            f" INSERT INTO asset_terms (facet, term, asset_id) {SQLITE_SELECT} END"
        )
        op.execute(
            "CREATE TRIGGER assets_update_terms AFTER UPDATE OF terms ON assets BEGIN"
            " DELETE FROM asset_terms WHERE asset_id = NEW.id;"
            f" INSERT INTO asset_terms (facet, term, asset_id) {SQLITE_SELECT} END"
        )
        op.execute("UPDATE assets SET terms = terms")
        month = "date(date, 'start of month')"
    op.execute(
        "INSERT INTO campaign_metric_months (campaign_id, asset_id, month, channel, impressions,"
        " clicks, conversions, spend_cents, revenue_cents)"
        f" SELECT campaign_id, asset_id, {month}, channel, sum(impressions), sum(clicks),"
        " sum(conversions), sum(CAST(round(spend * 100) AS BIGINT)),"
        " sum(CAST(round(revenue * 100) AS BIGINT))"
        f" FROM campaign_metrics GROUP BY campaign_id, asset_id, {month}, channel"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER assets_sync_terms ON assets")
        op.execute("DROP FUNCTION dam_sync_asset_terms()")
    else:
        op.execute("DROP TRIGGER assets_insert_terms")
        op.execute("DROP TRIGGER assets_update_terms")
    op.drop_table("campaign_metric_months")
    op.drop_table("asset_terms")
