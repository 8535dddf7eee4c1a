"""PostgreSQL search: each document's tsvector also holds the pairs of neighbouring words

A phrase was matched by the GIN index as its words only, and every row holding them was then
checked for the words in a row: "in the rain" read a third of the library (147-169 ms p95 at
100k). Each pair of neighbouring words of a field ('in the', 'the rain') is now a lexeme of its
own (weight D, never a word: words have no spaces), so a phrase is narrowed to the rows holding
its pairs first (dam.search.postgres_backend). This adds the pairs to the indexed rows in one
statement, read back from each tsvector's positions (a pair is two lexemes at neighbouring
positions of the same weight, A title or B body, so never across the two). Nothing to do for
whoosh or an empty index.

Revision ID: 0019
Revises: 0014
Create Date: 2026-12-01 17:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0014"
branch_labels = None
depends_on = None


def _has_index() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    return bind.execute(sa.text("SELECT to_regclass('search_documents')")).scalar() is not None


def _bulk(sql: str) -> None:
    bind = op.get_bind()
    # The postings trigger has nothing to move: only the tsvector changes.
    bind.execute(sa.text("SELECT set_config('dam.search_bulk', 'on', true)"))
    bind.execute(sa.text(sql))
    bind.execute(sa.text("SELECT set_config('dam.search_bulk', 'off', true)"))


def upgrade() -> None:
    if not _has_index():
        return
    _bulk(
        """
        UPDATE search_documents d SET tsv = d.tsv || setweight(array_to_tsvector(ARRAY(
            SELECT DISTINCT a.lexeme || ' ' || b.lexeme
            FROM (SELECT lexeme, unnest(positions) AS pos, unnest(weights) AS w
                  FROM unnest(d.tsv)) AS a
            JOIN (SELECT lexeme, unnest(positions) AS pos, unnest(weights) AS w
                  FROM unnest(d.tsv)) AS b
              ON b.pos = a.pos + 1 AND b.w = a.w
        )), 'D')
        """
    )


def downgrade() -> None:
    if not _has_index():
        return
    _bulk(
        "UPDATE search_documents d SET tsv = ts_delete(d.tsv, ARRAY("
        "SELECT lexeme FROM unnest(d.tsv) WHERE position(' ' in lexeme) > 0))"
    )
