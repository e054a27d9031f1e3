"""Annual-card members on the booking site: sign in without an account, "My card".

A visitor proves they hold a card with the order code and e-mail of the order
that bought it (the very check of "Find my order", with its rate limit), or with
the holder's ID document (cards are real-name: the number is compared by its
keyed hash, as at the gate). The site then keeps a signed member pass in an
HttpOnly, SameSite=Lax cookie. The pass only names the card: every page and every
quote checks the card again (`catalog.membership.load_card`), so a card refunded
or expired meanwhile stops giving member prices at once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.authz.permissions import public
from vistapass.platform.console.i18n import gettext_current as _
from vistapass.platform.console.pages import Page
from vistapass.platform.crypto import open_sealed
from vistapass.platform.identity.principal import client_ip
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.dependencies import CurrentTenant, TenantDbSession
from vistapass.tenants.booking.aftersale import _find_retry_after, _same_email
from vistapass.tenants.booking.member_pass import current_card, member_cookie
from vistapass.tenants.booking.messages import document_labels
from vistapass.tenants.booking.offer import day_label, product_name
from vistapass.tenants.booking.site import base_path, frame_from, page_headers, see_other
from vistapass.tenants.catalog.membership import (
    LIVE_ORDER_STATES,
    MEMBER_MODE,
    PASS_SECONDS,
    MemberCard,
    load_card,
    member_pass,
)
from vistapass.tenants.checkin.rules import DEFAULT_VALIDITY_DAYS
from vistapass.tenants.keys.service import data_key
from vistapass.tenants.models import Order, Product, Ticket, TicketHolder
from vistapass.tenants.orders.context import Selling, local_now, selling_for
from vistapass.tenants.orders.holders import HolderIn, document_hash
from vistapass.tenants.orders.service import OrderNotFound, load_order
from vistapass.tenants.park.service import get_profile
from vistapass.tenants.visitors.documents import DocumentInvalid, normalise_document

UPCOMING_MEMBER_DAYS = 10


def mask_name(name: str) -> str:
    """Enough of a name to recognise it, not enough to learn it: 李*, 欧*锋, J*** G****."""
    words = name.split()
    if len(words) > 1:
        return " ".join(word[0] + "*" * (len(word) - 1) for word in words)
    if len(name) <= 2:
        return name[:1] + "*" * (len(name) - 1)
    return name[0] + "*" * (len(name) - 2) + name[-1]


async def _holder_name(session: AsyncSession, selling: Selling, ticket: Ticket) -> str | None:
    if ticket.holder_id is None:
        return None
    holder = await session.get(TicketHolder, ticket.holder_id)
    if holder is None:
        return None
    key = await data_key(session, selling.wrapper, holder.data_key_id)
    sealed = json.loads(open_sealed(key, holder.sealed, holder.id.bytes))
    return mask_name(str(sealed.get("name") or ""))


async def _card_of_order(
    session: AsyncSession, code: str, email: str, today: date
) -> MemberCard | None:
    """The order's first card still valid, if the e-mail is the order's own."""
    try:
        order = await load_order(session, code)
    except OrderNotFound:
        return None
    if not _same_email(order, email):
        return None
    ids = await session.scalars(
        select(Ticket.id).where(Ticket.order_id == order.id).order_by(Ticket.position)
    )
    for ticket_id in ids:
        card = await load_card(session, ticket_id, today)
        if card is not None:
            return card
    return None


async def _card_of_holder(
    session: AsyncSession, selling: Selling, document_type: str, number: str, today: date
) -> MemberCard | None:
    """The holder's valid card lasting longest (a renewal outlasts the card it renews)."""
    try:
        checked = normalise_document(document_type, number, today=today)
    except DocumentInvalid:
        return None
    digest = await document_hash(session, selling, HolderIn("", document_type, checked))
    ids = await session.scalars(
        select(Ticket.id)
        .join(TicketHolder, TicketHolder.id == Ticket.holder_id)
        .join(Order, Order.id == Ticket.order_id)
        .join(Product, Product.id == Order.product_id)
        .where(
            TicketHolder.document_hash == digest,
            Product.pricing_mode == MEMBER_MODE,
            Order.status.in_(LIVE_ORDER_STATES),
            Ticket.revoked_at.is_(None),
        )
        .order_by(Ticket.valid_to.desc())
    )
    for ticket_id in ids:
        card = await load_card(session, ticket_id, today)
        if card is not None:
            return card
    return None


@dataclass(frozen=True)
class CardView:
    product_name: str
    holder: str | None
    started: bool
    valid_from: str
    valid_to: str
    days_left: int
    validity_days: int
    entries_used: int
    discount_pct: int
    priority_lane: bool
    member_days: list[str]
    renewal_url: str | None


