"""sign-in throttles: failed sign-ins per email, for lockouts shared by every replica

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 15:00:00
"""

import sqlalchemy as sa
from alembic import op

import dam.models.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_throttles",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", dam.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", dam.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_throttles")),
    )


def downgrade() -> None:
    op.drop_table("sign_in_throttles")
