"""The indexed documents of an asset, built from its database rows and the governance pack.

An asset has a working view (its current version and the metadata it carries: what uploaders
and reviewers search, key `view:working`) and, once published and live, a published view (the
asset row and the published version: what marketers and automation search, key `visible:1`).
While the two are the same, one document carries both keys; while a draft is pending, the
published view is a second document whose id is the asset id with its halves swapped
(`published_doc_id`), so no backend needs to know about views.

Terms are indexed together with their ancestors (as filter keys and as label/synonym text),
so filtering on a parent term matches its descendants and searching a synonym finds the term.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dam.assets.service import current_versions
from dam.governance.pack import GovernancePack
from dam.governance.service import MetadataRow
from dam.models import Asset, AssetCampaign, AssetStatus, AssetVersion

VISIBLE_KEY = "visible:1"
WORKING_KEY = "view:working"
# Facets counted in every response besides the pack's facets.
COUNTED_PREFIXES = ("f:", "type:", "status:", "campaign:", "review:", "compliance:", "orientation:")


def facet_key(facet: str, term: str) -> str:
    return f"f:{facet}:{term}"


def orientation(width: int | None, height: int | None) -> str | None:
    if not width or not height:
        return None
    if width == height:
        return "square"
    return "landscape" if width > height else "portrait"


def published_doc_id(asset_id: uuid.UUID) -> uuid.UUID:
    """The id of an asset's separate published-view document (an involution: applying it to
    that id gives the asset id back). `swap_halves_sql` is the same in PostgreSQL."""
    raw = asset_id.bytes
    return uuid.UUID(bytes=raw[8:] + raw[:8])


def swap_halves_sql(column: str) -> str:
    text = f"replace({column}::text, '-', '')"
    return f"(substr({text}, 17, 16) || substr({text}, 1, 16))::uuid"


def doc_ids_of(asset_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Every document id an asset can have."""
    return [d for a in asset_ids for d in (a, published_doc_id(a))]


