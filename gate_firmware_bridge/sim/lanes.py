"""Virtual turnstiles: lanes that scan the demo park's tickets at an edge.

Each lane posts scans to the edge's local scan endpoint, as a QR reader wired to it
would, at its share of the total rate. What it scans is drawn from the demo codes
(see demo_codes.py) with the answer the edge must give, so a person watching `make
run` sees gates work, and a run that gets a wrong answer says so:

    valid      -> ok (entry), then ok (exit) when the lane lets the visitor out
    used       -> refused (already used or inside)
    wrong_day  -> not_yet_valid
    revoked    -> refunded / revoked
    forged     -> bad_signature
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from vistapass.tenants.tickets.codec import PREFIX, b45decode, b45encode

# What each kind of code must be answered; a valid code is checked by its direction.
EXPECTED: dict[str, frozenset[str]] = {
    "used": frozenset({"already_used", "already_inside", "no_entries_left_today"}),
    "wrong_day": frozenset({"not_yet_valid", "expired"}),
    "revoked": frozenset({"revoked", "refunded"}),
    "forged": frozenset({"bad_signature"}),
}
# How often each kind comes to a lane: mostly good tickets, as at a real gate.
WEIGHTS = {"valid": 70, "used": 10, "wrong_day": 8, "revoked": 6, "forged": 6}
# A simulator's dice, not secrets.
CHANCE = random.Random()  # noqa: S311


def forge(code: str) -> str:
    """The same ticket with one byte of its signature changed: a copied, edited code."""
    raw = bytearray(b45decode(code.removeprefix(PREFIX)))
    raw[-1] ^= 0x01
    return PREFIX + b45encode(bytes(raw))


@dataclass
class Tally:
    answers: Counter[str] = field(default_factory=Counter)
    wrong: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def scans(self) -> int:
        return sum(self.answers.values())

    def line(self) -> str:
        ordered = sorted(self.latencies_ms)
        p95 = ordered[int(len(ordered) * 0.95)] if ordered else 0.0
        codes = " ".join(f"{code}={count}" for code, count in sorted(self.answers.items()))
        return (
            f"scans={self.scans} wrong={sum(self.wrong.values())} errors={self.errors} "
            f"p95_ms={p95:.1f} {codes}"
        )


@dataclass
class Codes:
    """The demo codes by kind; valid ones are handed out once each (a visitor each)."""

    valid: list[str]
    used: list[str]
    wrong_day: list[str]
    revoked: list[str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Codes:
        return cls(
            valid=list(data.get("valid", [])),
            used=list(data.get("used", [])),
            wrong_day=list(data.get("wrong_day", [])),
            revoked=list(data.get("revoked", [])),
        )

    def draw(self, pick: Callable[[list[str]], str]) -> tuple[str, str]:
        kinds = [k for k in WEIGHTS if k == "forged" or getattr(self, k)]
        kind = CHANCE.choices(kinds, [WEIGHTS[k] for k in kinds])[0]
        if kind == "valid":
            return kind, self.valid.pop()
        if kind == "forged":
            pool = self.used or self.wrong_day or self.revoked or self.valid
            return kind, forge(pick(pool)) if pool else PREFIX + "0000"
        return kind, pick(getattr(self, kind))


async def _scan(
    client: httpx.AsyncClient, lane: int, code: str, direction: str, tally: Tally
) -> str | None:
    started = time.perf_counter()
    try:
        response = await client.post(
            "/scan",
            json={
                "device": f"sim-lane-{lane}",
                "lane": str(lane),
                "credential": "qr",
                "value": code,
                "direction": direction,
            },
        )
        answer = response.json()
    except (httpx.HTTPError, ValueError):
        tally.errors += 1
        return None
    tally.latencies_ms.append((time.perf_counter() - started) * 1000)
    result = str(answer.get("code"))
    tally.answers[result] += 1
    return result


async def lane_loop(
    client: httpx.AsyncClient, lane: int, codes: Codes, interval: float, tally: Tally, until: float
) -> None:
    """One turnstile: a scan every `interval` seconds; admitted visitors leave later."""
    inside: list[str] = []
    while time.monotonic() < until:
        began = time.monotonic()
        if inside and (CHANCE.random() < 0.3 or not codes.valid):
            code = inside.pop(0)
            if await _scan(client, lane, code, "exit", tally) not in (None, "ok"):
                tally.wrong["exit"] += 1
        else:
            kind, code = codes.draw(CHANCE.choice)
            result = await _scan(client, lane, code, "entry", tally)
            if result is None:
                pass
            elif kind == "valid":
                if result == "ok":
                    inside.append(code)
                else:
                    tally.wrong[kind] += 1
            elif result not in EXPECTED[kind]:
                tally.wrong[kind] += 1
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - began)))


async def wait_ready(client: httpx.AsyncClient, within: float = 60.0) -> None:
    """Wait for the edge to answer (started together with it, the lanes come up first)."""
    deadline = time.monotonic() + within
    while True:
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the edge at {client.base_url} did not answer in {within:.0f} s")
        await asyncio.sleep(0.5)


async def run_lanes(
    edge_url: str,
    codes: Codes,
    *,
    lanes: int,
    rate: float,
    seconds: float,
    report: Callable[[str], None] = print,
    every: float = 5.0,
) -> Tally:
    """`lanes` turnstiles sharing `rate` scans per second for `seconds` (0: until stopped)."""
    tally = Tally()
    interval = lanes / rate if rate > 0 else 1.0
    until = time.monotonic() + seconds if seconds > 0 else float("inf")
    async with httpx.AsyncClient(base_url=edge_url, timeout=5) as client:
        await wait_ready(client)

        async def reporter() -> None:
            while True:
                await asyncio.sleep(every)
                report(tally.line())

        ticking = asyncio.create_task(reporter())
        try:
            await asyncio.gather(
                *(lane_loop(client, n + 1, codes, interval, tally, until) for n in range(lanes))
            )
        finally:
            ticking.cancel()
    report(tally.line())
    return tally
