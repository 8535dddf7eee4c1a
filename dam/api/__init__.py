"""The REST API (`/api/v1`): one router per domain. A route parses, calls one service function
and returns; path objects, sessions and role checks come from `dam.api.deps`."""

from fastapi import APIRouter

from dam.api import (
    assets,
    audit,
    auth,
    briefs,
    campaigns,
    collections,
    governance,
    notifications,
    search,
    shares,
    uploads,
    webhooks,
    workflow,
)

# In the order they are mounted (the first route that matches a path wins).
ROUTERS: tuple[APIRouter, ...] = (
    assets.router,
    uploads.router,
    auth.router,
    governance.router,
    workflow.router,
    audit.router,
    webhooks.router,
    search.router,
    campaigns.router,
    collections.router,
    shares.router,
    notifications.router,
    briefs.router,
)
