"""The per-process `Recent` map (entries expire, keys can be forgotten) and
`SingleFlight` (one run of the work for concurrent callers)."""

from __future__ import annotations

import asyncio

from vistapass.platform.cache.local import Recent, SingleFlight


def test_an_entry_is_served_until_it_expires() -> None:
    now = [100.0]
    recent: Recent[str, int] = Recent(ttl=3.0, clock=lambda: now[0])
    assert recent.put("a", 1) == 1
    now[0] += 2.9
    assert recent.get("a") == 1
    now[0] += 0.1
    assert recent.get("a") is None


def test_forget_one_all_or_matching() -> None:
    recent: Recent[tuple[str, str], int] = Recent(ttl=60)
    for key in (("db1", "a"), ("db2", "a"), ("db1", "b")):
        recent.put(key, 1)
    recent.forget_matching(lambda key: key[1] == "a")
    assert recent.get(("db1", "a")) is None and recent.get(("db2", "a")) is None
    assert recent.get(("db1", "b")) == 1
    recent.forget(("db1", "b"))
    assert recent.get(("db1", "b")) is None
    recent.put(("x", "y"), 2)
    recent.forget()
    assert recent.get(("x", "y")) is None


def test_it_stays_bounded() -> None:
    recent: Recent[int, int] = Recent(ttl=60, max_entries=10)
    for number in range(25):
        recent.put(number, number)
    assert recent.get(24) == 24
    assert sum(recent.get(n) is not None for n in range(25)) <= 10


def test_concurrent_calls_for_one_key_share_one_run_of_the_work() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    runs: list[str] = []

    async def work(key: str) -> int:
        runs.append(key)
        number = len(runs)
        await asyncio.sleep(0)  # let the others arrive while this one runs
        return number

    async def main() -> list[int]:
        together = [flight.run(k, lambda k=k: work(k)) for k in ("a", "a", "a", "b")]
        first = await asyncio.gather(*together)
        return [*first, await flight.run("a", lambda: work("a"))]

    assert asyncio.run(main()) == [1, 1, 1, 2, 3]
    assert runs == ["a", "b", "a"]


def test_the_works_error_reaches_every_waiter_and_is_not_kept() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0

    async def failing() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        raise ValueError("no such product")

    async def main() -> list[BaseException | int]:
        return await asyncio.gather(
            *(flight.run("p", failing) for _ in range(3)), return_exceptions=True
        )

    outcomes = asyncio.run(main())
    assert calls == 1
    assert all(isinstance(o, ValueError) for o in outcomes)
    # Nothing is remembered: the next call runs the work again.
    assert isinstance(asyncio.run(main())[0], ValueError) and calls == 2
