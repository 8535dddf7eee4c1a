"""Search rules: parameters to a backend request, visibility, facets, hits, indexing, check."""

from __future__ import annotations

import heapq
import html
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, col, select

from dam.assets.access import is_visible
from dam.assets.campaign_ids import normalize_campaign_id
from dam.assets.service import current_versions
from dam.context import Context
from dam.events import EVENT_JOB
from dam.governance.pack import GovernancePack
from dam.jobs.outbox import enqueue
from dam.models import Asset, AssetVersion, Campaign, JobStatus, OutboxJob
from dam.principal import Principal
from dam.search.base import CAMPAIGN_FACET_SIZE, SearchBackend, SearchRequest, SortOrder
from dam.search.document import (
    COUNTED_PREFIXES,
    VISIBLE_KEY,
    WORKING_KEY,
    SearchDocument,
    doc_ids_of,
    facet_key,
    iter_all_documents,
    load_documents,
    published_doc_id,
)
from dam.search.query import ParsedQuery, invalid, normalize, parse_query
from dam.search.schemas import (
    MAX_RESULT_WINDOW,
    CheckReport,
    FacetCount,
    SearchHit,
    SearchPage,
    SearchParams,
    SimilarHit,
    SimilarPage,
)
from dam.search.similar import find_similar

JOB_KIND = "search.index"
MAX_FILTER_VALUES = 50
MAX_FILTER_CHARS = 200
SNIPPET_CHARS = 200
TYPES = ("image", "video", "document", "vector")
COMPLIANCE = ("pass", "warn", "fail")
ORIENTATIONS = ("landscape", "portrait", "square")
# A job created just before a reindex started may commit after the new index read its asset.
REINDEX_CATCH_UP = timedelta(minutes=5)


def get_search(ctx: Context) -> SearchBackend:
    """The configured backend, built once per context."""
    backend: SearchBackend | None = ctx.extras.get("search")
    if backend is None:
        # Each backend is imported only when configured: neither loads the other's libraries.
        if ctx.settings.search == "postgres":
            if ctx.engine.dialect.name != "postgresql":
                raise RuntimeError("DAM_SEARCH=postgres needs DAM_DATABASE_URL on PostgreSQL")
            from dam.search.postgres_backend import PostgresBackend

            backend = PostgresBackend(
                match_cap=ctx.settings.search_match_cap or None,
                vacuum_every=ctx.settings.search_vacuum_every,
            )
        else:
            from dam.search.whoosh_backend import WhooshBackend

            backend = WhooshBackend(ctx.settings.data_dir / "search" / "whoosh")
        ctx.extras["search"] = backend
    return backend


# --- searching --------------------------------------------------------------------------------


def _values(name: str, values: Sequence[str]) -> list[str]:
    if len(values) > MAX_FILTER_VALUES:
        raise invalid(f"{name} is given {len(values)} times; the limit is {MAX_FILTER_VALUES}")
    out: list[str] = []
    for value in values:
        cleaned = " ".join(normalize(value).split())
        if not cleaned or len(cleaned) > MAX_FILTER_CHARS:
            raise invalid(f"{name} must be 1 to {MAX_FILTER_CHARS} characters")
        out.append(cleaned)
    return out


def _choice(name: str, values: Sequence[str], allowed: Sequence[str]) -> tuple[str, ...]:
    out = _values(name, values)
    for value in out:
        if value not in allowed:
            raise invalid(f"{name} {value!r} is not one of {', '.join(allowed)}")
    return tuple(dict.fromkeys(out))


def _facet_filter(pack: GovernancePack, facet_id: str, values: Sequence[str]) -> tuple[str, ...]:
    keys: list[str] = []
    for value in _values(facet_id, values):
        term = pack.resolve(facet_id, value)
        if term is None:
            hint = pack.facet(facet_id).suggest(value)
            also = f"; did you mean {', '.join(hint)}?" if hint else ""
            raise invalid(f"{facet_id} has no term {value!r}{also}")
        keys.append(facet_key(facet_id, term))
    return tuple(dict.fromkeys(keys))


