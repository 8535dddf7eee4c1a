"""search documents for PostgreSQL full text

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 10:00:00

On SQLite this is a no-op: the embedded mode searches a whoosh index under the data dir.
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE TABLE search_documents (
            asset_id uuid PRIMARY KEY,
            revision integer NOT NULL,
            fingerprint varchar(32) NOT NULL,
            tsv tsvector NOT NULL,
            keys text[] NOT NULL,
            created_at timestamptz NOT NULL,
            title_sort text COLLATE "C" NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX ix_search_documents_tsv ON search_documents USING gin (tsv)")
    op.execute("CREATE INDEX ix_search_documents_keys ON search_documents USING gin (keys)")
    op.execute(
        "CREATE INDEX ix_search_documents_created ON search_documents (created_at, asset_id)"
    )
    op.execute("CREATE INDEX ix_search_documents_title ON search_documents (title_sort, asset_id)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE search_documents")
