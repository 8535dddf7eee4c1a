"""metric rows held to the documented bounds: rows stored before the bounds with a value past
them (only an error or an attack can produce one) are removed, and the monthly rollup recounted
for the campaigns and assets they belonged to; placements (where a version runs on a platform)
with their history, metric rows keyed by placement too, and fractional conversions (hundredths)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 14:00:00
"""

import sqlalchemy as sa
from alembic import op

from dam.models.types import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

EMAIL = ("sends", "deliveries", "opens", "unique_opens", "unsubscribes", "bounces")
# Copied, not imported: a migration keeps the limits it was written with (dam/bounds.py).
MAX_COUNT = 10**10
MAX_MONEY = 10**9
_OUT_OF_RANGE = (
    f"impressions NOT BETWEEN 0 AND {MAX_COUNT} OR clicks NOT BETWEEN 0 AND {MAX_COUNT}"
    f" OR conversions NOT BETWEEN 0 AND {MAX_COUNT}"
    f" OR spend NOT BETWEEN 0 AND {MAX_MONEY} OR revenue NOT BETWEEN 0 AND {MAX_MONEY}"
)


def upgrade() -> None:
    _remove_out_of_range()
    op.create_table(
        "placements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=False),
        sa.Column("external_name", sa.String(length=512), nullable=True),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("first_seen", sa.Date(), nullable=True),
        sa.Column("last_seen", sa.Date(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_placements_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_placements_asset_id_assets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_placements")),
        sa.UniqueConstraint(
            "platform",
            "account",
            "external_id",
            name=op.f("uq_placements_platform_account_external_id"),
        ),
    )
    op.create_index("ix_placements_campaign_id", "placements", ["campaign_id"])
    op.create_index("ix_placements_asset_id", "placements", ["asset_id"])
    op.create_table(
        "placement_periods",
        sa.Column("placement_id", sa.Uuid(), nullable=False),
        sa.Column("valid_from", UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_to", UTCDateTime(timezone=True), nullable=True),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["placements.id"],
            name=op.f("fk_placement_periods_placement_id_placements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_placement_periods_asset_id_assets")
        ),
        sa.PrimaryKeyConstraint("placement_id", "valid_from", name=op.f("pk_placement_periods")),
    )
    # The placement joins the natural key of a metric row (no triggers on this table, so
    # SQLite's batch recreate is safe here).
    with op.batch_alter_table("campaign_metrics", recreate="auto") as batch:
        batch.add_column(
            sa.Column("placement", sa.String(length=32), nullable=False, server_default="")
        )
        batch.drop_constraint("pk_campaign_metrics", type_="primary")
        batch.create_primary_key(
            "pk_campaign_metrics", ["campaign_id", "asset_id", "date", "channel", "placement"]
        )
        for name in EMAIL:
            batch.add_column(
                sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
            )
        batch.alter_column(
            "conversions",
            type_=sa.Numeric(precision=16, scale=2),
            existing_type=sa.BigInteger(),
            existing_nullable=False,
        )
    with op.batch_alter_table("campaign_metric_months") as batch:
        batch.add_column(
            sa.Column(
                "conversion_hundredths", sa.BigInteger(), nullable=False, server_default="0"
            )
        )
    op.execute("UPDATE campaign_metric_months SET conversion_hundredths = conversions * 100")
    with op.batch_alter_table("campaign_metric_months") as batch:
        batch.drop_column("conversions")


def _remove_out_of_range() -> None:
    conn = op.get_bind()
    bad = conn.execute(
        sa.text(
            f"SELECT DISTINCT campaign_id, asset_id FROM campaign_metrics WHERE {_OUT_OF_RANGE}"
        )  # noqa: S608
    ).all()
    if not bad:
        return
    conn.execute(sa.text(f"DELETE FROM campaign_metrics WHERE {_OUT_OF_RANGE}"))  # noqa: S608
    if conn.dialect.name == "postgresql":
        month = "CAST(date_trunc('month', date) AS DATE)"
    else:
        month = "date(date, 'start of month')"
    for campaign_id, asset_id in bad:
        key = {"c": campaign_id, "a": asset_id}
        conn.execute(
            sa.text("DELETE FROM campaign_metric_months WHERE campaign_id = :c AND asset_id = :a"),
            key,
        )
        conn.execute(
            sa.text(
                "INSERT INTO campaign_metric_months (campaign_id, asset_id, month, channel,"  # noqa: S608
                " impressions, clicks, conversions, spend_cents, revenue_cents)"
                f" SELECT campaign_id, asset_id, {month}, channel, sum(impressions), sum(clicks),"
                " sum(conversions), sum(CAST(round(spend * 100) AS BIGINT)),"
                " sum(CAST(round(revenue * 100) AS BIGINT)) FROM campaign_metrics"
                f" WHERE campaign_id = :c AND asset_id = :a GROUP BY 1, 2, {month}, 4"
            ),
            key,
        )


def downgrade() -> None:
    # The rows of several placements on one (campaign, asset, day, channel) are summed into one;
    # the monthly rollup already holds those sums.
    conn = op.get_bind()
    conn.execute(
        sa.text(
            "CREATE TEMPORARY TABLE metrics_by_key AS SELECT campaign_id, asset_id, date, channel,"
            " max(version) AS version, sum(impressions) AS impressions, sum(clicks) AS clicks,"
            " CAST(round(sum(conversions)) AS BIGINT) AS conversions, sum(spend) AS spend, sum(revenue) AS revenue,"
            " max(updated_at) AS updated_at FROM campaign_metrics"
            " GROUP BY campaign_id, asset_id, date, channel"
        )
    )
    conn.execute(sa.text("DELETE FROM campaign_metrics"))
    with op.batch_alter_table("campaign_metrics", recreate="auto") as batch:
        batch.drop_constraint("pk_campaign_metrics", type_="primary")
        batch.create_primary_key(
            "pk_campaign_metrics", ["campaign_id", "asset_id", "date", "channel"]
        )
        batch.drop_column("placement")
        for name in EMAIL:
            batch.drop_column(name)
        batch.alter_column(
            "conversions",
            type_=sa.BigInteger(),
            existing_type=sa.Numeric(precision=16, scale=2),
            existing_nullable=False,
        )
    conn.execute(
        sa.text(
            "INSERT INTO campaign_metrics (campaign_id, asset_id, date, channel, version,"
            " impressions, clicks, conversions, spend, revenue, updated_at)"
            " SELECT campaign_id, asset_id, date, channel, version, impressions, clicks,"
            " conversions, spend, revenue, updated_at FROM metrics_by_key"
        )
    )
    conn.execute(sa.text("DROP TABLE metrics_by_key"))
    with op.batch_alter_table("campaign_metric_months") as batch:
        batch.add_column(
            sa.Column("conversions", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.execute("UPDATE campaign_metric_months SET conversions = conversion_hundredths / 100")
    with op.batch_alter_table("campaign_metric_months") as batch:
        batch.drop_column("conversion_hundredths")
    op.drop_table("placement_periods")
    op.drop_index("ix_placements_asset_id", table_name="placements")
    op.drop_index("ix_placements_campaign_id", table_name="placements")
    op.drop_table("placements")
    # The rows removed on upgrade held no real figures; there is nothing to restore.