def build_request(
    params: SearchParams, *, pack: GovernancePack, principal: Principal
) -> SearchRequest:
    if params.page * params.page_size > MAX_RESULT_WINDOW:
        raise invalid(f"page * page_size may be at most {MAX_RESULT_WINDOW}; narrow the search")
    if (
        params.created_after
        and params.created_before
        and params.created_after >= params.created_before
    ):
        raise invalid("created_after must be before created_before")
    for value in (params.created_after, params.created_before):
        if value is not None and value.tzinfo is None:
            raise invalid("created_after/created_before need a timezone, e.g. 2026-01-31T00:00Z")
    query = parse_query(params.q)
    # Each principal searches one view of every asset (dam.search.document).
    groups: list[tuple[str, ...]] = [
        (VISIBLE_KEY,) if principal.sees_only_published else (WORKING_KEY,)
    ]
    simple = {
        "status": [s.value for s in params.status],
        "review": [s.value for s in params.review_state],
        "type": list(_choice("type", params.type, TYPES)),
        "compliance": list(_choice("compliance", params.compliance, COMPLIANCE)),
        "orientation": list(_choice("orientation", params.orientation, ORIENTATIONS)),
        "tag": _values("tag", params.tag),
    }
    for prefix, values in simple.items():
        if values:
            groups.append(tuple(dict.fromkeys(f"{prefix}:{v}" for v in values)))
    if params.campaign:
        try:
            ids = [normalize_campaign_id(c) for c in _values("campaign", params.campaign)]
        except Exception as exc:  # Invalid from the id rules: a bad filter is a bad query
            raise invalid(str(getattr(exc, "detail", exc))) from exc
        groups.append(tuple(dict.fromkeys(f"campaign:{c}" for c in ids)))
    for facet_id, values in sorted(params.facets.items()):
        if values:
            groups.append(_facet_filter(pack, facet_id, values))
    sort = params.sort or (SortOrder.relevance if query.has_positive else SortOrder.newest)
    return SearchRequest(
        query=query,
        filters=tuple(groups),
        created_after=params.created_after,
        created_before=params.created_before,
        sort=sort,
        offset=(params.page - 1) * params.page_size,
        limit=params.page_size,
        count_prefixes=COUNTED_PREFIXES if params.facet_counts else (),
    )


def search_assets(
    session: Session, *, ctx: Context, principal: Principal, params: SearchParams
) -> SearchPage:
    pack = ctx.governance.pack
    request = build_request(params, pack=pack, principal=principal)
    result = get_search(ctx).search(session, request)
    items = _hits(session, result.ids, principal=principal, query=request.query)
    return SearchPage(
        total=result.total,
        total_relation=result.total_relation,
        page=params.page,
        page_size=params.page_size,
        items=items,
        facets=_facets(session, result.counts, pack=pack) if params.facet_counts else {},
    )


def _facets(
    session: Session, counts: dict[str, int], *, pack: GovernancePack
) -> dict[str, list[FacetCount]]:
    grouped: dict[str, list[FacetCount]] = {f.id: [] for f in pack.facets}
    for name in ("type", "status", "review_state", "compliance", "orientation", "campaign"):
        grouped[name] = []
    campaign_counts: list[tuple[str, int]] = []
    for key, count in counts.items():
        kind, _, rest = key.partition(":")
        if kind == "f":
            facet_id, _, term = rest.partition(":")
            if not pack.has_facet(facet_id):
                continue
            terms = pack.facet(facet_id).terms
            label = terms[term].label if term in terms else term
            grouped[facet_id].append(FacetCount(term=term, label=label, count=count))
        elif kind == "campaign":
            campaign_counts.append((rest, count))
        else:
            name = "review_state" if kind == "review" else kind
            label = rest.replace("_", " ").capitalize()
            grouped.setdefault(name, []).append(FacetCount(term=rest, label=label, count=count))
    # A library has a count for each of its (thousands of) campaigns; only the top few show.
    top = heapq.nsmallest(CAMPAIGN_FACET_SIZE, campaign_counts, key=_by_count)
    names: dict[str, str] = {}
    if top:
        names = dict(
            session.execute(_query(session, "campaign_names"), {"ids": [c for c, _ in top]}).all()
        )
    grouped["campaign"] = [FacetCount(term=c, label=names.get(c, c), count=n) for c, n in top]
    for entries in grouped.values():
        entries.sort(key=lambda e: (-e.count, e.term))
    return grouped


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


