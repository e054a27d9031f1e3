"""Many buyers at once: every place sold once, one order per key, holds that run out."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from sqlalchemy import text

from tests.conftest import run, unique_slug
from tests.tenants.catalog.helpers import add_product
from tests.tenants.orders.conftest import open_weekday
from vistapass.platform.cache import redis_client
from vistapass.platform.db import Database
from vistapass.platform.errors import VistapassError
from vistapass.platform.plugin_api import BasketLine
from vistapass.platform.pricing_registry import get_mode
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.naming import schema_for
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.tenants.inventory.service import SoldOut, release
from vistapass.tenants.orders import idempotency, tasks
from vistapass.tenants.orders.context import Selling
from vistapass.tenants.orders.payment import confirm_payment
from vistapass.tenants.orders.release import expire_overdue
from vistapass.tenants.orders.service import Buyer, OrderRequest, load_order, place

T = TypeVar("T")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def park(migrated: Settings) -> str:
    slug = unique_slug("rush")
    run(migrated, lambda db: provision_tenant(db, slug, "Rush Park"))
    return slug


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


def slot_product(db: Database, slug: str, capacity: int, **fields: Any) -> Awaitable[str]:
    config = {
        "prices": {"adult": 5000},
        "slots": [{"code": "10:00", "start": "10:00", "end": "12:00", "capacity": capacity}],
    }
    stored = dict(get_mode("time_slot").validate_config(config))
    return add_product(db, slug, mode="time_slot", config=stored, units=("adult",), **fields)


def request_for(product: str, quantity: int = 1) -> OrderRequest:
    return OrderRequest(
        product=product,
        visit_date=open_weekday(),
        slot="10:00",
        channel="web",
        lines=(BasketLine("adult", quantity),),
        buyer=Buyer(name="Rush"),
        provider="test",
    )


async def live_places(selling: Selling, slug: str, product: str) -> tuple[int, int]:
    """(places in pending or paid orders, places the bucket says are taken)."""
    async with tenant_session(selling.db, slug) as session:
        ordered = await session.scalar(
            text(
                "SELECT COALESCE(sum(places), 0) FROM orders WHERE product_code = :p "
                "AND status IN ('pending', 'paid')"
            ),
            {"p": product},
        )
        taken = await session.scalar(
            text(
                "SELECT COALESCE(sum(b.taken), 0) FROM inventory_buckets b "
                "JOIN products p ON b.scope = 'product:' || p.id WHERE p.code = :p"
            ),
            {"p": product},
        )
        return int(ordered or 0), int(taken or 0)


async def pay(selling: Selling, slug: str, code: str) -> str:
    """The test provider's money arriving for an order; what confirming it did."""
    async with tenant_session(selling.db, slug) as session:
        order = await load_order(session, code)
        return await confirm_payment(
            session,
            selling,
            order,
            provider="test",
            provider_ref=f"test_{code}",
            amount=order.total,
            platform_fee=0,
            business_date=open_weekday(),
        )


async def rush(selling: Selling, slug: str, product: str, buyers: int) -> list[Any]:
    async def one() -> Any:
        try:
            return await place(selling, slug, request_for(product), None)
        except VistapassError as exc:
            return exc

    return await asyncio.gather(*(one() for _ in range(buyers)))


@pytest.mark.parametrize("flash_sale", [False, True], ids=["postgres", "redis-gate"])
def test_200_buyers_on_a_slot_of_50_buy_exactly_50(migrated, park, flash_sale) -> None:
    product = run(migrated, lambda db: slot_product(db, park, 50, flash_sale=flash_sale))

    async def work(selling: Selling) -> None:
        results = await rush(selling, park, product, 200)
        sold = [r for r in results if isinstance(r, dict)]
        refused = [r for r in results if isinstance(r, VistapassError)]
        assert len(sold) == 50
        assert len(refused) == 150
        assert {r.code for r in refused} == {"sold_out"}
        assert await live_places(selling, park, product) == (50, 50)

    with_selling(migrated, work)


