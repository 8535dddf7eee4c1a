"""search postings: integer keys and per-key bitmaps for exact facet counts in SQL

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 14:00:00

Counting facets by unnesting every matching row's keys cost ~1 µs per matching row
(PostgreSQL's per-tuple overhead), far over the search budget at 100k assets. From here:

- `search_keys` numbers every key (`f:region:emea`, `type:image`, `campaign:X` …) once;
  `search_documents` keeps integer arrays (`key_ids` for filtering through GIN, `posting_ids` for
  the counted keys, `campaign_ids` for campaign counts) instead of text arrays, and a dense
  `ord` (never reused, never changed) that numbers the document's bit in the bitmaps.
- `search_postings` holds, per key and per segment of 32768 ords, a bit string of the documents
  that carry the key. A trigger keeps it in step with `posting_ids` in the writing transaction.
  A facet count is then `bit_count(posting & matches)` over a few thousand bit strings, whatever
  the number of matches: 4 KB of AND and popcount per key and segment instead of a tuple per key
  and matching row.
- `search_bitmap(ords)` turns a set of ords into those per-segment bit strings (for the bulk
  rebuild; a text search writes the same SQL inline over its matches), a 64-bit word at a time (`bit_or` of shifted bigints, written
  out as hex: SQL has no cheaper way to set many bits); `search_rebuild_postings()` recomputes every posting at once
  (used by `dam search reindex`, which sets `dam.search_bulk` so the trigger stays out of it).

The existing index is converted in place (keys → ids, ords numbered by creation time), so search
keeps working after the upgrade without a reindex. Needs PostgreSQL 14+ (`bit_count`).
On SQLite this is a no-op: the embedded mode searches a whoosh index under the data dir.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Bits per posting row. 32768 bits = 4 KB, stored PLAIN (inline, uncompressed): one row fits a
# page, the AND needs no detoasting, and a document's bit moves by rewriting 4 KB.
SEGMENT_BITS = 32768
ZERO_WORD = "0" * 16  # one 64-bit word in hex
# Keys with a bitmap (dam/search/postgres_backend.py, POSTING_PREFIXES).
POSTED = "^(f|type|status|campaign|review|compliance|orientation|visible|all):"

STATEMENTS = [
    "CREATE TABLE search_keys (id serial PRIMARY KEY, key text NOT NULL UNIQUE)",
    "CREATE SEQUENCE search_documents_ord_seq AS integer MINVALUE 0 START 0",
    """
    CREATE TABLE search_documents_v5 (
        asset_id uuid PRIMARY KEY,
        ord integer NOT NULL UNIQUE DEFAULT nextval('search_documents_ord_seq'),
        revision integer NOT NULL,
        fingerprint varchar(32) NOT NULL,
        created_at timestamptz NOT NULL,
        title_sort text COLLATE "C" NOT NULL,
        key_ids integer[] NOT NULL,
        posting_ids integer[] NOT NULL,
        campaign_ids integer[] NOT NULL,
        tsv tsvector NOT NULL
    )
    """,
    "ALTER SEQUENCE search_documents_ord_seq OWNED BY search_documents_v5.ord",
    # Campaign postings apart from the rest (list partitions): a text search counts campaigns
    # from its matching rows and reads only the facet bitmaps, 2 MB instead of 34 at 100k.
    """
    CREATE TABLE search_postings (
        key_id integer NOT NULL,
        seg integer NOT NULL,
        campaign boolean NOT NULL,
        bits bit varying NOT NULL,
        PRIMARY KEY (key_id, seg, campaign)
    ) PARTITION BY LIST (campaign)
    """,
    "ALTER TABLE search_postings ALTER COLUMN bits SET STORAGE PLAIN",
    "CREATE TABLE search_postings_facets PARTITION OF search_postings FOR VALUES IN (false)",
    "CREATE TABLE search_postings_campaigns PARTITION OF search_postings FOR VALUES IN (true)",
    # --- convert the existing documents ---
    """
    INSERT INTO search_keys (key)
    SELECT DISTINCT k FROM search_documents, unnest(keys) AS k
    UNION SELECT 'all:1'
    ORDER BY 1
    """,
    f"""
    INSERT INTO search_documents_v5 (asset_id, ord, revision, fingerprint, created_at,
                                     title_sort, key_ids, posting_ids, campaign_ids, tsv)
    SELECT d.asset_id, nextval('search_documents_ord_seq'), d.revision, d.fingerprint,
           d.created_at, d.title_sort, x.key_ids,
           x.posting_ids || (SELECT id FROM search_keys WHERE key = 'all:1'), x.campaign_ids,
           d.tsv
    FROM (SELECT * FROM search_documents ORDER BY created_at, asset_id) AS d
    CROSS JOIN LATERAL (
        SELECT coalesce(array_agg(k.id ORDER BY k.id), '{{}}') AS key_ids,
               coalesce(array_agg(k.id ORDER BY k.id) FILTER (WHERE k.key ~ '{POSTED}'), '{{}}')
                   AS posting_ids,
               coalesce(array_agg(k.id ORDER BY k.id) FILTER (WHERE k.key LIKE 'campaign:%'),
                        '{{}}') AS campaign_ids
        FROM unnest(d.keys) AS u JOIN search_keys AS k ON k.key = u
    ) AS x
    """,
    "DROP TABLE search_documents",
    "ALTER TABLE search_documents_v5 RENAME TO search_documents",
    "ALTER INDEX search_documents_v5_pkey RENAME TO search_documents_pkey",
    "ALTER INDEX search_documents_v5_ord_key RENAME TO search_documents_ord_key",
    "CREATE INDEX ix_search_documents_tsv ON search_documents USING gin (tsv)",
    "CREATE INDEX ix_search_documents_keys ON search_documents USING gin (key_ids)",
    "CREATE INDEX ix_search_documents_created ON search_documents (created_at, asset_id)",
    "CREATE INDEX ix_search_documents_title ON search_documents (title_sort, asset_id)",
    # --- bitmaps ---
    f"""
    CREATE FUNCTION search_bitmap(ords integer[]) RETURNS TABLE (seg integer, bits bit varying)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        WITH by_word AS (
            SELECT o / {SEGMENT_BITS} AS s, (o % {SEGMENT_BITS}) / 64 AS i,
                   bit_or(1::bigint << (63 - o % 64)) AS v
            FROM unnest(ords) AS o
            GROUP BY 1, 2
        ), gaps AS (
            SELECT s, i, v, i - coalesce(lag(i) OVER (PARTITION BY s ORDER BY i), -1) - 1 AS gap
            FROM by_word
        )
        SELECT s, CAST('x' || string_agg(repeat('{ZERO_WORD}', gap::integer)
                                         || lpad(to_hex(v), 16, '0'), '' ORDER BY i)
                       || repeat('{ZERO_WORD}', {SEGMENT_BITS // 64 - 1} - max(i)) AS bit varying)
        FROM gaps
        GROUP BY s
    $$
    """,
    """
    CREATE FUNCTION search_rebuild_postings() RETURNS void LANGUAGE sql AS $$
        DELETE FROM search_postings;
        INSERT INTO search_postings (key_id, seg, campaign, bits)
        SELECT x.k, b.seg, x.campaign, b.bits
        FROM (SELECT k, k = ANY(d.campaign_ids) AS campaign, array_agg(d.ord) AS ords
              FROM search_documents AS d, unnest(d.posting_ids) AS k
              GROUP BY 1, 2) AS x,
             LATERAL search_bitmap(x.ords) AS b;
    $$
    """,
    f"""
    CREATE FUNCTION search_postings_sync() RETURNS trigger LANGUAGE plpgsql AS $$
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
            UPDATE search_postings SET bits = set_bit(bits, OLD.ord % {SEGMENT_BITS}, 0)
            WHERE key_id = ANY(removed) AND seg = OLD.ord / {SEGMENT_BITS};
        END IF;
        IF cardinality(added) > 0 THEN
            INSERT INTO search_postings AS p (key_id, seg, campaign, bits)
            SELECT k, NEW.ord / {SEGMENT_BITS}, k = ANY(NEW.campaign_ids),
                   set_bit(B'0'::bit({SEGMENT_BITS})::bit varying, NEW.ord % {SEGMENT_BITS}, 1)
            FROM unnest(added) AS k
            ORDER BY k
            ON CONFLICT (key_id, seg, campaign) DO UPDATE
                SET bits = set_bit(p.bits, NEW.ord % {SEGMENT_BITS}, 1);
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER search_postings_sync
    AFTER INSERT OR DELETE OR UPDATE OF ord, posting_ids, campaign_ids ON search_documents
    FOR EACH ROW EXECUTE FUNCTION search_postings_sync()
    """,
    "SELECT search_rebuild_postings()",
    "ANALYZE search_documents",
    "ANALYZE search_postings",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Back to the 0003 layout, empty: `dam search reindex` on the older release refills it.
    op.execute("DROP TABLE search_documents")
    op.execute("DROP TABLE search_postings")  # and its partitions
    op.execute("DROP TABLE search_keys")
    op.execute("DROP FUNCTION search_postings_sync()")
    op.execute("DROP FUNCTION search_rebuild_postings()")
    op.execute("DROP FUNCTION search_bitmap(integer[])")
    op.execute(
        """
        CREATE TABLE search_documents (
            asset_id uuid PRIMARY KEY,
            revision integer NOT NULL,
            fingerprint varchar(32) NOT NULL,
            tsv tsvector NOT NULL,
            keys text[] NOT NULL,
            created_at timestamptz NOT NULL,
            title_sort text COLLATE "C" NOT NULL,
            facet_groups text[]
        )
        """
    )
    op.execute("CREATE INDEX ix_search_documents_tsv ON search_documents USING gin (tsv)")
    op.execute("CREATE INDEX ix_search_documents_keys ON search_documents USING gin (keys)")
    op.execute(
        "CREATE INDEX ix_search_documents_created ON search_documents (created_at, asset_id)"
    )
    op.execute("CREATE INDEX ix_search_documents_title ON search_documents (title_sort, asset_id)")
