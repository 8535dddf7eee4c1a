"""PostgreSQL search: per-campaign counts of every posting key, for a bounded campaign top-k

A browse counted the campaign facet by ANDing every campaign's bitmap with the matches: at
100k documents and 1,000 campaigns, 4,000 ANDs of 4 KB (16 MB) per browse, for the 20 values
the response shows. `search_campaign_pairs` holds, per (posting key, campaign key), how many
documents carry both (`n`). A campaign's count under a browse's filters is at most, for every
filter group, the sum of its pairs with the group's keys: the backend ANDs the bitmaps of the
campaigns with the highest such bounds only, and stops once no other bound can reach the
top 20 (dam/search/postgres_backend.py, `_campaign_counts`). With one filter key (a view, or
nothing: `all:1`), the pair counts are the exact counts and no campaign bitmap is read.

The trigger of migration 0005 keeps the pairs in step in the writing transaction (a document
adds or removes one pair per posting key and campaign it has); `search_rebuild_postings()`
recomputes them with the bitmaps. The existing index is filled here, in one statement.
Nothing to do on SQLite (whoosh).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02 00:30:00
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

SEGMENT_BITS = 32768  # migration 0005

_POSTINGS_SYNC = """
    CREATE OR REPLACE FUNCTION search_postings_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        removed integer[] := '{{}}';
        added integer[] := '{{}}';
        old_postings integer[] := '{{}}';
        old_campaigns integer[] := '{{}}';
        new_postings integer[] := '{{}}';
        new_campaigns integer[] := '{{}}';
    BEGIN
        IF current_setting('dam.search_bulk', true) = 'on' THEN
            RETURN NULL;  -- a rebuild recomputes every posting before it commits
        END IF;
        IF TG_OP <> 'INSERT' THEN
            old_postings := OLD.posting_ids;
            old_campaigns := OLD.campaign_ids;
        END IF;
        IF TG_OP <> 'DELETE' THEN
            new_postings := NEW.posting_ids;
            new_campaigns := NEW.campaign_ids;
        END IF;
        IF TG_OP = 'DELETE' THEN
            removed := OLD.posting_ids;
        ELSIF TG_OP = 'INSERT' THEN
            added := NEW.posting_ids;
        ELSE
            IF NEW.ord <> OLD.ord THEN
                RAISE EXCEPTION 'search_documents.ord never changes';
            END IF;
            removed := ARRAY(SELECT unnest(OLD.posting_ids) EXCEPT SELECT unnest(NEW.posting_ids));
            added := ARRAY(SELECT unnest(NEW.posting_ids) EXCEPT SELECT unnest(OLD.posting_ids));
        END IF;
        IF cardinality(removed) > 0 THEN
            UPDATE search_postings SET bits = set_bit(bits, OLD.ord % {bits}, 0)
            WHERE key_id = ANY(removed) AND seg = OLD.ord / {bits};
        END IF;
        IF cardinality(added) > 0 THEN
            INSERT INTO search_postings AS p (key_id, seg, campaign, bits)
            SELECT k, NEW.ord / {bits}, k = ANY(NEW.campaign_ids),
                   set_bit(B'0'::bit({bits})::bit varying, NEW.ord % {bits}, 1)
            FROM unnest(added) AS k
            ORDER BY k
            ON CONFLICT (key_id, seg, campaign) DO UPDATE
                SET bits = set_bit(p.bits, NEW.ord % {bits}, 1);
        END IF;
        -- (posting key, campaign) pairs (migration 0022): those the document leaves, then
        -- those it joins. A pair whose count falls to 0 stays, at 0.
        IF cardinality(old_campaigns) > 0 THEN
            UPDATE search_campaign_pairs AS q SET n = q.n - 1
            FROM (SELECT k, c FROM unnest(old_postings) AS k, unnest(old_campaigns) AS c
                  EXCEPT
                  SELECT k, c FROM unnest(new_postings) AS k, unnest(new_campaigns) AS c) AS x
            WHERE q.key_id = x.k AND q.campaign_id = x.c;
        END IF;
        IF cardinality(new_campaigns) > 0 THEN
            INSERT INTO search_campaign_pairs AS q (key_id, campaign_id, n)
            SELECT k, c, 1
            FROM (SELECT k, c FROM unnest(new_postings) AS k, unnest(new_campaigns) AS c
                  EXCEPT
                  SELECT k, c FROM unnest(old_postings) AS k, unnest(old_campaigns) AS c) AS x
            ORDER BY k, c
            ON CONFLICT (key_id, campaign_id) DO UPDATE SET n = q.n + 1;
        END IF;
        RETURN NULL;
    END
    $$
