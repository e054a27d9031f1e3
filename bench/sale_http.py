"""The HTTP load of the sale benchmark: the clients, one phase of orders, the warm-up."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from datetime import date
from urllib.parse import urlsplit

import httpx

# isort: split
# Modules beside this one: bench/ is sys.path[0] when bench/sale.py runs.
from raw_http import Connection, HttpError
from sale_figures import UNIT, BenchFailure, Figures, Phase, Plan, say

# Untimed orders per client before the phases, so that every server worker has its
# database connections open and its code paths warm when the clock starts.
WARMUP_PER_CLIENT = 2
# Tries, and the pause between them, at getting every server worker some connections.
BALANCE_ATTEMPTS = 10
BALANCE_PAUSE_S = 1.0
REQUEST_TIMEOUT_S = 60.0
IDEMPOTENCY_HEADER = "Idempotency-Key"


def order_body(product: str, day: date, slot: str) -> bytes:
    return json.dumps(
        {
            "product": product,
            "date": day.isoformat(),
            "slot": slot,
            "lines": [{"unit": UNIT, "quantity": 1}],
            "contact": {"name": "Bench", "email": "", "phone": ""},
            "payment": "test",
        }
    ).encode()


def error_code(body: bytes) -> str:
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return str(json.loads(body)["error"]["code"])
    return "?"


class ClientError(Exception):
    """A request got no HTTP answer (connection refused, reset, timed out, garbled)."""


# POST one JSON body: (status, response body). Each client loop has its own.
Send = Callable[[bytes, str], Awaitable[tuple[int, bytes]]]


class RawConnection:
    """One keep-alive connection posting orders to `path` (see raw_http.Connection)."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.path = path
        self.connection = Connection(host, port)

    async def close(self) -> None:
        await self.connection.close()

    async def post(self, body: bytes, key: str) -> tuple[int, bytes]:
        try:
            return await self.connection.request(
                "POST", self.path, body, headers={IDEMPOTENCY_HEADER: key}
            )
        except HttpError as exc:
            raise ClientError(str(exc)) from exc


class RawClient:
    """One RawConnection per client loop, like a pool of `clients` connections."""

    def __init__(self, orders_url: str, clients: int) -> None:
        url = urlsplit(orders_url)
        if url.scheme != "http" or not url.hostname:
            raise BenchFailure(f"{orders_url}: the raw client speaks plain http; use --httpx")
        self.connections = [
            RawConnection(url.hostname, url.port or 80, url.path) for _ in range(clients)
        ]

    def sender(self, index: int) -> Send:
        return self.connections[index].post

    async def aclose(self) -> None:
        for connection in self.connections:
            await connection.close()

    async def reconnect(self) -> None:
        await self.aclose()  # each connection opens again on its next request


class HttpxClient:
    """httpx with a pool of `clients` connections (slower; see RawConnection)."""

    def __init__(self, orders_url: str, clients: int) -> None:
        self.orders_url = orders_url
        self.clients = clients
        self.client = self._new_client()

    def _new_client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        # No proxies from the environment: the server is named by its own URL.
        return httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT_S, trust_env=False)

    def sender(self, _index: int) -> Send:
        return self.post

    async def post(self, body: bytes, key: str) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: key}
        try:
            response = await self.client.post(self.orders_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ClientError(f"{type(exc).__name__}: {exc}") from exc
        return response.status_code, response.content

    async def aclose(self) -> None:
        await self.client.aclose()

    async def reconnect(self) -> None:
        await self.client.aclose()
        self.client = self._new_client()


async def run_phase(
    client: RawClient | HttpxClient,
    plan: Plan,
    phase: Phase,
    clients: int,
    body_for: Callable[[int], bytes],
) -> None:
    """`clients` loops take request numbers from one counter until `phase.requests`."""
    numbers = itertools.count()
    started = time.perf_counter()

    async def one_client(send: Send) -> None:
        # Each request number is taken once: the loops share the event loop's thread.
        while (number := next(numbers)) < phase.requests:
            key = f"{plan.run_id}-{phase.name}-{number}"
            body = body_for(number)
            sent = time.perf_counter()
            try:
                status, answer = await send(body, key)
            except ClientError as exc:
                phase.latencies.append(time.perf_counter() - sent)
                phase.errors[str(exc).split(":")[0]] += 1
                continue
            answered = time.perf_counter()
            phase.latencies.append(answered - sent)
            if status == 201:
                phase.sold += 1
                phase.sale_latencies.append(answered - sent)
                phase.last_sale_s = max(phase.last_sale_s, answered - started)
                phase.last_sale_sent_s = max(phase.last_sale_sent_s, sent - started)
            elif status == 409 and error_code(answer) == "sold_out":
                if phase.until_sold_out:
                    phase.sold_out += 1
                    phase.sold_out_answered_s.append(answered - started)
                else:
                    phase.errors["409 sold_out with places left"] += 1
            else:
                phase.errors[f"{status} {error_code(answer)}"] += 1

    await asyncio.gather(*(one_client(client.sender(i)) for i in range(clients)))
    phase.wall_s = time.perf_counter() - started


async def warm_up(
    client: RawClient | HttpxClient,
    plan: Plan,
    clients: int,
    figures: Figures,
    body_for: Callable[[int], bytes],
    round_: int = 1,
) -> None:
    # A name per round: the idempotency keys are made of it and must not repeat.
    warmup = Phase(f"warmup{round_}", WARMUP_PER_CLIENT * clients)
    await run_phase(client, plan, warmup, clients, body_for)
    figures.warmup_sold += warmup.sold
    shown = ", ".join(f"{kind} x{n}" for kind, n in warmup.errors.most_common(3))
    say(
        f"warm-up: {warmup.sold} of {warmup.requests} orders in {warmup.wall_s:.2f} s"
        + (f" (errors: {shown})" if shown else "")
    )
    if not warmup.sold:
        raise BenchFailure(f"no warm-up order was placed: {shown}")


async def spread_over_workers(
    client: RawClient | HttpxClient,
    balance: Callable[[], list[int]],
    warm: Callable[[int], Awaitable[None]],
    clients: int,
) -> None:
    """Reconnect until every server worker holds some of the clients' connections.

    The server answers /healthz once its first worker is up; connections opened
    before the others are, stay with that worker for the whole run, and the run
    would measure one worker (seen as one busy server process, and ~30 % fewer
    orders/s on 2 cores).
    """
    counts: list[int] = []
    for attempt in range(BALANCE_ATTEMPTS):
        counts = balance()
        if len(counts) > clients or not counts or min(counts) > 0:
            break
        say(f"  connections per server worker: {counts}; reconnecting")
        await client.reconnect()
        await asyncio.sleep(BALANCE_PAUSE_S)
        await warm(attempt + 2)
    if counts:
        say(f"connections per server worker: {', '.join(map(str, counts))}")
