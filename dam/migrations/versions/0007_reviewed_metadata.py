"""reviewed metadata: each version carries the metadata it is reviewed with; audit events say
whether they changed the published view

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:00:00

Every existing version gets the asset's current metadata (the best record there is), so the
published version and the current one both carry what marketers saw before the upgrade and
nothing disappears for them. Approvals, archiving, expiry and campaign changes were always
published-view events. The search index gains a `view:working` key per document: a rebuild is
queued for the worker.
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import dam.models.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

PUBLISHED_ACTIONS = (
    "asset.approved",
    "asset.archived",
    "asset.expired",
    "asset.expiring",
    "asset.campaigns_changed",
)


def upgrade() -> None:
    with op.batch_alter_table("asset_versions") as batch:
        batch.add_column(sa.Column("edited_from", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("title", sa.String(length=500), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("description", sa.String(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column(
                "tags", dam.models.types.JSONType, nullable=False, server_default=sa.text("'[]'")
            )
        )
        batch.add_column(
            sa.Column(
                "terms", dam.models.types.JSONType, nullable=False, server_default=sa.text("'{}'")
            )
        )
        batch.add_column(
            sa.Column("rights_expire_at", dam.models.types.UTCDateTime(), nullable=True)
        )
    op.execute(
        "UPDATE asset_versions SET title = a.title, description = a.description, "
        "tags = a.tags, terms = a.terms, rights_expire_at = a.rights_expire_at "
        "FROM assets a WHERE a.id = asset_versions.asset_id"
    )
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(
            sa.Column("published", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    audit = sa.table("audit_events", sa.column("action", sa.String), sa.column("published"))
    op.execute(
        audit.update().where(audit.c.action.in_(PUBLISHED_ACTIONS)).values(published=True)
    )
    jobs = sa.table(
        "outbox_jobs",
        sa.column("id", sa.Uuid),
        sa.column("kind", sa.String),
        sa.column("payload", dam.models.types.JSONType),
        sa.column("status", sa.String),
        sa.column("attempts", sa.Integer),
        sa.column("max_attempts", sa.Integer),
        sa.column("run_after", dam.models.types.UTCDateTime),
        sa.column("created_at", dam.models.types.UTCDateTime),
    )
    if op.get_bind().execute(sa.text("SELECT 1 FROM assets LIMIT 1")).first() is None:
        return  # a new database: nothing is indexed yet
    now = datetime.now(UTC)
    op.bulk_insert(
        jobs,
        [
            {
                "id": uuid.uuid4(),
                "kind": "search.rebuild",
                "payload": {"reason": "migration 0007: documents gain view keys"},
                "status": "pending",
                "attempts": 0,
                "max_attempts": 8,
                "run_after": now,
                "created_at": now,
            }
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("published")
    with op.batch_alter_table("asset_versions") as batch:
        for name in ("rights_expire_at", "terms", "tags", "description", "title", "edited_from"):
            batch.drop_column(name)
