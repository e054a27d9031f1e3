"""Background jobs of selling: confirmation mail, provider refunds, Stripe events,
and the periodic expiry of unpaid orders whose hold ran out.

Each is safe to run twice: mail is recorded per message in `job_runs`, a refund
is sent to Stripe under our refund's own idempotency key, an event's effect is
recorded once by the provider's reference, and an order expires once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.cache import redis_client
from vistapass.platform.logging import get_logger
from vistapass.platform.mail.service import Mail, send_mail
from vistapass.platform.models import TenantStatus
from vistapass.platform.tenancy.admin import list_parks
from vistapass.platform.tenancy.binding import current_tenant
from vistapass.platform.worker.actors import tenant_actor, worker_database
from vistapass.platform.worker.broker import broker_settings
from vistapass.platform.worker.periodic import every
from vistapass.platform.worker.registry import register
from vistapass.tenants.models import Order
from vistapass.tenants.orders.context import Selling
from vistapass.tenants.orders.release import expire_overdue
from vistapass.tenants.orders.stripe_payments import apply_stripe_event, refund_with_stripe
from vistapass.tenants.park.service import get_profile

log = get_logger(__name__)

EXPIRE_EVERY_SECONDS = 60

_selling: Selling | None = None


def use_selling(selling: Selling | None) -> None:
    """Set (or forget) the Selling this process's jobs use; the worker builds its own."""
    global _selling
    _selling = selling


def worker_selling() -> Selling:
    global _selling
    if _selling is None:
        settings = broker_settings()
        _selling = Selling.build(worker_database(), settings, redis_client(settings))
    return _selling


def confirmation_text(order: Order, park_name: str, link: str) -> tuple[str, str]:
    if order.note == "hold_expired_sold_out":
        subject = f"{park_name}: 订单 {order.code} 已全额退款 / order refunded"
        body = (
            f"您的付款到达时，订单的保留时间已过，名额已售出，款项已原路全额退回。\n"
            f"Your payment arrived after the order's hold had ended and the places had been "
            f"sold, so the full amount has been refunded to you.\n\n{link}\n"
        )
        return subject, body
    subject = f"{park_name}: 订单 {order.code} 已确认 / order confirmed"
    body = (
        f"感谢购票！您的电子票：\nThank you! Your tickets:\n\n{link}\n\n"
        f"{order.product_code} · {order.visit_date.isoformat()}"
        f"{' · ' + order.slot if order.slot else ''} · {order.places}\n"
    )
    return subject, body


@tenant_actor("orders.send_confirmation")
async def send_confirmation(session: AsyncSession, *, order_id: str) -> None:
    order = await session.get(Order, order_id)
    if order is None or not order.contact_email:
        return
    profile = await get_profile(session)
    slug = current_tenant(session).slug
    link = f"{broker_settings().url}/p/{slug}/orders/{order.code}?t={order.access_token}"
    subject, text = confirmation_text(order, profile.display_name, link)
    send_mail(session, Mail(to=order.contact_email, subject=subject, text=text))


async def refund_with_provider(
    tenant: str, order_id: str, refund_id: str, amount: int, reason: str
) -> None:
    await refund_with_stripe(worker_selling(), tenant, order_id, refund_id, amount, reason)


async def apply_event(tenant: str, event_type: str, obj: dict[str, Any]) -> None:
    await apply_stripe_event(worker_selling(), tenant, event_type, obj)


register("orders.refund_with_provider", refund_with_provider, max_retries=20)
register("payments.apply_stripe_event", apply_event, max_retries=20)


async def expire_overdue_orders() -> None:
    """Expire, park by park, the unpaid orders whose hold ran out."""
    selling = worker_selling()
    for park in await list_parks(selling.db):
        if park.status != TenantStatus.ACTIVE:
            continue
        try:
            expired = await expire_overdue(selling, park.slug)
        except Exception:
            # One park's trouble must not hold up the others; the next run tries again.
            log.exception("expiring unpaid orders failed", tenant=park.slug)
            continue
        if expired:
            log.info("unpaid orders expired", tenant=park.slug, orders=expired)


register("orders.expire_overdue", expire_overdue_orders)
every(EXPIRE_EVERY_SECONDS, "orders.expire_overdue")
