"""Tickets for the simulator to scan: sold at the window, used and refunded the real way.

`make run` calls `seed_demo_codes` (through demo_setup) and writes the codes to a JSON file
that `vistapass gate-sim` reads. Every ticket goes through the one selling path (order,
cash payment, ticket issue, refund, check-in), so what the edge sees is what a real day
gives it. Kinds: `valid` (today, unused), `used` (today, already admitted once at the
hub), `wrong_day` (the next open day), `revoked` (today, refunded).
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, timedelta

from vistapass.platform.errors import VistapassError
from vistapass.platform.models.base import utcnow
from vistapass.platform.plugin_api import BasketLine
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.checkin.service import park_clock, scan
from vistapass.tenants.orders.context import Selling
from vistapass.tenants.orders.refunds import refund_order
from vistapass.tenants.orders.service import Buyer, OrderRequest, load_order, place_order
from vistapass.tenants.park.service import get_profile

log = logging.getLogger(__name__)
PRODUCT = "day-ticket"
PER_ORDER = 10  # adults per demo order, well inside an order's limits
LOOK_AHEAD_DAYS = 14


async def sell_day_tickets(
    selling: Selling, slug: str, day: date, adults: int, *, buyer: str = "Gate simulator"
) -> tuple[str, list[str]]:
    """A window sale paid in cash of `adults` day tickets for `day`: order and ticket codes."""
    placed = await place_order(
        selling,
        slug,
        OrderRequest(
            product=PRODUCT,
            visit_date=day,
            slot=None,
            channel="window",
            lines=(BasketLine("adult", adults),),
            buyer=Buyer(name=buyer, email="gate-sim@example.com", locale="en"),
            provider="cash",
            note=buyer,
        ),
    )
    return placed["code"], [ticket["qr"] for ticket in placed["tickets"]]


async def _sell_first_open(
    selling: Selling, slug: str, start: date, adults: int
) -> tuple[str, list[str]]:
    for offset in range(LOOK_AHEAD_DAYS):
        try:
            return await sell_day_tickets(selling, slug, start + timedelta(days=offset), adults)
        except VistapassError as exc:
            log.info("gate-sim: %s not on sale (%s)", start + timedelta(days=offset), exc.code)
    raise VistapassError(f"No day within {LOOK_AHEAD_DAYS} days of {start} sells {PRODUCT}.")


async def seed_demo_codes(selling: Selling, slug: str, *, valid: int = 200) -> dict[str, list[str]]:
    """Sell the simulator its tickets; see the module's docstring for the kinds."""
    async with tenant_session(selling.db, slug) as session:
        today = (await park_clock(session, utcnow())).today
    codes: dict[str, list[str]] = {"valid": [], "used": [], "wrong_day": [], "revoked": []}
    try:
        for _ in range(max(1, valid // PER_ORDER)):
            codes["valid"] += (await sell_day_tickets(selling, slug, today, PER_ORDER))[1]
        _, used = await sell_day_tickets(selling, slug, today, 5)
        async with tenant_session(selling.db, slug) as session:
            for code in used:
                await scan(
                    session, selling, code=code, direction="entry", device="gate-sim seed",
                    nonce=f"gate-sim-seed:{uuid.uuid4()}", now=utcnow(),
                )  # fmt: skip
        codes["used"] = used
        refunded, revoked = await sell_day_tickets(selling, slug, today, 5)
        async with tenant_session(selling.db, slug) as session:
            order = await load_order(session, refunded, for_update=True)
            time_zone = (await get_profile(session)).time_zone
            await refund_order(
                session, selling, order, ticket_ids=None, by_staff=True,
                time_zone=time_zone, business_date=today, reason="gate simulator",
            )  # fmt: skip
        codes["revoked"] = revoked
    except VistapassError as exc:
        # A park closed today (or past its sale hours) cannot sell for today.
        log.warning("gate-sim: today's demo tickets could not be sold: %s", exc)
    codes["wrong_day"] = (await _sell_first_open(selling, slug, today + timedelta(days=1), 5))[1]
    return codes
