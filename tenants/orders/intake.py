"""An order request as it arrives, whatever the channel: once per Idempotency-Key.

The steps, cheapest first: a plain web order through the group commit
(`fast_path`), which asks Redis first whether its date and slot just sold out;
anything else, or anything the group commit sends back, after that same Redis
question, through the ordinary path with its own idempotency claim. A retry of
a request that did get a place still gets its first answer after a sell-out.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from vistapass.platform.plugin_api import BasketLine
from vistapass.tenants.catalog.membership import read_pass
from vistapass.tenants.inventory.service import SoldOut
from vistapass.tenants.orders import idempotency
from vistapass.tenants.orders.context import Selling
from vistapass.tenants.orders.fast_path import place_plain
from vistapass.tenants.orders.group_commit import Claim
from vistapass.tenants.orders.holders import HolderIn
from vistapass.tenants.orders.schemas import OrderIn, WindowSaleIn
from vistapass.tenants.orders.service import (
    Buyer,
    OrderRequest,
    place,
    refuse_if_sold_out,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED = {"Idempotent-Replayed": "true"}
WEB_ORDER_SCOPE = "POST /orders"  # whose Idempotency-Keys a web order's key is among


def basket_lines(data: OrderIn | WindowSaleIn) -> tuple[BasketLine, ...]:
    return tuple(
        BasketLine(unit=line.unit, quantity=line.quantity, ages=tuple(line.ages or ()))
        for line in data.lines
    )


def holders_of(data: OrderIn | WindowSaleIn) -> tuple[HolderIn, ...]:
    return tuple(HolderIn(h.name, h.document_type, h.document_number) for h in data.holders)


def web_order_request(
    selling: Selling, slug: str, data: OrderIn, member_cookie: str | None
) -> OrderRequest:
    """A buyer's order as the order API receives it (`POST .../orders`, by either of
    its routes: the Litestar one and the fast lane, `fast_route`)."""
    return OrderRequest(
        product=data.product,
        visit_date=data.date,
        slot=data.slot,
        channel="web",
        lines=basket_lines(data),
        buyer=Buyer(data.contact.name, data.contact.email, data.contact.phone, data.locale),
        provider=data.payment,
        holders=holders_of(data),
        renewal_of=data.renewal_of,
        # The same member as the quote API sees, so the price quoted is the one charged.
        member=read_pass(selling.settings, slug, data.member or member_cookie, int(time.time())),
    )


async def take_order(
    selling: Selling,
    slug: str,
    request: OrderRequest,
    *,
    scope: str,
    key: str | None,
    payload: Any,
) -> dict[str, Any] | idempotency.Replay:
    """The new order's view (201), or the first answer to this key (a Replay)."""
    claim = None
    if key is not None:
        claim = Claim(scope, idempotency.check_key(key), idempotency.request_hash(payload))
    try:
        body = await place_plain(selling, slug, request, claim)
        if body is None:
            await refuse_if_sold_out(selling, slug, request)
    except SoldOut:
        # A retry of a request that was sold a place still gets its first answer.
        stored = claim and await idempotency.stored_answer(
            selling.db, slug, scope, claim.key, claim.request_hash
        )
        if not stored:
            raise
        return stored
    if body is not None:
        return body
    return await idempotency.run_once(
        selling.db,
        slug,
        scope,
        key,
        payload,
        partial(place, selling, slug, request, sold_out_checked=True),
    )
