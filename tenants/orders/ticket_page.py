"""The buyer's e-ticket page, `/p/<slug>/orders/<CODE>?t=<token>`: the confirmation mail's link.

Anyone holding the link holds the tickets, so the token is the only key: a wrong
or missing token answers exactly like an unknown code, and the page is kept out
of caches, search engines and other sites' Referer headers.

The handler turns the order into plain values (formatted dates and money, an
inline SVG per valid ticket, each ticket's rules as facts); the template puts
every one of them into words, so all visible text lives in `tickets.po`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import segno
from babel.dates import format_date
from litestar import Request, get
from litestar.params import FromPath, QueryParameter
from litestar.response import Template
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.authz.permissions import public
from vistapass.platform.console.i18n import LANGUAGES, current_language
from vistapass.platform.console.pages import Page
from vistapass.platform.http.context import park_base
from vistapass.platform.storage import Storage
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.catalog.extras import money
from vistapass.tenants.models import Order, ParkProfile, Product, ProductUnit, Ticket
from vistapass.tenants.orders.service import OrderNotFound, is_expired, load_buyer_order
from vistapass.tenants.park.service import get_profile

PAGE_HEADERS = {
    # The URL carries the buyer's secret: no shared or back-button cache may keep
    # the page, no link on it may leak the URL, and no crawler should list it.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}
LOGO_URL_SECONDS = 3600
# Colours go into a <style> block, where HTML escaping protects nothing; settings
# only save #rrggbb, and this check keeps it that way should a row be edited by hand.
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
DEFAULT_PRIMARY = "#1f6f43"
DEFAULT_ACCENT = "#b35c00"
# Black on white whatever the brand: gate scanners and low-end phone cameras read
# that best, and the four-module quiet zone is what the QR standard asks for.
QR_DARK = "#000000"
QR_LIGHT = "#ffffff"
QR_BORDER = 4


@dataclass(frozen=True)
class Rules:
    """What a ticket allows at the gate, read from its entitlement (the gate reads the same)."""

    valid_from: str
    valid_to: str
    single_day: bool
    days_from_first_entry: int | None = None  # annual cards that start on first entry
    slot: str | None = None
    slot_start: str | None = None
    slot_end: str | None = None
    entries_per_day: int | None = None  # None: unlimited
    entries_total: int | None = None  # None: unlimited
    reentry_allowed: bool = False
    real_name: bool = False
    face: bool = False
    zones: str = ""  # empty: every zone
    priority_lane: bool = False
    bundle: bool = False
    blackout_dates: str = ""


@dataclass(frozen=True)
class TicketView:
    number: int  # 1-based, as people count
    unit_label: str
    state: str  # valid, refunded, revoked, unissued
    rules: Rules
    qr_text: str | None = None
    qr_svg: Markup | None = None


@dataclass(frozen=True)
class OrderView:
    code: str
    status: str
    product_name: str
    product_description: str
    visit_date: str
    slot: str | None
    slot_start: str | None
    slot_end: str | None
    total: str
    refunded: str | None
    expires_at: str | None
    tickets: list[TicketView] = field(default_factory=list)


def _babel_locale(language: str) -> str:
    return "zh_CN" if language == "zh-CN" else "en"


def _listing(items: list[str], language: str) -> str:
    # Chinese lists items with the enumeration comma, not the Latin one.
    return ("、" if language == "zh-CN" else ", ").join(items)


def _day(value: date | str | None, language: str, style: str = "medium") -> str:
    if value is None:
        return ""
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return format_date(day, format=style, locale=_babel_locale(language))


def _moment(value: datetime, time_zone: str, language: str) -> str:
    """A date and time on the park's clock, where the buyer will be."""
    local = value.astimezone(ZoneInfo(time_zone))
    return f"{_day(local.date(), language)} {local:%H:%M}"


def _colour(value: str | None, default: str) -> str:
    return value if value and _COLOUR.fullmatch(value) else default


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def qr_svg(text: str) -> Markup:
    """The ticket's code as inline SVG, sized by CSS (a viewBox, no fixed width)."""
    # segno writes only numbers and colours into the markup, never the encoded text.
    return Markup(_svg(text))  # noqa: S704


# A ticket's code never changes, and drawing it is most of the page's render time.
@functools.lru_cache(maxsize=1024)
def _svg(text: str) -> str:
    code = segno.make(text, micro=False, error="m")
    svg = code.svg_inline(
        scale=1,
        border=QR_BORDER,
        dark=QR_DARK,
        light=QR_LIGHT,
        omitsize=True,
        svgclass="qr-code",
        lineclass=None,
    )
    return str(svg)


