"""The park's home page (the booking site's front page) and its public profile API."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from vistapass.platform.authz.permissions import public
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.booking.controllers import home_page
from vistapass.tenants.park import service
from vistapass.tenants.park.schemas import ParkOut


class ParkController(Controller):
    tags = ["park"]

    @get("/", summary="The park's home page", include_in_schema=False, opt=public())
    async def home(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template:
        return await home_page(request, db_session, tenant.slug)

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