_WORD = re.compile(r"[^\W_]+")


def highlight(text: str, words: set[str], prefix: str | None, *, limit: int | None) -> str:
    """HTML-escaped `text` (a window of about `limit` characters around the first match when
    given) with matching words in <mark>."""

    def hit(folded: str) -> bool:
        return folded in words or (prefix is not None and folded.startswith(prefix))

    if text.isascii():
        # Folding ASCII keeps every character where it is (controls become spaces, letters
        # lower case), so the words of the folded text are the words of `text`, folded: one
        # pass instead of folding each word.
        folded_text = normalize(text)
        matches = [m for m in _WORD.finditer(folded_text) if hit(m.group())]
    else:
        matches = [m for m in _WORD.finditer(text) if hit(normalize(m.group()))]
    start, end = 0, len(text)
    if limit is not None and len(text) > limit:
        first = matches[0].start() if matches else 0
        start = max(0, min(first - limit // 4, len(text) - limit))
        end = start + limit
    out: list[str] = ["…" if start else ""]
    pos = start
    for m in matches:
        if m.start() < start or m.end() > end:
            continue
        out.append(html.escape(text[pos : m.start()]))
        out.append(f"<mark>{html.escape(text[m.start() : m.end()])}</mark>")
        pos = m.end()
    out.append(html.escape(text[pos:end]))
    if end < len(text):
        out.append("…")
    return "".join(out)


def _hit_query(*, published: bool, ids: Any) -> Any:
    shown = Asset.published_version if published else Asset.current_version
    meta: Any = Asset if published else AssetVersion
    return (
        sa.select(
            col(Asset.id),
            col(meta.title).label("title"),
            col(meta.description).label("description"),
            col(Asset.status),
            col(Asset.published_version),
            col(meta.tags).label("tags"),
            col(meta.terms).label("terms"),
            col(Asset.created_at),
            col(AssetVersion.number),
            col(AssetVersion.kind),
            col(AssetVersion.review_state),
            col(AssetVersion.compliance_status),
            col(AssetVersion.filename),
            col(AssetVersion.width),
            col(AssetVersion.height),
            col(AssetVersion.renditions),
        )
        .join(
            AssetVersion,
            sa.and_(
                col(AssetVersion.asset_id) == col(Asset.id),
                col(AssetVersion.number) == col(shown),
            ),
        )
        .where(ids(col(Asset.id)))
    )


def _ids_in(dialect: str, element: sa.types.TypeEngine[Any]) -> Callable[[Any], Any]:
    """`column IN :ids`. On PostgreSQL `= ANY(:ids)`, one array parameter: the statement's
    text is the same for any number of ids, so psycopg prepares it once and the server plans
    it once, instead of a new IN (...) list per page size."""
    if dialect == "postgresql":
        array = postgresql.ARRAY(element)
        return lambda column: column == sa.any_(sa.bindparam("ids", type_=array))
    return lambda column: column.in_(sa.bindparam("ids", expanding=True))


_QUERIES: dict[tuple[str, str], Any] = {}


def _query(session: Session, name: str) -> Any:
    """The statements every search runs, built once per dialect (building one costs more than
    running it from SQLAlchemy's compiled cache)."""
    dialect = session.get_bind().dialect.name
    statement = _QUERIES.get((dialect, name))
    if statement is None:
        if name == "campaign_names":
            ids = _ids_in(dialect, sa.String())
            statement = sa.select(col(Campaign.id), col(Campaign.name)).where(ids(col(Campaign.id)))
        else:
            ids = _ids_in(dialect, sa.Uuid())
            statement = _hit_query(published=name == "published_hits", ids=ids)
        _QUERIES[(dialect, name)] = statement
    return statement


def _hits(
    session: Session, ids: list[uuid.UUID], *, principal: Principal, query: ParsedQuery
) -> list[SearchHit]:
    """The page's assets in the principal's view: restricted roles get the published view (the
    asset row and the published version), others the working view (the current version and
    the metadata it carries). One query of the columns a hit shows (no ORM objects: this runs
    on every search and every type-ahead keystroke)."""
    if not ids:
        return []
    published = principal.sees_only_published
    # A document id is its asset's, or the asset's published document's: try both.
    candidates = list({*ids, *(published_doc_id(i) for i in ids)})
    rows = session.execute(
        _query(session, "published_hits" if published else "working_hits"), {"ids": candidates}
    ).all()
    by_id = {row.id: row for row in rows}
    words, prefix = query.highlight_words(), query.prefix
    hits: list[SearchHit] = []
    seen: set[uuid.UUID] = set()
    for doc_id in ids:
        row = by_id.get(doc_id) or by_id.get(published_doc_id(doc_id))
        # The index may lag the database by a job; visibility is checked again on the rows.
        if row is None or row.id in seen or not is_visible(principal, row):
            continue
        seen.add(row.id)
        number = row.number
        highlights: dict[str, str] = {}
        if words or prefix:
            highlights["title"] = highlight(row.title, words, prefix, limit=None)
            highlights["description"] = highlight(
                row.description, words, prefix, limit=SNIPPET_CHARS
            )
        hits.append(
            SearchHit(
                id=row.id,
                title=row.title,
                description=row.description,
                status=row.status,
                type=row.kind,
                version=number,
                published_version=row.published_version,
                review_state=row.review_state,
                compliance=row.compliance_status,
                filename=row.filename,
                width=row.width,
                height=row.height,
                tags=list(row.tags or []),
                terms={k: list(v) for k, v in (row.terms or {}).items()},
                created_at=row.created_at,
                # Only a thumbnail that exists: null while it is being made, and for audio.
                thumbnail_url=(
                    f"/api/v1/assets/{row.id}/renditions/thumb?version={number}"
                    if number is not None and "thumb" in (row.renditions or {})
                    else None
                ),
                clip_url=(
                    f"/api/v1/assets/{row.id}/renditions/clip?version={number}"
                    if number is not None and "clip" in (row.renditions or {})
                    else None
                ),
                highlights=highlights,
            )
        )
    return hits


# --- indexing ---------------------------------------------------------------------------------


def index_assets(session: Session, *, ctx: Context, asset_ids: Sequence[uuid.UUID]) -> int:
    """Index the current database state of `asset_ids`; ids with no asset are removed.
    Idempotent, so outbox jobs may run it any number of times."""
    backend = get_search(ctx)
    docs = list(load_documents(session, pack=ctx.governance.pack, asset_ids=list(asset_ids)))
    found = {d.doc_id for d in docs}
    # A published document that merged back into the working one (or an asset that is gone).
    gone = [d for d in doc_ids_of(asset_ids) if d not in found]
    backend.update(session, upsert=docs, delete=gone)
    return len(docs)


def queue_index(session: Session, *, asset_ids: Sequence[uuid.UUID], now: datetime) -> None:
    """Re-index these assets through the outbox, in the caller's transaction."""
    for asset_id in asset_ids:
        enqueue(session, JOB_KIND, {"asset_id": str(asset_id)}, now=now)


def reindex(
    session: Session, *, ctx: Context, on_progress: Callable[[int, int], None] | None = None
) -> int:
    """Build a complete new index from the database while searches use the old one, then catch
    up on the assets whose index jobs ran against the old one meanwhile.

    ``on_progress(done, total)`` is called after each document (total: the assets at start)."""
    started = ctx.now()
    backend = get_search(ctx)
    docs = iter_all_documents(ctx.engine, pack=ctx.governance.pack)
    if on_progress is not None:
        # Its own short read: on SQLite a transaction on `session` would hold the write lock
        # that the batches of iter_all_documents wait for.
        with Session(ctx.engine) as counting:
            total = counting.exec(select(sa.func.count()).select_from(Asset)).one()
        docs = _reporting(docs, total, on_progress)
    count = backend.rebuild(session, docs)
    since = started - REINDEX_CATCH_UP
    payloads = session.exec(
        select(OutboxJob.payload).where(
            # Index jobs and events (each of which re-indexes its asset).
            col(OutboxJob.kind).in_([JOB_KIND, EVENT_JOB]),
            col(OutboxJob.created_at) >= since,
            col(OutboxJob.status).in_([JobStatus.done, JobStatus.running, JobStatus.failed]),
        )
    )
    touched: set[uuid.UUID] = set()
    for payload in payloads:
        try:
            touched.add(uuid.UUID(str(payload["asset_id"])))
        except (KeyError, ValueError):
            continue
    if touched:
        index_assets(session, ctx=ctx, asset_ids=sorted(touched))
    return count


def _reporting(
    docs: Iterator[SearchDocument], total: int, on_progress: Callable[[int, int], None]
) -> Iterator[SearchDocument]:
    for done, doc in enumerate(docs, start=1):
        yield doc
        on_progress(done, max(total, done))


def check_index(session: Session, *, ctx: Context) -> CheckReport:
    """Compare every document with the one the database would produce now."""
    indexed = {e.doc_id: e.fingerprint for e in get_search(ctx).entries(session)}
    missing: list[uuid.UUID] = []
    stale: list[uuid.UUID] = []
    assets: set[uuid.UUID] = set()
    expected = 0
    for doc in iter_all_documents(ctx.engine, pack=ctx.governance.pack):
        assets.add(doc.asset_id)
        expected += 1
        fingerprint = indexed.pop(doc.doc_id, None)
        if fingerprint is None:
            missing.append(doc.asset_id)
        elif fingerprint != doc.fingerprint:
            stale.append(doc.asset_id)
    return CheckReport(
        documents=expected - len(missing) + len(indexed),
        assets=len(assets),
        missing=missing,
        stale=stale,
        extra=sorted(indexed),
    )


def similar_assets(
    session: Session, *, principal: Principal, asset: Asset, max_distance: int, limit: int
) -> SimilarPage:
    """Assets whose image is perceptually near this asset's visible version, nearest first.
    Restricted roles compare against, and only ever get, published versions."""
    number = asset.published_version if principal.sees_only_published else asset.current_version
    version = session.exec(
        select(AssetVersion).where(
            AssetVersion.asset_id == asset.id, AssetVersion.number == (number or 0)
        )
    ).first()
    page = SimilarPage(asset_id=asset.id, version=number, max_distance=max_distance, items=[])
    if version is None or not version.phash:
        return page
    page.items = similar_to_hash(
        session,
        principal=principal,
        phash=version.phash,
        exclude_asset_id=asset.id,
        max_distance=max_distance,
        limit=limit,
    )
    return page


def similar_to_hash(
    session: Session,
    *,
    principal: Principal,
    phash: str,
    exclude_asset_id: uuid.UUID | None,
    max_distance: int,
    limit: int,
) -> list[SimilarHit]:
    """Assets this principal may see whose image is within `max_distance` of `phash`, nearest
    first: an asset's look-alikes, and those of a file not uploaded yet (the upload form).
    Restricted roles only ever get published versions."""
    items: list[SimilarHit] = []
    restricted = principal.sees_only_published
    found = find_similar(
        session,
        phash=phash,
        exclude_asset_id=exclude_asset_id,
        max_distance=max_distance,
        limit=limit * 4 if restricted else limit,
        best_per_asset=not restricted,
    )
    assets = {
        a.id: a for a in session.exec(select(Asset).where(col(Asset.id).in_({f[0] for f in found})))
    }
    # Titles in the principal's view: the published one, or the current version's.
    titles = {a.id: a.title for a in assets.values()}
    if not restricted:
        titles.update(
            {a: v.title for a, v in current_versions(session, list(assets.values())).items()}
        )
    with_thumbs = {
        (asset_id, number)
        for asset_id, number, renditions in session.execute(
            sa.select(
                col(AssetVersion.asset_id), col(AssetVersion.number), col(AssetVersion.renditions)
            ).where(col(AssetVersion.asset_id).in_(assets))
        )
        if "thumb" in (renditions or {})
    }
    seen: set[uuid.UUID] = set()
    for asset_id, number, distance in found:
        other = assets.get(asset_id)
        if other is None or asset_id in seen or not is_visible(principal, other):
            continue
        if restricted and number != other.published_version:
            continue
        seen.add(asset_id)
        items.append(
            SimilarHit(
                id=asset_id,
                version=number,
                distance=distance,
                title=titles[asset_id],
                thumbnail_url=(
                    f"/api/v1/assets/{asset_id}/renditions/thumb?version={number}"
                    if (asset_id, number) in with_thumbs
                    else None
                ),
            )
        )
        if len(items) >= limit:
            break
    return items