def rules_of(ticket: Ticket, language: str) -> Rules:
    entitlement = ticket.entitlement or {}
    extras = entitlement.get("extras") or {}
    valid_from = entitlement.get("valid_from") or ticket.valid_from
    valid_to = entitlement.get("valid_to") or ticket.valid_to
    first_entry = extras.get("validity") == "365_from_first_entry"
    return Rules(
        valid_from=_day(valid_from, language, "full"),
        valid_to=_day(valid_to, language, "full"),
        single_day=str(valid_from) == str(valid_to),
        # The stored end date assumes a first entry on the start day; the gate moves
        # the window at the real first entry, so only the length is a promise.
        days_from_first_entry=(_count(extras.get("validity_days")) or 365) if first_entry else None,
        slot=entitlement.get("slot") or ticket.slot,
        slot_start=extras.get("slot_start"),
        slot_end=extras.get("slot_end"),
        entries_per_day=_count(entitlement.get("entries_per_day")),
        entries_total=_count(entitlement.get("entries_total")),
        reentry_allowed=bool(entitlement.get("reentry_allowed")),
        real_name=bool(entitlement.get("real_name_required")) or ticket.holder_id is not None,
        face=bool(entitlement.get("face_required")),
        zones=_listing([str(zone) for zone in entitlement.get("zones") or ()], language),
        priority_lane=bool(extras.get("priority_lane")),
        bundle=bool(extras.get("bundle")),
        blackout_dates=_listing(
            [_day(d, language) for d in extras.get("blackout_dates") or ()], language
        ),
    )


def ticket_state(ticket: Ticket) -> str:
    if ticket.revoked_at is not None:
        return "refunded" if ticket.revoked_reason == "refunded" else "revoked"
    return "valid" if ticket.qr else "unissued"


def ticket_view(ticket: Ticket, unit_label: str, language: str) -> TicketView:
    state = ticket_state(ticket)
    # A refunded ticket's code is dead at the gate: not showing it avoids a wasted trip.
    qr = ticket.qr if state == "valid" else None
    return TicketView(
        number=ticket.position + 1,
        unit_label=unit_label,
        state=state,
        rules=rules_of(ticket, language),
        qr_text=qr,
        qr_svg=qr_svg(qr) if qr else None,
    )


async def order_page_view(
    session: AsyncSession, order: Order, profile: ParkProfile, language: str
) -> OrderView:
    english = language == "en"
    product = await session.get(Product, order.product_id)
    units = (
        await session.scalars(select(ProductUnit).where(ProductUnit.product_id == order.product_id))
    ).all()
    labels = {u.unit: (u.label_en if english else u.label_zh) or u.unit for u in units}
    tickets = (
        await session.scalars(
            select(Ticket).where(Ticket.order_id == order.id).order_by(Ticket.position)
        )
    ).all()
    views = [ticket_view(t, labels.get(t.unit, t.unit), language) for t in tickets]
    slot_start = next((v.rules.slot_start for v in views if v.rules.slot_start), None)
    slot_end = next((v.rules.slot_end for v in views if v.rules.slot_end), None)
    # A pending order past its hold is expired even before the sweeper marks it.
    status = "expired" if is_expired(order) else order.status
    name = description = ""
    if product is not None:
        name = product.name_en if english else product.name_zh
        description = product.description_en if english else product.description_zh
    return OrderView(
        code=order.code,
        status=status,
        product_name=name or order.product_code,
        product_description=description,
        visit_date=_day(order.visit_date, language, "full"),
        slot=order.slot,
        slot_start=slot_start,
        slot_end=slot_end,
        total=money(order.total, order.currency),
        refunded=money(order.refunded_amount, order.currency) if order.refunded_amount else None,
        expires_at=(
            _moment(order.expires_at, profile.time_zone, language)
            if status == "pending" and order.expires_at
            else None
        ),
        tickets=views,
    )


def park_context(
    request: Request[Any, Any, Any], profile: ParkProfile, slug: str
) -> dict[str, Any]:
    """What the branded frame needs: the same for a ticket page and the not-found page."""
    logo_url = None
    if profile.logo_key:
        storage: Storage = request.app.state.storage
        logo_url = storage.signed_url(profile.logo_key, expires_in=LOGO_URL_SECONDS)
    return {
        "park": profile,
        "slug": slug,
        "base": park_base(request.scope.get("state"), slug),
        "lang": current_language.get(),
        "logo_url": logo_url,
        "brand_primary": _colour(profile.brand_primary, DEFAULT_PRIMARY),
        "brand_accent": _colour(profile.brand_accent, DEFAULT_ACCENT),
    }


def _switch_link(request: Request[Any, Any, Any], language: str, offered: list[str]) -> str | None:
    """`/lang/<other>` back to this very page (token included), if the park offers it."""
    other = next((lang for lang in LANGUAGES if lang != language), None)
    if other is None or other not in (offered or LANGUAGES):
        return None
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/lang/{other}?next={quote(here, safe='')}"


@get("/orders/{code:str}", opt=public(), include_in_schema=False)
async def ticket_page(
    request: Request[Any, Any, Any],
    db_session: TenantDbSession,
    tenant: CurrentTenant,
    code: FromPath[str],
    token: Annotated[str | None, QueryParameter(name="t")] = None,
) -> Template:
    """The order's tickets for whoever holds its link; anyone else sees "not found"."""
    profile = await get_profile(db_session)
    frame = park_context(request, profile, tenant.slug)
    try:
        order = await load_buyer_order(db_session, code, token)
    except OrderNotFound:
        return Page(
            "orders/ticket_missing.html",
            context=frame,
            status_code=404,
            headers=PAGE_HEADERS,
        )
    language = frame["lang"]
    view = await order_page_view(db_session, order, profile, language)
    return Page(
        "orders/tickets.html",
        context={
            **frame,
            "order": view,
            "token": token,
            "switch_url": _switch_link(request, language, list(profile.languages or [])),
        },
        headers=PAGE_HEADERS,
    )


TICKET_PAGE_ROUTES = [ticket_page]
