"""ZKTeco terminals' user lists follow the edge's tickets: today's cards on, the rest off."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx

from tests.gate.devices.support import run, serve
from tests.gate.edge.support import DAY, PARK_TZ, ManualClock, Ticket, at, sync_body
from vistapass.gate_firmware_bridge.devices.zkteco import ICLOCK_PATH, ZktecoAdapter, ZktecoDevice
from vistapass.gate_firmware_bridge.edge.clock import EdgeClock
from vistapass.gate_firmware_bridge.edge.decider import EdgeDecider
from vistapass.gate_firmware_bridge.edge.store import EdgeStore
from vistapass.gate_firmware_bridge.edge.whitelist import CardWhitelist
from vistapass.gate_firmware_bridge.edge.wire import parse_sync

SN = "ZKW0001"
CARD = "3001234567"
TOMORROWS = "3009999999"
REFUNDED = "3005555555"


def commands(poll: str) -> list[tuple[str, str]]:
    """(command id, command) of each line a terminal's poll got."""
    if poll == "OK":
        return []
    return [tuple(line.split(":", 2)[1:]) for line in poll.splitlines()]  # type: ignore[misc]


def test_a_terminal_holds_the_cards_of_todays_tickets_and_loses_the_rest(tmp_path: Path) -> None:
    clock = ManualClock(at(DAY, 8))
    carded = Ticket(card=CARD)
    tomorrow = Ticket(valid_from=DAY + timedelta(days=1), valid_to=DAY + timedelta(days=1))
    tomorrow.row["card"] = TOMORROWS
    refunded = Ticket(card=REFUNDED, revoked=True, revoked_reason="refunded")
    store = EdgeStore(tmp_path / "edge.sqlite3")
    store.apply(
        parse_sync(sync_body([carded, tomorrow, refunded, Ticket()])),
        upload_mark=0,
        synced_at=clock(),
    )
    decider = EdgeDecider(store, EdgeClock(clock))
    adapter = ZktecoAdapter(decider.decide, [ZktecoDevice(SN)], tz=PARK_TZ)
    whitelist = CardWhitelist(store, adapter)

    async def scenario() -> dict[str, object]:
        seen: dict[str, object] = {}
        async with serve(adapter.router()) as base, httpx.AsyncClient() as terminal:
            iclock = base + ICLOCK_PATH

            async def poll() -> list[tuple[str, str]]:
                got = await terminal.get(f"{iclock}/getrequest", params={"SN": SN})
                return commands(got.text)

            async def confirm(done: list[tuple[str, str]]) -> None:
                body = "".join(f"ID={command_id}&Return=0&CMD=DATA\n" for command_id, _ in done)
                await terminal.post(f"{iclock}/devicecmd", params={"SN": SN}, content=body)

            whitelist.refresh(DAY)
            first = await poll()
            seen["first"] = [command for _, command in first]
            await confirm(first)
            whitelist.refresh(DAY)
            seen["unchanged"] = await poll()
            # The terminal opened for the card by itself; the edge logs and counts it.
            upload = f"{CARD}\t{DAY} 08:00:05\t0\t4\t0\t0\t0\n"
            params = {"SN": SN, "table": "ATTLOG", "Stamp": "1"}
            seen["upload"] = (
                await terminal.post(f"{iclock}/cdata", params=params, content=upload)
            ).text

            # The ticket is refunded: its card comes off, once, and is forgotten when done.
            carded.row.update(revoked=True, revoked_reason="refunded")
            delta = parse_sync(sync_body([carded], full=False, cursor="2"))
            store.apply(delta, upload_mark=0, synced_at=clock())
            whitelist.refresh(DAY)
            removal = await poll()
            seen["removal"] = [command for _, command in removal]
            whitelist.refresh(DAY)
            seen["not_twice"] = await poll()
            seen["held_before"] = store.terminal_cards()
            await confirm(removal)
            seen["held_after"] = store.terminal_cards()

            # The next day tomorrow's card goes on.
            whitelist.refresh(DAY + timedelta(days=1))
            seen["next_day"] = [command for _, command in await poll()]
        return seen

    try:
        seen = run(scenario)
        events = store.pending(10)
    finally:
        decider.close()
        store.close()
    assert seen["first"] == [
        f"DATA UPDATE USERINFO PIN={CARD}\tName=T{carded.id.hex[:8].upper()}\tPri=0\tPasswd="
        f"\tCard={CARD}\tGrp=1"
    ]
    assert seen["unchanged"] == [] and seen["not_twice"] == []
    assert seen["upload"] == "OK: 1"
    assert [(e.ticket_id, e.code, e.ok) for e in events] == [(carded.id, "ok", True)]
    assert seen["removal"] == [f"DATA DELETE USERINFO PIN={CARD}"]
    assert seen["held_before"] == {SN: {CARD}} and seen["held_after"] == {}
    assert [c.split("\t")[0] for c in seen["next_day"]] == [  # type: ignore[attr-defined]
        f"DATA UPDATE USERINFO PIN={TOMORROWS}"
    ]


def test_after_a_restart_cards_that_may_still_be_on_a_terminal_are_deleted(tmp_path: Path) -> None:
    """The edge sent a card, then stopped before the terminal confirmed its deletion."""
    clock = ManualClock(at(DAY, 8))
    carded = Ticket(card=CARD)
    path = tmp_path / "edge.sqlite3"
    store = EdgeStore(path)
    store.apply(parse_sync(sync_body([carded])), upload_mark=0, synced_at=clock())
    before = CardWhitelist(store, ZktecoAdapter(_refuse_all, [ZktecoDevice(SN)]))
    before.refresh(DAY)
    carded.row.update(revoked=True, revoked_reason="refunded")
    store.apply(parse_sync(sync_body([carded])), upload_mark=0, synced_at=clock())
    store.close()

    store = EdgeStore(path)  # the edge starts again
    try:
        adapter = ZktecoAdapter(_refuse_all, [ZktecoDevice(SN)])
        CardWhitelist(store, adapter).refresh(DAY)
        queued = adapter.on_poll(SN, {}, b"")
    finally:
        store.close()
    assert commands(queued) == [("1", f"DATA DELETE USERINFO PIN={CARD}")]


async def _refuse_all(scan: object) -> object:
    raise AssertionError("no scan is decided in this test")
