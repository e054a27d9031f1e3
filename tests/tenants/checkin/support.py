"""Selling tickets and scanning them for the check-in and window tests.

Test modules import the fixtures from here (not from a conftest), as the
catalogue tests do, so suites sharing a folder never collide.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import segno
from litestar.testing import TestClient

from tests.conftest import run
from tests.tenants.orders.conftest import client, open_weekday, sale_park
from vistapass.platform.cache import redis_client
from vistapass.platform.db import Database
from vistapass.platform.plugin_api import BasketLine
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.checkin.service import Decision, Presented, scan
from vistapass.tenants.orders.context import Selling
from vistapass.tenants.orders.holders import HolderIn
from vistapass.tenants.orders.service import Buyer, OrderRequest, place_order
from vistapass.tenants.visitors.documents import cn_id_check_char

__all__ = ["client", "open_weekday", "sale_park"]

T = TypeVar("T")
PARK_TZ = ZoneInfo("Asia/Shanghai")  # where parks are provisioned


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A moment on the park's clock."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARK_TZ)


def cn_id(birth: str = "19900307", serial: str = "123", region: str = "110101") -> str:
    first17 = region + birth + serial
    return first17 + cn_id_check_char(first17)


def with_selling(settings: Settings, work: Callable[[Selling], Awaitable[T]]) -> T:
    async def main(db: Database) -> T:
        redis = redis_client(settings)
        selling = Selling.build(db, settings, redis)
        try:
            return await work(selling)
        finally:
            await selling.close()
            await redis.aclose()

    return run(settings, main)


async def sell(
    selling: Selling,
    slug: str,
    product: str,
    day: date,
    lines: dict[str, int],
    *,
    slot: str | None = None,
    holders: tuple[HolderIn, ...] = (),
) -> dict[str, Any]:
    """A window sale paid in cash: the order's view, tickets and QR codes included."""
    return await place_order(
        selling,
        slug,
        OrderRequest(
            product=product,
            visit_date=day,
            slot=slot,
            channel="window",
            lines=tuple(BasketLine(unit, quantity) for unit, quantity in lines.items()),
            buyer=Buyer(name="Wang Fang", phone="139-1234-5678"),
            provider="cash",
            holders=holders,
        ),
    )


async def scan_at(
    selling: Selling,
    slug: str,
    code: str,
    now: datetime,
    direction: str = "entry",
    *,
    nonce: str | None = None,
    document: Presented | None = None,
    zone: str | None = None,
    device: str = "lane-1",
) -> Decision:
    """One scan in its own transaction, as one request would make it."""
    async with tenant_session(selling.db, slug) as session:
        return await scan(
            session,
            selling,
            code=code,
            direction=direction,
            device=device,
            nonce=nonce,
            now=now,
            zone=zone,
            document=document,
        )


def qr_png(text: str, scale: int = 6) -> bytes:
    out = io.BytesIO()
    segno.make(text, micro=False, error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def csrf(client: TestClient, accept: str = "application/json") -> dict[str, str]:
    if not client.cookies.get("csrftoken"):
        client.get("/healthz")
    return {"x-csrftoken": client.cookies.get("csrftoken") or "", "accept": accept}