@dataclass(frozen=True)
class SearchDocument:
    doc_id: uuid.UUID
    asset_id: uuid.UUID
    title: str
    # Everything else searchable: description, tags, filename, campaign ids, term labels…
    body: str
    keys: tuple[str, ...]
    created_at: datetime
    title_sort: str
    revision: int

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything indexed changes; `dam search check` compares it."""
        payload = json.dumps(
            [self.title, self.body, sorted(self.keys), self.created_at.isoformat()],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:32]


def build_documents(
    asset: Asset,
    *,
    current: AssetVersion | None,
    published: AssetVersion | None,
    campaign_ids: Sequence[str],
    pack: GovernancePack,
) -> list[SearchDocument]:
    """The working-view document, and the published-view one while the asset is live with a
    published version (merged into one when they would be the same)."""
    working = _document(
        asset,
        doc_id=asset.id,
        metadata=current if current is not None else asset,
        version=current,
        campaign_ids=campaign_ids,
        pack=pack,
        view_key=WORKING_KEY,
    )
    if asset.status != AssetStatus.active or asset.published_version is None:
        return [working]
    live = _document(
        asset,
        doc_id=published_doc_id(asset.id),
        metadata=asset,
        version=published,
        campaign_ids=campaign_ids,
        pack=pack,
        view_key=VISIBLE_KEY,
    )
    same = (
        live.title == working.title
        and live.body == working.body
        and set(live.keys) - {VISIBLE_KEY} == set(working.keys) - {WORKING_KEY}
    )
    if same:
        return [replace(working, keys=tuple(sorted({*working.keys, VISIBLE_KEY})))]
    return [working, live]


def _document(
    asset: Asset,
    *,
    doc_id: uuid.UUID,
    metadata: MetadataRow,
    version: AssetVersion | None,
    campaign_ids: Sequence[str],
    pack: GovernancePack,
    view_key: str,
) -> SearchDocument:
    keys: set[str] = {f"status:{asset.status.value}", view_key}
    text: list[str] = [metadata.description, " ".join(metadata.tags), " ".join(campaign_ids)]
    keys.update(f"tag:{tag}" for tag in metadata.tags)
    keys.update(f"campaign:{c}" for c in campaign_ids)
    for facet_id, term_ids in sorted(metadata.terms.items()):
        if not pack.has_facet(facet_id):
            keys.update(facet_key(facet_id, t) for t in term_ids)  # kept, just unlabelled
            continue
        facet = pack.facet(facet_id)
        for term_id in term_ids:
            if term_id not in facet.terms:
                keys.add(facet_key(facet_id, term_id))
                continue
            for tid in (*facet.ancestors(term_id), term_id):
                keys.add(facet_key(facet_id, tid))
                term = facet.terms[tid]
                text.append(term.label)
                text.extend(term.synonyms)
    # Credits people search by (governed fields and what the file itself says).
    for value in (metadata.extra or {}).values():
        text.extend(value if isinstance(value, list) else [str(value)])
    if version is not None:
        text.extend(_embedded_text(version.embedded))
        text.append(version.filename)
        keys.add(f"type:{version.kind}")
        keys.add(f"review:{version.review_state.value}")
        if version.compliance_status:
            keys.add(f"compliance:{version.compliance_status}")
        shape = orientation(version.width, version.height)
        if shape:
            keys.add(f"orientation:{shape}")
    return SearchDocument(
        doc_id=doc_id,
        asset_id=asset.id,
        title=metadata.title,
        body="\n".join(t for t in text if t),
        keys=tuple(sorted(keys)),
        created_at=asset.created_at,
        title_sort=" ".join(metadata.title.casefold().split())[:200],
        revision=asset.revision,
    )


# What the file's embedded metadata adds to the searchable text (location stays out: the index
# is shared by every role).
_EMBEDDED_TEXT = ("title", "headline", "description", "credit", "copyright_notice")
_EMBEDDED_LISTS = ("keywords", "creator")


def _embedded_text(embedded: dict[str, Any] | None) -> list[str]:
    fields = (embedded or {}).get("embedded") or {}
    out = [str(fields[name]) for name in _EMBEDDED_TEXT if fields.get(name)]
    for name in _EMBEDDED_LISTS:
        out.extend(str(v) for v in fields.get(name) or [])
    return out


def load_documents(
    session: Session,
    *,
    pack: GovernancePack,
    asset_ids: Sequence[uuid.UUID] | None = None,
    batch_size: int = 1000,
) -> Iterator[SearchDocument]:
    """Documents for `asset_ids` (or every asset), loaded in batches of a few queries each."""
    if asset_ids is not None:
        for start in range(0, len(asset_ids), batch_size):
            chunk = list(asset_ids[start : start + batch_size])
            assets = list(session.exec(select(Asset).where(col(Asset.id).in_(chunk))))
            yield from _documents(session, assets, pack)
        return
    last: uuid.UUID | None = None
    while True:
        query = select(Asset).order_by(col(Asset.id)).limit(batch_size)
        if last is not None:
            query = query.where(col(Asset.id) > last)
        assets = list(session.exec(query))
        if not assets:
            return
        yield from _documents(session, assets, pack)
        last = assets[-1].id
        session.expunge_all()  # a 100k-asset reindex must not keep every row in the session


def iter_all_documents(
    engine: Engine, *, pack: GovernancePack, batch_size: int = 1000
) -> Iterator[SearchDocument]:
    """Every asset's document, each batch read in its own short transaction: on SQLite every
    transaction takes the write lock, and a rebuild must not hold it for minutes."""
    last: uuid.UUID | None = None
    while True:
        with Session(engine) as session:
            query = select(Asset).order_by(col(Asset.id)).limit(batch_size)
            if last is not None:
                query = query.where(col(Asset.id) > last)
            assets = list(session.exec(query))
            if not assets:
                return
            docs = list(_documents(session, assets, pack))
            last = assets[-1].id
        yield from docs


def _documents(
    session: Session, assets: Sequence[Asset], pack: GovernancePack
) -> Iterator[SearchDocument]:
    versions = current_versions(session, assets)
    published = current_versions(session, assets, published=True)
    campaigns: dict[uuid.UUID, list[str]] = {a.id: [] for a in assets}
    links = session.exec(
        select(AssetCampaign.asset_id, AssetCampaign.campaign_id).where(
            col(AssetCampaign.asset_id).in_([a.id for a in assets])
        )
    )
    for asset_id, campaign_id in links:
        campaigns[asset_id].append(campaign_id)
    for asset in assets:
        yield from build_documents(
            asset,
            current=versions.get(asset.id),
            published=published.get(asset.id),
            campaign_ids=sorted(campaigns[asset.id]),
            pack=pack,
        )
