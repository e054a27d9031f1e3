"""Step 1's material: the product's units, the date calendar with availability, and the
quote for the visitor's selection, as plain values for the template.

Prices come from `quote_basket`, the one quote path every channel uses; the
calendar from `inventory.availability`, which keeps each day's answer in Redis.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.dates import format_date, get_day_names, match_skeleton
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.plugin_api import Entitlement, Quote
from vistapass.tenants.booking.messages import adjustment_label
from vistapass.tenants.booking.selection import Selection, age_limits
from vistapass.tenants.catalog.extras import money
from vistapass.tenants.catalog.membership import MEMBER_DISCOUNT
from vistapass.tenants.catalog.quote import quote_basket
from vistapass.tenants.inventory.availability import DayAvailability
from vistapass.tenants.models import Product, ProductUnit

CALENDAR_WEEKS = 5
BOOKABLE = ("available", "limited")


def babel_locale(language: str) -> str:
    return "zh_CN" if language == "zh-CN" else "en"


@lru_cache(maxsize=32)
def _pattern(skeleton: str, locale: str) -> str:
    """The locale's pattern for a skeleton. Matching is slow (a calendar labels 35
    days per page), and the answer never changes, so it is found once per pair."""
    if skeleton in ("full", "long", "medium", "short"):
        return skeleton
    patterns = Locale.parse(locale).datetime_skeletons
    return str(patterns[match_skeleton(skeleton, patterns)].pattern)


def day_label(day: date, language: str, skeleton: str = "MMMEd") -> str:
    """A date the way the visitor's language writes it: `Tue, Dec 8` / `12月8日周二`;
    "full" spells it out (`Tuesday, December 8, 2026` / `2026年12月8日星期二`)."""
    locale = babel_locale(language)
    return format_date(day, format=_pattern(skeleton, locale), locale=locale)


async def units_of(session: AsyncSession, product: Product) -> list[ProductUnit]:
    return list(
        await session.scalars(
            select(ProductUnit)
            .where(ProductUnit.product_id == product.id)
            .order_by(ProductUnit.sort_order, ProductUnit.unit)
        )
    )


def unit_labels(units: Sequence[ProductUnit], english: bool) -> dict[str, str]:
    return {u.unit: (u.label_en if english else u.label_zh) or u.unit for u in units}


def product_name(product: Product, english: bool) -> str:
    return (product.name_en if english else product.name_zh) or product.code


def product_description(product: Product, english: bool) -> str:
    return (product.description_en if english else product.description_zh) or ""


@dataclass(frozen=True)
class UnitView:
    unit: str
    label: str
    eligibility: str
    quantity: int
    max_age: int | None
    ages: list[str]


def unit_views(
    product: Product, units: Sequence[ProductUnit], selection: Selection, english: bool
) -> list[UnitView]:
    limits = age_limits(product)
    return [
        UnitView(
            unit=u.unit,
            label=(u.label_en if english else u.label_zh) or u.unit,
            eligibility=(u.eligibility_en if english else u.eligibility_zh) or "",
            quantity=selection.quantities.get(u.unit, 0),
            max_age=limits.get(u.unit),
            ages=selection.ages.get(u.unit, []),
        )
        for u in units
    ]


@dataclass(frozen=True)
class QuoteView:
    lines: list[dict[str, Any]]
    adjustments: list[dict[str, str]]
    total: str
    tickets: int
    real_name: bool
    face: bool
    # With a member discount: the price without it, shown beside the member price.
    normal_total: str | None = None


def quote_view(
    quote: Quote, entitlements: Sequence[Entitlement], labels: dict[str, str]
) -> QuoteView:
    currency = quote.currency
    discount = sum(a.amount for a in quote.adjustments if a.code == MEMBER_DISCOUNT)
    return QuoteView(
        lines=[
            {
                "label": labels.get(line.unit, line.unit),
                "quantity": line.quantity,
                "unit_price": money(line.unit_price, currency),
                "total": money(line.total, currency),
            }
            for line in quote.lines
        ],
        adjustments=[
            {"label": adjustment_label(a.code, a.reason), "amount": money(a.amount, currency)}
            for a in quote.adjustments
        ],
        total=money(quote.total, currency),
        tickets=len(entitlements),
        real_name=any(e.real_name_required for e in entitlements),
        face=any(e.face_required for e in entitlements),
        normal_total=money(quote.total - discount, currency) if discount else None,
    )


async def price(
    session: AsyncSession, selection: Selection, today: date, member: uuid.UUID | None = None
) -> tuple[Product, Quote, tuple[Entitlement, ...]]:
    """Price the selection exactly as an order would be priced; raises the same errors.

    `member`: the card the visitor's member pass names (the quote service checks it);
    with `selection.renew`, that card is the one being renewed.
    """
    product, _, quote, entitlements = await quote_basket(
        session,
        product_code=selection.product,
        visit_date=selection.day or today,
        slot=selection.slot,
        channel="web",
        lines=selection.lines(),
        today=today,
        member=member,
        renewal_of=member if selection.renew else None,
    )
    return product, quote, entitlements


@dataclass(frozen=True)
class Cell:
    day: str  # ISO date
    number: int
    label: str  # the full date, for screen readers and the summary
    state: str
    left: int | None


@dataclass
class Month:
    title: str
    weeks: list[list[Cell | None]] = field(default_factory=list)


def calendar_start(today: date) -> tuple[date, int]:
    """The first day to show (today) and how many, to fill whole Monday-first weeks."""
    return today, CALENDAR_WEEKS * 7 - today.weekday()


def calendar_months(days: Sequence[DayAvailability], language: str) -> list[Month]:
    """Availability laid out as Monday-first weeks, a new table whenever the month turns."""
    months: list[Month] = []
    week: list[Cell | None] = []
    for answer in days:
        day = date.fromisoformat(answer.date)
        if not months or day.day == 1:
            if week:
                months[-1].weeks.append(week + [None] * (7 - len(week)))
            months.append(Month(title=day_label(day, language, "yMMMM")))
            week = [None] * day.weekday()
        week.append(
            Cell(
                day=answer.date,
                number=day.day,
                label=day_label(day, language, "full"),
                state=answer.state,
                left=answer.left,
            )
        )
        if len(week) == 7:
            months[-1].weeks.append(week)
            week = []
    if week and months:
        months[-1].weeks.append(week + [None] * (7 - len(week)))
    return months


def weekday_names(language: str) -> list[str]:
    names = get_day_names(
        "narrow" if language == "zh-CN" else "abbreviated", "format", locale=babel_locale(language)
    )
    return [names[index] for index in range(7)]


def members_only(
    days: Sequence[DayAvailability], reserved: Collection[date], allowed: Collection[date]
) -> list[DayAvailability]:
    """The calendar with the park's member-only dates marked as such, except those the
    visitor's own card opens (`allowed`). Done after the shared availability cache, which
    is the same for every visitor."""
    marked = []
    for day in days:
        when = date.fromisoformat(day.date)
        if day.state != "closed" and when in reserved and when not in allowed:
            slots = [dataclasses.replace(s, state="members_only") for s in day.slots]
            day = dataclasses.replace(day, state="members_only", slots=slots)
        marked.append(day)
    return marked


def first_bookable(days: Sequence[DayAvailability]) -> DayAvailability | None:
    return next((day for day in days if day.state in BOOKABLE), None)


def day_of(days: Sequence[DayAvailability], wanted: date | None) -> DayAvailability | None:
    if wanted is None:
        return None
    return next((day for day in days if day.date == wanted.isoformat()), None)


def first_open_slot(day: DayAvailability | None) -> str | None:
    if day is None:
        return None
    return next((slot.code for slot in day.slots if slot.state in BOOKABLE), None)


def availability_json(days: Sequence[DayAvailability]) -> dict[str, Any]:
    """What the step-1 script needs to redraw the slots when another date is picked."""
    return {
        day.date: {
            "state": day.state,
            "left": day.left,
            "slots": {slot.code: [slot.state, slot.left] for slot in day.slots},
        }
        for day in days
    }


def shortage(
    day: DayAvailability | None, slot: str | None, people: int
) -> tuple[str, dict[str, Any]] | None:
    """Why the chosen date or slot cannot take this many people, before anyone tries."""
    if day is None:
        return None
    if day.state == "closed":
        return "park_closed", {"date": day.date}
    left = day.left
    if slot is not None:
        match = next((s for s in day.slots if s.code == slot), None)
        if match is not None:
            left = match.left
    if left is not None and left < max(people, 1):
        return "sold_out", {"date": day.date, "slot": slot, "left": left}
    return None
