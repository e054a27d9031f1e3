"""The console's gate pages and the occupancy API.

`/console/gates` (managers and owners: it hands out keys to the park's gates):
edges and online devices, each with a credential whose token is shown once;
devices wired to an edge; revocation. Every change goes to the park's audit log.

`/console/occupancy` and `GET /api/v1/occupancy` (whoever reads reports): people
inside now, entries and exits per hour, dwell. `/api/v1/occupancy/stream` sends
the same figures as server-sent events whenever scans change them; asked for
anything but `text/event-stream`, it answers the figures once, as JSON.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, ServerSentEvent, Template
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.audit.service import record
from vistapass.platform.authz.permissions import requires
from vistapass.platform.console.context import console_context
from vistapass.platform.console.pages import Page
from vistapass.platform.errors import VistapassError
from vistapass.platform.http.exceptions import wants_html
from vistapass.platform.identity.principal import resolve_principal
from vistapass.platform.mfa.controllers import fields
from vistapass.platform.models.base import utcnow
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.catalog.api import request_actor
from vistapass.tenants.gates import credentials, live
from vistapass.tenants.gates.occupancy import figures
from vistapass.tenants.models.gates import DEVICE_DIRECTIONS, DEVICE_KINDS
from vistapass.tenants.orders.context import selling_for
from vistapass.tenants.park.service import get_profile

CONFIGURE = requires("settings:write")
READ = requires("reports:read")
NO_STORE = {"cache-control": "no-store"}  # the page that shows a new token


def hub_url(request: Request[Any, Any, Any]) -> str:
    """Where an edge reaches this hub: the public URL, else the one the manager uses."""
    public = request.app.state.settings.public_url
    return (public or str(request.base_url)).rstrip("/")


class GatesConsoleController(Controller):
    path = "/console/gates"
    include_in_schema = False

    async def _page(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        slug: str,
        status_code: int = 200,
        **extra: Any,
    ) -> Template:
        profile = await get_profile(db_session)
        found, devices = await credentials.listing(db_session)
        listed = [credentials.describe(c, devices) for c in found]
        context = await console_context(
            request,
            slug,
            profile.display_name,
            edges=[c for c in listed if c["kind"] == "edge"],
            scanners=[c for c in listed if c["kind"] == "device"],
            device_kinds=DEVICE_KINDS,
            directions=DEVICE_DIRECTIONS,
            values=extra.pop("values", {}),
            **extra,
        )
        return Page("gates/gates.html", context=context, status_code=status_code, headers=NO_STORE)

    async def _failed(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        slug: str,
        exc: VistapassError,
        values: dict[str, str],
    ) -> Template:
        # JSON clients get the usual error body; a person gets the page back, filled in.
        if not wants_html(request) or exc.status_code not in (409, 422):
            raise exc
        error = {"field": exc.details.get("field", "form"), "message": exc.message}
        return await self._page(
            request, db_session, slug, exc.status_code, error=error, values=values
        )

    @get("/", opt=CONFIGURE)
    async def index(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template:
        return await self._page(request, db_session, tenant.slug)

    @post("/credentials", opt=CONFIGURE, status_code=200)
    async def create_credential(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template:
        form = await fields(request)
        principal = await resolve_principal(request)
        try:
            minted = await credentials.mint(
                db_session,
                tenant.slug,
                form.get("kind", ""),
                form.get("name", ""),
                principal.user_id if principal else None,
            )
        except VistapassError as exc:
            return await self._failed(request, db_session, tenant.slug, exc, form)
        credential = minted.credential
        await record(
            db_session,
            await request_actor(request),
            "gate_credential.created",
            f"gate_credential:{credential.id}",
            after={"kind": credential.kind, "name": credential.name},
        )
        command = None
        if credential.kind == "edge":
            command = f"vistapass gate-edge --hub {hub_url(request)} --token {minted.token}"
        return await self._page(
            request,
            db_session,
            tenant.slug,
            created={"id": str(credential.id), "kind": credential.kind, "name": credential.name},
            token=minted.token,
            command=command,
        )

    @post("/credentials/{credential_id:uuid}/revoke", opt=CONFIGURE, status_code=303)
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        credential_id: FromPath[uuid.UUID],
    ) -> Redirect:
        revoked = await credentials.revoke(db_session, credential_id)
        if revoked is not None:
            await record(
                db_session,
                await request_actor(request),
                "gate_credential.revoked",
                f"gate_credential:{credential_id}",
                before={"kind": revoked.kind, "name": revoked.name},
            )
        return Redirect(f"/p/{tenant.slug}/console/gates", status_code=303)

    @post("/devices", opt=CONFIGURE, status_code=303)
    async def add_device(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template | Redirect:
        form = await fields(request)
        try:
            device = await credentials.add_device(
                db_session, selling_for(request.app.state).wrapper, form
            )
        except VistapassError as exc:
            return await self._failed(request, db_session, tenant.slug, exc, form)
        await record(
            db_session,
            await request_actor(request),
            "gate_device.created",
            f"gate_device:{device.id}",
            after=credentials.describe_device(device) | {"edge_id": str(device.edge_id)},
        )
        return Redirect(f"/p/{tenant.slug}/console/gates", status_code=303)


class OccupancyConsoleController(Controller):
    path = "/console/occupancy"
    include_in_schema = False

    @get("/", opt=READ)
    async def index(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template:
        profile = await get_profile(db_session)
        context = await console_context(
            request,
            tenant.slug,
            profile.display_name,
            figures=await figures(db_session, tenant.slug, utcnow()),
            stream=f"/p/{tenant.slug}/api/v1/occupancy/stream",
        )
        return Page("gates/occupancy.html", context=context)


class OccupancyApiController(Controller):
    path = "/api/v1/occupancy"
    tags = ["occupancy"]

    @get("/", opt=READ, summary="People inside now, entries and exits per hour, dwell today")
    async def occupancy(self, db_session: TenantDbSession, tenant: CurrentTenant) -> dict[str, Any]:
        return await figures(db_session, tenant.slug, utcnow())

    @get("/stream", opt=READ, summary="The same figures, live, as server-sent events")
    async def stream(
        self, request: Request[Any, Any, Any], tenant_slug: FromPath[str]
    ) -> Response[Any]:
        """No request session here: a stream stays open for as long as the page does."""
        state = request.app.state
        if "text/event-stream" not in request.headers.get("accept", ""):
            return Response(await live.current(state, tenant_slug))
        # The park must exist before a stream is opened for it (a 404 otherwise).
        async with tenant_session(state.db, tenant_slug):
            pass
        return ServerSentEvent(
            live.stream(state, tenant_slug), headers={"cache-control": "no-store"}
        )


GATE_CONSOLE_ROUTES: list[Any] = [
    GatesConsoleController,
    OccupancyConsoleController,
    OccupancyApiController,
]
