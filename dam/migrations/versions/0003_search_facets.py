"""search facet groups: per-document grouping strings for fast exact facet counts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 13:00:00

Adds `search_documents.facet_groups` (text[], NULL until a row is rewritten): the document's
counted keys partitioned into one string per group (dam/search/postgres_backend.py,
`facet_groups`). Adding a nullable column without a default does not rewrite the table, so the
migration is instant at any size. Existing rows keep NULL and are counted from their `keys`
(exact, at the old speed) until rewritten: run `dam search reindex` after upgrading to get the
fast facet counts for every document. No backfill here: a data rewrite of the whole table inside
the startup migration (which holds the migration lock of every replica) would take minutes at
scale, and reindex does it online while searches keep working.

On SQLite this is a no-op: the embedded mode searches a whoosh index under the data dir.

The statements are idempotent (IF [NOT] EXISTS). A database that ran 0004 while 0004 still
followed 0002 is stamped past this revision without having run it; repair it with
`ALTER TABLE search_documents ADD COLUMN IF NOT EXISTS facet_groups text[]`.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_documents ADD COLUMN IF NOT EXISTS facet_groups text[]")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_documents DROP COLUMN IF EXISTS facet_groups")
