"""The edge against a hub over real HTTP: offline, back online, lost answers, new keys."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.gate.edge.fake_hub import TOKEN, FakeHub
from tests.gate.edge.support import DAY, KEY_ID, SIGNING, ManualClock, Ticket, at, entitlement
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


@pytest.fixture
def tickets() -> list[Ticket]:
    return [Ticket() for _ in range(3)] + [
        Ticket(entitlement=entitlement(entries_per_day=2, entries_total=None))
    ]


@pytest.fixture
def hub(tickets: list[Ticket]) -> Iterator[FakeHub]:
    hub = FakeHub({KEY_ID: SIGNING}, tickets)
    hub.state.today = DAY
    hub.start()
    yield hub
    hub.stop()


class Edge:
    """An edge process's parts, wired as `gate-edge` wires them."""

    def __init__(self, path: Path, hub: FakeHub, token: str = TOKEN) -> None:
        self.machine = ManualClock(at(DAY, 10))
        clock = EdgeClock(self.machine)
        self.store = EdgeStore(path)
        self.decider = EdgeDecider(self.store, clock)
        self.client = HubClient(hub.url, token, timeout=2.0)
        self.loop = SyncLoop(self.store, self.client, 0.02, max_backoff=0.1, clock=clock)

    def codes(self, *scans) -> list[str]:
        return [self.decider.decide_now(scan).code for scan in scans]


def run(work: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(work())


async def until(loop: SyncLoop, condition: Callable[[], bool]) -> None:
    """Wait, round after round of the running loop, for a condition it makes true."""
    async with asyncio.timeout(10):
        while not condition():
            await loop.wait_round()


def test_offline_scans_are_uploaded_once_when_the_hub_returns(
    tmp_path: Path, hub: FakeHub, tickets: list[Ticket]
) -> None:
    edge = Edge(tmp_path / "edge.sqlite3", hub)

    async def work() -> None:
        await edge.loop.run_once()
        assert edge.store.online and len(edge.store.tickets) == 4
        hub.stop()
        first, second, third, _ = tickets
        assert edge.codes(first.scan(), second.scan(), first.scan("exit"), third.scan("exit")) == [
            "ok",
            "ok",
            "ok",
            "not_inside",
        ]
        with pytest.raises(HubUnavailable):
            await edge.loop.run_once()
        assert not edge.store.online
        # Still deciding, from the cache, while the hub is away.
        edge.machine.advance(minutes=10)
        assert edge.codes(first.scan(), third.scan()) == ["already_used", "ok"]
        assert edge.store.outbox_size == 6
        hub.start()
        await edge.loop.run_once()
        assert edge.store.online and edge.store.outbox_size == 0
        await edge.loop.run_once()
        await edge.client.aclose()

    run(work)
    stored = hub.state.events
    logged = edge.store.pending(100)
    assert logged == []
    assert len(stored) == 6 and hub.state.duplicates == 0
    # The edge learns the hub is gone at its next round: scans before it were "online".
    assert sorted(e["offline"] for e in stored.values()) == [False] * 4 + [True] * 2
    # The hub's counts came back, and the edge does not count its own events twice.
    history = edge.store.history(tickets[0].id, DAY)
    assert (history.entries_total, history.entries_today, history.inside) == (1, 1, False)
    assert edge.store.overlay == {}
    assert hub.state.statuses[-1]["online"] is True and hub.state.statuses[-1]["outbox"] == 0


def test_a_lost_answer_is_resent_and_the_hub_keeps_one(tmp_path: Path, hub: FakeHub) -> None:
    edge = Edge(tmp_path / "edge.sqlite3", hub)
    scans = [Ticket().scan() for _ in range(BATCH + 20)]  # two batches

    async def work() -> None:
        await edge.loop.run_once()
        edge.codes(*scans)
        hub.state.drop_next_events_answer = True
        with pytest.raises(HubUnavailable):
            await edge.loop.run_once()
        assert edge.store.outbox_size == len(scans)
        await edge.loop.run_once()
        await edge.client.aclose()

    run(work)
    assert edge.store.outbox_size == 0
    assert len(hub.state.events) == len(scans)
    assert hub.state.duplicates == BATCH  # the first batch, sent twice, stored once


def test_entries_per_day_hold_across_the_hubs_echo(
    tmp_path: Path, hub: FakeHub, tickets: list[Ticket]
) -> None:
    edge = Edge(tmp_path / "edge.sqlite3", hub)
    twice = tickets[3]  # two entries a day

    async def work() -> None:
        await edge.loop.run_once()
        assert edge.codes(twice.scan(), twice.scan("exit")) == ["ok", "ok"]
        await edge.loop.run_once()  # uploaded, then sent back in the hub's counts
        edge.machine.advance(minutes=10)
        assert edge.codes(twice.scan(), twice.scan("exit")) == ["ok", "ok"]
        await edge.loop.run_once()
        edge.machine.advance(minutes=10)
        assert edge.codes(twice.scan()) == ["no_entries_left_today"]
        await edge.client.aclose()

    run(work)
    assert edge.store.history(twice.id, DAY).entries_today == 2


def test_a_key_rotated_while_offline_is_unknown_until_synced(tmp_path: Path, hub: FakeHub) -> None:
    edge = Edge(tmp_path / "edge.sqlite3", hub)
    rotated = Ed25519PrivateKey.generate()
    fresh = Ticket(key=rotated, key_id=2)

    async def work() -> None:
        await edge.loop.run_once()
        hub.stop()
        hub.add_key(2, rotated)
        hub.put(fresh)
        assert edge.codes(fresh.scan()) == ["unknown_key"]
        hub.start()
        await edge.loop.run_once()
        assert edge.codes(fresh.scan()) == ["ok"]
        await edge.client.aclose()

    run(work)


def test_a_refused_credential_keeps_the_edge_on_its_cache(
    tmp_path: Path, hub: FakeHub, tickets: list[Ticket]
) -> None:
    path = tmp_path / "edge.sqlite3"
    good = Edge(path, hub)
    run(good.loop.run_once)
    good.store.close()
    edge = Edge(path, hub, token="lakeside.0.wrong")

    async def work() -> None:
        with pytest.raises(HubRefused) as refused:
            await edge.loop.run_once()
        assert (refused.value.status, refused.value.code) == (401, "invalid_credential")
        await edge.client.aclose()

    run(work)
    assert not edge.store.online
    assert edge.codes(tickets[0].scan()) == ["ok"]


def test_the_loop_backs_off_while_away_and_catches_up(
    tmp_path: Path, hub: FakeHub, tickets: list[Ticket]
) -> None:
    edge = Edge(tmp_path / "edge.sqlite3", hub)
    hub.stop()
    assert edge.codes(tickets[0].scan()) == ["unknown_key"]  # never synced: no keys yet

    async def work() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(edge.loop.run(stop))
        await until(edge.loop, lambda: edge.loop.failures >= 3)
        hub.start()
        await until(edge.loop, lambda: edge.store.online and edge.store.outbox_size == 0)
        assert edge.codes(tickets[1].scan()) == ["ok"]
        await until(edge.loop, lambda: edge.store.outbox_size == 0)
        stop.set()
        await task
        await edge.client.aclose()

    run(work)
    assert len(hub.state.events) == 2
    delays = []
    for failures in (0, 1, 2, 3, 10):
        edge.loop.failures = failures
        delays.append(edge.loop.next_delay())
    assert delays == [0.02, 0.02, 0.04, 0.08, 0.1]  # doubling, capped
