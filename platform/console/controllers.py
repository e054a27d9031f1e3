"""The console's own pages: the park chooser and a park's overview."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy import select

from vistapass.platform.authz.permissions import public, requires, signed_in
from vistapass.platform.console.context import console_context
from vistapass.platform.console.i18n import LANG_COOKIE, LANGUAGES
from vistapass.platform.console.pages import Page
from vistapass.platform.identity.principal import resolve_principal
from vistapass.platform.models import Membership, Tenant, TenantStatus
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.park import service as park_service


def local_path(target: str | None, default: str = "/console") -> str:
    """Only same-site paths: a `next` pointing elsewhere would be an open redirect."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return default


@get("/lang/{code:str}", opt=public(), include_in_schema=False)
async def switch_language(code: FromPath[str], next: FromQuery[str | None] = None) -> Redirect:
    """Switch the console and booking pages between Chinese and English, remembered."""
    response = Redirect(local_path(next, "/"))
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax")
    return response


class ConsoleHomeController(Controller):
    """`/console`: where a signed-in person picks the park to work on."""

    path = "/console"
    include_in_schema = False

    @get("/", opt=signed_in())
    async def choose_park(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        principal = await resolve_principal(request)
        assert principal is not None  # the guard let only signed-in people through
        async with request.app.state.db.session() as session:
            rows = (
                await session.execute(
                    select(Tenant.slug, Tenant.display_name, Tenant.status, Membership.role)
                    .join(Membership, Membership.tenant_id == Tenant.id)
                    .where(Membership.user_id == principal.user_id)
                    .order_by(Tenant.display_name)
                )
            ).all()
        parks = [
            {"slug": r.slug, "name": r.display_name, "role": r.role, "status": r.status}
            for r in rows
        ]
        live = [p for p in parks if p["status"] == TenantStatus.ACTIVE]
        if len(live) == 1 and len(parks) == 1 and not principal.is_platform_admin:
            return Redirect(f"/p/{live[0]['slug']}/console/")
        context = await console_context(request, None, parks=parks)
        return Page("console/choose_park.html", context=context)


class ParkConsoleController(Controller):
    """`/p/<slug>/console/`: the park's overview, the first page after signing in."""

    path = "/console"
    include_in_schema = False

    @get("/", opt=requires("console:view"))
    async def overview(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template:
        profile = await park_service.get_profile(db_session)
        context = await console_context(request, tenant.slug, profile.display_name, profile=profile)
        return Page("console/overview.html", context=context)
