"""embedded metadata: each version keeps what its file carries; governed extra fields on
versions and assets; delivered copies; display sizes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 16:00:00

Width and height become the display size (after EXIF orientation 5-8, which swap the sides),
what rules, facets and feeds report; the stored raw size stays in the version's `media`.
Versions uploaded before keep no embedded block (re-reading every blob is not a migration's
job): their files are read again only when uploaded again.
"""

import sqlalchemy as sa
from alembic import op

import dam.models.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("asset_versions") as batch:
        batch.add_column(
            sa.Column(
                "extra", dam.models.types.JSONType, nullable=False, server_default=sa.text("'{}'")
            )
        )
        batch.add_column(sa.Column("embedded", dam.models.types.JSONType, nullable=True))
    # Not in batch mode: on SQLite that copies the table and drops its triggers (asset_terms).
    op.add_column(
        "assets",
        sa.Column(
            "extra", dam.models.types.JSONType, nullable=False, server_default=sa.text("'{}'")
        ),
    )
    op.create_table(
        "delivery_copies",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("blob_key", sa.String(length=200), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("created_at", dam.models.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_delivery_copies"),
    )
    op.create_index(
        "ix_delivery_copies_source_sha256", "delivery_copies", ["source_sha256"]
    )
    swapped = (
        "(media->>'orientation') IN ('5', '6', '7', '8')"
        if op.get_bind().dialect.name == "postgresql"
        else "json_extract(media, '$.orientation') IN (5, 6, 7, 8)"
    )
    op.execute(
        "UPDATE asset_versions SET width = height, height = width "  # noqa: S608
        f"WHERE width IS NOT NULL AND {swapped}"
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_copies_source_sha256", table_name="delivery_copies")
    op.drop_table("delivery_copies")
    op.drop_column("assets", "extra")
    with op.batch_alter_table("asset_versions") as batch:
        batch.drop_column("embedded")
        batch.drop_column("extra")
