"""The catalogue's JSON API (`/p/<slug>/api/v1/catalog/...`): products, units,
pricing modes, opening hours and calendar overrides."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import FromPath, JSONBody

from vistapass.platform.audit.service import Actor
from vistapass.platform.authz.permissions import requires
from vistapass.platform.identity.principal import client_ip, resolve_principal
from vistapass.platform.tenancy.dependencies import TenantDbSession
from vistapass.tenants.catalog import extras, hours, modes, service
from vistapass.tenants.models.catalog import Product

READ = requires("catalog:read")
WRITE = requires("catalog:write")


async def request_actor(request: Request[Any, Any, Any]) -> Actor:
    return Actor.of(await resolve_principal(request), client_ip(request))


async def product_view(
    request: Request[Any, Any, Any], db_session: TenantDbSession, product: Product
) -> dict[str, Any]:
    data = service.product_dict(product)
    data["image_url"] = extras.image_url(request.app.state.storage, product.image_key)
    data["units"] = [service.unit_dict(u) for u in await service.list_units(db_session, product)]
    return data


class CatalogApiController(Controller):
    path = "/api/v1/catalog"
    tags = ["catalog"]

    @get("/products", summary="Every product of the park", opt=READ)
    async def products(self, db_session: TenantDbSession) -> dict[str, Any]:
        items = await service.list_products(db_session)
        return {"items": [service.product_dict(p) for p in items]}

    @post("/products", summary="Create a product (audited)", opt=WRITE, status_code=201)
    async def create(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        data: JSONBody[dict[str, Any]],
    ) -> dict[str, Any]:
        product = await service.create_product(db_session, await request_actor(request), data)
        return await product_view(request, db_session, product)

    @get("/products/{code:str}", summary="One product with its units", opt=READ)
    async def product(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, code: FromPath[str]
    ) -> dict[str, Any]:
        return await product_view(request, db_session, await service.get_product(db_session, code))

    @patch("/products/{code:str}", summary="Change some of a product's fields (audited)", opt=WRITE)
    async def change(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        code: FromPath[str],
        data: JSONBody[dict[str, Any]],
    ) -> dict[str, Any]:
        changed = await service.update_product(db_session, await request_actor(request), code, data)
        view = await product_view(request, db_session, await service.get_product(db_session, code))
        view["changed"] = sorted(changed)
        return view

    @put("/products/{code:str}/units", summary="Replace a product's units (audited)", opt=WRITE)
    async def units(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        code: FromPath[str],
        data: JSONBody[dict[str, Any]],
    ) -> dict[str, Any]:
        await service.replace_units(
            db_session, await request_actor(request), code, data.get("units")
        )
        return await product_view(request, db_session, await service.get_product(db_session, code))

    @get("/pricing-modes", summary="Installed pricing modes and which are on", opt=READ)
    async def pricing_modes(self, db_session: TenantDbSession) -> dict[str, Any]:
        return {"items": await modes.list_modes(db_session)}

    @put("/pricing-modes", summary="Switch pricing modes on or off (audited)", opt=WRITE)
    async def set_pricing_modes(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        data: JSONBody[dict[str, Any]],
    ) -> dict[str, Any]:
        await modes.set_modes(db_session, await request_actor(request), data.get("modes"))
        return {"items": await modes.list_modes(db_session)}

    @get("/opening-hours", summary="The usual week (0 = Monday)", opt=READ)
    async def opening_hours(self, db_session: TenantDbSession) -> dict[str, Any]:
        return {"days": await hours.opening_hours(db_session)}

    @put("/opening-hours", summary="Change the usual week (audited)", opt=WRITE)
    async def set_opening_hours(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        data: JSONBody[dict[str, Any]],
    ) -> dict[str, Any]:
        await hours.set_opening_hours(db_session, await request_actor(request), data.get("days"))
        return {"days": await hours.opening_hours(db_session)}

    @get("/calendar", summary="The operator's overrides, by date", opt=READ)
    async def calendar(self, db_session: TenantDbSession) -> dict[str, Any]:
        return {"items": [hours.day_dict(d) for d in await hours.list_days(db_session)]}

    @get("/calendar/{day:str}", summary="The override for one date", opt=READ)
    async def calendar_day(self, db_session: TenantDbSession, day: FromPath[str]) -> dict[str, Any]:
        return hours.day_dict(await hours.get_day(db_session, day))

    @put("/calendar/{day:str}", summary="Set the override for one date (audited)", opt=WRITE)
    async def set_calendar_day(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        day: FromPath[str],
        data: JSONBody[dict[str, Any]],
    ) -> dict[str, Any]:
        row = await hours.set_day(db_session, await request_actor(request), day, data)
        return hours.day_dict(row)

    @delete(
        "/calendar/{day:str}",
        summary="Remove the override for one date (audited)",
        opt=WRITE,
        status_code=204,
    )
    async def delete_calendar_day(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, day: FromPath[str]
    ) -> None:
        await hours.delete_day(db_session, await request_actor(request), day)
