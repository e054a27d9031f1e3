"""`/console/capacity`: the park's shared pools and, per day, every limited bucket."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.authz.permissions import requires
from vistapass.platform.errors import VistapassError
from vistapass.platform.http.exceptions import wants_html
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.capacity import service
from vistapass.tenants.capacity.pools import list_pools
from vistapass.tenants.catalog.api import request_actor
from vistapass.tenants.catalog.controllers import page
from vistapass.tenants.orders.context import selling_for
from vistapass.tenants.park.service import get_profile

READ = requires("catalog:read")
WRITE = requires("catalog:write")
DEFAULT_DAYS = 7
WHOLE = re.compile(r"-?[0-9]{1,9}")
POOL_FIELDS = ("code", "name_zh", "name_en", "daily_capacity")


def pool_form(form: Any, *, new: bool) -> tuple[dict[str, str], dict[str, Any]]:
    """What was typed (to show again) and the values for the service to check."""
    typed = {}
    for name in POOL_FIELDS if new else POOL_FIELDS[1:]:
        value = form.get(name, "")
        typed[name] = value.strip() if isinstance(value, str) else ""
    data: dict[str, Any] = dict(typed)
    number = typed["daily_capacity"]
    # Text that is not a whole number stays text: the service refuses it, naming the field.
    data["daily_capacity"] = int(number) if WHOLE.fullmatch(number) else number
    return typed, data


def error_of(exc: VistapassError) -> dict[str, Any]:
    return {
        "field": str(exc.details.get("field") or "form"),
        "code": exc.code,
        "message": exc.message,
        "products": exc.details.get("products", []),
    }


async def _today(db_session: AsyncSession) -> date:
    profile = await get_profile(db_session)
    return datetime.now(ZoneInfo(profile.time_zone)).date()


def _parse_day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise service.InvalidRange(
            "Dates look like 2026-05-01.", details={"field": field}
        ) from None


class CapacityConsoleController(Controller):
    path = "/console/capacity"
    include_in_schema = False

    async def _index(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        slug: str,
        *,
        values: dict[str, str] | None = None,
        error: dict[str, Any] | None = None,
        status_code: int = 200,
    ) -> Template:
        today = await _today(db_session)
        typed_from = request.query_params.get("from") or today.isoformat()
        typed_to = request.query_params.get("to") or ""
        range_error = None
        days: list[service.BucketDay] = []
        try:
            first = _parse_day(typed_from, "from")
            last = (
                _parse_day(typed_to, "to") if typed_to else first + timedelta(days=DEFAULT_DAYS - 1)
            )
            typed_to = typed_to or last.isoformat()
            days = await service.bucket_days(db_session, first, last)
        except service.InvalidRange as exc:
            range_error = error_of(exc)
            status_code = max(status_code, 422)
        return await page(
            request,
            db_session,
            slug,
            "capacity/capacity.html",
            status_code,
            pools=await list_pools(db_session),
            users=await service.pool_users(db_session),
            values=values or {},
            error=error,
            range={"from": typed_from, "to": typed_to},
            range_error=range_error,
            max_days=service.MAX_RANGE_DAYS,
            days=days,
            deleted=request.query_params.get("deleted") == "1",
        )

    async def _pool_page(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        slug: str,
        code: str,
        *,
        values: dict[str, str] | None = None,
        error: dict[str, Any] | None = None,
        status_code: int = 200,
    ) -> Template:
        pool = await service.get_pool(db_session, code)
        shown = {k: str(v) for k, v in service.pool_dict(pool).items()}
        shown.update(values or {})
        return await page(
            request,
            db_session,
            slug,
            "capacity/pool.html",
            status_code,
            pool=pool,
            values=shown,
            users=(await service.pool_users(db_session)).get(code, []),
            error=error,
        )

    @get("/", opt=READ)
    async def index(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template:
        return await self._index(request, db_session, tenant.slug)

    @post("/pools", opt=WRITE, status_code=303)
    async def create(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template | Redirect:
        typed, data = pool_form(await request.form(), new=True)
        try:
            await service.create_pool(db_session, await request_actor(request), data)
        except VistapassError as exc:
            if not wants_html(request) or exc.status_code not in (409, 422):
                raise
            return await self._index(
                request,
                db_session,
                tenant.slug,
                values=typed,
                error=error_of(exc),
                status_code=exc.status_code,
            )
        selling = selling_for(request.app.state)
        service.forget_availability(db_session, selling, await _today(db_session))
        return Redirect(f"/p/{tenant.slug}/console/capacity?saved=1", status_code=303)

    @get("/pools/{pool_code:str}", opt=READ)
    async def show(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        pool_code: FromPath[str],
    ) -> Template:
        return await self._pool_page(request, db_session, tenant.slug, pool_code)

    @post("/pools/{pool_code:str}", opt=WRITE, status_code=303)
    async def save(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        pool_code: FromPath[str],
    ) -> Template | Redirect:
        typed, data = pool_form(await request.form(), new=False)
        try:
            await service.update_pool(db_session, await request_actor(request), pool_code, data)
        except VistapassError as exc:
            if not wants_html(request) or exc.status_code != 422:
                raise
            return await self._pool_page(
                request,
                db_session,
                tenant.slug,
                pool_code,
                values=typed,
                error=error_of(exc),
                status_code=exc.status_code,
            )
        selling = selling_for(request.app.state)
        service.forget_availability(db_session, selling, await _today(db_session))
        return Redirect(
            f"/p/{tenant.slug}/console/capacity/pools/{pool_code}?saved=1", status_code=303
        )

    @post("/pools/{pool_code:str}/delete", opt=WRITE, status_code=303)
    async def delete(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        pool_code: FromPath[str],
    ) -> Template | Redirect:
        try:
            await service.delete_pool(db_session, await request_actor(request), pool_code)
        except service.PoolInUse as exc:
            if not wants_html(request):
                raise
            return await self._pool_page(
                request, db_session, tenant.slug, pool_code, error=error_of(exc), status_code=409
            )
        return Redirect(f"/p/{tenant.slug}/console/capacity?deleted=1", status_code=303)


CAPACITY_ROUTES = [CapacityConsoleController]