def _renewal_url(card: MemberCard, base: str, today: date) -> str | None:
    """Step 1 of the card's product, while its renewal window is open."""
    product, config = card.product, card.product.pricing_config or {}
    grace = config.get("renewal_grace_days")
    on_web = product.status == "on_sale" and "web" in product.channels
    if not card.started or not on_web or not isinstance(grace, int):
        return None
    if today > card.valid_to + timedelta(days=grace):
        return None
    return f"{base}/buy/{product.code}?renew=1&qty_{card.ticket.unit}=1"


async def card_view(
    session: AsyncSession, selling: Selling, card: MemberCard, context: dict[str, Any], today: date
) -> CardView:
    extras = (card.ticket.entitlement or {}).get("extras") or {}
    days = extras.get("validity_days")
    validity_days = days if isinstance(days, int) else DEFAULT_VALIDITY_DAYS
    lang = context["lang"]
    upcoming = sorted(day for day in card.member_only_dates if day >= today)
    return CardView(
        product_name=product_name(card.product, context["english"]),
        holder=await _holder_name(session, selling, card.ticket),
        started=card.started,
        valid_from=day_label(card.valid_from, lang, "long"),
        valid_to=day_label(card.valid_to, lang, "long"),
        days_left=(card.valid_to - max(today, card.valid_from)).days + 1,
        validity_days=validity_days,
        entries_used=card.history.entries_total,
        discount_pct=card.discount_pct,
        priority_lane=bool((card.product.pricing_config or {}).get("priority_lane")),
        member_days=[day_label(day, lang, "full") for day in upcoming[:UPCOMING_MEMBER_DAYS]],
        renewal_url=_renewal_url(card, context["base"], today),
    )


def _page(
    context: dict[str, Any],
    *,
    card: CardView | None = None,
    form: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Template:
    base = context["base"]
    return Page(
        "booking/member.html",
        context={
            **context,
            "card": card,
            "form": form or {},
            "error": error,
            "documents": document_labels(),
            "sign_in_action": f"{base}/member/sign-in",
            "sign_out_action": f"{base}/member/sign-out",
        },
        status_code=status,
        headers=page_headers(private=True),
    )


@get("/member", opt=public(), include_in_schema=False)
async def member_page(
    request: Request[Any, Any, Any], db_session: TenantDbSession, tenant: CurrentTenant
) -> Template:
    """ "My card" for a signed-in member; the sign-in forms for anyone else."""
    profile = await get_profile(db_session)
    context = frame_from(request, profile, tenant.slug)
    today = local_now(profile.time_zone).date()
    card = await current_card(request, db_session, tenant.slug, today)
    if card is None:
        return _page(context)
    selling = selling_for(request.app.state)
    return _page(context, card=await card_view(db_session, selling, card, context, today))


@post("/member/sign-in", opt=public(), include_in_schema=False)
async def sign_in(
    request: Request[Any, Any, Any], tenant_slug: FromPath[str]
) -> Template | Redirect:
    selling = selling_for(request.app.state)
    posted = await request.form()
    form = {
        name: str(posted.get(name) or "").strip()[:limit]
        for name, limit in (("email", 254), ("code", 32), ("document_type", 20), ("number", 40))
    }
    async with tenant_session(selling.db, tenant_slug) as session:
        profile = await get_profile(session)
        context = frame_from(request, profile, tenant_slug)
        # One budget with "Find my order": codes, e-mails and ID numbers alike are
        # tried a few times per address, never fished for.
        wait = await _find_retry_after(
            selling.redis, selling.settings.redis_namespace, client_ip(request)
        )
        if wait is not None:
            minutes = max(1, (wait + 59) // 60)
            message = _("Too many tries. Try again in %(minutes)s minutes.") % {"minutes": minutes}
            page = _page(context, form=form, error=message, status=429)
            page.headers["Retry-After"] = str(wait)
            return page
        today = local_now(profile.time_zone).date()
        card = None
        if form["code"] and form["email"]:
            card = await _card_of_order(session, form["code"], form["email"], today)
        elif form["number"] and form["document_type"]:
            card = await _card_of_holder(
                session, selling, form["document_type"], form["number"], today
            )
        if card is None:
            message = _("No valid annual card matches what you gave. Check it and try again.")
            return _page(context, form=form, error=message, status=404)
        value = member_pass(selling.settings, tenant_slug, card.ticket.id, int(time.time()))
    response = see_other(f"{context['base']}/member")
    response.cookies.append(member_cookie(request, tenant_slug, value, PASS_SECONDS))
    return response


@post("/member/sign-out", opt=public(), include_in_schema=False)
async def sign_out(request: Request[Any, Any, Any], tenant_slug: FromPath[str]) -> Redirect:
    response = see_other(f"{base_path(request, tenant_slug)}/member")
    response.cookies.append(member_cookie(request, tenant_slug, "", 0))
    return response


MEMBER_ROUTES = [member_page, sign_in, sign_out]
