"""resumable uploads (tus): one row per upload, its bytes under DAM_DATA_DIR/uploads

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 17:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "resumable_uploads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("upload_metadata", JSON, nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("asset_id", sa.Uuid(), nullable=True),
        sa.Column("error", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_resumable_uploads"),
    )
    op.create_index("ix_resumable_uploads_created_by", "resumable_uploads", ["created_by"])
    op.create_index("ix_resumable_uploads_expires_at", "resumable_uploads", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_resumable_uploads_expires_at", table_name="resumable_uploads")
    op.drop_index("ix_resumable_uploads_created_by", table_name="resumable_uploads")
    op.drop_table("resumable_uploads")
