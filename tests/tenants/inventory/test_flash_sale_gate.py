"""The flash-sale gate against a real Redis: admissions that arrive together go in
one call and are decided in turn, exactly as one by one."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import pytest

from vistapass.platform.cache import redis_client
from vistapass.platform.settings import Settings
from vistapass.tenants.inventory.gate import FlashSaleGate
from vistapass.tenants.inventory.service import Need, SoldOut

DAY = date(2026, 10, 1)
SCHEMA = "t_gate_test"


def need(scope: str, quantity: int = 1) -> Need:
    return Need(scope=scope, day=DAY, slot="10:00", capacity=100, quantity=quantity)


def with_gate(settings: Settings, work: Callable[[FlashSaleGate], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        redis = redis_client(settings)
        gate = FlashSaleGate(redis, f"gate-test-{secrets.token_hex(4)}", margin=0)
        calls = 0
        send = gate._admit_many

        async def counted(**kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            return await send(**kwargs)

        gate._admit_many = counted  # type: ignore[method-assign]
        try:
            return await work(gate), calls
        finally:
            await redis.aclose()

    return asyncio.run(main())


async def counter(gate: FlashSaleGate, scope: str) -> int:
    return int(await gate.redis.get(gate.key(SCHEMA, need(scope))))


async def admit(gate: FlashSaleGate, wanted: Need, marker: str = "none") -> bool:
    async def no_fill(_: Need) -> int:
        raise AssertionError("every counter here exists")

    try:
        await gate.admit(SCHEMA, [wanted], no_fill, f"{gate.namespace}:{marker}")
    except SoldOut:
        return False
    return True


def test_twenty_buyers_at_once_for_three_places_get_three_in_few_calls(migrated) -> None:
    async def work(gate: FlashSaleGate) -> tuple[list[bool], int]:
        await gate.redis.set(gate.key(SCHEMA, need("a")), 3)
        results = await asyncio.gather(*(admit(gate, need("a")) for _ in range(20)))
        return results, await counter(gate, "a")

    (results, left), calls = with_gate(migrated, work)
    assert results.count(True) == 3 and left == 0
    assert calls < 20  # those who arrived while a call was in flight went together


def test_a_batch_decides_each_admission_in_turn(migrated) -> None:
    """Granted, too few places, a sold-out marker, and two counters in one admission:
    each gets its own answer, and a refused one takes nothing."""

    async def work(gate: FlashSaleGate) -> tuple[list[Any], dict[str, int]]:
        for scope, places in (("a", 2), ("b", 1), ("c", 5)):
            await gate.redis.set(gate.key(SCHEMA, need(scope)), places)
        await gate.redis.set(f"{gate.namespace}:sold", 0)

        async def both() -> bool:
            async def no_fill(_: Need) -> int:
                raise AssertionError("every counter here exists")

            try:
                await gate.admit(SCHEMA, [need("c", 2), need("b", 2)], no_fill, "none")
            except SoldOut:
                return False
            return True

        results = await asyncio.gather(
            admit(gate, need("a", 2)),
            admit(gate, need("a", 1)),  # the first took both places
            admit(gate, need("c", 1), marker="sold"),  # the marker says none are left
            both(),  # c has room, b has not: nothing taken from c
            admit(gate, need("c", 4)),
        )
        return results, {scope: await counter(gate, scope) for scope in "abc"}

    (results, left), calls = with_gate(migrated, work)
    assert results == [True, False, False, False, True]
    assert left == {"a": 0, "b": 1, "c": 1}
    assert calls <= 2


def test_a_buyer_who_leaves_while_the_call_is_in_flight_gives_the_places_back(migrated) -> None:
    async def work(gate: FlashSaleGate) -> int:
        await gate.redis.set(gate.key(SCHEMA, need("a")), 3)
        leaving = asyncio.create_task(admit(gate, need("a", 2)))
        await asyncio.sleep(0)  # queued, its call about to go
        sending = gate._sending
        assert sending is not None
        leaving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        await sending
        return await counter(gate, "a")

    left, _ = with_gate(migrated, work)
    assert left == 3
