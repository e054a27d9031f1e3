"""Step 3: pay for the held order, then on to its e-ticket page (the confirmation).

With Stripe connected the page mounts Stripe's Payment Element (card, WeChat Pay,
Alipay) for the order's PaymentIntent; without it, outside production, a clearly
labelled test payment settles the order the way `POST orders/<code>/payment`
does for `test`. A payment that fails or is abandoned leaves the order pending
until its hold ends; after that the page offers step 1 again with the same choice.
"""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.authz.permissions import public
from vistapass.platform.console.pages import Page
from vistapass.platform.errors import VistapassError
from vistapass.platform.models.base import utcnow
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.booking import offer
from vistapass.tenants.booking.checkout import stripe_publishable_key
from vistapass.tenants.booking.messages import error_text, explain
from vistapass.tenants.booking.selection import from_order_lines
from vistapass.tenants.booking.site import frame_from, page_headers, see_other
from vistapass.tenants.catalog.extras import money
from vistapass.tenants.inventory.service import product_slots
from vistapass.tenants.models import Order, Product
from vistapass.tenants.orders.context import selling_for
from vistapass.tenants.orders.payment import PAID_STATES, pay_in_test
from vistapass.tenants.orders.service import (
    OrderNotFound,
    is_expired,
    load_buyer_order,
    load_order,
)
from vistapass.tenants.orders.stripe_payments import start_stripe_payment
from vistapass.tenants.park.service import get_profile
from vistapass.tenants.payments.stripe_gateway import PaymentProviderError

Token = Annotated[str | None, QueryParameter(name="t")]


async def buyer_order(session: AsyncSession, code: str, token: str | None) -> Order | None:
    """The order whose link the visitor holds; a wrong token is as good as no order."""
    try:
        return await load_buyer_order(session, code, token)
    except OrderNotFound:
        return None


def order_missing(context: dict[str, Any]) -> Template:
    return Page(
        "booking/order_missing.html",
        context=context,
        status_code=404,
        headers=page_headers(private=True),
    )


def ticket_page_url(base: str, order: Order) -> str:
    return f"{base}/orders/{order.code}?t={order.access_token}"


def calendar_url(base: str, order: Order) -> str:
    return f"{base}/orders/{order.code}/calendar.ics?t={order.access_token}"


async def order_summary(
    session: AsyncSession, order: Order, context: dict[str, Any]
) -> tuple[Product | None, dict[str, Any]]:
    """The order as it was sold (its stored quote), in the visitor's words."""
    english = context["english"]
    product = await session.get(Product, order.product_id)
    units = await offer.units_of(session, product) if product else []
    labels = offer.unit_labels(units, english)
    slot = order.slot
    if product is not None:
        slot = next(
            (f"{s.start}–{s.end}" for s in product_slots(product) if s.code == order.slot),
            order.slot,
        )
    lines = [
        {
            "label": labels.get(str(line.get("unit")), str(line.get("unit"))),
            "quantity": line.get("quantity"),
            "total": money(int(line.get("total") or 0), order.currency),
        }
        for line in (order.quote or {}).get("lines", [])
    ]
    return product, {
        "code": order.code,
        "product_name": offer.product_name(product, english) if product else order.product_code,
        "day_label": offer.day_label(order.visit_date, context["lang"], "full"),
        "slot_label": slot,
        "lines": lines,
        "tickets": order.places,
        "total": money(order.total, order.currency),
        "email": order.contact_email,
    }


def _absolute(request: Request[Any, Any, Any], path: str) -> str:
    return f"{request.url.scheme}://{request.url.netloc}{path}"


@get("/buy/pay/{code:str}", opt=public(), include_in_schema=False)
async def pay_page(
    request: Request[Any, Any, Any],
    db_session: TenantDbSession,
    tenant: CurrentTenant,
    code: FromPath[str],
    token: Token = None,
) -> Template | Redirect:
    """Step 3 of 3: the order, the hold's countdown and the way to pay."""
    profile = await get_profile(db_session)
    context = frame_from(request, profile, tenant.slug)
    order = await buyer_order(db_session, code, token)
    if order is None:
        return order_missing(context)
    base = context["base"]
    if order.status in PAID_STATES:
        return see_other(ticket_page_url(base, order))
    product, summary = await order_summary(db_session, order, context)
    page: dict[str, Any] = {
        **context,
        "order": summary,
        "ended": order.status in ("expired", "cancelled") or is_expired(order),
        "again": request.query_params.get("again") == "1",
        "calendar_url": calendar_url(base, order),
        "action": f"{base}/buy/pay/{order.code}?t={order.access_token}",
        "provider": order.provider,
        "error": None,
        "stripe": None,
    }
    if page["ended"]:
        if product is not None:
            units = [u.unit for u in await offer.units_of(db_session, product)]
            again = from_order_lines(
                product, units, order.visit_date, order.slot, (order.quote or {}).get("lines", [])
            )
            page["retry_url"] = f"{base}/buy/{product.code}?{again.query()}"
        return Page("booking/pay.html", context=page, headers=page_headers(private=True))
    if order.expires_at is not None:
        page["seconds_left"] = max(0, int((order.expires_at - utcnow()).total_seconds()))
        local = order.expires_at.astimezone(ZoneInfo(profile.time_zone))
        page["hold_until"] = f"{local:%H:%M}"
    returned = request.query_params.get("redirect_status")
    if returned == "failed":
        page["error"] = error_text("payment_failed", {}, "")
    page["processing"] = returned in ("succeeded", "processing")
    if order.provider == "stripe":
        try:
            started = await start_stripe_payment(
                selling_for(request.app.state), tenant.slug, order.code
            )
        except PaymentProviderError:
            # Stripe's own codes and English words mean nothing to a visitor.
            page["error"] = error_text("payment_provider_error", {}, "")
        except VistapassError as exc:
            page["error"] = explain(exc)
        else:
            page["stripe"] = {
                "publishableKey": stripe_publishable_key(selling_for(request.app.state)),
                "clientSecret": started["client_secret"],
                "stripeAccount": started["stripe_account"],
                # Stripe sends the buyer back here (wallets and 3-D Secure leave the page).
                "returnUrl": _absolute(request, page["action"]),
                "locale": "zh" if context["lang"] == "zh-CN" else "en",
            }
    return Page(
        "booking/pay.html",
        context=page,
        headers=page_headers(private=True, stripe=page["stripe"] is not None),
    )


@post("/buy/pay/{code:str}", opt=public(), include_in_schema=False)
async def test_payment(
    request: Request[Any, Any, Any],
    tenant_slug: FromPath[str],
    code: FromPath[str],
    token: Token = None,
) -> Template | Redirect:
    """The development-only payment: settles the order at once, no money moves."""
    selling = selling_for(request.app.state)
    async with tenant_session(selling.db, tenant_slug) as session:
        profile = await get_profile(session)
        context = frame_from(request, profile, tenant_slug)
        order = await buyer_order(session, code, token)
        if order is None:
            return order_missing(context)
        base = context["base"]
        payable = (
            order.provider == "test"
            and not selling.settings.is_production
            and order.status == "pending"
            and not is_expired(order)
        )
        if payable:
            locked = await load_order(session, order.code, for_update=True)
            await pay_in_test(session, selling, locked)
        paid = order.status in PAID_STATES
        ticket_url = ticket_page_url(base, order)
        pay_url = f"{base}/buy/pay/{order.code}?t={order.access_token}"
    # Paid (now or by an earlier tap): the tickets. Otherwise the payment page says why.
    return see_other(ticket_url if paid else pay_url)


PAY_ROUTES = [pay_page, test_payment]
