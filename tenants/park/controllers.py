"""The park's home page (the booking site grows here) and its public profile API."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template

from vistapass.platform.authz.permissions import public
from vistapass.platform.console.pages import Page
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.park import service
from vistapass.tenants.park.schemas import ParkOut


class ParkController(Controller):
    tags = ["park"]

    @get("/", summary="The park's home page", include_in_schema=False, opt=public())
    async def home(self, db_session: TenantDbSession, tenant: CurrentTenant) -> Template:
        profile = await service.get_profile(db_session)
        return Page(
            template_name="park/home.html",
            context={"park": profile, "slug": tenant.slug},
        )

    @get("/api/v1/park", summary="The park's public profile", opt=public())
    async def profile(self, db_session: TenantDbSession, tenant: CurrentTenant) -> ParkOut:
        profile = await service.get_profile(db_session)
        return ParkOut(
            slug=tenant.slug,
            display_name=profile.display_name,
            time_zone=profile.time_zone,
            currency=profile.currency,
            default_locale=profile.default_locale,
        )
