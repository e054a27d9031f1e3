"""The catalogue in the console: the product list, one product's editor, the calendar."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect, Template

from vistapass.platform import pricing_registry
from vistapass.platform.authz.permissions import requires
from vistapass.platform.console.context import console_context
from vistapass.platform.console.i18n import current_language
from vistapass.platform.console.pages import Page
from vistapass.platform.errors import VistapassError
from vistapass.platform.http.exceptions import wants_html
from vistapass.platform.identity.principal import resolve_principal
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.calendar.service import day_info
from vistapass.tenants.catalog import extras, forms, hours, modes, service
from vistapass.tenants.catalog.api import request_actor
from vistapass.tenants.park.service import get_profile

READ = requires("catalog:read")
WRITE = requires("catalog:write")
UPCOMING_DAYS = 14
# Room for a 2 MiB image plus multipart framing; the service refuses what is over 2 MiB.
IMAGE_BODY_LIMIT = 4 * 1024 * 1024
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def field_error(exc: VistapassError) -> tuple[str, dict[str, str]]:
    field = exc.details.get("field") or "form"
    return str(field), {"code": exc.code, "message": exc.message}


async def page(
    request: Request[Any, Any, Any],
    db_session: TenantDbSession,
    slug: str,
    template: str,
    status_code: int = 200,
    **extra: Any,
) -> Template:
    profile = await get_profile(db_session)
    principal = await resolve_principal(request)
    can_write = principal is not None and request.app.state.authorizer.allows(
        principal, slug, "catalog:write"
    )
    context = await console_context(
        request,
        slug,
        profile.display_name,
        can_write=can_write,
        saved=request.query_params.get("saved") == "1",
        **extra,
    )
    return Page(template, context=context, status_code=status_code)


class CatalogConsoleController(Controller):
    path = "/console/catalog"
    include_in_schema = False

    async def _list(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        slug: str,
        *,
        values: dict[str, Any] | None = None,
        errors: dict[str, dict[str, str]] | None = None,
        status_code: int = 200,
    ) -> Template:
        installed = pricing_registry.pricing_modes()
        enabled = await modes.enabled_modes(db_session)
        english = current_language.get() == "en"
        choices = [
            {"key": key, "name": installed[key].name_en if english else installed[key].name_zh}
            for key, on in enabled.items()
            if on
        ]
        names = {c["key"]: c["name"] for c in choices}
        return await page(
            request,
            db_session,
            slug,
            "catalog/products.html",
            status_code,
            products=await service.list_products(db_session),
            modes=choices,
            mode_names=names,
            values=values or {},
            errors=errors or {},
        )

    @get("/", opt=READ)
    async def index(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template:
        return await self._list(request, db_session, tenant.slug)

    @post("/", opt=WRITE, status_code=303)
    async def create(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template | Redirect:
        form = await request.form()
        values = {n: forms.text_of(form, n) for n in ("code", "name_zh", "name_en", "pricing_mode")}
        try:
            product = await service.create_product(db_session, await request_actor(request), values)
        except VistapassError as exc:
            if not wants_html(request) or exc.status_code not in (409, 422):
                raise
            field, error = field_error(exc)
            return await self._list(
                request,
                db_session,
                tenant.slug,
                values=values,
                errors={field: error},
                status_code=exc.status_code,
            )
        return Redirect(f"/p/{tenant.slug}/console/catalog/{product.code}", status_code=303)

    async def _edit(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        slug: str,
        code: str,
        *,
        values: dict[str, Any] | None = None,
        submitted: Any = None,
        errors: dict[str, dict[str, str]] | None = None,
        config_errors: dict[str, str] | None = None,
        units: list[dict[str, Any]] | None = None,
        unit_error: dict[str, Any] | None = None,
        preview: dict[str, Any] | None = None,
        image_error: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        product = await service.get_product(db_session, code)
        image_url = extras.image_url(request.app.state.storage, product.image_key)
        installed = pricing_registry.pricing_modes()
        enabled = await modes.enabled_modes(db_session)
        lang = current_language.get()
        mode = installed.get(product.pricing_mode)
        config = forms.config_fields(mode, product.pricing_config, lang, submitted) if mode else []
        if units is None:
            units = [service.unit_dict(u) for u in await service.list_units(db_session, product)]
        choices = [
            {"key": k, "name": installed[k].name_en if lang == "en" else installed[k].name_zh}
            for k, on in enabled.items()
            if on or k == product.pricing_mode
        ]
        return await page(
            request,
            db_session,
            slug,
            "catalog/product.html",
            status_code,
            product=forms.form_product(product, values),
            modes=choices,
            config_fields=config,
            mode_installed=mode is not None,
            channels=service.CHANNELS,
            statuses=service.STATUSES,
            unit_keys=service.UNITS,
            unit_rows=forms.unit_rows(units),
            pool_choices=await service.pool_choices(db_session),
            errors=errors or {},
            config_errors=config_errors or {},
            unit_error=unit_error,
            image_url=image_url,
            image_error=image_error,
            preview=preview or {"values": {"channel": "web"}},
        )

    @get("/{code:str}", opt=READ)
    async def edit(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        code: FromPath[str],
    ) -> Template:
        return await self._edit(request, db_session, tenant.slug, code)

    @post("/{code:str}", opt=WRITE, status_code=303)
    async def save(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        code: FromPath[str],
    ) -> Template | Redirect:
        product = await service.get_product(db_session, code)
        form = await request.form()
        values = forms.product_values(form)
        mode = pricing_registry.pricing_modes().get(product.pricing_mode)
        # The config fields on the page belong to the stored mode; a new mode starts afresh.
        same_mode = values.get("pricing_mode", product.pricing_mode) == product.pricing_mode
        if mode is not None and same_mode:
            raw, parse_errors = forms.parse_config(mode, form)
            if parse_errors:
                if not wants_html(request):
                    field = next(iter(parse_errors))
                    raise service.CatalogError(
                        parse_errors[field], code="invalid_config", details={"field": field}
                    )
                return await self._edit(
                    request,
                    db_session,
                    tenant.slug,
                    code,
                    values=values,
                    submitted=form,
                    config_errors=parse_errors,
                    status_code=422,
                )
            values["pricing_config"] = raw
        try:
            await service.update_product(db_session, await request_actor(request), code, values)
        except VistapassError as exc:
            if not wants_html(request) or exc.status_code != 422:
                raise
            field, error = field_error(exc)
            is_config = "mode" in exc.details and field != "pricing_mode"
            return await self._edit(
                request,
                db_session,
                tenant.slug,
                code,
                values=values,
                submitted=form,
                errors={} if is_config else {field: error},
                config_errors={field: exc.message} if is_config else {},
                status_code=422,
            )
        return Redirect(f"/p/{tenant.slug}/console/catalog/{code}?saved=1", status_code=303)

    @post("/{code:str}/units", opt=WRITE, status_code=303)
    async def save_units(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        code: FromPath[str],
    ) -> Template | Redirect:
        units = forms.units_values(await request.form())
        try:
            await service.replace_units(db_session, await request_actor(request), code, units)
        except service.CatalogError as exc:
            if not wants_html(request):
                raise
            error = {"message": exc.message, **exc.details}
            return await self._edit(
                request,
                db_session,
                tenant.slug,
                code,
                units=units,
                unit_error=error,
                status_code=422,
            )
        return Redirect(f"/p/{tenant.slug}/console/catalog/{code}?saved=1", status_code=303)

    @post("/{code:str}/image", opt=WRITE, status_code=303, request_max_body_size=IMAGE_BODY_LIMIT)
    async def upload_image(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        code: FromPath[str],
    ) -> Template | Redirect:
        upload = (await request.form()).get("image")
        try:
            if not isinstance(upload, UploadFile):
                raise extras.InvalidImage("Choose an image file to upload.")
            # One byte past the limit is enough to know it is too large.
            data = await upload.read(extras.MAX_IMAGE_BYTES + 1)
            storage = request.app.state.storage
            actor = await request_actor(request)
            await extras.save_image(db_session, storage, actor, code, data)
        except (extras.InvalidImage, extras.ImageTooLarge) as exc:
            if not wants_html(request):
                raise
            error = {"code": exc.code, "message": exc.message}
            return await self._edit(
                request, db_session, tenant.slug, code, image_error=error, status_code=422
            )
        return Redirect(f"/p/{tenant.slug}/console/catalog/{code}?saved=1", status_code=303)

    @post("/{code:str}/preview", opt=READ, status_code=200)
    async def preview(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        code: FromPath[str],
    ) -> Template:
        product = await service.get_product(db_session, code)
        units = [u.unit for u in await service.list_units(db_session, product)]
        values = extras.preview_values(await request.form(), units)
        preview: dict[str, Any] = {"values": values}
        try:
            preview["quote"] = await extras.preview_quote(db_session, code, values, units)
        except VistapassError as exc:
            if not wants_html(request) or exc.status_code >= 500:
                raise
            preview["error"] = {"code": exc.code, "message": exc.message}
        status = 422 if "error" in preview else 200
        return await self._edit(
            request, db_session, tenant.slug, code, preview=preview, status_code=status
        )


class CalendarConsoleController(Controller):
    path = "/console/calendar"
    include_in_schema = False

    async def _page(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        slug: str,
        *,
        error: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        status_code: int = 200,
    ) -> Template:
        profile = await get_profile(db_session)
        today = datetime.now(ZoneInfo(profile.time_zone)).date()
        overrides = await hours.list_days(db_session, today)
        upcoming = []
        for offset in range(UPCOMING_DAYS):
            info = await day_info(db_session, today + timedelta(days=offset))
            upcoming.append(info)
        week = await hours.opening_hours(db_session)
        for day in week:
            day["name"] = WEEKDAYS[day["weekday"]]
        return await page(
            request,
            db_session,
            slug,
            "catalog/calendar.html",
            status_code,
            week=week,
            overrides=[hours.day_dict(d) for d in overrides],
            upcoming=upcoming,
            override_days={d.day for d in overrides},
            error=error,
            values=values or {},
        )

    @get("/", opt=READ)
    async def index(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template:
        return await self._page(request, db_session, tenant.slug)

    async def _answer(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        slug: str,
        exc: VistapassError,
        values: dict[str, Any] | None = None,
    ) -> Template:
        if not wants_html(request) or exc.status_code not in (404, 422):
            raise exc
        error = {"message": exc.message, "field": str(exc.details.get("field", ""))}
        return await self._page(
            request, db_session, slug, error=error, values=values, status_code=exc.status_code
        )

    @post("/hours", opt=WRITE, status_code=303)
    async def save_hours(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template | Redirect:
        form = await request.form()
        try:
            # An unticked box is simply absent, so a form without the times is not
            # this page's form: reading it as "closed all week" would be a guess.
            missing = [d for d in range(7) if f"wd-{d}-opens_at" not in form]
            if missing:
                raise hours.InvalidHours(
                    "Send the opening hours of every weekday.",
                    details={"field": f"wd-{missing[0]}-opens_at"},
                )
        except VistapassError as exc:
            return await self._answer(request, db_session, tenant.slug, exc)
        days = [
            {
                "weekday": weekday,
                "is_open": form.get(f"wd-{weekday}-open") == "on",
                "opens_at": forms.text_of(form, f"wd-{weekday}-opens_at"),
                "closes_at": forms.text_of(form, f"wd-{weekday}-closes_at"),
            }
            for weekday in range(7)
        ]
        try:
            await hours.set_opening_hours(db_session, await request_actor(request), days)
        except VistapassError as exc:
            return await self._answer(request, db_session, tenant.slug, exc)
        return Redirect(f"/p/{tenant.slug}/console/calendar?saved=1", status_code=303)

    @post("/days", opt=WRITE, status_code=303)
    async def save_day(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template | Redirect:
        form = await request.form()
        values = {
            n: forms.text_of(form, n) for n in ("day", "is_open", "opens_at", "closes_at", "kind")
        }
        values["note"] = forms.text_of(form, "note")
        data = {
            "is_open": {"open": True, "closed": False}.get(values["is_open"]),
            "opens_at": values["opens_at"],
            "closes_at": values["closes_at"],
            "kind": values["kind"],
            "note": values["note"],
        }
        try:
            await hours.set_day(db_session, await request_actor(request), values["day"], data)
        except VistapassError as exc:
            return await self._answer(request, db_session, tenant.slug, exc, values)
        return Redirect(f"/p/{tenant.slug}/console/calendar?saved=1", status_code=303)

    @post("/days/{day:str}/delete", opt=WRITE, status_code=303)
    async def delete_day(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        day: FromPath[str],
    ) -> Template | Redirect:
        try:
            await hours.delete_day(db_session, await request_actor(request), day)
        except VistapassError as exc:
            return await self._answer(request, db_session, tenant.slug, exc)
        return Redirect(f"/p/{tenant.slug}/console/calendar?saved=1", status_code=303)


CATALOG_ROUTES = [CatalogConsoleController, CalendarConsoleController]
