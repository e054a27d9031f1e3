"""Stripe for an order: starting the PaymentIntent and applying Stripe's events.

Events arrive at the platform's webhook (`tenants.payments.webhooks`), are stored
once by id and applied here by a job, so a duplicate or an out-of-order event
changes nothing twice: a payment is recorded once by its PaymentIntent id, a
refund once by its refund id, whichever of our call or Stripe's event comes first.
A refund Vistapass asked for carries our refund id in its metadata and has already
changed the order; one without it was made in Stripe's dashboard, and is applied
to the order when its event comes (`refunds.apply_outside_refund`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.logging import get_logger
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.ledger.service import record_payment
from vistapass.tenants.models import Order, ParkProfile, Payment
from vistapass.tenants.orders.context import Selling, local_now
from vistapass.tenants.orders.payment import confirm_payment
from vistapass.tenants.orders.refunds import apply_outside_refund
from vistapass.tenants.orders.service import OrderError, is_expired, load_order
from vistapass.tenants.park.service import get_profile
from vistapass.tenants.payments.stripe_gateway import RefundResult, refund_result

REFUND_EVENTS = frozenset({"charge.refunded", "refund.created", "refund.updated", "refund.failed"})

log = get_logger(__name__)


async def start_stripe_payment(selling: Selling, slug: str, code: str) -> dict[str, Any]:
    """The PaymentIntent for an unpaid order; asking again returns the same one."""
    if selling.stripe is None:
        raise OrderError("Card payments are not set up.", code="payment_method_unavailable")
    async with tenant_session(selling.db, slug) as session:
        order = await load_order(session, code)
        profile = await get_profile(session)
        if order.status != "pending" or is_expired(order):
            raise OrderError(
                "This order can no longer be paid.",
                code="order_not_payable",
                details={"status": "expired" if is_expired(order) else order.status},
            )
        if not profile.stripe_account_id:
            raise OrderError(
                "This park has not connected a Stripe account.",
                code="payment_method_unavailable",
            )
        account = profile.stripe_account_id
        order_id, total, currency = order.id, order.total, order.currency
        description = f"{profile.display_name} {order.product_code} {order.visit_date}"
    # Outside any transaction: a network call must not hold database locks.
    intent = await selling.stripe.create_payment_intent(
        amount=total,
        currency=currency,
        connected_account=account,
        order_code=code,
        tenant=slug,
        order_id=str(order_id),
        idempotency_key=f"order-{order_id}",
        description=description,
    )
    async with tenant_session(selling.db, slug) as session:
        order = await load_order(session, code, for_update=True)
        if order.provider_ref is None:
            order.provider_ref = intent.id
    return {
        "provider": "stripe",
        "payment_intent": intent.id,
        "client_secret": intent.client_secret,
        "stripe_account": account,
        "amount": intent.amount,
        "currency": intent.currency,
    }


async def _order_for(session: AsyncSession, metadata: dict[str, Any]) -> Order | None:
    order_id = metadata.get("vistapass_order_id")
    if not order_id:
        return None
    return await session.scalar(select(Order).where(Order.id == order_id))


async def apply_stripe_event(
    selling: Selling, slug: str, event_type: str, obj: dict[str, Any]
) -> str:
    """Apply one Stripe event to the park's books; returns what it did."""
    async with tenant_session(selling.db, slug) as session:
        profile = await get_profile(session)
        today = local_now(profile.time_zone).date()
        if event_type == "payment_intent.succeeded":
            order = await _order_for(session, obj.get("metadata") or {})
            if order is None:
                return "ignored"
            return await confirm_payment(
                session,
                selling,
                order,
                provider="stripe",
                provider_ref=obj["id"],
                amount=int(obj.get("amount_received") or obj["amount"]),
                platform_fee=int(obj.get("application_fee_amount") or 0),
                business_date=today,
            )
        if event_type in REFUND_EVENTS:
            return await _apply_refunds(session, selling, obj, today, profile)
        if event_type == "payment_intent.payment_failed":
            # The order stays pending: the buyer may try another card until the hold ends.
            log.info("stripe payment failed", intent=obj.get("id"), tenant=slug)
            return "payment_failed"
        return "ignored"


