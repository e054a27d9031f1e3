"""The hub's online redeem under concurrent scanners, against `vistapass serve`.

The park is made the app's own way (provisioning, the demo catalogue), its day
tickets for today are sold at the window through the orders service and paid
in cash, and a manager's `device` credential is minted, as the console would.
Then `clients` scanners, one keep-alive connection each, redeem every ticket
once as an entry with a unique nonce. The baseline is the same scanners on
GET /healthz: what a request to that server costs before redeem does its work.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from vistapass.gate_firmware_bridge.sim.demo_codes import sell_day_tickets
from vistapass.platform.cache import redis_client
from vistapass.platform.db import Database
from vistapass.platform.models.base import utcnow
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.platform.tenancy.upgrade import upgrade_control_plane
from vistapass.tenants.catalog.demo import seed_demo_catalog
from vistapass.tenants.checkin.service import park_clock
from vistapass.tenants.gates.credentials import mint
from vistapass.tenants.orders.context import Selling

# isort: split
# Modules beside this one: bench/ is sys.path[0] when bench/gate.py runs.
from gate_figures import Figures, Timed
from raw_http import Connection, HttpError
from sale_figures import BenchFailure, say

PER_ORDER = 50  # adults per window sale (a line takes at most 99)
REDEEM_PATH = "/gate/v1/redeem"
WARMUP_PER_CLIENT = 3
BALANCE_ATTEMPTS = 10
# The goal load: online redeem at 400 scans/s, its p99 measured at that load.
PACED_RATE = 400.0


@dataclass
class HubPark:
    slug: str
    today: date
    codes: list[str]
    token: str


async def _prepare(settings: Settings, slug: str, tickets: int) -> HubPark:
    db = Database(settings)
    redis = redis_client(settings)
    try:
        say(f"control plane: {(await upgrade_control_plane(db)).after}")
        await provision_tenant(db, slug, "Gate Bench Park")
        await seed_demo_catalog(db, slug)
        async with tenant_session(db, slug) as session:
            today = (await park_clock(session, utcnow())).today
        selling = Selling.build(db, settings, redis)
        started = time.perf_counter()
        codes: list[str] = []
        while len(codes) < tickets:
            codes += (
                await sell_day_tickets(
                    selling, slug, today, min(PER_ORDER, tickets - len(codes)), buyer="Gate bench"
                )
            )[1]
        say(
            f"park {slug}: {len(codes)} day tickets for {today} sold at the window in "
            f"{time.perf_counter() - started:.1f} s"
        )
        async with tenant_session(db, slug) as session:
            token = (await mint(session, slug, "device", "Bench scanner", None)).token
        return HubPark(slug, today, codes, token)
    finally:
        await redis.aclose()
        await db.dispose()


def prepare_park(settings: Settings, slug: str, tickets: int) -> HubPark:
    return asyncio.run(_prepare(settings, slug, tickets))


def redeem_body(code: str) -> bytes:
    # A nonce per scan: each is a new scan, never a replay of an earlier one.
    body = {"code": code, "direction": "entry", "nonce": uuid.uuid4().hex, "zone": None}
    return json.dumps(body).encode()


class Scanners:
    """`clients` keep-alive connections to the hub, as many online scanners."""

    def __init__(self, port: int, token: str, clients: int) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        self.connections = [Connection("127.0.0.1", port, headers) for _ in range(clients)]

    async def close(self) -> None:
        await asyncio.gather(*(conn.close() for conn in self.connections))

    async def spread(self, per_worker: Callable[[], list[int]] | None) -> None:
        """Reconnect until every server worker holds some of the connections.

        A keep-alive connection stays with the worker that accepted it, and a
        worker still starting when /healthz first answered may get none.
        """
        for _ in range(BALANCE_ATTEMPTS):
            await asyncio.gather(*(conn.request("GET", "/healthz") for conn in self.connections))
            counts = per_worker() if per_worker is not None else []
            if not counts or min(counts) > 0:
                say(f"connections per server worker: {', '.join(map(str, counts))}")
                return
            await self.close()
            await asyncio.sleep(0.5)
        counts = per_worker() if per_worker is not None else []
        say(f"note: connections per server worker stayed uneven: {counts}")

    async def phase(self, timed: Timed, work: list[tuple[str, str, bytes]]) -> None:
        """Send every (method, path, body) of `work`, each client taking the next in turn."""
        queue = iter(work)

        async def client(conn: Connection) -> None:
            for method, path, body in queue:
                await _send(conn, timed, method, path, body, time.perf_counter())

        started = time.perf_counter()
        await asyncio.gather(*(client(conn) for conn in self.connections))
        timed.wall_s = time.perf_counter() - started

    async def paced(self, timed: Timed, bodies: list[bytes], rate: float) -> None:
        """Redeem `bodies` at `rate` scans/s in all, each scanner on its own schedule.

        Open loop, as gates are: scan k of the run is due at k / rate seconds, whether
        or not earlier answers came back, and its latency counts from when it was
        due, so a hub that falls behind shows it in the figures instead of slowing
        the scanners down.
        """
        count = len(self.connections)
        started = time.perf_counter()

        async def client(index: int, conn: Connection) -> None:
            for number in range(index, len(bodies), count):
                due = started + number / rate
                if (wait := due - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
                await _send(conn, timed, "POST", REDEEM_PATH, bodies[number], due)

        await asyncio.gather(*(client(i, conn) for i, conn in enumerate(self.connections)))
        timed.wall_s = time.perf_counter() - started


async def _send(
    conn: Connection, timed: Timed, method: str, path: str, body: bytes, since: float
) -> None:
    """One request, timed from `since` (when it was sent, or when it was due)."""
    try:
        status, answer = await conn.request(method, path, body)
    except HttpError as exc:
        timed.errors[str(exc)[:80]] += 1
        return
    timed.latencies.append(time.perf_counter() - since)
    if status != 200:
        timed.errors[f"status {status}: {answer[:80]!r}"] += 1
    elif path == REDEEM_PATH:
        timed.answers[json.loads(answer)["code"]] += 1
    else:
        timed.answers["200"] += 1


async def measure_redeem(
    port: int,
    park: HubPark,
    clients: int,
    paced: int,
    figures: Figures,
    per_worker: Callable[[], list[int]] | None,
) -> None:
    """Closed loop for the most redeems/s, then `paced` redeems at PACED_RATE for the p99."""
    scanners = Scanners(port, park.token, clients)
    try:
        await scanners.spread(per_worker)
        warm = clients * WARMUP_PER_CLIENT
        if len(park.codes) <= warm + paced:
            raise BenchFailure("too few tickets for the redeem phase")
        # Untimed: every worker's database connections open, its code paths warm.
        warm_up = Timed("warm-up")
        await scanners.phase(
            warm_up, [("POST", REDEEM_PATH, redeem_body(c)) for c in park.codes[:warm]]
        )
        if warm_up.errors or set(warm_up.answers) != {"ok"}:
            raise BenchFailure(f"the redeem warm-up failed: {warm_up.errors or warm_up.answers}")
        paced_codes = park.codes[warm : warm + paced]
        timed_codes = park.codes[warm + paced :]
        health = [("GET", "/healthz", b"")] * len(timed_codes)
        await scanners.phase(figures.redeem_health, health)
        say(figures.redeem_health.line())
        bodies = [("POST", REDEEM_PATH, redeem_body(code)) for code in timed_codes]
        await scanners.phase(figures.redeem, bodies)
        say(figures.redeem.line())
        await scanners.paced(
            figures.redeem_paced, [redeem_body(code) for code in paced_codes], PACED_RATE
        )
        say(figures.redeem_paced.line())
    finally:
        await scanners.close()
    for timed in (figures.redeem, figures.redeem_paced):
        refused = sum(n for code, n in timed.answers.items() if code != "ok")
        if refused or timed.errors:
            # Each ticket is redeemed once: anything but "ok" is a fault of the hub or the run.
            figures.problems.append(
                f"{timed.name}: {refused} refused ({dict(timed.answers)}), "
                f"{sum(timed.errors.values())} errors "
                f"({dict(itertools.islice(timed.errors.items(), 3))})"
            )
