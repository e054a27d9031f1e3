"""The order API under `/p/<slug>/api/v1/`: buy, pay, look up, cancel, refund.

Handlers stay thin: they turn bodies into service requests and answers into
JSON. Writes open their own transactions (see `service.place_order`), so an
idempotent replay, a sold-out retry and the order itself are separate steps.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from vistapass.platform.authz.permissions import public, requires
from vistapass.platform.identity.principal import resolve_principal
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.catalog.api import request_actor
from vistapass.tenants.catalog.membership import MEMBER_COOKIE
from vistapass.tenants.catalog.quote import load_product_on_sale
from vistapass.tenants.inventory.availability import availability
from vistapass.tenants.models import Order
from vistapass.tenants.orders import idempotency
from vistapass.tenants.orders.context import Selling, selling_for
from vistapass.tenants.orders.intake import (
    IDEMPOTENCY_HEADER,
    REPLAYED,
    WEB_ORDER_SCOPE,
    basket_lines,
    holders_of,
    take_order,
    web_order_request,
)
from vistapass.tenants.orders.outside_refunds import staff_outside_refund
from vistapass.tenants.orders.payment import pay_in_test
from vistapass.tenants.orders.refunds import refund_order
from vistapass.tenants.orders.release import cancel_order
from vistapass.tenants.orders.schemas import OrderIn, OutsideRefundIn, RefundIn, WindowSaleIn
from vistapass.tenants.orders.service import (
    Buyer,
    OrderError,
    OrderRequest,
    load_buyer_order,
    load_order,
)
from vistapass.tenants.orders.stripe_payments import start_stripe_payment
from vistapass.tenants.orders.views import order_view
from vistapass.tenants.park.service import get_profile


async def _place(
    request: Request[Any, Any, Any],
    selling: Selling,
    slug: str,
    order_request: OrderRequest,
    scope: str,
    raw: Any,
) -> Response[Any]:
    """Place the order, honouring an Idempotency-Key when the client sent one."""
    outcome = await take_order(
        selling,
        slug,
        order_request,
        scope=scope,
        key=request.headers.get(IDEMPOTENCY_HEADER),
        payload=raw,
    )
    if isinstance(outcome, idempotency.Replay):
        return Response(outcome.body, status_code=outcome.status, headers=REPLAYED)
    return Response(outcome, status_code=201)


async def _buyer_order(selling: Selling, slug: str, code: str, token: str | None) -> Order:
    async with tenant_session(selling.db, slug) as session:
        return await load_buyer_order(session, code, token)


class OrderController(Controller):
    path = "/api/v1"
    tags = ["orders"]

    @get("/availability", summary="Available, limited, sold out or closed, per day", opt=public())
    async def availability(
        self,
        request: Request[Any, Any, Any],
        tenant_slug: FromPath[str],
        product: FromQuery[str],
        start: Annotated[date, QueryParameter(name="from")],
        days: Annotated[int, QueryParameter(ge=1, le=62)] = 14,
    ) -> dict[str, Any]:
        selling = selling_for(request.app.state)
        async with tenant_session(selling.db, tenant_slug) as session:
            item = await load_product_on_sale(session, product)
            answers = await availability(session, selling, item, start, days)
        return {
            "product": product,
            "days": [
                {
                    "date": day.date,
                    "state": day.state,
                    "left": day.left,
                    "slots": [
                        {
                            "code": s.code,
                            "start": s.start,
                            "end": s.end,
                            "state": s.state,
                            "left": s.left,
                        }
                        for s in day.slots
                    ],
                }
                for day in answers
            ],
        }

    @post("/orders", summary="Place an order (send an Idempotency-Key)", opt=public())
    async def create(
        self, request: Request[Any, Any, Any], tenant_slug: FromPath[str], data: JSONBody[OrderIn]
    ) -> Response[Any]:
        selling = selling_for(request.app.state)
        member_cookie = request.cookies.get(MEMBER_COOKIE)
        order_request = web_order_request(selling, tenant_slug, data, member_cookie)
        raw = await request.json()
        return await _place(request, selling, tenant_slug, order_request, WEB_ORDER_SCOPE, raw)

    @post(
        "/window/sales",
        summary="Sell at the window, paid in cash or on the card terminal",
        opt=requires("window:sell"),
    )
    async def window_sale(
        self,
        request: Request[Any, Any, Any],
        tenant_slug: FromPath[str],
        data: JSONBody[WindowSaleIn],
    ) -> Response[Any]:
        selling = selling_for(request.app.state)
        principal = await resolve_principal(request)
        assert principal is not None  # the guard let a cashier through
        order_request = OrderRequest(
            product=data.product,
            visit_date=data.date,
            slot=data.slot,
            channel="window",
            lines=basket_lines(data),
            buyer=Buyer(data.contact.name, data.contact.email, data.contact.phone),
            provider=data.payment,
            holders=holders_of(data),
            sold_by=principal.user_id,
            note=data.note,
            renewal_of=data.renewal_of,
        )
        raw = await request.json()
        scope = f"POST /window/sales {principal.user_id}"
        return await _place(request, selling, tenant_slug, order_request, scope, raw)

    @get("/orders/{code:str}", summary="An order, for the holder of its link", opt=public())
    async def show(
        self,
        request: Request[Any, Any, Any],
        tenant_slug: FromPath[str],
        code: FromPath[str],
        token: Annotated[str | None, QueryParameter(name="t")] = None,
    ) -> dict[str, Any]:
        selling = selling_for(request.app.state)
        order = await _buyer_order(selling, tenant_slug, code, token)
        async with tenant_session(selling.db, tenant_slug) as session:
            return await order_view(session, await load_order(session, order.code))

    @post(
        "/orders/{code:str}/payment",
        summary="Start or complete payment",
        opt=public(),
        status_code=200,
    )
    async def pay(
        self,
        request: Request[Any, Any, Any],
        tenant_slug: FromPath[str],
        code: FromPath[str],
        token: Annotated[str | None, QueryParameter(name="t")] = None,
    ) -> dict[str, Any]:
        selling = selling_for(request.app.state)
        order = await _buyer_order(selling, tenant_slug, code, token)
        if order.provider == "stripe":
            return await start_stripe_payment(selling, tenant_slug, order.code)
        if order.status == "cancelled":
            raise OrderError(
                "This order was cancelled; place a new one.",
                code="order_not_payable",
                details={"status": order.status},
            )
        if order.provider != "test" or selling.settings.is_production:
            raise OrderError(
                "This order is not paid online.",
                code="payment_method_unavailable",
                details={"provider": order.provider},
            )
        async with tenant_session(selling.db, tenant_slug) as session:
            locked = await load_order(session, order.code, for_update=True)
            outcome = await pay_in_test(session, selling, locked)
            view = await order_view(session, locked)
            return {"outcome": outcome, "order": view}

    @post(
        "/orders/{code:str}/cancel",
        summary="Give up an unpaid order",
        opt=public(),
        status_code=200,
    )
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        tenant_slug: FromPath[str],
        code: FromPath[str],
        token: Annotated[str | None, QueryParameter(name="t")] = None,
    ) -> dict[str, Any]:
        selling = selling_for(request.app.state)
        order = await _buyer_order(selling, tenant_slug, code, token)
        async with tenant_session(selling.db, tenant_slug) as session:
            locked = await load_order(session, order.code, for_update=True)
            return await order_view(session, await cancel_order(session, selling, locked))

    @post(
        "/orders/{code:str}/refunds",
        summary="Refund tickets within policy",
        opt=public(),
        status_code=200,
    )
    async def buyer_refund(
        self,
        request: Request[Any, Any, Any],
        tenant_slug: FromPath[str],
        code: FromPath[str],
        data: JSONBody[RefundIn],
        token: Annotated[str | None, QueryParameter(name="t")] = None,
    ) -> dict[str, Any]:
        selling = selling_for(request.app.state)
        order = await _buyer_order(selling, tenant_slug, code, token)
        return await _refund(selling, tenant_slug, order.code, data, by_staff=False)

    @post(
        "/staff/orders/{code:str}/refunds",
        summary="Refund tickets as staff (full share, any time)",
        opt=requires("orders:refund"),
        status_code=200,
    )
    async def staff_refund(
        self,
        request: Request[Any, Any, Any],
        tenant_slug: FromPath[str],
        code: FromPath[str],
        data: JSONBody[RefundIn],
    ) -> dict[str, Any]:
        selling = selling_for(request.app.state)
        return await _refund(selling, tenant_slug, code, data, by_staff=True)

    @post(
        "/staff/orders/{code:str}/outside-refunds",
        summary="Record a refund paid another way (cash, bank transfer) after a failed one",
        opt=requires("orders:refund"),
        status_code=200,
    )
    async def staff_outside_refund(
        self,
        request: Request[Any, Any, Any],
        tenant_slug: FromPath[str],
        code: FromPath[str],
        data: JSONBody[OutsideRefundIn],
    ) -> dict[str, Any]:
        selling = selling_for(request.app.state)
        actor = await request_actor(request)
        async with tenant_session(selling.db, tenant_slug) as session:
            order, owed = await staff_outside_refund(
                session,
                actor,
                code,
                amount=data.amount,
                method=data.method,
                reference=data.reference,
            )
            view = await order_view(session, order)
        view.pop("token")
        return {"recorded": data.amount, "owed": owed, "order": view}

    @get("/staff/orders/{code:str}", summary="Any order, for staff", opt=requires("orders:read"))
    async def staff_show(
        self, request: Request[Any, Any, Any], tenant_slug: FromPath[str], code: FromPath[str]
    ) -> dict[str, Any]:
        selling = selling_for(request.app.state)
        async with tenant_session(selling.db, tenant_slug) as session:
            view = await order_view(session, await load_order(session, code))
        view.pop("token")  # the buyer's secret stays the buyer's
        return view


async def _refund(
    selling: Selling, slug: str, code: str, data: RefundIn, *, by_staff: bool
) -> dict[str, Any]:
    async with tenant_session(selling.db, slug) as session:
        order = await load_order(session, code)
        profile = await get_profile(session)
        result = await refund_order(
            session,
            selling,
            order,
            ticket_ids=data.tickets,
            by_staff=by_staff,
            time_zone=profile.time_zone,
            business_date=datetime.now(ZoneInfo(profile.time_zone)).date(),
            reason=data.reason,
        )
        view = await order_view(session, result.order)
        if by_staff:
            view.pop("token")
        return {"refunded": result.amount, "order": view}


ORDER_ROUTES = [OrderController]
