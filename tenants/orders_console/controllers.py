"""`/console/orders`: the order list, one order (refund, cancel) and the day's report."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.authz.permissions import requires
from vistapass.platform.console.context import console_context
from vistapass.platform.console.pages import Page
from vistapass.platform.errors import VistapassError
from vistapass.platform.http.exceptions import wants_html
from vistapass.platform.identity.principal import resolve_principal
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.catalog.api import request_actor
from vistapass.tenants.catalog.extras import money
from vistapass.tenants.ledger.service import daily_report
from vistapass.tenants.orders.context import selling_for
from vistapass.tenants.orders.outside_refunds import owed_outside, staff_outside_refund
from vistapass.tenants.orders.service import OrderNotFound, load_order
from vistapass.tenants.orders_console import actions, queries
from vistapass.tenants.park.service import get_profile

READ = requires("orders:read")
REFUND = requires("orders:refund")
REPORTS = requires("reports:read")
CHECKS = {
    "paid_orders_equal_ledger_sales": "The day's paid orders equal the ledger's sales.",
    "ledger_refunds_equal_provider_refunds": "The ledger's refunds equal the providers' refunds.",
    "ledger_equals_payouts": "The ledger's net per provider equals each provider's payout.",
}


async def _page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    slug: str,
    template: str,
    status_code: int = 200,
    **extra: Any,
) -> Template:
    profile = await get_profile(db_session)
    principal = await resolve_principal(request)
    authorizer = request.app.state.authorizer

    def may(permission: str) -> bool:
        return principal is not None and authorizer.allows(principal, slug, permission)

    context = await console_context(
        request,
        slug,
        profile.display_name,
        can_refund=may("orders:refund"),
        can_report=may("reports:read"),
        time_zone=profile.time_zone,
        **extra,
    )
    return Page(template, context=context, status_code=status_code)


async def _today(db_session: AsyncSession) -> date:
    profile = await get_profile(db_session)
    return datetime.now(ZoneInfo(profile.time_zone)).date()


class OrdersConsoleController(Controller):
    path = "/console/orders"
    include_in_schema = False

    async def _list(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        slug: str,
        *,
        error: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        profile = await get_profile(db_session)
        params = dict(request.query_params)
        try:
            found = queries.parse_filter(params)
        except queries.InvalidFilter as exc:
            error = {"field": str(exc.details.get("field", "")), "message": exc.message}
            found = queries.OrderFilter(
                typed={k: str(v)[: queries.MAX_SEARCH] for k, v in params.items()}
            )
            rows, more = [], False
            status_code = 422
        else:
            rows, more = await queries.search_orders(db_session, found, profile.time_zone)
        base = f"/p/{slug}/console/orders"
        older = f"{base}?{urlencode(found.query(page=found.page + 1))}" if more else None
        newer = None
        if found.page > 1:
            newer = f"{base}?{urlencode(found.query(page=found.page - 1))}"
        return await _page(
            request,
            db_session,
            slug,
            "orders_console/orders.html",
            status_code,
            orders=rows,
            typed=found.typed,
            error=error,
            products=await queries.product_names(db_session),
            statuses=queries.STATUSES,
            channels=queries.CHANNELS,
            older_url=older,
            newer_url=newer,
            page_number=found.page,
        )

    @get("/", opt=READ)
    async def index(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template:
        return await self._list(request, db_session, tenant.slug)

    @get("/day", opt=REPORTS)
    async def day(
        self, request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
    ) -> Template:
        profile = await get_profile(db_session)
        typed = (request.query_params.get("date") or "").strip()[:40]
        try:
            day = date.fromisoformat(typed) if typed else await _today(db_session)
        except ValueError:
            return await _page(
                request,
                db_session,
                tenant.slug,
                "orders_console/day.html",
                422,
                typed=typed,
                error="Dates look like 2026-05-01.",
                report=None,
            )
        report = await daily_report(db_session, day, profile.currency)

        def cash(amount: Any) -> str:
            return money(int(amount), report.currency)

        return await _page(
            request,
            db_session,
            tenant.slug,
            "orders_console/day.html",
            typed=day.isoformat(),
            error=None,
            report=report,
            totals={
                "paid_orders": report.paid_orders,
                "paid_orders_total": cash(report.paid_orders_total),
                "refunds_total": cash(report.refunds_total),
            },
            ledger=[{**line, "amount": cash(line["amount"])} for line in report.ledger],
            payouts=[
                {
                    "provider": p["provider"],
                    **{k: cash(p[k]) for k in ("charges", "refunds", "fees", "net")},
                }
                for p in report.payouts
            ],
            checks=[(CHECKS.get(name, name), ok) for name, ok in report.checks.items()],
            previous_day=(day - timedelta(days=1)).isoformat(),
            next_day=(day + timedelta(days=1)).isoformat(),
        )

    async def _order(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        slug: str,
        code: str,
        *,
        error: dict[str, Any] | None = None,
        status_code: int = 200,
    ) -> Template:
        profile = await get_profile(db_session)
        try:
            order = await load_order(db_session, code)
        except OrderNotFound:
            if not wants_html(request):
                raise
            return await self._list(
                request,
                db_session,
                slug,
                error={"field": "order", "message": "No order has this code."},
                status_code=404,
            )
        names = await queries.product_names(db_session)
        detail = await queries.order_detail(db_session, order, profile.time_zone)
        owed = await owed_outside(db_session, order)
        return await _page(
            request,
            db_session,
            slug,
            "orders_console/order.html",
            status_code,
            order=detail,
            product_name=names.get(order.product_code),
            refundable=order.status in ("paid", "partially_refunded"),
            cancellable=order.status == "pending",
            owed=money(owed, order.currency) if owed else "",
            owed_amount=f"{owed // 100}.{owed % 100:02d}",
            error=error,
            done=request.query_params.get("done", ""),
        )

    async def _refused(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        slug: str,
        code: str,
        exc: VistapassError,
        action: str,
        typed: dict[str, Any] | None = None,
    ) -> Template:
        """The order's page again, saying why `action` was refused and keeping what was
        typed; anything but a 422 to a person goes to the error handlers."""
        if not wants_html(request) or exc.status_code != 422:
            raise exc
        error = {"action": action, "code": exc.code, "message": actions.message_of(exc)}
        if typed is not None:
            error |= {"field": str(exc.details.get("field", "")), "typed": typed}
        return await self._order(request, db_session, slug, code, error=error, status_code=422)

    @get("/{order_code:str}", opt=READ)
    async def show(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        order_code: FromPath[str],
    ) -> Template:
        return await self._order(request, db_session, tenant.slug, order_code)

    @post("/{order_code:str}/refund", opt=REFUND, status_code=303)
    async def refund(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        order_code: FromPath[str],
    ) -> Template | Redirect:
        form = await request.form()
        selling = selling_for(request.app.state)
        try:
            # A savepoint: a refused refund leaves nothing behind, and the page
            # that says so is still read inside the park-bound transaction.
            async with db_session.begin_nested():
                asked = actions.read_refund_form(form)
                actor = await request_actor(request)
                result = await actions.staff_refund(db_session, selling, actor, order_code, asked)
        except VistapassError as exc:
            typed = actions.typed_refund(form)
            return await self._refused(
                request, db_session, tenant.slug, order_code, exc, "refund", typed
            )
        target = f"/p/{tenant.slug}/console/orders/{result.order.code}?done=refund"
        return Redirect(target, status_code=303)

    @post("/{order_code:str}/outside-refund", opt=REFUND, status_code=303)
    async def outside_refund(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        order_code: FromPath[str],
    ) -> Template | Redirect:
        form = await request.form()
        try:
            async with db_session.begin_nested():
                asked = actions.read_outside_refund_form(form)
                actor = await request_actor(request)
                order, _ = await staff_outside_refund(
                    db_session,
                    actor,
                    order_code,
                    amount=asked.amount,
                    method=asked.method,
                    reference=asked.reference,
                )
        except VistapassError as exc:
            typed = actions.typed_outside_refund(form)
            return await self._refused(
                request, db_session, tenant.slug, order_code, exc, "outside_refund", typed
            )
        target = f"/p/{tenant.slug}/console/orders/{order.code}?done=outside_refund"
        return Redirect(target, status_code=303)

    @post("/{order_code:str}/cancel", opt=REFUND, status_code=303)
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        db_session: TenantDbSession,
        tenant: CurrentTenant,
        order_code: FromPath[str],
    ) -> Template | Redirect:
        selling = selling_for(request.app.state)
        try:
            async with db_session.begin_nested():
                actor = await request_actor(request)
                await actions.staff_cancel(db_session, selling, actor, order_code)
        except VistapassError as exc:
            return await self._refused(request, db_session, tenant.slug, order_code, exc, "cancel")
        target = f"/p/{tenant.slug}/console/orders/{order_code.strip().upper()}?done=cancel"
        return Redirect(target, status_code=303)


ORDERS_CONSOLE_ROUTES = [OrdersConsoleController]
