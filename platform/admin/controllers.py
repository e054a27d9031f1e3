"""The platform admin's view of every park: list, suspend, resume.

These routes carry no `tenant_slug`, so the guard checks `tenants:*` in the
`platform` domain, which only platform admins hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy import func, select

from vistapass.platform.audit.service import Actor, record
from vistapass.platform.authz.permissions import requires
from vistapass.platform.console.context import console_context
from vistapass.platform.console.pages import Page
from vistapass.platform.db import Database
from vistapass.platform.identity.principal import client_ip, resolve_principal
from vistapass.platform.models import Membership, Tenant, TenantStatus
from vistapass.platform.tenancy import admin
from vistapass.platform.tenancy.binding import tenant_session


@dataclass(frozen=True, slots=True)
class ParkSummary:
    slug: str
    name: str
    status: str
    created_at: datetime
    members: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "members": self.members,
        }


async def park_summaries(db: Database) -> list[ParkSummary]:
    async with db.session() as session:
        rows = await session.execute(
            select(Tenant, func.count(Membership.id))
            .outerjoin(Membership, Membership.tenant_id == Tenant.id)
            .group_by(Tenant.id)
            .order_by(Tenant.slug)
        )
        return [
            ParkSummary(t.slug, t.display_name, t.status, t.created_at, count) for t, count in rows
        ]


async def change_status(request: Request[Any, Any, Any], slug: str, action: str) -> dict[str, Any]:
    """Suspend or resume, and note it in the park's own audit log when it changed."""
    db: Database = request.app.state.db
    if action == "suspend":
        changed = await admin.suspend(db, slug)
    else:
        changed = await admin.resume(db, slug)
    if changed:
        principal = await resolve_principal(request)
        status = TenantStatus.SUSPENDED if action == "suspend" else TenantStatus.ACTIVE
        async with tenant_session(db, slug, allow_suspended=True) as session:
            await record(
                session,
                Actor.of(principal, client_ip(request)),
                f"park.{'suspended' if action == 'suspend' else 'resumed'}",
                f"park:{slug}",
                after={"status": status.value},
            )
    parks = {p.slug: p for p in await park_summaries(db)}
    return {**parks[slug].as_dict(), "changed": bool(changed)}


class AdminConsoleController(Controller):
    path = "/admin/tenants"
    include_in_schema = False

    @get("/", opt=requires("tenants:read"))
    async def page(self, request: Request[Any, Any, Any]) -> Template:
        parks = await park_summaries(request.app.state.db)
        context = await console_context(request, None, parks=parks)
        return Page("admin/tenants.html", context=context)

    @post("/{slug:str}/suspend", opt=requires("tenants:manage"))
    async def suspend(self, request: Request[Any, Any, Any], slug: FromPath[str]) -> Redirect:
        await change_status(request, slug, "suspend")
        return Redirect("/admin/tenants", status_code=303)

    @post("/{slug:str}/resume", opt=requires("tenants:manage"))
    async def resume(self, request: Request[Any, Any, Any], slug: FromPath[str]) -> Redirect:
        await change_status(request, slug, "resume")
        return Redirect("/admin/tenants", status_code=303)


class AdminApiController(Controller):
    path = "/api/v1/platform/tenants"
    tags = ["platform"]

    @get("/", opt=requires("tenants:read"), summary="Every park on the platform")
    async def listing(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        parks = await park_summaries(request.app.state.db)
        return {"tenants": [p.as_dict() for p in parks]}

    @post("/{slug:str}/suspend", opt=requires("tenants:manage"), status_code=200,
          summary="Close a park: its pages show a notice, its API answers 403")  # fmt: skip
    async def suspend(self, request: Request[Any, Any, Any], slug: FromPath[str]) -> dict[str, Any]:
        return await change_status(request, slug, "suspend")

    @post("/{slug:str}/resume", opt=requires("tenants:manage"), status_code=200,
          summary="Reopen a suspended park")  # fmt: skip
    async def resume(self, request: Request[Any, Any, Any], slug: FromPath[str]) -> dict[str, Any]:
        return await change_status(request, slug, "resume")
