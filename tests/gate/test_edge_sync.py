"""An edge's sync loop against the real hub: lost answers, the hub's echo of the
edge's own events, new keys, a refused credential, backing off while it is away.

The hub is `vistapass serve` in a child process (`tests/live_server.py`), stopped
and started as an uplink drops and returns; a lost answer is lost on the wire, by
a relay between the edge and the hub that closes the connection instead of
passing the hub's answer on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import run as run_sync
from tests.gate.edge.support import ManualClock, at
from tests.gate.test_edge_and_hub import day_tickets, edge_token, gate_park, query
from tests.live_server import serving
from tests.tenants.catalog.helpers import add_product
from tests.tenants.checkin.support import sell, with_selling
from vistapass.gate_firmware_bridge.devices.base import Scan
from vistapass.gate_firmware_bridge.edge.clock import EdgeClock
from vistapass.gate_firmware_bridge.edge.decider import EdgeDecider
from vistapass.gate_firmware_bridge.edge.store import EdgeStore
from vistapass.gate_firmware_bridge.edge.sync import (
    BATCH,
    HubClient,
    HubRefused,
    HubUnavailable,
    SyncLoop,
)
from vistapass.platform.crypto.envelope import wrapper_for
from vistapass.platform.db import Database
from vistapass.platform.embedded._process import free_port
from vistapass.platform.models.base import utcnow
from vistapass.platform.pricing_registry import get_mode
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.checkin.rules import REENTRY_COOLDOWN
from vistapass.tenants.keys.signing import rotate_signing_key

__all__ = ["gate_park"]  # the fixture, imported for the tests here

REENTRY_COOLDOWN_MINUTES = REENTRY_COOLDOWN.total_seconds() / 60

pytestmark = pytest.mark.timeout(180)


class Edge:
    """An edge process's parts, wired as `gate-edge` wires them, syncing quickly."""

    def __init__(
        self, path: Path, hub_url: str, token: str, machine: ManualClock | None = None
    ) -> None:
        self.store = EdgeStore(path)
        self.decider = EdgeDecider(self.store, EdgeClock(machine) if machine else EdgeClock())
        self.client = HubClient(hub_url, token, timeout=5.0)
        self.loop = SyncLoop(self.store, self.client, 0.02, max_backoff=0.1)

    def codes(self, *scans: Scan) -> list[str]:
        return [self.decider.decide_now(scan).code for scan in scans]

    async def close(self) -> None:
        await self.client.aclose()
        self.store.close()


def scan(code: str, direction: str = "entry") -> Scan:
    return Scan(device="lane-1", credential="qr", value=code, direction=direction)


