"""Pricing a basket: the park's rules first, then the product's pricing mode.

Everything here reads; nothing is written, so a quote can be asked for as often
as a buyer likes and recomputed later from the same inputs.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.errors import VistapassError
from vistapass.platform.plugin_api import (
    BasketLine,
    Day,
    Entitlement,
    PricingError,
    Quote,
    QuoteRequest,
    Renewal,
    SlotInfo,
)
from vistapass.platform.pricing_registry import get_mode
from vistapass.tenants.calendar.service import day_info
from vistapass.tenants.catalog.membership import (
    MemberCard,
    applies_to,
    is_member_only,
    load_card,
    with_member_discount,
)
from vistapass.tenants.inventory.service import product_slots
from vistapass.tenants.models import Order, PricingModeSetting, Product, ProductUnit, Ticket
from vistapass.tenants.park.service import get_profile

# Ours are on unless a park switches them off; a third party's mode must be switched on.
BUILT_IN_MODES = frozenset({"per_visit", "time_slot", "annual_card", "family_bundle"})
MAX_LINES = 50
MAX_QUANTITY = 99
MAX_AGE = 120


class QuoteError(VistapassError):
    status_code = 422
    code = "quote_rejected"


class ProductNotFound(VistapassError):
    status_code = 404
    code = "product_not_found"


class PluginMisbehaved(VistapassError):
    """A pricing mode broke the API's promises: a bug in the plugin, not in the basket."""

    status_code = 500
    code = "pricing_plugin_error"


async def load_product_on_sale(session: AsyncSession, code: str) -> Product:
    product = await session.scalar(select(Product).where(Product.code == code))
    # A draft or withdrawn product is not for sale, so it is as good as absent.
    if product is None or product.status != "on_sale":
        raise ProductNotFound(f"No product '{code}' is on sale.", details={"product": code})
    return product


async def mode_enabled(session: AsyncSession, key: str) -> bool:
    setting = await session.get(PricingModeSetting, key)
    if setting is None:
        return key in BUILT_IN_MODES
    return setting.enabled


def _check_dates(product: Product, visit_date: date, today: date) -> None:
    if (product.sale_from and today < product.sale_from) or (
        product.sale_to and today > product.sale_to
    ):
        raise QuoteError(
            "This product is not on sale today.",
            code="not_on_sale_now",
            details={
                "today": today.isoformat(),
                "sale_from": product.sale_from.isoformat() if product.sale_from else None,
                "sale_to": product.sale_to.isoformat() if product.sale_to else None,
            },
        )
    if (product.visit_from and visit_date < product.visit_from) or (
        product.visit_to and visit_date > product.visit_to
    ):
        raise QuoteError(
            "This product cannot be used on that date.",
            code="outside_visit_window",
            details={
                "date": visit_date.isoformat(),
                "visit_from": product.visit_from.isoformat() if product.visit_from else None,
                "visit_to": product.visit_to.isoformat() if product.visit_to else None,
            },
        )
    if visit_date < today:
        raise QuoteError(
            "The visit date has already passed.",
            code="date_in_past",
            details={"date": visit_date.isoformat(), "today": today.isoformat()},
        )


def _check_lines(lines: Sequence[BasketLine], units: set[str]) -> None:
    if not lines or len(lines) > MAX_LINES:
        raise QuoteError(
            f"A basket holds 1 to {MAX_LINES} lines, not {len(lines)}.",
            code="invalid_quantity",
            details={"lines": len(lines), "max": MAX_LINES},
        )
    seen: set[str] = set()
    for line in lines:
        if line.unit not in units:
            raise QuoteError(
                f"This product has no unit '{line.unit}'.",
                code="unknown_unit",
                details={"unit": line.unit, "known": sorted(units)},
            )
        if line.unit in seen:
            # Modes price one line per unit kind; two lines would be priced twice over.
            raise QuoteError(
                f"The unit '{line.unit}' appears twice; give it once with the total quantity.",
                code="duplicate_unit",
                details={"unit": line.unit},
            )
        seen.add(line.unit)
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise QuoteError(
                f"A quantity is 1 to {MAX_QUANTITY}, not {line.quantity}.",
                code="invalid_quantity",
                details={"unit": line.unit, "quantity": line.quantity, "max": MAX_QUANTITY},
            )
        if line.ages and (
            len(line.ages) != line.quantity or not all(0 <= age <= MAX_AGE for age in line.ages)
        ):
            raise QuoteError(
                f"Give one age (0 to {MAX_AGE}) per person, or none.",
                code="invalid_ages",
                details={"unit": line.unit, "quantity": line.quantity, "ages": list(line.ages)},
            )