def test_the_redis_gate_sheds_without_postgres_and_resyncs_from_it(migrated, park) -> None:
    product = run(migrated, lambda db: slot_product(db, park, 5, flash_sale=True))

    async def work(selling: Selling) -> None:
        selling.gate.margin = 0
        results = await rush(selling, park, product, 20)
        assert sum(isinstance(r, dict) for r in results) == 5
        # Free a place behind the gate's back (as a crash before the after-commit
        # hook would): PostgreSQL would sell it, but the counter says none are
        # left, so the buyer is refused by Redis alone.
        async with tenant_session(selling.db, park) as session:
            order_id = await session.scalar(
                text(
                    "UPDATE orders SET status = 'cancelled' WHERE id = (SELECT id FROM orders "
                    "WHERE product_code = :p LIMIT 1) RETURNING id"
                ),
                {"p": product},
            )
            await release(session, order_id)
        with pytest.raises(SoldOut):
            await place(selling, park, request_for(product), None)
        # When the counter lapses (RESYNC_SECONDS; the sold-out marker lapses sooner),
        # it is refilled from PostgreSQL.
        for kind in ("gate", "soldout"):
            pattern = f"{selling.gate.namespace}:{kind}:{schema_for(park)}:*"
            keys = [key async for key in selling.redis.scan_iter(pattern)]
            assert keys, kind
            await selling.redis.delete(*keys)
        assert isinstance(await place(selling, park, request_for(product), None), dict)
        assert await live_places(selling, park, product) == (5, 5)

    with_selling(migrated, work)


def test_50_concurrent_retries_of_one_request_make_one_order(migrated, park) -> None:
    product = run(migrated, lambda db: slot_product(db, park, 500))
    key = f"k-{secrets.token_hex(4)}"
    request = request_for(product, 2)
    payload = {"product": product, "quantity": 2}

    async def work(selling: Selling) -> None:
        async def attempt() -> Any:
            try:
                return await idempotency.run_once(
                    selling.db,
                    park,
                    "POST /orders",
                    key,
                    payload,
                    lambda claim: place(selling, park, request, claim),
                )
            except VistapassError as exc:
                return exc

        results = await asyncio.gather(*(attempt() for _ in range(50)))
        bodies = [r for r in results if isinstance(r, dict)]
        replays = [r for r in results if isinstance(r, idempotency.Replay)]
        busy = [r for r in results if isinstance(r, VistapassError)]
        assert len(bodies) == 1
        assert {r.code for r in busy} <= {"request_in_progress"}
        assert all(r.headers == {"Retry-After": "1"} for r in busy)
        assert all(r.body["code"] == bodies[0]["code"] for r in replays)
        assert await live_places(selling, park, product) == (2, 2)
        # Once the first answer is stored, every retry gets it.
        later = await attempt()
        assert isinstance(later, idempotency.Replay) and later.body["code"] == bodies[0]["code"]

    with_selling(migrated, work)


async def forget_refusals(selling: Selling, slug: str) -> None:
    """What MARKER_SECONDS and RESYNC_SECONDS do: a recent sold-out answer and the
    gate's counters are forgotten (the counters refill from PostgreSQL, where expired
    holds count as free). Holds run out 15 minutes after they are taken, so in real
    life both are long gone by then."""
    for kind in ("soldout", "gate"):
        pattern = f"{selling.gate.namespace}:{kind}:{schema_for(slug)}:*"
        keys = [key async for key in selling.redis.scan_iter(pattern)]
        if keys:
            await selling.redis.delete(*keys)


async def expire_all(selling: Selling, slug: str, product: str) -> None:
    async with tenant_session(selling.db, slug) as session:
        await session.execute(
            text(
                "UPDATE orders SET expires_at = now() - interval '1 minute' "
                "WHERE product_code = :p AND status = 'pending'"
            ),
            {"p": product},
        )
        await session.execute(
            text(
                "UPDATE order_holds SET expires_at = now() - interval '1 minute' "
                "WHERE order_id IN (SELECT id FROM orders WHERE product_code = :p) "
                "AND expires_at IS NOT NULL"
            ),
            {"p": product},
        )


