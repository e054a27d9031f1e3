"""The console's custom-domain page and its JSON twin."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody, URLEncodedBody
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.audit.service import Actor, record
from vistapass.platform.authz.permissions import requires
from vistapass.platform.console.context import console_context
from vistapass.platform.console.pages import Page
from vistapass.platform.domains import service
from vistapass.platform.errors import VistapassError
from vistapass.platform.identity.principal import client_ip, resolve_principal
from vistapass.platform.models import TenantDomain
from vistapass.platform.tenancy.binding import BoundTenant, control_session
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.park import service as park_service


class DomainIn(Struct):
    domain: str


class DomainOut(Struct):
    domain: str
    verified: bool
    token: str | None
    check_url: str


def _out(request: Request[Any, Any, Any], row: TenantDomain) -> DomainOut:
    return DomainOut(**asdict(service.view(request.app.state.settings, row)))


async def _actor(request: Request[Any, Any, Any]) -> Actor:
    return Actor.of(await resolve_principal(request), client_ip(request))


# Each change is made in a control-plane transaction (the park's role cannot write
# `tenant_domains`) and recorded in the park's audit log, in the request's transaction.


async def _claim(
    request: Request[Any, Any, Any], db_session: AsyncSession, tenant: BoundTenant, domain: str
) -> DomainOut:
    async with control_session(request.app.state.db) as session:
        out = _out(request, await service.claim(session, tenant.id, domain))
    await record(db_session, await _actor(request), "domain.claimed", f"domain:{out.domain}")
    return out


async def _verify(
    request: Request[Any, Any, Any], db_session: AsyncSession, tenant: BoundTenant, domain: str
) -> DomainOut:
    async with control_session(request.app.state.db) as session:
        row = await service.get_own(session, tenant.id, domain)
        out = _out(request, await service.verify(session, request.app.state.settings, row))
    request.app.state.domains.forget(out.domain)  # served here at once, elsewhere within 30 s
    await record(db_session, await _actor(request), "domain.verified", f"domain:{out.domain}")
    return out


async def _remove(
    request: Request[Any, Any, Any], db_session: AsyncSession, tenant: BoundTenant, domain: str
) -> None:
    async with control_session(request.app.state.db) as session:
        row = await service.get_own(session, tenant.id, domain)
        name = row.domain
        await session.delete(row)
    request.app.state.domains.forget(name)
    await record(db_session, await _actor(request), "domain.removed", f"domain:{name}")


class DomainsPageController(Controller):
    path = "/console/domains"
    include_in_schema = False

    async def _page(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: BoundTenant,
        error: str | None = None,
        status: int = 200,
    ) -> Template:
        profile = await park_service.get_profile(db_session)
        async with control_session(request.app.state.db) as session:
            rows = await service.list_domains(session, tenant.id)
            domains = [service.view(request.app.state.settings, row) for row in rows]
        context = await console_context(
            request, tenant.slug, profile.display_name, domains=domains, error=error
        )
        return Page("domains/domains.html", context=context, status_code=status)

    @get("/", opt=requires("settings:read"))
    async def page(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template:
        return await self._page(request, db_session, tenant)

    @post("/", opt=requires("settings:write"))
    async def add(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        data: URLEncodedBody[DomainIn],
    ) -> Template | Redirect:
        try:
            await _claim(request, db_session, tenant, data.domain)
        except VistapassError as exc:
            return await self._page(request, db_session, tenant, exc.message, exc.status_code)
        return Redirect(f"/p/{tenant.slug}/console/domains")

    @post("/{domain:str}/verify", opt=requires("settings:write"))
    async def verify(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        domain: FromPath[str],
    ) -> Template | Redirect:
        try:
            await _verify(request, db_session, tenant, domain)
        except VistapassError as exc:
            return await self._page(request, db_session, tenant, exc.message, exc.status_code)
        return Redirect(f"/p/{tenant.slug}/console/domains")

    @post("/{domain:str}/remove", opt=requires("settings:write"))
    async def remove(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        domain: FromPath[str],
    ) -> Redirect:
        await _remove(request, db_session, tenant, domain)
        return Redirect(f"/p/{tenant.slug}/console/domains")


class DomainsApiController(Controller):
    path = "/api/v1/domains"
    tags = ["console"]

    @get("/", opt=requires("settings:read"), summary="The park's custom domains")
    async def list_(
        self, request: Request[Any, Any, Any], tenant: CurrentTenant
    ) -> list[DomainOut]:
        async with control_session(request.app.state.db) as session:
            rows = await service.list_domains(session, tenant.id)
            return [_out(request, r) for r in rows]

    @post("/", opt=requires("settings:write"), summary="Claim a domain (then publish its token)")
    async def add(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        data: JSONBody[DomainIn],
    ) -> DomainOut:
        return await _claim(request, db_session, tenant, data.domain)

    @post(
        "/{domain:str}/verify",
        opt=requires("settings:write"),
        status_code=200,
        summary="Fetch the published token and, if it matches, serve the park there",
    )
    async def verify(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        domain: FromPath[str],
    ) -> DomainOut:
        return await _verify(request, db_session, tenant, domain)

    @delete("/{domain:str}", opt=requires("settings:write"), summary="Stop serving a domain")
    async def remove(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        domain: FromPath[str],
    ) -> None:
        await _remove(request, db_session, tenant, domain)
