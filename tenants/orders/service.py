"""Placing orders: one path for every channel.

An order is priced by the quote service, takes its places in the same
transaction that writes it, and is either paid at once (free, window) or held
until its payment arrives. Whatever happens, the transaction leaves a whole
order or none.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.models.base import utcnow
from vistapass.platform.plugin_api import BasketLine
from vistapass.platform.tenancy.binding import after_commit, current_tenant, tenant_session
from vistapass.platform.tenancy.naming import schema_for
from vistapass.tenants.catalog.quote import quote_basket
from vistapass.tenants.inventory import service as inventory
from vistapass.tenants.inventory.availability import invalidate
from vistapass.tenants.inventory.gate import Admission, places_left
from vistapass.tenants.models import Order
from vistapass.tenants.orders.context import Selling, local_now
from vistapass.tenants.orders.errors import OrderError, OrderNotFound
from vistapass.tenants.orders.holders import (
    HolderIn,
    IdLimitReached,
    check_card_holder,
    check_holders,
    claim_identities,
)
from vistapass.tenants.orders.idempotency import IdempotencyClaim, finish
from vistapass.tenants.orders.payment import settle_paid
from vistapass.tenants.orders.release import reclaim_expired, reclaim_expired_claims
from vistapass.tenants.orders.rows import build_order, priced_rows
from vistapass.tenants.orders.views import order_view
from vistapass.tenants.park.service import get_profile

IMMEDIATE_PROVIDERS = frozenset({"free", "cash", "card_terminal"})
PENDING_PROVIDERS = frozenset({"stripe", "test"})


@dataclass(frozen=True, slots=True)
class Buyer:
    name: str = ""
    email: str = ""
    phone: str = ""
    locale: str = "zh-CN"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    product: str
    visit_date: date
    slot: str | None
    channel: str
    lines: tuple[BasketLine, ...]
    buyer: Buyer
    provider: str
    holders: tuple[HolderIn, ...] = ()
    sold_by: uuid.UUID | None = None
    note: str = ""
    renewal_of: uuid.UUID | None = None
    member: uuid.UUID | None = None  # the buyer's annual card, proven by a member pass
    extra: dict[str, Any] = field(default_factory=dict)


def check_provider(request: OrderRequest, total: int, selling: Selling) -> str:
    provider = request.provider
    if total == 0:
        return "free"  # nothing to pay, whatever was asked for
    if request.channel == "window":
        if provider not in ("cash", "card_terminal"):
            raise OrderError(
                "A window sale is paid in cash or on the card terminal.",
                code="invalid_payment_method",
                details={"provider": provider},
            )
        return provider
    if provider == "stripe" and selling.stripe is None:
        raise OrderError(
            "Card payments are not set up for this park.",
            code="payment_method_unavailable",
            details={"provider": provider},
        )
    if provider == "test" and selling.settings.is_production:
        raise OrderError(
            "Test payments are only for development.",
            code="payment_method_unavailable",
            details={"provider": provider},
        )
    if provider not in PENDING_PROVIDERS:
        raise OrderError(
            f"Unknown payment method '{provider}'.",
            code="invalid_payment_method",
            details={"provider": provider, "known": sorted(PENDING_PROVIDERS)},
        )
    return provider


async def _write_order(
    session: AsyncSession,
    selling: Selling,
    request: OrderRequest,
    idempotency: IdempotencyClaim | None,
    admitted: list[Admission],
) -> tuple[dict[str, Any], list[inventory.Need]]:
    """Write one order; places taken from the flash-sale gate go into `admitted`."""
    profile = await get_profile(session)
    now_local = local_now(profile.time_zone)
    product, _, quote, entitlements = await quote_basket(
        session,
        product_code=request.product,
        visit_date=request.visit_date,
        slot=request.slot,
        channel=request.channel,
        lines=request.lines,
        today=now_local.date(),
        renewal_of=request.renewal_of,
        member=request.member,
    )
    provider = check_provider(request, quote.total, selling)
    holders = check_holders(entitlements, request.holders)
    if request.renewal_of is not None:
        await check_card_holder(session, selling, request.renewal_of, holders)
    places = len(entitlements)
    needs = inventory.needs_for(
        product,
        await inventory.pools_for(session, product),
        request.visit_date,
        request.slot,
        places,
    )
    schema = current_tenant(session).schema_name
    if product.flash_sale:
        marker = selling.gate.marker_key(schema, request.product, request.visit_date, request.slot)
        admission = await selling.gate.admit(schema, needs, partial(places_left, session), marker)
        if admission is not None:
            admitted.append(admission)
    paid_now = provider in IMMEDIATE_PROVIDERS
    new = build_order(
        request,
        product,
        priced_rows(quote, entitlements),
        provider=provider,
        expires_at=None if paid_now else utcnow() + timedelta(minutes=profile.hold_minutes),
    )
    order, lines, tickets = new.orm()
    session.add(order)
    session.add_all(lines)
    session.add_all(tickets)
    await session.flush()
    if holders:
        await claim_identities(
            session, selling, order, tickets, holders, limit=product.id_limit_per_day
        )
    if paid_now:
        await inventory.take(session, order.id, needs, None)
        await settle_paid(
            session,
            selling,
            order,
            provider=provider,
            provider_ref=f"{provider}_{order.code}",
            amount=order.total,
            platform_fee=0,
            business_date=now_local.date(),
        )
        body = await order_view(session, order)
    else:
        body = await order_view(session, order, tickets)
    if idempotency is not None:
        await finish(session, idempotency, 201, body)
    if not paid_now:
        # Last before the commit: the bucket rows stay locked from here to the commit.
        await inventory.take(session, order.id, needs, order.expires_at)
    return body, needs


async def refuse_if_sold_out(selling: Selling, slug: str, request: OrderRequest) -> None:
    """Raise SoldOut at once, from Redis alone, when a refusal moments ago says the
    basket cannot be had (the rush after the last place never reaches PostgreSQL)."""
    # One entitlement per person: the places the basket needs.
    wanted = sum(line.quantity for line in request.lines)
    left = await selling.gate.refused_at_once(
        schema_for(slug), request.product, request.visit_date, request.slot, wanted
    )
    if left is not None:
        raise inventory.SoldOut.left(request.visit_date, request.slot, left)


async def place_order(
    selling: Selling,
    slug: str,
    request: OrderRequest,
    *,
    idempotency: IdempotencyClaim | None = None,
    sold_out_checked: bool = False,
) -> dict[str, Any]:
    """Write the order in one transaction and return the buyer's view of it.

    When the places are taken by holds that have run out, those orders are
    expired in a transaction of their own and the sale is tried once more.
    """
    schema = schema_for(slug)
    if not sold_out_checked:
        await refuse_if_sold_out(selling, slug, request)
    for attempt in (1, 2):
        admitted: list[Admission] = []
        try:
            async with tenant_session(selling.db, slug) as session:
                body, needs = await _write_order(session, selling, request, idempotency, admitted)
                days = {need.day for need in needs}
                after_commit(session, partial(invalidate, selling, slug, days))
            return body
        except inventory.SoldOut as exc:
            for admission in admitted:
                if exc.bucket is None:
                    await selling.gate.give_back(admission)
                else:
                    await selling.gate.sold_out(schema, admission, exc.bucket, exc.available)
            # Places held by orders whose time ran out are reclaimed, then one retry.
            if (
                attempt == 1
                and exc.bucket is not None
                and await reclaim_expired(selling, slug, [exc.bucket])
            ):
                continue
            await selling.gate.mark_sold_out(
                schema, request.product, request.visit_date, request.slot, exc.available
            )
            raise
        except IdLimitReached as exc:
            for admission in admitted:
                await selling.gate.give_back(admission)
            if attempt == 2 or not await reclaim_expired_claims(
                selling, slug, exc.document_hash, request.visit_date
            ):
                raise
        except BaseException:
            for admission in admitted:
                await selling.gate.give_back(admission)
            raise
    raise AssertionError("unreachable")


async def place(
    selling: Selling,
    slug: str,
    request: OrderRequest,
    claim: IdempotencyClaim | None,
    *,
    sold_out_checked: bool = False,
) -> dict[str, Any]:
    """`place_order` in the shape `idempotency.run_once` calls. `sold_out_checked`:
    the caller asked `refuse_if_sold_out` already, so Redis is not asked twice."""
    return await place_order(
        selling, slug, request, idempotency=claim, sold_out_checked=sold_out_checked
    )


async def load_order(session: AsyncSession, code: str, *, for_update: bool = False) -> Order:
    query = select(Order).where(Order.code == code.strip().upper())
    if for_update:
        query = query.with_for_update()
    order = await session.scalar(query)
    if order is None:
        raise OrderNotFound(f"No order '{code}'.", details={"order": code})
    return order


async def load_buyer_order(session: AsyncSession, code: str, token: str | None) -> Order:
    """The order whose link token the caller holds; a wrong or missing token reads as a
    missing order, so a guess learns nothing."""
    order = await load_order(session, code)
    # Bytes: compare_digest refuses non-ASCII text, and a mangled link is no 500; it
    # also takes as long however close a guess was.
    if not token or not hmac.compare_digest(order.access_token.encode(), token.encode()):
        raise OrderNotFound(f"No order '{code}'.", details={"order": code})
    return order


def is_expired(order: Order) -> bool:
    return order.status == "expired" or (
        order.status == "pending" and order.expires_at is not None and order.expires_at < utcnow()
    )
