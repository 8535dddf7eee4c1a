"""metric rows held to the documented bounds: rows stored before the bounds with a value past
them (only an error or an attack can produce one) are removed, and the monthly rollup recounted
for the campaigns and assets they belonged to

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Copied, not imported: a migration keeps the limits it was written with (dam/bounds.py).
MAX_COUNT = 10**10
MAX_MONEY = 10**9
_OUT_OF_RANGE = (
    f"impressions NOT BETWEEN 0 AND {MAX_COUNT} OR clicks NOT BETWEEN 0 AND {MAX_COUNT}"
    f" OR conversions NOT BETWEEN 0 AND {MAX_COUNT}"
    f" OR spend NOT BETWEEN 0 AND {MAX_MONEY} OR revenue NOT BETWEEN 0 AND {MAX_MONEY}"
)


def upgrade() -> None:
    conn = op.get_bind()
    bad = conn.execute(
        sa.text(f"SELECT DISTINCT campaign_id, asset_id FROM campaign_metrics WHERE {_OUT_OF_RANGE}")  # noqa: S608
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
    # The removed rows held no real figures; there is nothing to restore.
    pass