async def _apply_refunds(
    session: AsyncSession,
    selling: Selling,
    obj: dict[str, Any],
    today: date,
    profile: ParkProfile,
) -> str:
    """Record the payment's refunds as Stripe has them now, and apply to the order those
    made outside Vistapass. Whatever the event says, the list is asked of Stripe: a
    charge in an event does not list its refunds, and events come in any order."""
    intent = obj.get("payment_intent")
    if not intent:
        return "ignored"
    order = await session.scalar(
        select(Order).where(Order.provider == "stripe", Order.provider_ref == intent)
    )
    if order is None:
        return "ignored"
    if selling.stripe is not None and profile.stripe_account_id:
        refunds = await selling.stripe.refunds_of(intent, profile.stripe_account_id)
    else:
        refunds = [refund_result(obj)] if obj.get("object") == "refund" else []
    recorded = outside = reversed_ = 0
    for refund in refunds:
        if refund.status in ("failed", "canceled"):
            reversed_ += await _reverse_refund(session, order, refund, today)
            continue
        if refund.status not in ("succeeded", "pending"):
            continue
        stored = await _record_refund(session, order, refund, today)
        if stored is None:
            continue
        recorded += 1
        if refund.vistapass_refund_id is None:
            revoked = await apply_outside_refund(
                session, selling, order, refund.amount, time_zone=profile.time_zone
            )
            outside += 1
            log.warning(
                "refund made outside Vistapass applied",
                refund=refund.id,
                order=order.code,
                amount=refund.amount,
                tickets_revoked=revoked,
            )
    return f"refunds_recorded:{recorded} outside:{outside} reversed:{reversed_}"


async def _reverse_refund(
    session: AsyncSession, order: Order, refund: RefundResult, day: date
) -> bool:
    """A refund recorded while pending that then failed: the money stayed with the park.

    The ledger takes it back (a `reversal` payment, once), the order's refunded
    amount goes down again and its note says `refund_failed`, for staff to pay the
    buyer another way. Its tickets stay revoked: the buyer asked for the refund."""
    recorded = await session.scalar(
        select(Payment.id).where(
            Payment.provider == "stripe",
            Payment.provider_ref == refund.id,
            Payment.kind == "refund",
        )
    )
    if recorded is None:
        return False  # never counted as refunded: nothing to take back
    stored = await record_payment(
        session,
        order,
        kind="reversal",
        provider="stripe",
        provider_ref=f"{refund.id}:reversed",
        amount=refund.amount,
        platform_fee=0,
        business_date=day,
    )
    if stored is None:
        return False
    locked = await session.scalar(select(Order).where(Order.id == order.id).with_for_update())
    assert locked is not None
    locked.refunded_amount = max(0, locked.refunded_amount - refund.amount)
    locked.note = "refund_failed"
    log.warning("stripe refund failed", refund=refund.id, order=locked.code, amount=refund.amount)
    return True


async def refund_with_stripe(
    selling: Selling, slug: str, order_id: str, refund_id: str, amount: int, reason: str
) -> None:
    """Send a refund to Stripe (idempotent by our refund id) and record its answer."""
    if selling.stripe is None:
        raise OrderError("Stripe is not configured.", code="payment_method_unavailable")
    async with tenant_session(selling.db, slug) as session:
        order = await session.get(Order, order_id)
        profile = await get_profile(session)
        if order is None or not order.provider_ref or not profile.stripe_account_id:
            raise OrderError("Nothing to refund with Stripe.", code="refund_rejected")
        intent, account = order.provider_ref, profile.stripe_account_id
    stripe_reason = "requested_by_customer" if reason != "duplicate" else "duplicate"
    result = await selling.stripe.refund(
        payment_intent=intent,
        amount=amount,
        connected_account=account,
        idempotency_key=f"refund-{refund_id}",
        reason=stripe_reason,
        vistapass_refund_id=refund_id,
    )
    async with tenant_session(selling.db, slug) as session:
        order = await session.get(Order, order_id)
        profile = await get_profile(session)
        assert order is not None
        await _record_refund(session, order, result, local_now(profile.time_zone).date())


async def _record_refund(
    session: AsyncSession, order: Order, refund: RefundResult, day: date
) -> Payment | None:
    """Stripe's refund in the ledger, once by its id (None: it was there already)."""
    return await record_payment(
        session,
        order,
        kind="refund",
        provider="stripe",
        provider_ref=refund.id,
        amount=refund.amount,
        platform_fee=0,
        business_date=day,
    )
