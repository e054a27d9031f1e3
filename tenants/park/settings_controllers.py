"""The park settings page (`/console/settings`) and its JSON twin (`/api/v1/settings`)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.datastructures import UploadFile
from litestar.params import JSONBody
from litestar.response import Redirect, Template
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.audit.service import Actor
from vistapass.platform.authz.permissions import requires
from vistapass.platform.console.context import console_context
from vistapass.platform.console.pages import Page
from vistapass.platform.http.exceptions import wants_html
from vistapass.platform.identity.principal import client_ip, resolve_principal
from vistapass.platform.models import Tenant
from vistapass.platform.storage import Storage
from vistapass.platform.tenancy.binding import after_commit, control_session, forget_tenant
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.park import settings_service as service
from vistapass.tenants.park.service import get_profile

# Room for a 1 MiB logo plus multipart framing; anything far bigger is cut off
# by Litestar before it is buffered, and the service refuses what is over 1 MiB.
LOGO_BODY_LIMIT = 4 * 1024 * 1024
LOGO_URL_SECONDS = 3600


def sync_registry_name(
    request: Request[Any, Any, Any], db_session: AsyncSession, slug: str, changed: dict[str, Any]
) -> None:
    """Copy a new display name to the registry (park lists, the park chooser).

    The park's own role cannot write the control plane, so this runs as the app,
    in its own transaction, once the park's change has committed.
    """
    if "display_name" not in changed:
        return

    async def copy() -> None:
        async with control_session(request.app.state.db) as session:
            await session.execute(
                update(Tenant)
                .where(Tenant.slug == slug)
                .values(display_name=changed["display_name"])
            )
        forget_tenant(slug)

    after_commit(db_session, copy)


async def _actor(request: Request[Any, Any, Any]) -> Actor:
    return Actor.of(await resolve_principal(request), client_ip(request))


def _logo_url(request: Request[Any, Any, Any], key: str | None) -> str | None:
    if not key:
        return None
    storage: Storage = request.app.state.storage
    return storage.signed_url(key, expires_in=LOGO_URL_SECONDS)


def _api_view(request: Request[Any, Any, Any], profile: Any, slug: str) -> dict[str, Any]:
    data = service.settings_dict(profile)
    data["slug"] = slug
    data["logo_url"] = _logo_url(request, profile.logo_key)
    data["updated_at"] = profile.updated_at.isoformat() if profile.updated_at else None
    return data


def _form_values(form: Any) -> dict[str, Any]:
    """A console form always sends every field; an unticked language is simply absent."""
    values: dict[str, Any] = {}
    for name in service.FIELDS:
        if name == "languages":
            values[name] = [v for v in form.getall("languages", []) if isinstance(v, str)]
        else:
            value = form.get(name, "")
            values[name] = value if isinstance(value, str) else ""
    return values


class ParkSettingsController(Controller):
    include_in_schema = False

    async def _page(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        slug: str,
        *,
        values: dict[str, Any] | None = None,
        errors: dict[str, dict[str, str]] | None = None,
        status_code: int = 200,
    ) -> Template:
        profile = await get_profile(db_session)
        principal = await resolve_principal(request)
        can_write = principal is not None and request.app.state.authorizer.allows(
            principal, slug, "settings:write"
        )
        context = await console_context(
            request,
            slug,
            profile.display_name,
            values=values or service.settings_dict(profile),
            errors=errors or {},
            can_write=can_write,
            logo_url=_logo_url(request, profile.logo_key),
            # The saved colour, never the submitted text: it goes into a style attribute.
            swatch=profile.brand_primary,
            time_zones=service.time_zones(),
            currencies=service.CURRENCIES,
            languages=service.LANGUAGES,
            saved=request.query_params.get("saved") == "1",
        )
        return Page("park/settings.html", context=context, status_code=status_code)

    @get("/console/settings", opt=requires("settings:read"))
    async def show(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template:
        return await self._page(request, db_session, tenant.slug)

    @post("/console/settings", opt=requires("settings:write"), status_code=303)
    async def save(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template | Redirect:
        values = _form_values(await request.form())
        try:
            changed = await service.update_settings(db_session, await _actor(request), values)
        except service.InvalidSettings as exc:
            if not wants_html(request):
                raise
            errors = {e["field"]: e for e in exc.details["errors"]}
            return await self._page(
                request, db_session, tenant.slug, values=values, errors=errors, status_code=422
            )
        sync_registry_name(request, db_session, tenant.slug, changed)
        return Redirect(f"/p/{tenant.slug}/console/settings?saved=1", status_code=303)

    @post(
        "/console/settings/logo",
        opt=requires("settings:write"),
        status_code=303,
        request_max_body_size=LOGO_BODY_LIMIT,
    )
    async def upload_logo(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template | Redirect:
        upload = (await request.form()).get("logo")
        try:
            if not isinstance(upload, UploadFile):
                raise service.InvalidLogo("Choose an image file to upload.")
            # One byte past the limit is enough to know it is too large.
            data = await upload.read(service.MAX_LOGO_BYTES + 1)
            await service.save_logo(
                db_session, request.app.state.storage, await _actor(request), data
            )
        except (service.InvalidLogo, service.LogoTooLarge) as exc:
            if not wants_html(request):
                raise
            error = {"field": "logo", "code": exc.code, "message": exc.message}
            return await self._page(
                request, db_session, tenant.slug, errors={"logo": error}, status_code=422
            )
        return Redirect(f"/p/{tenant.slug}/console/settings?saved=1", status_code=303)


class ParkSettingsApiController(Controller):
    path = "/api/v1/settings"
    tags = ["park"]

    @get("/", summary="The park's settings", opt=requires("settings:read"))
    async def read(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> dict[str, Any]:
        return _api_view(request, await get_profile(db_session), tenant.slug)

    @patch(
        "/",
        summary="Change some of the park's settings (audited)",
        opt=requires("settings:write"),
    )
    async def change(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        data: JSONBody[dict[str, Any]],
    ) -> dict[str, Any]:
        changed = await service.update_settings(db_session, await _actor(request), data)
        sync_registry_name(request, db_session, tenant.slug, changed)
        view = _api_view(request, await get_profile(db_session), tenant.slug)
        view["changed"] = sorted(changed)
        return view


SETTINGS_ROUTES = [ParkSettingsController, ParkSettingsApiController]
