"""Plain web orders, priced from the facts a process keeps and written by group commit.

Most of an on-sale is the same order over and over: one product, one date and
slot, a few places, paid by card afterwards, no names to collect. Such an order
is priced here from `facts.SaleFacts` (no query), takes its flash-sale ticket
from Redis as usual, and is written with the others that are ready at the same
moment (`group_commit`). The rules are the ordinary path's own functions, called
in the same order, so a refused basket gets the same answer either way.

Everything else takes the ordinary path (`service.place_order`): window and
partner sales (paid at once, with ledger lines and signed tickets), real-name
tickets, renewals, member prices, and any order the group commit sends back.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from vistapass.platform.errors import VistapassError
from vistapass.platform.models.base import utcnow
from vistapass.platform.plugin_api import Entitlement
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.naming import schema_for
from vistapass.tenants.catalog.membership import applies_to
from vistapass.tenants.catalog.quote import check_basket_rules, check_members_only, price_basket
from vistapass.tenants.inventory import service as inventory
from vistapass.tenants.inventory.gate import places_left
from vistapass.tenants.models import Product
from vistapass.tenants.orders.context import Selling, local_now
from vistapass.tenants.orders.facts import SaleFacts
from vistapass.tenants.orders.group_commit import Claim, Ready
from vistapass.tenants.orders.rows import PricedRows, build_order
from vistapass.tenants.orders.service import (
    PENDING_PROVIDERS,
    OrderRequest,
    check_provider,
    refuse_if_sold_out,
)
from vistapass.tenants.orders.views import order_body


def is_plain(request: OrderRequest) -> bool:
    """Nothing about the order needs more than the kept facts and a hold."""
    return (
        request.channel == "web"
        and request.provider in PENDING_PROVIDERS
        and not request.holders
        and request.renewal_of is None
        and request.member is None
    )


async def _left_in(selling: Selling, slug: str, need: inventory.Need) -> int:
    async with tenant_session(selling.db, slug) as session:
        return await places_left(session, need)


def _price(
    selling: Selling, request: OrderRequest, facts: SaleFacts
) -> tuple[Product, tuple[Entitlement, ...], PricedRows, str] | None:
    """The ordinary path's rules and pricing, on kept facts; None: not a plain order."""
    inputs = facts.inputs
    common = {"slot": request.slot, "channel": request.channel, "lines": request.lines}
    check_basket_rules(inputs, today=local_now(facts.time_zone).date(), **common)
    if applies_to(inputs.product, request.channel):
        check_members_only(inputs, None)
    key = (request.slot, request.channel, request.lines)
    if (priced := facts.priced.get(key)) is not None:
        quote, entitlements, rows = priced
    else:
        _, quote, entitlements = price_basket(inputs, **common)
        rows = facts.remember_price(key, quote, entitlements)
    provider = check_provider(request, quote.total, selling)
    if provider not in PENDING_PROVIDERS or any(e.real_name_required for e in entitlements):
        return None  # paid at once (free), or names to collect
    return inputs.product, entitlements, rows, provider


async def place_plain(
    selling: Selling, slug: str, request: OrderRequest, claim: Claim | None
) -> dict[str, Any] | None:
    """The buyer's view of the written order; None: take the ordinary path instead."""
    if not is_plain(request):
        return None
    schema = schema_for(slug)
    facts = selling.facts.get(schema, request.product, request.visit_date)
    if facts is not None:
        try:
            priced = _price(selling, request, facts)
        except VistapassError:
            # Kept facts may be out of date, and a refusal is never checked at
            # commit: the ordinary path, which reads afresh, gives the answer, and
            # the next order here reads the facts again.
            selling.facts.drop(schema, request.product, request.visit_date)
            return None
    else:
        facts = await selling.facts.load(
            selling.db, slug, schema, request.product, request.visit_date
        )
        priced = _price(selling, request, facts)
    if priced is None:
        return None
    product, entitlements, rows, provider = priced
    needs = inventory.needs_for(
        product,
        facts.pools,
        request.visit_date,
        request.slot,
        len(entitlements),
        slots=facts.inputs.slots,
    )
    marker = selling.gate.marker_key(schema, request.product, request.visit_date, request.slot)
    admission = None
    if product.flash_sale:
        try:
            admission = await selling.gate.admit(
                schema, needs, partial(_left_in, selling, slug), marker
            )
        except inventory.SoldOut as exc:
            await selling.gate.mark_sold_out(
                schema, request.product, request.visit_date, request.slot, exc.available
            )
            raise
    elif not selling.orders.has_room(slug, needs):
        # A sold-out answer kept in Redis exists only once a bucket refused a buyer.
        # While this process's last batch left room, the batch itself is the check.
        await refuse_if_sold_out(selling, slug, request)
    new = build_order(
        request,
        product,
        rows,
        provider=provider,
        expires_at=utcnow() + timedelta(minutes=facts.hold_minutes),
    )
    body = order_body(new.order, new.tickets, slug)
    ready = Ready(facts.version, new.order, new.lines, new.tickets, needs, body, claim)
    try:
        written = await selling.orders.write(slug, ready)
    except BaseException:
        await selling.gate.give_back(admission)
        raise
    if not written:
        # The ordinary path takes its own ticket from the gate.
        await selling.gate.give_back(admission)
        return None
    return body
