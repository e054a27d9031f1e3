"""After buying: find an order again, add the visit to a calendar, ask for a refund.

"Find my order" trades an e-mail address and an order code for the order's link.
A wrong pair gets one answer whatever was wrong, and each client address has a
few tries per window (Redis), so codes cannot be fished for.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.authz.permissions import public
from vistapass.platform.console.i18n import gettext_current as _
from vistapass.platform.console.pages import Page
from vistapass.platform.identity.principal import client_ip
from vistapass.platform.models.base import utcnow
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.booking import ics
from vistapass.tenants.booking.messages import explain
from vistapass.tenants.booking.offer import unit_labels, units_of
from vistapass.tenants.booking.pay import (
    Token,
    buyer_order,
    calendar_url,
    order_missing,
    order_summary,
    ticket_page_url,
)
from vistapass.tenants.booking.site import base_path, frame_from, page_headers, see_other
from vistapass.tenants.catalog.extras import money
from vistapass.tenants.inventory.service import product_slots
from vistapass.tenants.models import Order, Ticket
from vistapass.tenants.orders.context import Selling, selling_for
from vistapass.tenants.orders.refunds import RefundError, refund_order, refund_share, visit_start
from vistapass.tenants.orders.service import OrderNotFound, is_expired, load_order
from vistapass.tenants.park.service import get_profile

FIND_TRIES = 10
FIND_WINDOW_SECONDS = 600
REFUNDABLE_STATES = ("paid", "partially_refunded")


async def _find_retry_after(redis: Redis, namespace: str, ip: str | None) -> int | None:
    """Count this try; seconds to wait when the address has used up its tries."""
    key = f"{namespace}:booking:find:{ip or 'unknown'}"
    count = int(await redis.incr(key))
    if count == 1:
        await redis.expire(key, FIND_WINDOW_SECONDS)
    if count <= FIND_TRIES:
        return None
    return max(1, int(await redis.ttl(key)))


def _find_page(
    context: dict[str, Any],
    *,
    email: str = "",
    code: str = "",
    error: str | None = None,
    status: int = 200,
) -> Template:
    return Page(
        "booking/find.html",
        context={
            **context,
            "email": email,
            "code": code,
            "error": error,
            "action": f"{context['base']}/find",
        },
        status_code=status,
        headers=page_headers(private=True),
    )


@get("/find", opt=public(), include_in_schema=False)
async def find_form(
    request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
) -> Template:
    """Find my order: the e-mail address and order code from the confirmation."""
    return _find_page(frame_from(request, await get_profile(db_session), tenant.slug))


def _same_email(order: Order, email: str) -> bool:
    given = email.strip().casefold().encode()
    return hmac.compare_digest(order.contact_email.strip().casefold().encode(), given)


@post("/find", opt=public(), include_in_schema=False)
async def find_order(
    request: Request[Any, Any, Any], tenant_slug: FromPath[str]
) -> Template | Redirect:
    selling = selling_for(request.app.state)
    form = await request.form()
    email = str(form.get("email") or "").strip()[:254]
    code = str(form.get("code") or "").strip()[:32]
    async with tenant_session(selling.db, tenant_slug) as session:
        context = frame_from(request, await get_profile(session), tenant_slug)
        wait = await _find_retry_after(
            selling.redis, selling.settings.redis_namespace, client_ip(request)
        )
        if wait is not None:
            minutes = max(1, (wait + 59) // 60)
            message = _("Too many tries. Try again in %(minutes)s minutes.") % {"minutes": minutes}
            page = _find_page(context, email=email, code=code, error=message, status=429)
            page.headers["Retry-After"] = str(wait)
            return page
        order: Order | None
        try:
            order = await load_order(session, code) if code and email else None
        except OrderNotFound:
            order = None
        if order is None or not _same_email(order, email):
            message = _("No order matches that e-mail address and order code. Check both.")
            return _find_page(context, email=email, code=code, error=message, status=404)
        base = context["base"]
        if order.status == "pending" and not is_expired(order):
            return see_other(f"{base}/buy/pay/{order.code}?t={order.access_token}")
        return see_other(ticket_page_url(base, order))


@get("/orders/{code:str}/calendar.ics", opt=public(), include_in_schema=False)
async def calendar_file(
    request: Request[Any, Any, Any],
    db_session: TenantDbSession,
    tenant: CurrentTenant,
    code: FromPath[str],
    token: Token = None,
) -> Response[Any]:
    """The visit as a calendar event, with the ticket page's link in it."""
    profile = await get_profile(db_session)
    context = frame_from(request, profile, tenant.slug)
    order = await buyer_order(db_session, code, token)
    if order is None:
        return order_missing(context)
    product, summary = await order_summary(db_session, order, context)
    zone = ZoneInfo(profile.time_zone)
    start = end = None
    for slot in product_slots(product) if product else ():
        if slot.code == order.slot:
            day = order.visit_date
            start = datetime.combine(day, datetime.strptime(slot.start, "%H:%M").time(), zone)
            end = datetime.combine(day, datetime.strptime(slot.end, "%H:%M").time(), zone)
    url = f"{request.url.scheme}://{request.url.netloc}{ticket_page_url(context['base'], order)}"
    status = {"paid": "CONFIRMED", "pending": "TENTATIVE", "partially_refunded": "CONFIRMED"}
    visit = ics.Visit(
        uid=f"{order.id}@{tenant.slug}.vistapass",
        summary=f"{profile.display_name} · {summary['product_name']}",
        description=_("Order %(code)s. Your tickets: %(url)s") % {"code": order.code, "url": url},
        url=url,
        location=profile.contact_address or profile.display_name,
        day=order.visit_date,
        start=start,
        end=end,
        status=status.get("expired" if is_expired(order) else order.status, "CANCELLED"),
    )
    return Response(
        ics.calendar_text(visit, utcnow()),
        media_type="text/calendar; charset=utf-8",
        headers={
            **page_headers(private=True),
            "Content-Disposition": f'attachment; filename="{order.code}.ics"',
        },
    )


