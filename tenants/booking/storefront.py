"""The park's front page: what it sells, from what price, and when it is open.

A few queries for the whole page, whatever the number of products: the "from"
price runs each product's pricing mode directly (modes are pure functions) on the
next open day, over the smallest baskets the product sells, instead of one full
quote per basket. The quote service still prices every real basket on step 1.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.plugin_api import BasketLine, Day, QuoteRequest
from vistapass.platform.pricing_registry import UnknownPricingMode, get_mode
from vistapass.platform.storage import Storage
from vistapass.tenants.booking.offer import day_label, product_description, product_name
from vistapass.tenants.booking.selection import age_limits
from vistapass.tenants.calendar.service import resolve_day
from vistapass.tenants.catalog.extras import image_url, money
from vistapass.tenants.catalog.hours import opening_hours
from vistapass.tenants.catalog.membership import applies_to, discounted
from vistapass.tenants.catalog.quote import BUILT_IN_MODES
from vistapass.tenants.inventory.service import product_slots
from vistapass.tenants.models import CalendarDay, PricingModeSetting, Product, ProductUnit

LOOKAHEAD_DAYS = 14
WEEK = 7


@dataclass(frozen=True)
class ProductCard:
    code: str
    name: str
    description: str
    image_url: str | None
    from_price: str | None
    real_name: bool
    refund_policy: dict[str, object]
    member_price: str | None = None  # the "from" price at the signed-in member's discount


@dataclass(frozen=True)
class HoursDay:
    label: str
    is_today: bool
    is_open: bool
    opens: str
    closes: str
    holiday: str | None


def on_sale_today(product: Product, today: date) -> bool:
    return not (
        (product.sale_from and today < product.sale_from)
        or (product.sale_to and today > product.sale_to)
    )


def _baskets(product: Product, units: Sequence[str]) -> list[tuple[BasketLine, ...]]:
    """The smallest baskets the product sells: a pack's minimum shape, else one person."""
    composition = (product.pricing_config or {}).get("composition")
    limits = age_limits(product)
    if isinstance(composition, Mapping):
        shape = [
            BasketLine(unit, int(rule["min"]), (limits[unit],) * int(rule["min"]))
            if unit in limits
            else BasketLine(unit, int(rule["min"]))
            for unit, rule in composition.items()
            if isinstance(rule, Mapping) and int(rule.get("min") or 0) > 0
        ]
        if shape:
            return [tuple(shape)]
    return [(BasketLine(unit, 1),) for unit in units]


def lowest_price(product: Product, units: Sequence[str], day: Day, currency: str) -> int | None:
    """The lowest total of the smallest baskets on `day`, or None if none can be sold."""
    try:
        mode = get_mode(product.pricing_mode)
        slots: list[str | None] = [slot.code for slot in product_slots(product)] or [None]
    except UnknownPricingMode:  # a plugin uninstalled under a product still on sale
        return None
    totals = []
    for lines in _baskets(product, units):
        for slot in slots:
            request = QuoteRequest(
                config=product.pricing_config,
                lines=lines,
                day=day,
                channel="web",
                currency=currency,
                slot=slot,
            )
            # A mode may refuse a basket (or, if a third party's, fail outright): the
            # front page then shows no "from" price for it rather than no page at all.
            try:
                mode.validate_basket(request)
                totals.append(mode.quote(request).total)
            except Exception:  # noqa: S112
                continue
    return min(totals) if totals else None


async def _days(
    session: AsyncSession, today: date, language: str
) -> tuple[list[Day], list[HoursDay]]:
    """The next fortnight's calendar, and this week's hours (operator's word first)."""
    week = await opening_hours(session)
    usual = {row["weekday"]: row["is_open"] for row in week}
    end = today + timedelta(days=LOOKAHEAD_DAYS - 1)
    overrides = {
        row.day: row
        for row in await session.scalars(
            select(CalendarDay).where(CalendarDay.day >= today, CalendarDay.day <= end)
        )
    }
    days = [
        resolve_day(today + timedelta(days=n), usual, overrides.get(today + timedelta(days=n)))
        for n in range(LOOKAHEAD_DAYS)
    ]
    hours = []
    for day in days[:WEEK]:
        override = overrides.get(day.date)
        usual_day = week[day.date.weekday()]
        opens = override.opens_at.strftime("%H:%M") if override and override.opens_at else None
        closes = override.closes_at.strftime("%H:%M") if override and override.closes_at else None
        hours.append(
            HoursDay(
                label=day_label(day.date, language),
                is_today=day.date == today,
                is_open=day.is_open,
                opens=opens or usual_day["opens_at"],
                closes=closes or usual_day["closes_at"],
                holiday=day.holiday_name,
            )
        )
    return days, hours


async def storefront(
    session: AsyncSession,
    storage: Storage,
    *,
    language: str,
    today: date,
    currency: str,
    member_pct: int | None = None,
) -> tuple[list[ProductCard], list[HoursDay]]:
    """The products on sale online today and this week's opening hours.

    `member_pct`: a signed-in member's discount, to show each "from" price at it too.
    """
    english = language == "en"
    products = [
        p
        for p in await session.scalars(
            select(Product)
            .where(Product.status == "on_sale")
            .order_by(Product.sort_order, Product.code)
        )
        if "web" in p.channels and on_sale_today(p, today)
    ]
    switched = {s.key: s.enabled for s in await session.scalars(select(PricingModeSetting))}
    products = [
        p for p in products if switched.get(p.pricing_mode, p.pricing_mode in BUILT_IN_MODES)
    ]
    units: dict[uuid.UUID, list[str]] = {}
    if products:
        for row in await session.scalars(
            select(ProductUnit)
            .where(ProductUnit.product_id.in_([p.id for p in products]))
            .order_by(ProductUnit.sort_order, ProductUnit.unit)
        ):
            units.setdefault(row.product_id, []).append(row.unit)
    days, hours = await _days(session, today, language)
    cards = []
    for product in products:
        open_days = [
            d
            for d in days
            if d.is_open
            and not (product.visit_from and d.date < product.visit_from)
            and not (product.visit_to and d.date > product.visit_to)
        ]
        lowest = (
            lowest_price(product, units.get(product.id, []), open_days[0], currency)
            if open_days
            else None
        )
        cards.append(
            ProductCard(
                code=product.code,
                name=product_name(product, english),
                description=product_description(product, english),
                image_url=image_url(storage, product.image_key),
                from_price=money(lowest, currency) if lowest is not None else None,
                real_name=product.real_name_required,
                refund_policy=dict(product.refund_policy or {}),
                member_price=money(discounted(lowest, member_pct), currency)
                if member_pct and lowest is not None and applies_to(product, "web")
                else None,
            )
        )
    return cards, hours
