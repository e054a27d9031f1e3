"""The booking site's front page and step 1: choose the date, slot and people.

Step 1 is a GET form, so it needs no script: its steppers and its "Update price"
button come back to this page with the new selection and the server's quote, and
"Continue" goes on to step 2 with the same query. The page's own script makes it
live (the quote follows each change through the public quote API).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.authz.permissions import public
from vistapass.platform.console.i18n import gettext_current as _
from vistapass.platform.console.pages import Page
from vistapass.platform.errors import VistapassError
from vistapass.platform.pricing_registry import UnknownPricingMode, get_mode
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.booking import offer
from vistapass.tenants.booking.member_pass import current_card
from vistapass.tenants.booking.messages import (
    adjustment_labels,
    error_templates,
    error_text,
    explain,
    state_labels,
)
from vistapass.tenants.booking.selection import Selection, ages_required, read_selection
from vistapass.tenants.booking.site import frame_from, page_headers
from vistapass.tenants.booking.storefront import storefront
from vistapass.tenants.catalog.membership import applies_to, member_only_dates
from vistapass.tenants.catalog.quote import ProductNotFound, load_product_on_sale
from vistapass.tenants.inventory.availability import DayAvailability, availability
from vistapass.tenants.inventory.service import product_slots
from vistapass.tenants.models import ParkProfile, Product
from vistapass.tenants.orders.context import local_now, selling_for
from vistapass.tenants.park.service import get_profile


async def home_page(request: Request[Any, Any, Any], session: AsyncSession, slug: str) -> Template:
    """The park's front page (served by the park's `/` route)."""
    profile = await get_profile(session)
    context = frame_from(request, profile, slug)
    today = local_now(profile.time_zone).date()
    card = await current_card(request, session, slug, today)
    products, hours = await storefront(
        session,
        request.app.state.storage,
        language=context["lang"],
        today=today,
        currency=profile.currency,
        member_pct=card.discount_pct if card is not None else None,
    )
    return Page(
        "park/home.html",
        context={**context, "products": products, "hours": hours, "member": card is not None},
        headers=page_headers(),
    )


def not_found(context: dict[str, Any]) -> Template:
    return Page("booking/not_found.html", context=context, status_code=404, headers=page_headers())


async def sellable(session: AsyncSession, code: str) -> Product | None:
    """The product if it is on sale on the web; None if a visitor cannot buy it here."""
    try:
        product = await load_product_on_sale(session, code)
        # A product whose pricing plugin is gone cannot be priced: not for sale either.
        get_mode(product.pricing_mode)
    except (ProductNotFound, UnknownPricingMode):
        return None
    return product if "web" in product.channels else None


def _slot_choices(product: Product, day: DayAvailability | None) -> list[dict[str, Any]]:
    if day is not None and day.slots:
        return [
            {"code": s.code, "start": s.start, "end": s.end, "state": s.state, "left": s.left}
            for s in day.slots
        ]
    return [
        {"code": s.code, "start": s.start, "end": s.end, "state": "available", "left": None}
        for s in product_slots(product)
    ]


async def step_one_context(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    profile: ParkProfile,
    context: dict[str, Any],
    product: Product,
    selection: Selection | None = None,
) -> dict[str, Any]:
    """Everything step 1 shows for a selection (read from the query when not given)."""
    selling = selling_for(request.app.state)
    english = context["english"]
    today = local_now(profile.time_zone).date()
    units = await offer.units_of(session, product)
    labels = offer.unit_labels(units, english)
    slots = product_slots(product)
    if selection is None:
        selection = read_selection(
            request.query_params,
            product,
            [u.unit for u in units],
            slots=[s.code for s in slots],
        )
    start, count = offer.calendar_start(today)
    days = await availability(session, selling, product, start, count)
    card = await current_card(request, session, context["slug"], today)
    if applies_to(product, "web"):
        allowed = card.member_only_dates if card is not None else frozenset()
        days = offer.members_only(days, await member_only_dates(session), allowed)
    if selection.day is None and not selection.day_text:
        first = offer.first_bookable(days)
        selection.day = date.fromisoformat(first.date) if first else None
    chosen = offer.day_of(days, selection.day)
    if slots and selection.slot is None:
        selection.slot = offer.first_open_slot(chosen)
    quote = None
    error = None
    if selection.day is None:
        error = error_text("invalid_date", {}, "")
    else:
        try:
            member = card.ticket.id if card is not None else None
            _product, priced, entitlements = await offer.price(session, selection, today, member)
            quote = offer.quote_view(priced, entitlements, labels)
        except VistapassError as exc:
            error = explain(exc, labels)
        if quote is not None:
            short = offer.shortage(chosen, selection.slot, quote.tickets)
            if short is not None:
                error = error_text(short[0], short[1], "", labels)
    base = context["base"]
    return {
        **context,
        "product": product,
        "product_name": offer.product_name(product, english),
        "product_description": offer.product_description(product, english),
        "selection": selection,
        "units": offer.unit_views(product, units, selection, english),
        "ages_required": ages_required(product),
        "months": offer.calendar_months(days, context["lang"]),
        "weekdays": offer.weekday_names(context["lang"]),
        "slots": _slot_choices(product, chosen),
        "quote": quote,
        "error": error,
        "member": card is not None and applies_to(product, "web"),
        "members_only_days": any(day.state == "members_only" for day in days),
        "renewing": card is not None and selection.renew and card.product.id == product.id,
        "states": state_labels(),
        "action": f"{base}/buy/{product.code}",
        "next_action": f"{base}/buy/{product.code}/who",
        "script": {
            "quotesUrl": f"{base}/api/v1/quotes",
            "product": product.code,
            # The member's own card, when they renew it: quoted at its renewal price.
            "renewalOf": str(card.ticket.id) if card is not None and selection.renew else None,
            "currency": profile.currency,
            "units": labels,
            "errors": error_templates(),
            "states": state_labels(),
            "days": offer.availability_json(days),
            "adjustments": adjustment_labels(),
            "text": {
                "total": _("Total"),
                "memberTotal": _("Member price"),
                "normal": _("Normal price %(price)s"),
                "each": _("%(price)s each"),
                "updating": _("Updating the price…"),
                "age": _("Age of %(unit)s %(number)s"),
                "offline": _("The price could not be updated. Check your connection."),
            },
        },
    }


@get("/buy/{product_code:str}", opt=public(), include_in_schema=False)
async def choose(
    request: Request[Any, Any, Any],
    db_session: TenantDbSession,
    tenant: CurrentTenant,
    product_code: FromPath[str],
) -> Template:
    """Step 1 of 3: date, slot and people, with the price of the selection."""
    profile = await get_profile(db_session)
    context = frame_from(request, profile, tenant.slug)
    product = await sellable(db_session, product_code)
    if product is None:
        return not_found(context)
    page = await step_one_context(request, db_session, profile, context, product)
    return Page("booking/step1.html", context=page, headers=page_headers())