@pytest.mark.parametrize("flash_sale", [False, True], ids=["postgres", "redis-gate"])
def test_expired_holds_give_their_places_back(migrated, park, flash_sale) -> None:
    product = run(migrated, lambda db: slot_product(db, park, 3, flash_sale=flash_sale))

    async def work(selling: Selling) -> None:
        first = [await place(selling, park, request_for(product), None) for _ in range(3)]
        with pytest.raises(SoldOut):
            await place(selling, park, request_for(product), None)
        await expire_all(selling, park, product)
        await forget_refusals(selling, park)
        # No scheduler ran: the next buyer's sale reclaims the expired holds.
        again = [await place(selling, park, request_for(product), None) for _ in range(3)]
        assert len(again) == 3
        async with tenant_session(selling.db, park) as session:
            for order in first:
                assert (await load_order(session, order["code"])).status == "expired"
        assert await live_places(selling, park, product) == (3, 3)

    with_selling(migrated, work)


def test_unpaid_orders_past_their_hold_expire_with_no_sale_to_notice(migrated, park) -> None:
    product = run(migrated, lambda db: slot_product(db, park, 3))

    async def work(selling: Selling) -> None:
        unpaid = [await place(selling, park, request_for(product), None) for _ in range(2)]
        paid = await place(selling, park, request_for(product), None)
        assert await pay(selling, park, paid["code"]) == "paid"
        await expire_all(selling, park, product)
        # What the worker's periodic job runs, park by park; a second run finds nothing.
        tasks.use_selling(selling)
        try:
            await tasks.expire_overdue_orders()
            assert await expire_overdue(selling, park) == 0
        finally:
            tasks.use_selling(None)
        async with tenant_session(selling.db, park) as session:
            for placed in unpaid:
                order = await load_order(session, placed["code"])
                assert (order.status, order.closed_at is not None) == ("expired", True)
            assert (await load_order(session, paid["code"])).status == "paid"
        assert await live_places(selling, park, product) == (1, 1)

    with_selling(migrated, work)


def test_a_late_payment_buys_free_places_or_is_refunded_when_they_are_gone(migrated, park) -> None:
    product = run(migrated, lambda db: slot_product(db, park, 1))

    async def work(selling: Selling) -> None:
        late = await place(selling, park, request_for(product), None)
        await expire_all(selling, park, product)
        # The place is still free: the late payment gets it.
        assert await pay(selling, park, late["code"]) == "paid"
        assert await live_places(selling, park, product) == (1, 1)
        async with tenant_session(selling.db, park) as session:
            assert (await load_order(session, late["code"])).status == "paid"

    with_selling(migrated, work)


def test_a_late_payment_after_the_place_was_resold_is_refunded(migrated, park) -> None:
    product = run(migrated, lambda db: slot_product(db, park, 1))

    async def work(selling: Selling) -> None:
        late = await place(selling, park, request_for(product), None)
        await expire_all(selling, park, product)
        winner = await place(selling, park, request_for(product), None)
        async with tenant_session(selling.db, park) as session:
            assert (await load_order(session, late["code"])).status == "expired"
        assert await pay(selling, park, late["code"]) == "refunded_sold_out"
        async with tenant_session(selling.db, park) as session:
            refunded = await load_order(session, late["code"])
            assert refunded.status == "refunded"
            assert refunded.refunded_amount == refunded.total
            assert refunded.note == "hold_expired_sold_out"
            money = (
                await session.execute(
                    text("SELECT kind, amount FROM payments WHERE order_id = :id ORDER BY kind"),
                    {"id": refunded.id},
                )
            ).all()
            assert [(k, a) for k, a in money] == [("charge", 5000), ("refund", 5000)]
            assert (await load_order(session, winner["code"])).status == "pending"
        assert await live_places(selling, park, product) == (1, 1)

    with_selling(migrated, work)


def test_after_the_last_place_refusals_need_no_database(migrated, park) -> None:
    product = run(migrated, lambda db: slot_product(db, park, 2))

    async def work(selling: Selling) -> None:
        for _ in range(2):
            await place(selling, park, request_for(product), None)
        with pytest.raises(SoldOut):
            await place(selling, park, request_for(product), None)
        # A database that cannot be reached: the next refusal comes from Redis alone.
        unreachable = migrated.model_copy(
            update={"database_url": "postgresql://nobody@127.0.0.1:1/none"}
        )
        offline = Selling.build(Database(unreachable), unreachable, selling.redis)
        try:
            with pytest.raises(SoldOut) as refused:
                await place(offline, park, request_for(product), None)
            assert refused.value.details["left"] == 0
        finally:
            await offline.db.dispose()

    with_selling(migrated, work)
