"""Channel derivatives: focal points per version, rendered derivatives, preset on deliveries

`focal_points` (one per version, optional crop boxes per preset), `derivatives` (a rendered
derivative's blob under its cache key), `delivery_events.preset` (null for the delivered copy
of the original).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 17:00:00
"""

import sqlalchemy as sa
from alembic import op

import dam.models.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "focal_points",
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("x", sa.Float(), nullable=False),
        sa.Column("y", sa.Float(), nullable=False),
        sa.Column("crops", dam.models.types.JSONType, nullable=False),
        sa.Column("set_by", sa.Uuid(), nullable=True),
        sa.Column("set_at", dam.models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["asset_versions.id"],
            name="fk_focal_points_version_id_asset_versions",
        ),
        sa.PrimaryKeyConstraint("version_id", name="pk_focal_points"),
    )
    op.create_table(
        "derivatives",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("blob_key", sa.String(length=200), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("preset", sa.String(length=64), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("compliance", dam.models.types.JSONType, nullable=False),
        sa.Column("created_at", dam.models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name="fk_derivatives_asset_id_assets"
        ),
        sa.PrimaryKeyConstraint("key", name="pk_derivatives"),
    )
    op.create_index("ix_derivatives_asset_id", "derivatives", ["asset_id"])
    op.create_index("ix_derivatives_source_sha256", "derivatives", ["source_sha256"])
    op.add_column("delivery_events", sa.Column("preset", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("delivery_events", "preset")
    op.drop_index("ix_derivatives_source_sha256", table_name="derivatives")
    op.drop_index("ix_derivatives_asset_id", table_name="derivatives")
    op.drop_table("derivatives")
    op.drop_table("focal_points")
