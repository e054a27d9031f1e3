"""The window sale page, `/p/<slug>/console/window`, for cashiers.

The cashier picks a product, the date (today unless changed), a slot where
the product has slots, and the people; takes cash (with change) or a card
terminal payment; and gets the tickets to print or show. It sells through
`orders.service.place` on the `window` channel, the same path as
`POST /api/v1/window/sales`: same prices, places and real-name limits as
online. Each form carries its own idempotency key, so a double click, a
retried submit or the back button sells once.
"""

from __future__ import annotations

import secrets
from datetime import date
from functools import partial
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy import any_, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.authz.permissions import requires
from vistapass.platform.console.context import console_context
from vistapass.platform.console.i18n import current_language
from vistapass.platform.console.pages import Page
from vistapass.platform.errors import VistapassError
from vistapass.platform.identity.principal import resolve_principal
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.catalog.extras import money
from vistapass.tenants.catalog.quote import quote_basket
from vistapass.tenants.inventory.availability import availability
from vistapass.tenants.models import Product, ProductUnit
from vistapass.tenants.orders import idempotency
from vistapass.tenants.orders.context import local_now, selling_for
from vistapass.tenants.orders.service import OrderNotFound, load_order, place
from vistapass.tenants.orders.ticket_page import order_page_view
from vistapass.tenants.park.service import get_profile
from vistapass.tenants.visitors.documents import DOCUMENT_TYPES
from vistapass.tenants.window.forms import SaleForm, SaleFormError, parse_sale
from vistapass.tenants.window.messages import error_message

SELL = requires("window:sell")


async def window_products(session: AsyncSession) -> list[Product]:
    rows = await session.scalars(
        select(Product)
        .where(Product.status == "on_sale", literal("window") == any_(Product.channels))
        .order_by(Product.sort_order, Product.code)
    )
    return list(rows)


async def product_units(session: AsyncSession, product: Product) -> list[ProductUnit]:
    rows = await session.scalars(
        select(ProductUnit)
        .where(ProductUnit.product_id == product.id)
        .order_by(ProductUnit.sort_order, ProductUnit.unit)
    )
    return list(rows)


def _holder_rows(product: Product, values: dict[str, Any], people: int) -> list[dict[str, str]]:
    if not product.real_name_required:
        return []
    typed = list(values.get("holders") or [])
    wanted = max(people, 1)
    blank = {"name": "", "document_type": "cn_id", "document_number": ""}
    return (typed + [dict(blank) for _ in range(wanted)])[:wanted]


