"""Litestar dependencies: the request's park and its tenant-bound session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import structlog
from litestar import Router
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.db import Database
from vistapass.platform.tenancy.binding import (
    BoundTenant,
    current_tenant,
    tenant_session,
)

TENANT_PREFIX = "/p/{tenant_slug:str}"

# Handler parameter types: `db_session: TenantDbSession, tenant: CurrentTenant`.
TenantDbSession = NamedDependency[AsyncSession]
CurrentTenant = NamedDependency[BoundTenant]


async def provide_tenant_session(
    state: State, tenant_slug: FromPath[str]
) -> AsyncIterator[AsyncSession]:
    db: Database = state.db
    async with tenant_session(db, tenant_slug) as session:
        structlog.contextvars.bind_contextvars(tenant=tenant_slug)
        yield session


async def provide_tenant(db_session: TenantDbSession) -> BoundTenant:
    return current_tenant(db_session)


def tenant_router(handlers: Sequence[ControllerRouterHandler]) -> Router:
    """Everything a park serves, under `/p/<slug>/` (and on its own hosts, see http.context)."""
    return Router(
        path=TENANT_PREFIX,
        route_handlers=list(handlers),
        dependencies={
            "db_session": Provide(provide_tenant_session),
            "tenant": Provide(provide_tenant),
        },
    )
