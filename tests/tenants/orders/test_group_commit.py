"""Plain web orders written together: the same guarantees as one by one.

Each test goes through `take_order`, the entry the order API calls, with many
buyers at once in one event loop, so the group commit really gathers batches.
Orders written by one batch share their `created_at` (PostgreSQL's `now()` is
the transaction's start), which is how a test sees that batching happened.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import run, unique_slug
from tests.tenants.orders.test_concurrency import (
    live_places,
    request_for,
    slot_product,
    with_selling,
)
from vistapass.platform.errors import VistapassError
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.naming import schema_for
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.tenants.inventory.service import needs_for
from vistapass.tenants.orders import group_commit
from vistapass.tenants.orders.context import Selling
from vistapass.tenants.orders.idempotency import Replay
from vistapass.tenants.orders.intake import take_order
from vistapass.tenants.orders.service import Buyer, OrderRequest

pytestmark = pytest.mark.slow

SCOPE = "POST /orders"


@pytest.fixture(scope="module")
def park(migrated: Settings) -> str:
    slug = unique_slug("batch")
    run(migrated, lambda db: provision_tenant(db, slug, "Batch Park"))
    return slug


async def buy(selling: Selling, slug: str, request: OrderRequest, key: str | None) -> Any:
    payload = {"product": request.product, "quantity": request.lines[0].quantity}
    try:
        return await take_order(selling, slug, request, scope=SCOPE, key=key, payload=payload)
    except VistapassError as exc:
        return exc


async def largest_batch(selling: Selling, slug: str, product: str) -> int:
    async with tenant_session(selling.db, slug) as session:
        return int(
            await session.scalar(
                text(
                    "SELECT COALESCE(max(n), 0) FROM (SELECT count(*) AS n FROM orders "
                    "WHERE product_code = :p GROUP BY created_at) AS batches"
                ),
                {"p": product},
            )
        )


async def facts_version(selling: Selling, slug: str) -> int:
    async with tenant_session(selling.db, slug) as session:
        return int(await session.scalar(text("SELECT version FROM sale_facts")))


def assert_one_order(results: list[Any]) -> None:
    """One of the answers is the new order; every other is its replay, or `409
    request_in_progress` with Retry-After, never a second order."""
    bodies = [r for r in results if isinstance(r, dict)]
    replays = [r for r in results if isinstance(r, Replay)]
    busy = [r for r in results if isinstance(r, VistapassError)]
    assert len(bodies) == 1
    assert len(replays) + len(busy) == len(results) - 1
    assert all(r.body == bodies[0] for r in replays)
    assert {r.code for r in busy} <= {"request_in_progress"}
    assert all(r.headers == {"Retry-After": "1"} for r in busy)


@pytest.mark.parametrize("flash_sale", [False, True], ids=["postgres", "redis-gate"])
def test_200_web_buyers_on_a_slot_of_50_buy_exactly_50(migrated, park, flash_sale) -> None:
    product = run(migrated, lambda db: slot_product(db, park, 50, flash_sale=flash_sale))

    async def work(selling: Selling) -> None:
        # The slot's first sale is in a batch too: the batch makes its bucket.
        results = await asyncio.gather(
            *(buy(selling, park, request_for(product), f"{product}-{i}") for i in range(200))
        )
        sold = [r for r in results if isinstance(r, dict)]
        refused = [r for r in results if isinstance(r, VistapassError)]
        assert len(sold) == 50
        assert {r.code for r in refused} == {"sold_out"} and len(refused) == 150
        assert await live_places(selling, park, product) == (50, 50)
        assert await largest_batch(selling, park, product) > 1
        # Every answer given is an order that exists, with its tickets.
        async with tenant_session(selling.db, park) as session:
            found = await session.scalar(
                text(
                    "SELECT count(*) FROM orders o JOIN tickets t ON t.order_id = o.id "
                    "WHERE o.code = ANY(:codes)"
                ),
                {"codes": [body["code"] for body in sold]},
            )
        assert found == 50

    with_selling(migrated, work)


def test_50_concurrent_retries_of_one_web_order_make_one_order(migrated, park) -> None:
    product = run(migrated, lambda db: slot_product(db, park, 500))
    key = f"k-{secrets.token_hex(4)}"

    async def work(selling: Selling) -> None:
        await buy(selling, park, request_for(product), None)  # the bucket exists
        results = await asyncio.gather(
            *(buy(selling, park, request_for(product, 2), key) for _ in range(50))
        )
        assert_one_order(results)
        assert await live_places(selling, park, product) == (3, 3)
        later = await buy(selling, park, request_for(product, 2), key)
        first = next(r for r in results if isinstance(r, dict))
        assert isinstance(later, Replay) and later.body == first

    with_selling(migrated, work)


def test_a_retry_in_a_batch_of_new_orders_gets_its_first_answer(migrated, park) -> None:
    product = run(migrated, lambda db: slot_product(db, park, 500))

    async def work(selling: Selling) -> None:
        first = await buy(selling, park, request_for(product), f"{product}-early")
        assert isinstance(first, dict)
        results = await asyncio.gather(
            buy(selling, park, request_for(product), f"{product}-early"),
            *(buy(selling, park, request_for(product), f"{product}-{i}") for i in range(10)),
        )
        assert isinstance(results[0], Replay) and results[0].body == first
        assert all(isinstance(r, dict) for r in results[1:])
        assert await live_places(selling, park, product) == (11, 11)
        # A key sent again with another request is refused, not replayed.
        other = await buy(selling, park, request_for(product, 3), f"{product}-early")
        assert isinstance(other, VistapassError) and other.code == "idempotency_key_reused"

    with_selling(migrated, work)


def test_a_price_change_reaches_the_very_next_order(migrated, park) -> None:
    product = run(migrated, lambda db: slot_product(db, park, 500))

    async def reprice(selling: Selling, price: int) -> None:
        async with tenant_session(selling.db, park) as session:
            await session.execute(
                text(
                    "UPDATE products SET pricing_config = jsonb_set(pricing_config, "
                    "'{prices,adult}', to_jsonb(CAST(:price AS int))) WHERE code = :p"
                ),
                {"p": product, "price": price},
            )

    async def work(selling: Selling) -> None:
        assert (await buy(selling, park, request_for(product), None))["total"] == 5000
        assert (await buy(selling, park, request_for(product), None))["total"] == 5000
        await reprice(selling, 6500)  # by another process: this one still keeps 5000
        assert (await buy(selling, park, request_for(product), None))["total"] == 6500
        batch = await asyncio.gather(
            *(buy(selling, park, request_for(product), None) for _ in range(5))
        )
        assert [body["total"] for body in batch] == [6500] * 5

    with_selling(migrated, work)


@pytest.mark.parametrize(
    "table",
    [
        "products",
        "product_units",
        "pricing_modes",
        "opening_hours",
        "calendar_days",
        "park_profile",
        "capacity_pools",
    ],
)
def test_every_change_to_what_orders_are_priced_from_bumps_the_version(
    migrated, park, table
) -> None:
    async def work(selling: Selling) -> None:
        before = await facts_version(selling, park)
        async with tenant_session(selling.db, park) as session:
            # A statement trigger: it fires even when no row matches.
            await session.execute(text(f"DELETE FROM {table} WHERE false"))
        assert await facts_version(selling, park) == before + 1

    with_selling(migrated, work)


def test_one_key_sent_to_two_processes_at_once_makes_one_order(migrated, park) -> None:
    """Two Selling objects are two server processes: two group commits, one database."""
    product = run(migrated, lambda db: slot_product(db, park, 500))
    key = f"{product}-twice"

    async def work(selling: Selling) -> None:
        other = Selling.build(selling.db, selling.settings, selling.redis)
        await buy(selling, park, request_for(product), None)  # the bucket exists
        try:
            results = await asyncio.gather(
                *(buy(s, park, request_for(product, 2), key) for s in [selling, other] * 10)
            )
        finally:
            await other.close()
        assert_one_order(results)
        assert await live_places(selling, park, product) == (3, 3)

    with_selling(migrated, work)


def test_a_slot_sold_out_elsewhere_is_refused_while_this_process_still_saw_room(
    migrated, park
) -> None:
    """`has_room` spares the Redis sold-out question, never the bucket's own check."""
    product = run(migrated, lambda db: slot_product(db, park, 5))

    async def work(selling: Selling) -> None:
        request = request_for(product)
        assert isinstance(await buy(selling, park, request, None), dict)
        facts = selling.facts.get(schema_for(park), product, request.visit_date)
        assert facts is not None
        needs = needs_for(
            facts.inputs.product,
            facts.pools,
            request.visit_date,
            request.slot,
            1,
            slots=facts.inputs.slots,
        )
        assert selling.orders.has_room(park, needs)  # 4 left, as this process saw it
        assert not selling.orders.has_room(park, [replace(needs[0], quantity=5)])
        # Another process sells the other four.
        async with tenant_session(selling.db, park) as session:
            await session.execute(
                text(
                    "UPDATE inventory_buckets SET taken = capacity "
                    "WHERE scope = 'product:' || (SELECT id FROM products WHERE code = :p)"
                ),
                {"p": product},
            )
        refused = await buy(selling, park, request, None)
        assert isinstance(refused, VistapassError) and refused.code == "sold_out"
        assert await live_places(selling, park, product) == (1, 5)

    with_selling(migrated, work)


