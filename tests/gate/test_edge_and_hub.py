"""An edge and the real hub: offline admissions, exactly-once upload, occupancy, conflicts.

The hub is `vistapass serve` in a child process, so the test can stop it (the park's
uplink drops) and start it again; the edge runs in this process as `vistapass
gate-edge` runs it, and scans reach it through its HTTP scan endpoint.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, text

from tests.conftest import run, unique_slug
from tests.live_server import serving
from tests.tenants.checkin.support import sell, with_selling
from vistapass.gate_firmware_bridge.devices.base import Scan
from vistapass.gate_firmware_bridge.edge.runtime import Edge, EdgeConfig
from vistapass.platform.db import Database
from vistapass.platform.embedded._process import free_port
from vistapass.platform.models.base import utcnow
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.tenants.catalog.demo import seed_demo_catalog
from vistapass.tenants.checkin.service import park_clock
from vistapass.tenants.gates.credentials import mint
from vistapass.tenants.gates.occupancy import figures
from vistapass.tenants.models import GateConflict

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def gate_park(migrated: Settings) -> tuple[str, date]:
    """A park of its own (occupancy counts the whole park) and its today."""
    slug = unique_slug("gates")

    async def prepare(db: Database) -> date:
        await provision_tenant(db, slug, "Gate Park")
        await seed_demo_catalog(db, slug)
        async with tenant_session(db, slug) as session:
            return (await park_clock(session, utcnow())).today

    return slug, run(migrated, prepare)


def edge_token(settings: Settings, slug: str, name: str) -> str:
    async def work(db: Database) -> str:
        async with tenant_session(db, slug) as session:
            return (await mint(session, slug, "edge", name, None)).token

    return run(settings, work)


def day_tickets(settings: Settings, slug: str, day: date, count: int) -> list[str]:
    async def work(selling: Any) -> dict[str, Any]:
        return await sell(selling, slug, "day-ticket", day, {"adult": count})

    return [ticket["qr"] for ticket in with_selling(settings, work)["tickets"]]


def query(settings: Settings, slug: str, work: Callable[[Any], Any]) -> Any:
    async def main(db: Database) -> Any:
        async with tenant_session(db, slug) as session:
            return await work(session)

    return run(settings, main)


async def until(check: Callable[[], bool], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {within} s")
        await asyncio.sleep(0.05)


def test_an_edge_admits_while_the_hub_is_down_and_every_event_lands_once(
    migrated: Settings, gate_park: tuple[str, date], tmp_path: Path
) -> None:
    slug, today = gate_park
    codes = day_tickets(migrated, slug, today, 6)
    token = edge_token(migrated, slug, "Main gate edge")
    hub_settings = migrated.model_copy(update={"host": "127.0.0.1", "port": free_port()})
    edge = Edge(
        EdgeConfig(hub=hub_settings.url, token=token, data_dir=tmp_path / "edge", sync_interval=0.2)
    )
    hub = ExitStack()
    answers: list[tuple[str, str]] = []

    async def scan(client: AsyncTestClient, code: str, direction: str) -> None:
        response = await client.post(
            "/scan",
            json={"device": "lane-1", "credential": "qr", "value": code, "direction": direction},
        )
        assert response.status_code == 200, response.text
        answers.append((direction, response.json()["code"]))

    async def scenario() -> None:
        async with edge.running(), AsyncTestClient(app=edge.app()) as client:
            # The edge starts with an empty cache: it decides nothing it has not synced.
            await asyncio.to_thread(
                hub.enter_context, serving(hub_settings, tmp_path, worker=False)
            )
            await until(lambda: edge.store.park is not None and len(edge.store.tickets) >= 6,
                        "the first sync")  # fmt: skip
            await until(lambda: edge.sync.online, "the edge online")
            # The uplink drops.
            await asyncio.to_thread(hub.close)
            await until(lambda: not edge.sync.online, "the edge noticing the hub is gone")
            assert (await client.get("/status")).json()["online"] is False
            for code in codes[:5]:
                await scan(client, code, "entry")
            for code in codes[:2]:
                await scan(client, code, "exit")
            await scan(client, codes[0], "entry")  # one entry only: a day ticket has no re-entry
            await scan(client, codes[2], "entry")  # inside, its one entry used
            assert edge.store.outbox_size == 9
            # The uplink returns: everything syncs, once.
            await asyncio.to_thread(
                hub.enter_context, serving(hub_settings, tmp_path, worker=False)
            )
            await until(lambda: edge.sync.online and edge.store.outbox_size == 0, "the upload")

    try:
        asyncio.run(scenario())
    finally:
        hub.close()
    assert answers == [
        *[("entry", "ok")] * 5,
        *[("exit", "ok")] * 2,
        ("entry", "already_used"),
        ("entry", "already_used"),
    ]

    async def stored(session: Any) -> tuple[int, int, dict[str, Any]]:
        rows = await session.execute(
            text("SELECT count(*), count(DISTINCT nonce) FROM admissions WHERE nonce LIKE 'edge:%'")
        )
        total, distinct = rows.one()
        return total, distinct, await figures(session, slug, utcnow())

    total, distinct, live = query(migrated, slug, stored)
    assert total == distinct == 9  # refusals are facts too
    assert live["inside"] == 3
    assert live["entries_today"] == 5 and live["exits_today"] == 2
    assert live["dwell"]["visits"] == 2


def test_two_edges_admitting_one_single_entry_ticket_offline_is_recorded_as_a_conflict(
    migrated: Settings, gate_park: tuple[str, date], tmp_path: Path
) -> None:
    slug, today = gate_park
    [code] = day_tickets(migrated, slug, today, 1)
    hub_settings = migrated.model_copy(update={"host": "127.0.0.1", "port": free_port()})
    edges = [
        Edge(
            EdgeConfig(
                hub=hub_settings.url,
                token=edge_token(migrated, slug, f"Edge {n}"),
                data_dir=tmp_path / f"edge-{n}",
            )
        )
        for n in (1, 2)
    ]
    scan = Scan(device="lane", credential="qr", value=code, event_id=None)

    async def scenario() -> list[str]:
        # Both pull before either admits, as two edges do when the uplink is down
        # between their last sync and the visitor's two attempts.
        for edge in edges:
            await edge.sync.run_once()
        answers = [(await edge.decider.decide(scan)).code for edge in edges]
        for edge in edges:
            await edge.sync.run_once()
            await edge.client.aclose()
            edge.store.close()
        return answers

    with serving(hub_settings, tmp_path, worker=False):
        answers = asyncio.run(scenario())
    assert answers == ["ok", "ok"]  # each edge decided alone, as it must offline

    async def conflicts(session: Any) -> tuple[int, list[GateConflict]]:
        admitted = await session.scalar(
            select(func.count()).select_from(text("admissions")).where(text("ok AND counted"))
        )
        return admitted, list(await session.scalars(select(GateConflict)))

    admitted, recorded = query(migrated, slug, conflicts)
    assert admitted == 2  # offline admissions are facts: both are stored
    assert len(recorded) == 1
    assert recorded[0].reason and recorded[0].ticket_id is not None
    assert isinstance(recorded[0].ticket_id, uuid.UUID)


@pytest.mark.slow
def test_a_long_outage_uploads_every_event_once_in_batches(
    migrated: Settings, gate_park: tuple[str, date], tmp_path: Path
) -> None:
    """The park's uplink down for a busy spell (the issue's hour with 10,000 scans, at a
    size the suite can afford): every scan decided offline lands exactly once."""
    slug, today = gate_park
    tickets = 600
    codes = []
    for _ in range(tickets // 20):  # orders of 20, inside an order's limits
        codes += day_tickets(migrated, slug, today, 20)
    hub_settings = migrated.model_copy(update={"host": "127.0.0.1", "port": free_port()})
    edge = Edge(
        EdgeConfig(
            hub=hub_settings.url, token=edge_token(migrated, slug, "Busy edge"),
            data_dir=tmp_path / "edge",
        )
    )  # fmt: skip

    hub = ExitStack()
    answers: list[str] = []

    async def scenario() -> None:
        await asyncio.to_thread(hub.enter_context, serving(hub_settings, tmp_path, worker=False))
        await edge.sync.run_once()
        await asyncio.to_thread(hub.close)
        # Hub gone: everyone comes in, then most leave, then some try again.
        for direction, chosen in (("entry", codes), ("exit", codes[:500]), ("entry", codes[:100])):
            for code in chosen:
                scan = Scan(device="lane", credential="qr", value=code, direction=direction)
                answers.append((await edge.decider.decide(scan)).code)
        await asyncio.to_thread(hub.enter_context, serving(hub_settings, tmp_path, worker=False))
        while edge.store.outbox_size:
            await edge.sync.run_once()
        await edge.client.aclose()

    try:
        asyncio.run(scenario())
    finally:
        hub.close()
        edge.store.close()
    assert answers.count("ok") == tickets + 500
    assert len(answers) == 1200

    async def stored(session: Any) -> tuple[int, int, dict[str, Any]]:
        total, distinct = (
            await session.execute(
                text(
                    "SELECT count(*), count(DISTINCT nonce) FROM admissions"
                    " WHERE nonce LIKE 'edge:%'"
                )
            )
        ).one()
        return total, distinct, await figures(session, slug, utcnow())

    total, distinct, live = query(migrated, slug, stored)
    assert total == distinct == 1200
    assert live["inside"] == tickets - 500
