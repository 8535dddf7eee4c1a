"""hardening: per-user session generation; delivery events keyed by link and client

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("delivery_events") as batch:
        batch.add_column(sa.Column("client_key", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_delivery_events_client_key_at", "delivery_events", ["client_key", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_events_client_key_at", table_name="delivery_events")
    with op.batch_alter_table("delivery_events") as batch:
        batch.drop_column("client_key")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_generation")