""".format(bits=SEGMENT_BITS)

_REBUILD = """
    CREATE OR REPLACE FUNCTION search_rebuild_postings() RETURNS void LANGUAGE sql AS $$
        DELETE FROM search_postings;
        INSERT INTO search_postings (key_id, seg, campaign, bits)
        SELECT x.k, b.seg, x.campaign, b.bits
        FROM (SELECT k, k = ANY(d.campaign_ids) AS campaign, array_agg(d.ord) AS ords
              FROM search_documents AS d, unnest(d.posting_ids) AS k
              GROUP BY 1, 2) AS x,
             LATERAL search_bitmap(x.ords) AS b;
        DELETE FROM search_campaign_pairs;
        INSERT INTO search_campaign_pairs (key_id, campaign_id, n)
        SELECT k, c, count(*)
        FROM search_documents AS d, unnest(d.posting_ids) AS k, unnest(d.campaign_ids) AS c
        GROUP BY 1, 2
        ORDER BY 1, 2;
    $$
"""

# The 0005 versions, for the downgrade.
_POSTINGS_SYNC_0005 = """
    CREATE OR REPLACE FUNCTION search_postings_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        removed integer[] := '{{}}';
        added integer[] := '{{}}';
    BEGIN
        IF current_setting('dam.search_bulk', true) = 'on' THEN
            RETURN NULL;  -- a rebuild recomputes every posting before it commits
        END IF;
        IF TG_OP = 'DELETE' THEN
            removed := OLD.posting_ids;
        ELSIF TG_OP = 'INSERT' THEN
            added := NEW.posting_ids;
        ELSE
            IF NEW.ord <> OLD.ord THEN
                RAISE EXCEPTION 'search_documents.ord never changes';
            END IF;
            removed := ARRAY(SELECT unnest(OLD.posting_ids) EXCEPT SELECT unnest(NEW.posting_ids));
            added := ARRAY(SELECT unnest(NEW.posting_ids) EXCEPT SELECT unnest(OLD.posting_ids));
        END IF;
        IF cardinality(removed) > 0 THEN
            UPDATE search_postings SET bits = set_bit(bits, OLD.ord % {bits}, 0)
            WHERE key_id = ANY(removed) AND seg = OLD.ord / {bits};
        END IF;
        IF cardinality(added) > 0 THEN
            INSERT INTO search_postings AS p (key_id, seg, campaign, bits)
            SELECT k, NEW.ord / {bits}, k = ANY(NEW.campaign_ids),
                   set_bit(B'0'::bit({bits})::bit varying, NEW.ord % {bits}, 1)
            FROM unnest(added) AS k
            ORDER BY k
            ON CONFLICT (key_id, seg, campaign) DO UPDATE
                SET bits = set_bit(p.bits, NEW.ord % {bits}, 1);
        END IF;
        RETURN NULL;
    END
    $$
""".format(bits=SEGMENT_BITS)

_REBUILD_0005 = """
    CREATE OR REPLACE FUNCTION search_rebuild_postings() RETURNS void LANGUAGE sql AS $$
        DELETE FROM search_postings;
        INSERT INTO search_postings (key_id, seg, campaign, bits)
        SELECT x.k, b.seg, x.campaign, b.bits
        FROM (SELECT k, k = ANY(d.campaign_ids) AS campaign, array_agg(d.ord) AS ords
              FROM search_documents AS d, unnest(d.posting_ids) AS k
              GROUP BY 1, 2) AS x,
             LATERAL search_bitmap(x.ords) AS b;
    $$
"""


def _has_index() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    return bind.exec_driver_sql("SELECT to_regclass('search_documents')").scalar() is not None


def upgrade() -> None:
    if not _has_index():
        return
    # Small rows, updated in place by every indexed document with campaigns: room on each
    # page for HOT updates (n is in no index). Written in key order (here and by a rebuild),
    # so the ~1,000 pairs of one key that a browse reads share a few pages.
    op.execute(
        "CREATE TABLE search_campaign_pairs (key_id integer NOT NULL, "
        "campaign_id integer NOT NULL, n integer NOT NULL, PRIMARY KEY (key_id, campaign_id)) "
        "WITH (fillfactor = 70)"
    )
    op.execute(_POSTINGS_SYNC)
    op.execute(_REBUILD)
    op.execute(
        "INSERT INTO search_campaign_pairs (key_id, campaign_id, n) "
        "SELECT k, c, count(*) FROM search_documents AS d, unnest(d.posting_ids) AS k, "
        "unnest(d.campaign_ids) AS c GROUP BY 1, 2 ORDER BY 1, 2"
    )
    # And statistics for the planner, which a browse's page plan now relies on (a server
    # without autovacuum may have none for an index filled by a reindex).
    op.execute("ANALYZE search_campaign_pairs, search_documents")


def downgrade() -> None:
    if not _has_index():
        return
    op.execute(_POSTINGS_SYNC_0005)
    op.execute(_REBUILD_0005)
    op.execute("DROP TABLE search_campaign_pairs")
