"""Group commit: concurrent lanes decided in batches, each batch committed before it answers.

To put scans in one batch for certain, a test holds the store's lock: the writer
takes a first scan and waits for the lock, the others are checked and queue up
behind it, and once the lock is let go they are decided together.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from tests.gate.devices.support import eventually
from tests.gate.edge.support import (
    SIGNING,
    ManualClock,
    Ticket,
    edge,
    entitlement,
    sync_body,
    synced_store,
)
from vistapass.gate_firmware_bridge.devices.base import Answer, Scan
from vistapass.gate_firmware_bridge.edge.batcher import Closed
from vistapass.gate_firmware_bridge.edge.decider import (
    DEVICE_EVENTS,
    EdgeDecider,
    device_event_id,
)
from vistapass.gate_firmware_bridge.edge.store import EdgeStore
from vistapass.gate_firmware_bridge.edge.wire import parse_sync

ROOT = Path(__file__).resolve().parents[3]


async def _gather(decider: EdgeDecider, scans: Sequence[Scan]) -> list[Answer]:
    return list(await asyncio.gather(*(decider.decide(scan) for scan in scans)))


@asynccontextmanager
async def held_writer(decider: EdgeDecider, blocker: Scan) -> AsyncIterator[asyncio.Task[Answer]]:
    """The writer busy with `blocker` until the block ends; scans sent meanwhile queue up."""
    batcher = decider.batcher
    with decider.store.lock:
        task = asyncio.create_task(decider.decide(blocker))
        await asyncio.sleep(0)  # the task hands its scan in
        await eventually(lambda: batcher.backlog == 0)  # taken: the writer waits for the lock
        yield task


async def _one_batch(decider: EdgeDecider, blocker: Scan, scans: Sequence[Scan]) -> list[Answer]:
    batcher = decider.batcher
    async with held_writer(decider, blocker):
        tasks = [asyncio.create_task(decider.decide(scan)) for scan in scans]
        await eventually(lambda: batcher.backlog == batcher.waiting == len(scans))
        batches = batcher.batches
    answers = [await task for task in tasks]
    assert batcher.batches == batches + 2  # the blocker's batch, then all of these
    return answers


def test_concurrent_lanes_admit_a_single_entry_ticket_once(tmp_path: Path) -> None:
    ticket = Ticket()
    decider, _ = edge(tmp_path, [ticket])
    scans = [ticket.scan(device=f"lane-{n}") for n in range(16)]
    answers = asyncio.run(_gather(decider, scans))
    decider.close()
    assert sorted(a.code for a in answers) == ["already_used"] * 15 + ["ok"]
    assert [a.open for a in answers].count(True) == 1
    events = decider.store.pending(100)
    assert len(events) == 16 and sum(e.counted for e in events) == 1


def test_a_lane_alone_is_answered_in_a_batch_of_its_own(tmp_path: Path) -> None:
    ticket = Ticket()
    decider, _ = edge(tmp_path, [ticket])
    assert asyncio.run(decider.decide(ticket.scan())).code == "ok"
    assert (decider.batcher.batches, decider.batcher.items) == (1, 1)
    decider.close()


def test_every_answered_scan_is_committed_before_its_answer(tmp_path: Path) -> None:
    tickets = [Ticket() for _ in range(40)]
    decider, _ = edge(tmp_path, tickets)
    # 5 scans per ticket from 20 lanes: each ticket's first scan admits, the rest refuse.
    scans = [
        t.scan(device=f"lane-{n % 20}", event_id=str(n))
        for n, t in enumerate(tickets[i % 40] for i in range(200))
    ]
    answers = asyncio.run(_gather(decider, scans))
    decider.close()
    assert [a.code for a in answers].count("ok") == 40
    # A new store on the file sees what a restarted edge would: every answer's event.
    reopened = EdgeStore(tmp_path / "edge.sqlite3")
    assert reopened.outbox_size == 200
    for scan, answer in zip(scans, answers, strict=True):
        event = reopened.event(str(uuid.uuid5(DEVICE_EVENTS, f"{scan.device}\x1f{scan.event_id}")))
        assert event is not None and (event.ok, event.code) == (answer.open, answer.code)
    reopened.close()


def test_one_batch_decides_in_arrival_order_and_replays_duplicates(tmp_path: Path) -> None:
    ticket, other = Ticket(), Ticket()
    decider, _ = edge(tmp_path, [ticket, other])
    scans = [
        ticket.scan(event_id="7"),
        ticket.scan(event_id="7"),  # the device sends the same event again: same answer
        ticket.scan(event_id="8"),  # a new scan of the ticket sees the entry just made
        ticket.scan("exit", event_id="9"),
        ticket.scan(event_id="7"),
    ]
    answers = asyncio.run(_one_batch(decider, other.scan(device="lane-2"), scans))
    decider.close()
    assert [a.code for a in answers] == ["ok", "ok", "already_used", "ok", "ok"]
    assert [a.open for a in answers] == [True, True, False, True, True]
    logged = [e for e in decider.store.pending(10) if e.ticket_id == ticket.id]
    assert [(e.direction, e.code) for e in logged] == [
        ("entry", "ok"),
        ("entry", "already_used"),
        ("exit", "ok"),
    ]


def test_an_sqlite_failure_refuses_the_whole_batch_and_counts_nothing(tmp_path: Path) -> None:
    first, second, blocker = Ticket(), Ticket(), Ticket()
    decider, _ = edge(tmp_path, [first, second, blocker])
    store = decider.store
    # A real SQLite error for one scan of the batch: a trigger on the file refuses it.
    with closing(sqlite3.connect(store.path)) as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.device = 'broken'"
            " BEGIN SELECT RAISE(ABORT, 'the disk said no'); END"
        )
    scans = [first.scan(), second.scan(), Scan("broken", "qr", first.code), second.scan("exit")]
    answers = asyncio.run(_one_batch(decider, blocker.scan(device="lane-2"), scans))
    assert [(a.open, a.code) for a in answers] == [(False, "edge_error")] * 4
    # Nothing of the batch is on disk or in memory: the blocker's entry only.
    assert store.outbox_size == 1 and set(store.overlay) == {blocker.id}
    with closing(sqlite3.connect(store.path)) as db:
        assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 1
        db.execute("DROP TRIGGER refuse")
    # So the tickets were not used: they admit now.
    assert [decider.decide_now(t.scan()).code for t in (first, second)] == ["ok", "ok"]
    decider.close()


def test_a_check_made_before_a_key_change_is_made_again(tmp_path: Path) -> None:
    rotated = Ed25519PrivateKey.generate()
    ticket, blocker = Ticket(key=rotated, key_id=2), Ticket()
    decider, clock = edge(tmp_path, [blocker])

    async def scenario() -> Answer:
        async with held_writer(decider, blocker.scan()):
            scan = asyncio.create_task(decider.decide(ticket.scan()))
            await eventually(lambda: decider.batcher.waiting == 1)  # checked: unknown key
            body = sync_body([ticket], keys={1: SIGNING, 2: rotated}, full=False, cursor="2")
            decider.store.apply(parse_sync(body), upload_mark=0, synced_at=clock())
        return await scan

    assert asyncio.run(scenario()).code == "ok"
    decider.close()


def test_a_closed_decider_refuses_new_scans_but_decides_now(tmp_path: Path) -> None:
    ticket = Ticket(entitlement=entitlement(entries_per_day=None, entries_total=None))
    decider, _ = edge(tmp_path, [ticket])
    assert asyncio.run(decider.decide(ticket.scan())).code == "ok"
    decider.close()
    with pytest.raises(Closed):
        asyncio.run(decider.decide(ticket.scan("exit")))
    assert decider.decide_now(ticket.scan("exit")).code == "ok"


@given(st.text(max_size=40), st.text(min_size=1, max_size=40))
def test_device_event_ids_are_the_uuid5_of_device_and_event(device: str, event: str) -> None:
    # Logged ids must never change: a device resending an old event must find it.
    expected = uuid.uuid5(DEVICE_EVENTS, f"{device}\x1f{event}")
    assert device_event_id(device, event) == str(expected)


@pytest.mark.slow
def test_sigkill_while_lanes_scan_loses_no_answered_event(tmp_path: Path) -> None:
    """As `test_kill`, with 8 lanes: an answer from a shared commit is on disk too."""
    today = datetime.now(UTC).date()
    unlimited = entitlement(entries_per_day=None, entries_total=None)
    first, last = today - timedelta(days=1), today + timedelta(days=1)
    tickets = [Ticket(valid_from=first, valid_to=last, entitlement=unlimited) for _ in range(20)]
    path = tmp_path / "edge.sqlite3"
    synced_store(path, tickets, ManualClock(datetime.now(UTC)), cooldown_s=0).close()
    codes = tmp_path / "codes.txt"
    codes.write_text("\n".join(t.code for t in tickets))
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.gate.edge.lanes_loop", str(path), str(codes), "8"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    answered: list[list[str]] = []  # [event number, code]
    try:
        while len(answered) < 300:
            line = child.stdout.readline()
            assert line, f"the scanning child stopped early ({child.poll()})"
            answered.append(line.split())
        os.kill(child.pid, signal.SIGKILL)
        # Lines written before the kill are answers too; a cut-off last one is not.
        answered += [line.split() for line in child.stdout if len(line.split()) == 2]
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    store = EdgeStore(path)
    for n, code in answered:
        event = store.event(device_event_id("lane-1", n))
        assert event is not None and event.code == code, f"answer {n} ({code}) has no event"
    assert {code for _, code in answered} == {"ok"}
    store.close()
