"""blob owners: one asset per file's SHA-256, taken atomically by uploads

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 14:00:00

Each SHA-256 is given to the asset whose version first stored it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blob_owners",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name="fk_blob_owners_asset_id_assets"
        ),
        sa.PrimaryKeyConstraint("sha256", name="pk_blob_owners"),
    )
    op.create_index("ix_blob_owners_asset_id", "blob_owners", ["asset_id"])
    op.execute(
        "INSERT INTO blob_owners (sha256, asset_id, version) "
        "SELECT v.sha256, v.asset_id, v.number FROM asset_versions v "
        "WHERE v.id = (SELECT w.id FROM asset_versions w WHERE w.sha256 = v.sha256 "
        "ORDER BY w.created_at, w.id LIMIT 1)"
    )


def downgrade() -> None:
    op.drop_index("ix_blob_owners_asset_id", table_name="blob_owners")
    op.drop_table("blob_owners")