class Hub:
    """The real hub on a port of its own, to stop and start from a running loop."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.settings = settings.model_copy(update={"host": "127.0.0.1", "port": free_port()})
        self.logs = logs
        self._running = ExitStack()

    @property
    def url(self) -> str:
        return self.settings.url

    async def start(self) -> None:
        await asyncio.to_thread(
            self._running.enter_context, serving(self.settings, self.logs, worker=False)
        )

    async def stop(self) -> None:
        await asyncio.to_thread(self._running.close)


class LosingRelay:
    """Passes bytes between the edge and the hub; armed, it lets the next events
    upload reach the hub and closes the connection when the hub starts to answer:
    the events are stored, the edge never hears so."""

    def __init__(self, hub_port: int) -> None:
        self.hub_port = hub_port
        self.lose_next_answer = False
        self.lost = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _relay(self, edge_in: asyncio.StreamReader, edge_out: asyncio.StreamWriter) -> None:
        hub_in, hub_out = await asyncio.open_connection("127.0.0.1", self.hub_port)
        losing = asyncio.Event()

        async def to_hub() -> None:
            while data := await edge_in.read(65536):
                if self.lose_next_answer and data.startswith(b"POST /gate/v1/events"):
                    self.lose_next_answer = False
                    losing.set()
                hub_out.write(data)
                await hub_out.drain()

        async def to_edge() -> None:
            while data := await hub_in.read(65536):
                if losing.is_set():
                    self.lost += 1
                    break
                edge_out.write(data)
                await edge_out.drain()
            edge_out.close()
            hub_out.close()

        await asyncio.gather(to_hub(), to_edge(), return_exceptions=True)


def events_stored(settings: Settings, slug: str) -> tuple[int, int]:
    async def count(session: Any) -> tuple[int, int]:
        rows = await session.execute(
            text("SELECT count(*), count(DISTINCT nonce) FROM admissions WHERE nonce LIKE 'edge:%'")
        )
        total, distinct = rows.one()
        return int(total), int(distinct)

    return query(settings, slug, count)


def run(work: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(work())


async def until(loop: SyncLoop, condition: Callable[[], bool]) -> None:
    """Wait, round after round of the running loop, for a condition it makes true."""
    async with asyncio.timeout(60):
        while not condition():
            await loop.wait_round()


def test_a_lost_answer_is_resent_and_the_hub_keeps_one(
    migrated: Settings, gate_park: tuple[str, date], tmp_path: Path
) -> None:
    slug, today = gate_park
    codes = day_tickets(migrated, slug, today, 5)
    token = edge_token(migrated, slug, "Lossy uplink")
    hub = Hub(migrated, tmp_path)
    relay = LosingRelay(hub.settings.port)
    # Two batches' worth: entries, then the same tickets refused again and again.
    scans = [scan(code) for code in codes]
    scans += [scan(codes[n % 5]) for n in range(BATCH + 20 - len(scans))]

    async def work() -> None:
        await hub.start()
        edge = Edge(tmp_path / "edge.sqlite3", await relay.start(), token)
        try:
            await edge.loop.run_once()
            assert edge.codes(*scans).count("ok") == 5
            relay.lose_next_answer = True
            with pytest.raises(HubUnavailable):
                await edge.loop.run_once()
            assert relay.lost == 1
            assert edge.store.outbox_size == len(scans)  # the edge does not know
            await edge.loop.run_once()
            assert edge.store.outbox_size == 0
        finally:
            await edge.close()
            await relay.close()
            await hub.stop()

    run(work)
    # The first batch reached the hub twice and is stored once.
    assert events_stored(migrated, slug) == (len(scans), len(scans))


def test_a_key_rotated_while_offline_is_unknown_until_synced(
    migrated: Settings, gate_park: tuple[str, date], tmp_path: Path
) -> None:
    slug, today = gate_park
    [before] = day_tickets(migrated, slug, today, 1)
    token = edge_token(migrated, slug, "Rotating")
    hub = Hub(migrated, tmp_path)

    async def rotate(db: Database) -> int:
        async with tenant_session(db, slug) as session:
            return await rotate_signing_key(session, wrapper_for(migrated))

    async def work() -> None:
        await hub.start()
        edge = Edge(tmp_path / "edge.sqlite3", hub.url, token)
        try:
            await edge.loop.run_once()
            await hub.stop()
            db = Database(migrated)
            try:
                await rotate(db)
            finally:
                await db.dispose()
            [after] = await asyncio.to_thread(day_tickets, migrated, slug, today, 1)
            assert edge.codes(scan(after)) == ["unknown_key"]
            assert edge.codes(scan(before)) == ["ok"]  # the old key still verifies
            await hub.start()
            await edge.loop.run_once()
            assert edge.codes(scan(after)) == ["ok"]
        finally:
            await edge.close()
            await hub.stop()

    run(work)


def test_a_refused_credential_keeps_the_edge_on_its_cache(
    migrated: Settings, gate_park: tuple[str, date], tmp_path: Path
) -> None:
    slug, today = gate_park
    [code] = day_tickets(migrated, slug, today, 1)
    token = edge_token(migrated, slug, "Good then bad")
    hub = Hub(migrated, tmp_path)
    path = tmp_path / "edge.sqlite3"

    async def work() -> None:
        await hub.start()
        try:
            good = Edge(path, hub.url, token)
            await good.loop.run_once()
            await good.close()
            # The park's name, then a credential the hub never issued.
            wrong = f"{token.split('.', 1)[0]}.0123456789abcdef0123456789abcdef.bm90LWlzc3VlZA"
            edge = Edge(path, hub.url, wrong)
            try:
                with pytest.raises(HubRefused) as refused:
                    await edge.loop.run_once()
                assert (refused.value.status, refused.value.code) == (401, "invalid_credential")
                assert not edge.store.online
                assert edge.codes(scan(code)) == ["ok"]
            finally:
                await edge.close()
        finally:
            await hub.stop()

    run(work)


def test_the_loop_backs_off_while_away_and_catches_up(
    migrated: Settings, gate_park: tuple[str, date], tmp_path: Path
) -> None:
    slug, today = gate_park
    codes = day_tickets(migrated, slug, today, 2)
    token = edge_token(migrated, slug, "Patient")
    hub = Hub(migrated, tmp_path)

    async def work() -> None:
        edge = Edge(tmp_path / "edge.sqlite3", hub.url, token)
        assert edge.codes(scan(codes[0])) == ["unknown_key"]  # never synced: no keys yet
        stop = asyncio.Event()
        task = asyncio.create_task(edge.loop.run(stop))
        try:
            await until(edge.loop, lambda: edge.loop.failures >= 3)
            await hub.start()
            await until(edge.loop, lambda: edge.store.online and edge.store.outbox_size == 0)
            assert edge.codes(scan(codes[1])) == ["ok"]
            await until(edge.loop, lambda: edge.store.outbox_size == 0)
        finally:
            stop.set()
            await task
            await edge.close()
            await hub.stop()
        delays = []
        for failures in (0, 1, 2, 3, 10):
            edge.loop.failures = failures
            delays.append(edge.loop.next_delay())
        assert delays == [0.02, 0.02, 0.04, 0.08, 0.1]  # doubling, capped

    run(work)
    assert events_stored(migrated, slug) == (2, 2)


def test_a_reentry_tickets_visit_holds_across_the_hubs_echo(
    migrated: Settings, gate_park: tuple[str, date], tmp_path: Path
) -> None:
    """The hub sends back every ticket's counts with the edge's own events in them:
    the edge must not count those events a second time."""
    slug, today = gate_park
    config = dict(
        get_mode("per_visit").validate_config({"prices": {"adult": 5000}, "reentry_allowed": True})
    )
    product = run_sync(
        migrated,
        lambda db: add_product(
            db, slug, mode="per_visit", config=config, units=("adult",), channels=("window",)
        ),
    )

    async def sold(selling: Any) -> dict[str, Any]:
        return await sell(selling, slug, product, today, {"adult": 1})

    [code] = [ticket["qr"] for ticket in with_selling(migrated, sold)["tickets"]]
    token = edge_token(migrated, slug, "Echo")
    hub = Hub(migrated, tmp_path)
    # The park's clock, early enough in its day for the re-entry cooldowns below.
    machine = ManualClock(min(utcnow(), at(today, 23, 0)))

    async def work() -> list[str]:
        await hub.start()
        edge = Edge(tmp_path / "edge.sqlite3", hub.url, token, machine)
        answers = []
        try:
            await edge.loop.run_once()
            # Each scan is uploaded and its count comes back before the next one.
            for direction in ("entry", "exit", "entry", "entry", "exit", "exit"):
                answers += edge.codes(scan(code, direction))
                await edge.loop.run_once()
                machine.advance(minutes=REENTRY_COOLDOWN_MINUTES + 1)
        finally:
            await edge.close()
            await hub.stop()
        return answers

    answers = asyncio.run(work())
    # The re-entry is let in: the entry the hub echoed back is counted once. Its one
    # entry used, a ticket inside is refused as used before it is refused as inside.
    assert answers == ["ok", "ok", "ok", "already_used", "ok", "not_inside"]