async def _refund_rows(
    session: AsyncSession, order: Order, policy: dict[str, object], time_zone: str
) -> list[dict[str, Any]]:
    """Each ticket with what the policy gives back for it now, or why it gives nothing."""
    tickets = list(
        await session.scalars(
            select(Ticket).where(Ticket.order_id == order.id).order_by(Ticket.position)
        )
    )
    start, now = visit_start(order, time_zone), utcnow()
    rows = []
    for ticket in tickets:
        row: dict[str, Any] = {
            "id": str(ticket.id),
            "number": ticket.position + 1,
            "unit": ticket.unit,
            "price": money(ticket.price, order.currency),
            "refunded": ticket.revoked_at is not None,
            "share": None,
            "reason": None,
        }
        if ticket.revoked_at is None:
            try:
                row["share"] = money(refund_share(policy, ticket.price, start, now), order.currency)
            except RefundError as exc:
                row["reason"] = explain(exc)
        rows.append(row)
    return rows


async def _refund_page(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    slug: str,
    order: Order,
    *,
    error: str | None = None,
    chosen: set[str] | None = None,
    status: int = 200,
) -> Template:
    profile = await get_profile(session)
    context = frame_from(request, profile, slug)
    product, summary = await order_summary(session, order, context)
    labels = {}
    if product is not None:
        labels = unit_labels(await units_of(session, product), context["english"])
    rows = []
    if order.status in REFUNDABLE_STATES and product is not None:
        rows = await _refund_rows(
            session, order, dict(product.refund_policy or {}), profile.time_zone
        )
        for row in rows:
            row["label"] = labels.get(row["unit"], row["unit"])
    base = context["base"]
    return Page(
        "booking/refund.html",
        context={
            **context,
            "order": summary,
            "status": order.status,
            "rows": rows,
            "chosen": chosen if chosen is not None else {r["id"] for r in rows if r["share"]},
            "error": error,
            "action": f"{base}/orders/{order.code}/refund?t={order.access_token}",
            "ticket_url": ticket_page_url(base, order),
            "calendar_url": calendar_url(base, order),
        },
        status_code=status,
        headers=page_headers(private=True),
    )


@get("/orders/{code:str}/refund", opt=public(), include_in_schema=False)
async def refund_form(
    request: Request[Any, Any, Any],
    db_session: TenantDbSession,
    tenant: CurrentTenant,
    code: FromPath[str],
    token: Token = None,
) -> Template:
    """Which tickets may be refunded now, and how much each gives back."""
    order = await buyer_order(db_session, code, token)
    if order is None:
        return order_missing(frame_from(request, await get_profile(db_session), tenant.slug))
    return await _refund_page(request, db_session, tenant.slug, order)


async def _refund(
    selling: Selling,
    session: AsyncSession,
    order: Order,
    ticket_ids: list[uuid.UUID],
    time_zone: str,
) -> None:
    zone = ZoneInfo(time_zone)
    await refund_order(
        session,
        selling,
        order,
        ticket_ids=ticket_ids,
        by_staff=False,
        time_zone=time_zone,
        business_date=datetime.now(zone).date(),
        reason="requested_by_customer",
    )


@post("/orders/{code:str}/refund", opt=public(), include_in_schema=False)
async def refund_tickets(
    request: Request[Any, Any, Any],
    tenant_slug: FromPath[str],
    code: FromPath[str],
    token: Token = None,
) -> Template | Redirect:
    selling = selling_for(request.app.state)
    form = await request.form()
    chosen = {value for value in form.getall("ticket", []) if isinstance(value, str)}
    async with tenant_session(selling.db, tenant_slug) as session:
        profile = await get_profile(session)
        order = await buyer_order(session, code, token)
        if order is None:
            return order_missing(frame_from(request, profile, tenant_slug))
        ids = []
        for value in chosen:
            try:
                ids.append(uuid.UUID(value))
            except ValueError:
                continue
        if not ids:
            message = _("Choose at least one ticket to refund.")
            return await _refund_page(
                request, session, tenant_slug, order, error=message, chosen=chosen, status=422
            )
        try:
            async with session.begin_nested():
                await _refund(selling, session, order, ids, profile.time_zone)
        except RefundError as exc:
            if exc.code == "already_refunded":
                # A second tap on "refund": the first one did it.
                return see_other(ticket_page_url(base_path(request, tenant_slug), order))
            return await _refund_page(
                request,
                session,
                tenant_slug,
                order,
                error=explain(exc),
                chosen=chosen,
                status=exc.status_code,
            )
        return see_other(ticket_page_url(base_path(request, tenant_slug), order))


AFTERSALE_ROUTES = [find_form, find_order, calendar_file, refund_form, refund_tickets]