class WindowConsoleController(Controller):
    path = "/console/window"
    include_in_schema = False

    async def _page(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        slug: str,
        *,
        product_code: str = "",
        day: date | None = None,
        values: dict[str, Any] | None = None,
        quote: dict[str, Any] | None = None,
        error: VistapassError | None = None,
        key: str | None = None,
    ) -> Template:
        profile = await get_profile(session)
        language = current_language.get()
        english = language == "en"
        today = local_now(profile.time_zone).date()
        products = await window_products(session)
        product = next((p for p in products if p.code == product_code), None)
        if product is None and products:
            product = products[0]
        values = dict(values or {})
        day = day or today
        units: list[dict[str, Any]] = []
        slots: list[dict[str, Any]] = []
        day_state = None
        people = 0
        if product is not None:
            for unit in await product_units(session, product):
                quantity = values.get(f"qty_{unit.unit}", "")
                people += int(quantity) if str(quantity).isdigit() else 0
                units.append(
                    {
                        "unit": unit.unit,
                        "label": (unit.label_en if english else unit.label_zh) or unit.unit,
                        "eligibility": unit.eligibility_en if english else unit.eligibility_zh,
                        "quantity": quantity or "0",
                    }
                )
            answer = (await availability(session, selling_for(request.app.state), product, day, 1))[
                0
            ]
            day_state = answer.state
            slots = [
                {"code": s.code, "start": s.start, "end": s.end, "state": s.state, "left": s.left}
                for s in answer.slots
            ]
        status = error.status_code if error is not None else 200
        context = await console_context(
            request,
            slug,
            profile.display_name,
            products=[
                {"code": p.code, "name": (p.name_en if english else p.name_zh) or p.code}
                for p in products
            ],
            product=product,
            product_name=(product.name_en if english else product.name_zh) if product else "",
            units=units,
            slots=slots,
            day=day.isoformat(),
            today=today.isoformat(),
            day_state=day_state,
            values=values,
            holders=_holder_rows(product, values, people) if product else [],
            document_types=DOCUMENT_TYPES,
            quote=quote,
            error=error_message(error) if error is not None else None,
            error_field=(error.details.get("field") if error is not None else None),
            key=key or secrets.token_urlsafe(16),
            currency=profile.currency,
            api=f"/p/{slug}/api/v1",
        )
        return Page("window/window.html", context=context, status_code=status)

    @get("/", opt=SELL)
    async def index(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        product: FromQuery[str] = "",
        day: FromQuery[date | None] = None,
    ) -> Template:
        return await self._page(request, db_session, tenant.slug, product_code=product, day=day)

    async def _quote(
        self, session: AsyncSession, sale: SaleForm, today: date, currency: str
    ) -> dict[str, Any]:
        assert sale.day is not None
        _, _, quote, entitlements = await quote_basket(
            session,
            product_code=sale.product,
            visit_date=sale.day,
            slot=sale.slot,
            channel="window",
            lines=sale.lines(),
            today=today,
        )
        total = quote.total
        change = sale.tendered - total if sale.tendered is not None else None
        return {
            "total_minor": total,
            "total": money(total, currency),
            "tickets": len(entitlements),
            "change": money(change, currency) if change is not None and change >= 0 else None,
        }

    @post("/", opt=SELL, status_code=303)
    async def sell(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template | Redirect:
        form = await request.form()
        products = await window_products(db_session)
        product = next((p for p in products if p.code == form.get("product")), None)
        units = [u.unit for u in await product_units(db_session, product)] if product else []
        sale, problem = parse_sale(form, units)
        page = partial(
            self._page,
            request,
            db_session,
            tenant.slug,
            product_code=sale.product,
            day=sale.day,
            values=sale.values,
            key=sale.key or None,
        )
        if problem is not None:
            return await page(error=problem)
        profile = await get_profile(db_session)
        today = local_now(profile.time_zone).date()
        quote: dict[str, Any] | None = None
        try:
            quote = await self._quote(db_session, sale, today, profile.currency)
            if sale.action == "quote":
                return await page(quote=quote)
            if sale.tendered is not None and sale.tendered < quote["total_minor"]:
                raise SaleFormError(
                    "The cash received is less than the total.",
                    code="tendered_too_little",
                    details={"field": "tendered"},
                )
            principal = await resolve_principal(request)
            assert principal is not None  # the guard let a cashier through
            selling = selling_for(request.app.state)
            outcome = await idempotency.run_once(
                selling.db,
                tenant.slug,
                f"console window {principal.user_id}",
                sale.key or None,
                sale.fingerprint(),
                partial(
                    place,
                    selling,
                    tenant.slug,
                    sale.order_request(principal.user_id, current_language.get()),
                ),
            )
        except VistapassError as exc:
            if exc.status_code >= 500:
                raise
            return await page(error=exc, quote=quote)
        body = outcome.body if isinstance(outcome, idempotency.Replay) else outcome
        target = f"/p/{tenant.slug}/console/window/sales/{body['code']}"
        if sale.tendered is not None:
            target += f"?tendered={sale.tendered}"
        return Redirect(target, status_code=303)

    @get("/sales/{order_code:str}", opt=SELL)
    async def sale(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        order_code: FromPath[str],
        tendered: FromQuery[int | None] = None,
    ) -> Template:
        """The tickets of a window sale, ready to print or to show on the screen."""
        order = await load_order(db_session, order_code)
        if order.channel != "window":
            raise OrderNotFound(f"No window sale '{order_code}'.", details={"order": order_code})
        profile = await get_profile(db_session)
        language = current_language.get()
        view = await order_page_view(db_session, order, profile, language)
        change = None
        if tendered is not None and order.provider == "cash" and tendered >= order.total:
            change = money(tendered - order.total, order.currency)
        context = await console_context(
            request,
            tenant.slug,
            profile.display_name,
            order=view,
            provider=order.provider,
            tendered=money(tendered, order.currency) if change is not None else None,
            change=change,
        )
        return Page("window/sale.html", context=context)


WINDOW_ROUTES = [WindowConsoleController]
