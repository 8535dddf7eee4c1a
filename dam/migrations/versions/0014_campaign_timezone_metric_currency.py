"""Campaigns get a timezone, metric rows a currency

`campaigns.timezone` (IANA name, default 'UTC'): a metric row's reporting date is compared
with publication and placement times in it. `campaign_metrics.currency` (ISO 4217 code, ''
when the source gave none): the performance report groups money by it. Existing rows keep
UTC and ''.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "campaigns",
        sa.Column("timezone", sa.String(length=64), nullable=False, server_default="UTC"),
    )
    op.add_column(
        "campaign_metrics",
        sa.Column("currency", sa.String(length=3), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_column("campaign_metrics", "currency")
    op.drop_column("campaigns", "timezone")
