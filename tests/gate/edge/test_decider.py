"""The edge's decisions from its cache: real signed codes, a store in tmp_path."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.gate.edge.support import (
    DAY,
    SIGNING,
    ManualClock,
    Ticket,
    at,
    b64,
    device,
    edge,
    entitlement,
    sync_body,
    synced_store,
)
from vistapass.gate_firmware_bridge.devices.base import Scan
from vistapass.gate_firmware_bridge.edge.clock import EdgeClock
from vistapass.gate_firmware_bridge.edge.decider import EdgeDecider, lookup_hasher
from vistapass.gate_firmware_bridge.edge.store import EdgeStore
from vistapass.gate_firmware_bridge.edge.wire import parse_sync
from vistapass.tenants.tickets.codec import TicketFlags, holder_marker, sign_payload
from vistapass.tenants.visitors.documents import CN_ID, cn_id_check_char
from vistapass.tenants.visitors.gate_check import new_holder_check


def cn_id(serial: str = "123") -> str:
    first17 = "110101" + "19900307" + serial
    return first17 + cn_id_check_char(first17)


def codes(decider: EdgeDecider, *scans: Scan) -> list[str]:
    return [decider.decide_now(s).code for s in scans]


def test_a_valid_ticket_opens_once_and_its_event_is_logged(tmp_path: Path) -> None:
    ticket = Ticket()
    decider, _ = edge(tmp_path, [ticket])
    answer = asyncio.run(decider.decide(ticket.scan()))
    assert (answer.open, answer.code, answer.message) == (True, "ok", "Entry accepted.")
    assert codes(decider, ticket.scan()) == ["already_used"]
    events = decider.store.pending(10)
    assert [(e.ticket_id, e.code, e.counted, e.day) for e in events] == [
        (ticket.id, "ok", True, DAY),
        (ticket.id, "already_used", False, DAY),
    ]
    assert decider.store.outbox_size == 2
    assert all(e.offline for e in events)  # no sync loop has reached the hub


def test_used_tickets_from_the_hub_and_from_this_edge(tmp_path: Path) -> None:
    used_elsewhere = Ticket(entries_total=1, first_entry_day=DAY.isoformat())
    fresh = Ticket()
    decider, clock = edge(tmp_path, [used_elsewhere, fresh])
    assert codes(decider, used_elsewhere.scan()) == ["already_used"]
    assert codes(decider, fresh.scan(), fresh.scan("exit")) == ["ok", "ok"]
    clock.advance(minutes=10)
    assert codes(decider, fresh.scan()) == ["already_used"]


def test_wrong_day_both_ways(tmp_path: Path) -> None:
    tomorrow = Ticket(valid_from=DAY + timedelta(days=1), valid_to=DAY + timedelta(days=1))
    yesterday = Ticket(valid_from=DAY - timedelta(days=1), valid_to=DAY - timedelta(days=1))
    decider, _ = edge(tmp_path, [tomorrow, yesterday])
    assert codes(decider, tomorrow.scan(), yesterday.scan()) == ["not_yet_valid", "expired"]


def test_revoked_and_refunded_tickets_are_refused_but_may_leave(tmp_path: Path) -> None:
    revoked = Ticket(revoked=True, revoked_reason="fraud", inside=True, entries_total=1)
    refunded = Ticket(revoked=True, revoked_reason="refunded")
    decider, _ = edge(tmp_path, [revoked, refunded])
    assert codes(decider, revoked.scan(), refunded.scan()) == ["revoked", "refunded"]
    assert codes(decider, revoked.scan("exit")) == ["ok"]


def test_forged_altered_and_foreign_codes(tmp_path: Path) -> None:
    ticket = Ticket()
    forger = Ed25519PrivateKey.generate()
    decider, _ = edge(tmp_path, [ticket])
    forged = Scan("lane-1", "qr", sign_payload(ticket.payload, forger))
    # Flip one base45 character inside the signed part: the signature no longer fits.
    flipped = "0" if ticket.code[30] != "0" else "1"
    altered = Scan("lane-1", "qr", ticket.code[:30] + flipped + ticket.code[31:])
    assert codes(decider, forged, altered) == ["bad_signature", "bad_signature"]
    assert codes(decider, Scan("lane-1", "qr", "https://example.com/x")) == ["malformed"]
    assert codes(decider, Scan("lane-1", "qr", "VP1:" + "A" * 900)) == ["malformed"]
    assert decider.store.outbox_size == 4  # refusals are logged too


def test_a_key_the_edge_has_not_synced_is_unknown(tmp_path: Path) -> None:
    rotated = Ed25519PrivateKey.generate()
    ticket = Ticket(key=rotated, key_id=2)
    decider, clock = edge(tmp_path, [])
    assert codes(decider, ticket.scan()) == ["unknown_key"]
    body = sync_body([ticket], keys={1: SIGNING, 2: rotated}, full=False, cursor="2")
    decider.store.apply(parse_sync(body), upload_mark=0, synced_at=clock())
    assert codes(decider, ticket.scan()) == ["ok"]


def test_reentry_waits_for_the_cooldown_and_is_not_counted(tmp_path: Path) -> None:
    ticket = Ticket(entitlement=entitlement(reentry_allowed=True), flags=TicketFlags.REENTRY)
    decider, clock = edge(tmp_path, [ticket], cooldown_s=300)
    assert codes(decider, ticket.scan(), ticket.scan("exit")) == ["ok", "ok"]
    clock.advance(minutes=2)
    assert codes(decider, ticket.scan()) == ["reentry_cooldown"]
    clock.advance(minutes=4)
    assert codes(decider, ticket.scan()) == ["ok"]
    counted = [e.counted for e in decider.store.pending(10) if e.ok and e.direction == "entry"]
    assert counted == [True, False]


def test_an_exit_needs_an_entry_first(tmp_path: Path) -> None:
    ticket = Ticket()
    decider, clock = edge(tmp_path, [ticket])
    assert codes(decider, ticket.scan("exit")) == ["not_inside"]
    assert codes(decider, ticket.scan(), ticket.scan("exit"), ticket.scan("exit")) == [
        "ok",
        "ok",
        "not_inside",
    ]
    clock.advance(minutes=30)
    assert codes(decider, ticket.scan()) == ["already_used"]


def test_entries_per_day_run_out_and_come_back_the_next_day(tmp_path: Path) -> None:
    ticket = Ticket(
        valid_to=DAY + timedelta(days=3),
        entitlement=entitlement(entries_per_day=2, entries_total=None),
    )
    decider, clock = edge(tmp_path, [ticket])
    for _ in range(2):
        assert codes(decider, ticket.scan(), ticket.scan("exit")) == ["ok", "ok"]
        clock.advance(minutes=10)
    assert codes(decider, ticket.scan()) == ["no_entries_left_today"]
    clock.advance(days=1)
    assert codes(decider, ticket.scan()) == ["ok"]
    history = decider.store.history(ticket.id, DAY + timedelta(days=1))
    assert (history.entries_total, history.entries_today, history.inside) == (3, 1, True)


def test_an_annual_card_runs_from_its_first_entry(tmp_path: Path) -> None:
    bought = DAY - timedelta(days=30)
    card = Ticket(
        valid_from=bought,
        valid_to=bought + timedelta(days=364),
        entitlement=entitlement(
            entries_per_day=1,
            entries_total=None,
            extras={"activation": "first_entry", "validity_days": 365},
        ),
    )
    decider, clock = edge(tmp_path, [card])
    assert codes(decider, card.scan()) == ["ok"]
    # Past the dates signed at purchase, inside the year that began with the first entry.
    clock.moment = at(bought + timedelta(days=370), 10)
    assert codes(decider, card.scan()) == ["ok"]
    clock.moment = at(DAY + timedelta(days=365), 10)
    assert codes(decider, card.scan()) == ["expired"]


def test_a_genuine_code_sold_after_the_last_sync_admits_on_its_signed_entitlement(
    tmp_path: Path,
) -> None:
    ticket = Ticket()
    decider, clock = edge(tmp_path, [])
    assert codes(decider, ticket.scan(), ticket.scan("exit")) == ["ok", "ok"]
    clock.advance(minutes=10)
    assert codes(decider, ticket.scan()) == ["already_used"]


def test_two_lanes_at_once_admit_once(tmp_path: Path) -> None:
    ticket = Ticket()
    decider, _ = edge(tmp_path, [ticket])

    async def both() -> list[str]:
        answers = await asyncio.gather(
            decider.decide(ticket.scan(device="lane-1")),
            decider.decide(ticket.scan(device="lane-2")),
        )
        return sorted(a.code for a in answers)

    assert asyncio.run(both()) == ["already_used", "ok"]


def test_threads_racing_on_one_ticket_admit_once(tmp_path: Path) -> None:
    ticket = Ticket()
    decider, _ = edge(tmp_path, [ticket])
    start = threading.Barrier(8)
    answers: list[str] = []

    def lane(n: int) -> None:
        start.wait()
        answers.append(decider.decide_now(ticket.scan(device=f"lane-{n}")).code)

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == ["already_used"] * 7 + ["ok"]


def test_a_device_resending_an_event_gets_the_first_answer(tmp_path: Path) -> None:
    ticket = Ticket()
    decider, _ = edge(tmp_path, [ticket])
    assert codes(decider, ticket.scan(event_id="77"), ticket.scan(event_id="77")) == ["ok", "ok"]
    assert decider.store.outbox_size == 1
    # The same event number from another device is another event.
    assert codes(decider, ticket.scan(device="lane-2", event_id="77")) == ["already_used"]


def test_device_settings_fix_direction_and_zone(tmp_path: Path) -> None:
    ticket = Ticket(entitlement=entitlement(zones=["lake"]))
    devices = [device("out-1", direction="exit"), device("north-1", zone="north")]
    decider, _ = edge(tmp_path, [ticket], devices=devices)
    assert codes(decider, ticket.scan(device="north-1")) == ["wrong_zone"]
    assert codes(decider, ticket.scan(device="lane-1")) == ["ok"]
    answer = decider.decide_now(ticket.scan("entry", device="out-1"))
    assert (answer.code, answer.message) == ("ok", "Exit recorded.")
    assert decider.store.pending(10)[-1].direction == "exit"


def test_cards_are_found_by_number(tmp_path: Path) -> None:
    ticket = Ticket(card="0012345678")
    decider, _ = edge(tmp_path, [ticket])
    assert codes(decider, Scan("lane-1", "card", "0012345678")) == ["ok"]
    assert codes(decider, Scan("lane-1", "card", "999")) == ["unknown_credential"]
    assert decider.store.pending(10)[0].ticket_id == ticket.id


def test_without_the_lookup_key_an_id_card_is_unknown(tmp_path: Path) -> None:
    ticket = Ticket(holder_hash=b64(b"\x01" * 32))
    decider, _ = edge(tmp_path, [ticket])
    assert codes(decider, Scan("lane-1", "id_card", cn_id())) == ["unknown_credential"]
    # An ID shown with the code cannot be compared, so it is as if none was shown.
    assert codes(decider, ticket.scan(document=cn_id())) == ["ok"]


def test_with_the_lookup_key_id_cards_are_matched(tmp_path: Path) -> None:
    hasher = lookup_hasher(b"k" * 32)
    holder = hasher(cn_id())
    named = Ticket(holder_hash=b64(holder), entitlement=entitlement(real_name_required=True))
    clock = ManualClock(at(DAY, 10))
    store = synced_store(tmp_path / "edge.sqlite3", [named], clock)
    decider = EdgeDecider(store, EdgeClock(clock), document_hasher=hasher)
    assert codes(decider, named.scan(document=cn_id("456"))) == ["real_name_mismatch"]
    assert codes(decider, Scan("lane-1", "id_card", cn_id("456"))) == ["unknown_credential"]
    assert codes(decider, Scan("lane-1", "id_card", "12345")) == ["malformed"]
    assert codes(decider, Scan("lane-1", "id_card", cn_id())) == ["ok"]
    # Not cached (sold after the sync): the holder marker signed into the code decides.
    marked = Ticket(marker=holder_marker(holder), flags=TicketFlags.REAL_NAME)
    assert codes(decider, marked.scan(document=cn_id("456"))) == ["real_name_mismatch"]
    assert codes(decider, marked.scan(document=cn_id())) == ["ok"]


def test_an_id_shown_with_a_named_ticket_is_checked_against_its_own_salted_hash(
    tmp_path: Path,
) -> None:
    """No lookup key at the edge: each named ticket carries its holder's check."""
    holder, other = cn_id(), cn_id("456")
    named = Ticket(
        holder_hash=b64(b"\x01" * 32),  # the hub's lookup hash: useless without its key
        holder_check=b64(new_holder_check(CN_ID, holder) or b""),
        entitlement=entitlement(real_name_required=True, entries_per_day=5, entries_total=5),
    )
    decider, clock = edge(tmp_path, [named])
    # The batched path hashes before the lock; `decide_now` under it: both the same.
    assert asyncio.run(decider.decide(named.scan(document=other))).code == "real_name_mismatch"
    assert codes(decider, named.scan(document=other)) == ["real_name_mismatch"]
    assert codes(decider, named.scan(document="110101199003071230")) == ["real_name_mismatch"]
    assert asyncio.run(decider.decide(named.scan(document=holder))).code == "ok"
    # Out, and back after the re-entry cooldown: without an ID shown, nothing to compare.
    clock.advance(minutes=1)
    assert codes(decider, named.scan("exit")) == ["ok"]
    clock.advance(minutes=10)
    assert codes(decider, named.scan()) == ["ok"]
    # The edge's disk holds no number, and no hash that the park's key made.
    raw = (tmp_path / "edge.sqlite3").read_bytes()
    assert holder.encode() not in raw
    events = decider.store.pending(20)
    assert [e.code for e in events][:3] == ["real_name_mismatch"] * 3