def test_a_batch_that_fails_leaves_nothing_and_the_next_batch_is_written(migrated, park) -> None:
    """A batch whose writes fail in the database: its orders take the ordinary path
    (each decided alone), and the batches after it, on another connection, go on."""
    product = run(migrated, lambda db: slot_product(db, park, 500))
    schema = schema_for(park)
    refuse = (
        f'CREATE FUNCTION "{schema}".refuse_order() RETURNS trigger LANGUAGE plpgsql AS $$ '
        "BEGIN RAISE EXCEPTION 'refused by the test'; END $$; "
        f'CREATE TRIGGER refuse_order BEFORE INSERT ON "{schema}".orders FOR EACH ROW '
        f"WHEN (NEW.contact_name = 'Refused') EXECUTE FUNCTION \"{schema}\".refuse_order()"
    )

    async def work(selling: Selling) -> None:
        await buy(selling, park, request_for(product), None)  # the bucket exists
        async with selling.db.engine.begin() as admin:
            await admin.exec_driver_sql(refuse)
        refused = replace(request_for(product), buyer=Buyer(name="Refused"))
        requests = [request_for(product)] * 9 + [refused]
        results = await asyncio.gather(
            *(buy(selling, park, r, f"{product}-fail-{i}") for i, r in enumerate(requests)),
            return_exceptions=True,
        )
        sold = [r for r in results if isinstance(r, dict)]
        assert len(sold) == 9
        assert "refused by the test" in str(results[-1])
        assert await live_places(selling, park, product) == (10, 10)

        async with selling.db.engine.begin() as admin:
            await admin.exec_driver_sql(f'DROP TRIGGER refuse_order ON "{schema}".orders')
        after = await asyncio.gather(
            *(buy(selling, park, request_for(product), None) for _ in range(10))
        )
        assert all(isinstance(r, dict) for r in after), after
        assert await live_places(selling, park, product) == (20, 20)
        assert await largest_batch(selling, park, product) > 1

    with_selling(migrated, work)


def test_a_connection_held_for_the_next_batch_goes_back_when_the_app_closes(
    migrated, park, monkeypatch
) -> None:
    # Held far longer than the test: only closing can give it back in time.
    monkeypatch.setattr(group_commit, "HOLD_CONNECTION_S", 60.0)
    product = run(migrated, lambda db: slot_product(db, park, 500))

    async def work(selling: Selling) -> None:
        pool = selling.db.engine.sync_engine.pool
        results = await asyncio.gather(
            *(buy(selling, park, request_for(product), None) for _ in range(20))
        )
        assert all(isinstance(r, dict) for r in results), results
        assert pool.checkedout() == 1  # the park's connection, waiting for more orders
        more = await buy(selling, park, request_for(product), None)
        assert isinstance(more, dict)
        async with asyncio.timeout(10):
            await selling.orders.close()
        assert pool.checkedout() == 0
        assert await live_places(selling, park, product) == (21, 21)

    with_selling(migrated, work)
