"""phash bands: the perceptual hash of every version split into four 16-bit bands, indexed, so
near-duplicate look-ups read a few hundred rows whatever the library's size

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 18:00:00

Triggers keep the bands in step with `asset_versions.phash` on both databases, so every write
path (the services, the demo-data generator's bulk inserts, raw SQL) maintains them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _bands(prefix: str) -> str:
    """The four (band, chunk) rows of a version row named `prefix` as a SELECT."""
    return " UNION ALL ".join(
        f"SELECT {band}, lower(substr({prefix}.phash, {1 + 4 * band}, 4)), "
        f"{prefix}.asset_id, {prefix}.number"
        for band in range(4)
    )


PG_FUNCTION = f"""
CREATE FUNCTION dam_sync_phash_bands() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM phash_bands WHERE asset_id = OLD.asset_id AND number = OLD.number;
    END IF;
    IF NEW.phash IS NOT NULL AND length(NEW.phash) = 16 THEN
        INSERT INTO phash_bands (band, chunk, asset_id, number) {_bands("NEW")}
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "phash_bands",
        sa.Column("band", sa.SmallInteger(), nullable=False),
        sa.Column("chunk", sa.String(length=4), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("band", "chunk", "asset_id", "number", name="pk_phash_bands"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER asset_versions_phash_bands AFTER INSERT OR UPDATE OF phash"
            " ON asset_versions FOR EACH ROW EXECUTE FUNCTION dam_sync_phash_bands()"
        )
    else:
        where = "WHERE NEW.phash IS NOT NULL AND length(NEW.phash) = 16"
        rows = f"SELECT * FROM ({_bands('NEW')}) {where}"
        op.execute(
            "CREATE TRIGGER asset_versions_phash_bands_insert AFTER INSERT ON asset_versions"
            f" BEGIN INSERT OR IGNORE INTO phash_bands (band, chunk, asset_id, number) {rows};"
            " END"
        )
        op.execute(
            "CREATE TRIGGER asset_versions_phash_bands_update AFTER UPDATE OF phash"
            " ON asset_versions BEGIN"
            " DELETE FROM phash_bands WHERE asset_id = OLD.asset_id AND number = OLD.number;"
            f" INSERT OR IGNORE INTO phash_bands (band, chunk, asset_id, number) {rows}; END"
        )
    op.execute(
        "INSERT INTO phash_bands (band, chunk, asset_id, number) "
        + " UNION ALL ".join(
            f"SELECT {band}, lower(substr(v.phash, {1 + 4 * band}, 4)), v.asset_id, v.number "
            "FROM asset_versions v WHERE v.phash IS NOT NULL AND length(v.phash) = 16"
            for band in range(4)
        )
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER asset_versions_phash_bands ON asset_versions")
        op.execute("DROP FUNCTION dam_sync_phash_bands()")
    else:
        op.execute("DROP TRIGGER asset_versions_phash_bands_insert")
        op.execute("DROP TRIGGER asset_versions_phash_bands_update")
    op.drop_table("phash_bands")