def _check_quote(quote: Quote, currency: str, mode_key: str) -> None:
    if quote.currency != currency or quote.total < 0 or any(line.total < 0 for line in quote.lines):
        raise PluginMisbehaved(
            f"The pricing mode '{mode_key}' returned an impossible quote.",
            details={"mode": mode_key},
        )


async def _renewal(session: AsyncSession, product: Product, card_id: uuid.UUID) -> Renewal:
    """The card being renewed: a paid, unrefunded ticket of this very product."""
    row = (
        await session.execute(
            select(Ticket)
            .join(Order, Order.id == Ticket.order_id)
            .where(Ticket.id == card_id, Order.product_id == product.id)
        )
    ).scalar_one_or_none()
    if row is None or row.qr is None or row.revoked_at is not None:
        raise QuoteError(
            "No valid card of this product has that number.",
            code="unknown_card",
            details={"renewal_of": str(card_id)},
        )
    return Renewal(unit=row.unit, valid_from=row.valid_from, valid_to=row.valid_to)


@dataclass(frozen=True, slots=True)
class QuoteInputs:
    """What pricing a basket of one product for one date reads from the database.

    Loaded by `load_quote_inputs`; everything after that is pure, so the order
    path can keep inputs for a while and check them against `sale_facts` (see
    `tenants.orders.facts`). `product` is then a detached row: read, never changed.
    """

    product: Product
    mode_enabled: bool
    day: Day
    units: frozenset[str]
    member_only: bool  # some annual card keeps the date for its members
    currency: str
    slots: tuple[SlotInfo, ...]  # () for a mode that sells no slots


async def load_quote_inputs(session: AsyncSession, product_code: str, day: date) -> QuoteInputs:
    product = await load_product_on_sale(session, product_code)
    units = await session.scalars(
        select(ProductUnit.unit).where(ProductUnit.product_id == product.id)
    )
    enabled = await mode_enabled(session, product.pricing_mode)
    return QuoteInputs(
        product=product,
        mode_enabled=enabled,
        day=await day_info(session, day),
        units=frozenset(units),
        member_only=await is_member_only(session, day),
        currency=(await get_profile(session)).currency,
        # Only an enabled mode reads its configuration (a switched-off one may
        # hold what the mode no longer understands).
        slots=product_slots(product) if enabled else (),
    )


def check_basket_rules(
    inputs: QuoteInputs,
    *,
    slot: str | None,
    channel: str,
    lines: Sequence[BasketLine],
    today: date,
) -> None:
    """The park's rules for a basket, before its mode prices it."""
    product = inputs.product
    if channel not in product.channels:
        raise QuoteError(
            f"This product is not sold on the channel '{channel}'.",
            code="channel_not_allowed",
            details={"channel": channel, "channels": list(product.channels)},
        )
    if not inputs.mode_enabled:
        raise QuoteError(
            f"The pricing mode '{product.pricing_mode}' is not enabled for this park.",
            code="mode_not_enabled",
            details={"mode": product.pricing_mode},
        )
    if slot is not None and not inputs.slots:
        # A mode that sells no slots would ignore one; the order would then keep it.
        raise QuoteError(
            "This product is not sold by time slot.",
            code="unknown_slot",
            details={"slot": slot},
        )
    _check_dates(product, inputs.day.date, today)
    if not inputs.day.is_open:
        raise QuoteError(
            "The park is closed on that date.",
            code="park_closed",
            details={"date": inputs.day.date.isoformat()},
        )
    _check_lines(lines, set(inputs.units))


