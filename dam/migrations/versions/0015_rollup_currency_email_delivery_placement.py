"""The monthly rollup is kept per currency with the email family; deliveries name a placement

`campaign_metric_months` gains `currency` in its key and the sums of the email family (sends,
deliveries, opens, unique opens, unsubscribes, bounces), so creative insights group money by
currency and show email rates; it is rebuilt from `campaign_metrics`. `delivery_events` gains
`placement_id`: the placement a delivery link was fetched for (`?placement=`).
`campaign_metrics.attributed`: the row's version was worked out by the service (from a
placement or the publication history) rather than sent, so a change of the campaign's
timezone re-attributes it; rows from platform exports are, rows sent per asset before this
revision are kept as they are.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 17:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

EMAIL = ("sends", "deliveries", "opens", "unique_opens", "unsubscribes", "bounces")
FIGURES = ("impressions", "clicks", "conversion_hundredths", "spend_cents", "revenue_cents")


def _month() -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "CAST(date_trunc('month', date) AS date)"
    return "date(date, 'start of month')"


def _create(with_currency: bool) -> None:
    key = ["campaign_id", "asset_id", "month", "channel"] + (["currency"] if with_currency else [])
    op.create_table(
        "campaign_metric_months",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        *(
            [sa.Column("currency", sa.String(length=3), nullable=False, server_default="")]
            if with_currency
            else []
        ),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in FIGURES),
        *(
            sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
            for name in (EMAIL if with_currency else ())
        ),
        sa.PrimaryKeyConstraint(*key, name="pk_campaign_metric_months"),
    )
    op.create_index("ix_campaign_metric_months_asset_id", "campaign_metric_months", ["asset_id"])


def _fill(with_currency: bool) -> None:
    extra = ", currency" if with_currency else ""
    email = "".join(f", {name}" for name in EMAIL) if with_currency else ""
    email_sums = "".join(f", sum({name})" for name in EMAIL) if with_currency else ""
    op.execute(
        "INSERT INTO campaign_metric_months (campaign_id, asset_id, month, channel"
        f"{extra}, impressions, clicks, conversion_hundredths, spend_cents, revenue_cents{email})"
        f" SELECT campaign_id, asset_id, {_month()}, channel{extra}, sum(impressions),"
        " sum(clicks), sum(CAST(round(conversions * 100) AS BIGINT)),"
        " sum(CAST(round(spend * 100) AS BIGINT)), sum(CAST(round(revenue * 100) AS BIGINT))"
        f"{email_sums} FROM campaign_metrics"
        f" GROUP BY campaign_id, asset_id, {_month()}, channel{extra}"
    )


def upgrade() -> None:
    op.drop_index("ix_campaign_metric_months_asset_id", table_name="campaign_metric_months")
    op.drop_table("campaign_metric_months")
    _create(with_currency=True)
    _fill(with_currency=True)
    with op.batch_alter_table("delivery_events") as batch:
        batch.add_column(sa.Column("placement_id", sa.Uuid(), nullable=True))
    op.add_column(
        "campaign_metrics",
        sa.Column("attributed", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute("UPDATE campaign_metrics SET attributed = (placement <> '')")


def downgrade() -> None:
    with op.batch_alter_table("campaign_metrics") as batch:
        batch.drop_column("attributed")
    with op.batch_alter_table("delivery_events") as batch:
        batch.drop_column("placement_id")
    op.drop_index("ix_campaign_metric_months_asset_id", table_name="campaign_metric_months")
    op.drop_table("campaign_metric_months")
    _create(with_currency=False)
    _fill(with_currency=False)