def test_face_tickets_ask_the_hook_or_are_refused(tmp_path: Path) -> None:
    tickets = [Ticket(entitlement=entitlement(face_required=True)) for _ in range(4)]
    decider, _ = edge(tmp_path, tickets)
    assert codes(decider, tickets[0].scan()) == ["face_required"]
    asked: list[uuid.UUID] = []

    async def face(scan: Scan, ticket_id: uuid.UUID) -> bool:
        asked.append(ticket_id)
        if ticket_id == tickets[3].id:
            await asyncio.sleep(5)
        if ticket_id == tickets[2].id:
            raise ConnectionError("face service down")
        return ticket_id == tickets[0].id

    decider.face_check, decider.face_timeout = face, 0.05

    async def scans() -> list[str]:
        return [(await decider.decide(t.scan())).code for t in tickets]

    assert asyncio.run(scans()) == ["ok", "face_mismatch", "face_unavailable", "face_unavailable"]
    assert asked == [t.id for t in tickets]
    # Exits never need a face.
    assert asyncio.run(decider.decide(tickets[0].scan("exit"))).code == "ok"


def test_a_clock_jumping_back_is_held_and_recorded(tmp_path: Path) -> None:
    ticket = Ticket()  # valid on DAY only
    decider, clock = edge(tmp_path, [ticket], moment=at(DAY + timedelta(days=1), 9))
    assert codes(decider, ticket.scan()) == ["expired"]
    held = clock()
    clock.advance(days=-1)  # yesterday again, by the machine's clock
    assert codes(decider, ticket.scan()) == ["expired"]
    assert decider.store.pending(10)[-1].at == held
    jumps = decider.store.clock_jumps()
    assert len(jumps) == 1 and jumps[0]["back_by_s"] == 86400
    clock.advance(minutes=1)
    assert codes(decider, ticket.scan()) == ["expired"]
    assert len(decider.store.clock_jumps()) == 1  # one jump, recorded once
    # A restarted edge starts from its latest event, not from the machine's clock.
    decider.store.close()
    reopened = EdgeDecider(EdgeStore(tmp_path / "edge.sqlite3"), EdgeClock(clock))
    assert reopened.clock.now() == held
