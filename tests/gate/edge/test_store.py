"""The local store: survives restarts, applies syncs whole, never counts an event twice."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from tests.gate.edge.support import (
    DAY,
    Ticket,
    at,
    device,
    edge,
    entitlement,
    sync_body,
)
from vistapass.gate_firmware_bridge.edge.clock import EdgeClock
from vistapass.gate_firmware_bridge.edge.decider import EdgeDecider
from vistapass.gate_firmware_bridge.edge.store import EdgeStore
from vistapass.gate_firmware_bridge.edge.wire import WireError, parse_sync


def test_the_file_is_in_wal_mode_with_normal_sync(tmp_path: Path) -> None:
    store = EdgeStore.in_dir(tmp_path / "data")
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_a_restarted_edge_keeps_its_history_and_its_outbox(tmp_path: Path) -> None:
    ticket = Ticket(entitlement=entitlement(entries_per_day=3, entries_total=None))
    decider, clock = edge(tmp_path, [ticket])
    assert decider.decide_now(ticket.scan()).code == "ok"
    decider.store.close()
    store = EdgeStore(tmp_path / "edge.sqlite3")
    again = EdgeDecider(store, EdgeClock(clock))
    assert again.decide_now(ticket.scan()).code == "already_inside"
    assert store.outbox_size == 2
    assert [e.code for e in store.pending(10)] == ["ok", "already_inside"]
    assert store.park is not None and store.park.slug == "lakeside"
    assert store.keys and store.tickets.keys() == {ticket.id}


def test_an_event_leaves_the_overlay_only_once_a_later_sync_holds_it(tmp_path: Path) -> None:
    ticket = Ticket(entitlement=entitlement(entries_per_day=5, entries_total=None))
    decider, clock = edge(tmp_path, [ticket])
    store = decider.store
    assert decider.decide_now(ticket.scan()).code == "ok"
    entry = store.pending(1)[0]
    # A sync requested before the upload was acknowledged: its counts cannot hold the entry.
    mark = store.upload_generation
    assert store.mark_uploaded([entry.id]) == 1
    store.apply(parse_sync(sync_body([ticket], full=False)), upload_mark=mark, synced_at=clock())
    assert store.history(ticket.id, DAY).entries_today == 1
    # The next one was requested after it: the hub's counts hold it, the overlay lets go.
    echoed = dict(
        ticket.row, entries_total=1, entries_today=1, first_entry_day=DAY.isoformat(), inside=True
    )
    ticket.row = echoed
    store.apply(
        parse_sync(sync_body([ticket], full=False)),
        upload_mark=store.upload_generation,
        synced_at=clock(),
    )
    history = store.history(ticket.id, DAY)
    assert (history.entries_today, history.inside) == (1, True)
    assert store.overlay == {}
    # Not uploaded yet: stays in the overlay whatever the sync says.
    clock.advance(minutes=1)
    assert decider.decide_now(ticket.scan("exit")).code == "ok"
    store.apply(
        parse_sync(sync_body([ticket], full=False)),
        upload_mark=store.upload_generation,
        synced_at=clock(),
    )
    assert store.history(ticket.id, DAY).inside is False
    # And that accounting survives a restart.
    store.close()
    reopened = EdgeStore(tmp_path / "edge.sqlite3")
    assert reopened.history(ticket.id, DAY) == store.history(ticket.id, DAY)


def test_the_hubs_counts_of_yesterday_keep_totals_only(tmp_path: Path) -> None:
    ticket = Ticket(
        valid_to=DAY + timedelta(days=1),
        entries_total=4,
        entries_today=1,
        inside=True,
        first_entry_day=(DAY - timedelta(days=3)).isoformat(),
        entitlement=entitlement(entries_per_day=1, entries_total=None),
    )
    decider, clock = edge(tmp_path, [ticket])
    assert decider.decide_now(ticket.scan()).code == "no_entries_left_today"
    clock.advance(days=1)
    assert decider.decide_now(ticket.scan()).code == "ok"
    history = decider.store.history(ticket.id, DAY + timedelta(days=1))
    assert (history.entries_total, history.entries_today) == (5, 1)
    assert history.first_entry_day == DAY - timedelta(days=3)


def test_a_full_sync_replaces_and_a_delta_updates(tmp_path: Path) -> None:
    kept, dropped = Ticket(card="11"), Ticket(card="22")
    decider, clock = edge(tmp_path, [kept, dropped], devices=[device("a"), device("b")])
    store = decider.store
    kept.row = dict(kept.row, revoked=True, revoked_reason="refunded")
    store.apply(
        parse_sync(sync_body([kept], full=False, devices=[device("c")])),
        upload_mark=0,
        synced_at=clock(),
    )
    assert store.tickets.keys() == {kept.id, dropped.id}
    assert store.tickets[kept.id].facts.revoked_reason == "refunded"
    assert set(store.devices) == {"c"}
    body = sync_body([kept], devices=[device("c")], cursor="9")
    store.apply(parse_sync(body), upload_mark=0, synced_at=clock())
    assert store.tickets.keys() == {kept.id}
    assert store.by_card == {"11": kept.id}
    store.close()
    reopened = EdgeStore(tmp_path / "edge.sqlite3")
    assert reopened.tickets.keys() == {kept.id} and set(reopened.devices) == {"c"}
    assert reopened.cursor == "9" and reopened.cooldown == timedelta(minutes=5)


def test_a_delta_for_another_park_is_refused_whole(tmp_path: Path) -> None:
    ticket = Ticket()
    decider, clock = edge(tmp_path, [])
    body = sync_body([ticket], full=False)
    body["park"]["slug"] = "elsewhere"
    with pytest.raises(ValueError, match="elsewhere"):
        decider.store.apply(parse_sync(body), upload_mark=0, synced_at=clock())
    assert decider.store.tickets == {}


@pytest.mark.parametrize(
    "broken",
    [
        {"tickets": [{"id": "not-a-uuid"}]},
        {"keys": [{"key_id": "1", "public_key": "AAAA"}]},
        {"park": None},
        {"settings": {"reentry_cooldown_s": -1}},
    ],
)
def test_a_sync_answer_outside_the_contract_is_rejected(broken: dict) -> None:
    with pytest.raises(WireError):
        parse_sync({**sync_body([Ticket()]), **broken})


def test_prune_forgets_only_what_the_hub_holds(tmp_path: Path) -> None:
    ticket = Ticket(valid_to=DAY + timedelta(days=10))
    decider, clock = edge(tmp_path, [ticket], moment=at(DAY, 9))
    store = decider.store
    decider.decide_now(ticket.scan("exit"))  # refused: not inside
    decider.decide_now(ticket.scan())  # accepted, uploaded but not yet in any baseline
    store.mark_uploaded(e.id for e in store.pending(10))
    clock.moment = at(DAY + timedelta(days=2), 9)
    decider.decide_now(ticket.scan("exit"))  # recent, not uploaded
    assert store.prune(DAY + timedelta(days=1)) == 1
    assert [e.code for e in store.pending(10)] == ["not_inside"]
    assert store.history(ticket.id, DAY).entries_total == 1


def test_many_scans_in_one_file_stay_consistent(tmp_path: Path) -> None:
    tickets = [Ticket() for _ in range(50)]
    decider, _ = edge(tmp_path, tickets)
    for ticket in tickets:
        decider.decide_now(ticket.scan())
    assert decider.store.outbox_size == 50
    with sqlite3.connect(tmp_path / "edge.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM events WHERE ok").fetchone()[0] == 50