def check_members_only(inputs: QuoteInputs, card: MemberCard | None) -> None:
    """A members-only date is refused to anyone whose card does not keep it."""
    visit_date = inputs.day.date
    if inputs.member_only and (card is None or visit_date not in card.member_only_dates):
        raise QuoteError(
            "That date is for annual card members only.",
            code="members_only",
            details={"date": visit_date.isoformat()},
        )


async def _member_card(
    session: AsyncSession, inputs: QuoteInputs, member: uuid.UUID | None, today: date
) -> MemberCard | None:
    """The member's card, if it is valid on the visit date; refuses a members-only date
    to anyone else. Only for what membership touches (`membership.applies_to`)."""
    card = await load_card(session, member, today) if member is not None else None
    if card is not None and not card.covers(inputs.day.date):
        card = None
    check_members_only(inputs, card)
    return card


def price_basket(
    inputs: QuoteInputs,
    *,
    slot: str | None,
    channel: str,
    lines: Sequence[BasketLine],
    card: MemberCard | None = None,
    renewal: Renewal | None = None,
) -> tuple[QuoteRequest, Quote, tuple[Entitlement, ...]]:
    """Let the product's mode price a basket that passed the park's rules."""
    product = inputs.product
    mode = get_mode(product.pricing_mode)
    request = QuoteRequest(
        config=product.pricing_config,
        lines=tuple(lines),
        day=inputs.day,
        channel=channel,
        currency=inputs.currency,
        slot=slot,
        renewal=renewal,
    )
    try:
        mode.validate_basket(request)
        quote = mode.quote(request)
        entitlements = mode.entitlements(request)
    except PricingError as exc:  # InvalidConfig / BasketRejected: a rule, with its code
        raise QuoteError(exc.message, code=exc.code, details=exc.details) from exc
    _check_quote(quote, inputs.currency, mode.key)
    if card is not None:
        # After the mode: a member price never depends on how a mode prices.
        quote = with_member_discount(quote, card)
    # The product's own identity requirements hold whatever the mode says.
    entitlements = tuple(
        dataclasses.replace(
            entitlement,
            real_name_required=entitlement.real_name_required or product.real_name_required,
            face_required=entitlement.face_required or product.face_required,
        )
        for entitlement in entitlements
    )
    return request, quote, entitlements


async def quote_basket(
    session: AsyncSession,
    *,
    product_code: str,
    visit_date: date,
    slot: str | None,
    channel: str,
    lines: Sequence[BasketLine],
    today: date,
    renewal_of: uuid.UUID | None = None,
    member: uuid.UUID | None = None,
) -> tuple[Product, QuoteRequest, Quote, tuple[Entitlement, ...]]:
    """Check the basket against the park's rules, then let the product's mode price it.

    `today` is the park's local date (the caller knows its time zone). `member` is
    the ticket id of the buyer's annual card, once the caller has seen proof that
    the buyer holds it; the card is checked here, and a card that is not valid on
    the visit date gives no discount (see `membership`).
    """
    inputs = await load_quote_inputs(session, product_code, visit_date)
    product = inputs.product
    check_basket_rules(inputs, slot=slot, channel=channel, lines=lines, today=today)
    card = None
    if applies_to(product, channel):
        card = await _member_card(session, inputs, member, today)
    renewal = None
    if renewal_of is not None:
        if not getattr(get_mode(product.pricing_mode), "renews", False):
            raise QuoteError(
                "This product is not a membership that can be renewed.",
                code="renewal_not_supported",
                details={"product": product.code},
            )
        renewal = await _renewal(session, product, renewal_of)
    request, quote, entitlements = price_basket(
        inputs, slot=slot, channel=channel, lines=lines, card=card, renewal=renewal
    )
    return product, request, quote, entitlements
