"""The edge's local store: one SQLite file, and the same facts held in memory.

SQLite runs in WAL mode with synchronous=NORMAL: a committed transaction
survives the edge process being killed (kill -9, a crash); only a power cut can
lose the last few commits, which is the price of not waiting for an fsync on
every scan. Every read the decider makes is served from memory, loaded once at
start and updated as each event is logged, so a scan never waits on disk to be
read; it waits only for its event to be written, in one transaction with the
other scans decided at the same time (`logging`), while checkpoints copy the
log into the file on a thread of their own (`checkpoint`).

Counting entries without counting one twice: the hub's counts for a ticket
(its "baseline") are as of the sync that sent them. The edge adds its own
accepted events that the baseline cannot hold yet (the "overlay"). An event
leaves the overlay only when a ticket row arrives in a sync that was *requested
after* the event's upload was acknowledged: the hub stored it before it read
the ticket, so the new baseline holds it. Uploads carry a generation number for
that comparison; the sync loop never uploads and pulls at the same time.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from vistapass.gate_firmware_bridge.edge import checkpoint
from vistapass.gate_firmware_bridge.edge.clock import ClockJump
from vistapass.gate_firmware_bridge.edge.rows import (
    ADDED_COLUMNS,
    EVENT_COLUMNS,
    SCHEMA,
    SCHEMA_VERSION,
    CachedTicket,
    cached,
    event_from_db,
    event_row,
    iso,
    ticket_from_db,
)
from vistapass.gate_firmware_bridge.edge.wire import (
    DeviceRow,
    EdgeEvent,
    Park,
    SyncBatch,
    dumps,
)
from vistapass.tenants.checkin.rules import REENTRY_COOLDOWN, History

FILE_NAME = "edge.sqlite3"
KEPT_CLOCK_JUMPS = 20

_IDS_PER_QUERY = 500  # well under SQLite's limit on the parameters of one statement


class _Pending:
    """An accepted event of this edge that no baseline holds yet."""

    __slots__ = ("event", "gen")

    def __init__(self, event: EdgeEvent, gen: int | None) -> None:
        self.event = event
        self.gen = gen  # the upload generation that acknowledged it; None: not yet


class EventLog:
    """The events of one `EdgeStore.logging` block (use it under the store's lock only)."""

    def __init__(self, store: EdgeStore, logged: dict[str, EdgeEvent]) -> None:
        self._store = store
        self._outbox_size, self._latest_at = store.outbox_size, store.latest_at
        self._known = logged  # events with the ids this block may use, and its own
        self._new: list[EdgeEvent] = []
        self._pending: list[_Pending] = []

    def add(self, event: EdgeEvent) -> EdgeEvent | None:
        """Log the event; when one with its id is already logged, that one instead.

        Mirrored in memory at once; written to the file when the block ends.
        """
        first = self._known.get(event.id)
        if first is not None:
            return first
        self._known[event.id] = event
        self._new.append(event)
        store = self._store
        store.outbox_size += 1
        if store.latest_at is None or event.at > store.latest_at:
            store.latest_at = event.at
        if event.ok and event.ticket_id is not None:
            self._pending.append(store._add_pending(event, None))
        return None

    def _write(self, db: sqlite3.Connection) -> None:
        # A plain INSERT: `_known` held every id that could be logged already, so a
        # conflict means the file is not what this store thinks, and fails the block.
        db.executemany(
            f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [event_row(event) for event in self._new],
        )

    def _undo(self) -> None:
        store = self._store
        store.outbox_size, store.latest_at = self._outbox_size, self._latest_at
        for pending in self._pending:
            store._drop_pending(pending)
        self._pending = []


class EdgeStore:
    """The SQLite file and its in-memory mirror. Hold `lock` to read a consistent state."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection used under `lock`; autocommit mode, transactions opened explicitly.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        # Checkpoints run beside the writer (see `checkpoint`); this one is a backstop.
        self._db.execute(f"PRAGMA wal_autocheckpoint={checkpoint.LIMIT_PAGES}")
        self._db.executescript(SCHEMA)
        for table, column, kind in ADDED_COLUMNS:
            present = {r["name"] for r in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._checkpointer = checkpoint.Checkpointer(self.path)
        # A store dropped without `close` (tests, tools) must not leave its thread behind.
        weakref.finalize(self, self._checkpointer.stop, wait=False)
        self.lock = threading.RLock()
        # Set by the sync loop: whether the last exchange with the hub succeeded.
        self.online = False
        self._load()

    @classmethod
    def in_dir(cls, data_dir: Path | str) -> EdgeStore:
        return cls(Path(data_dir) / FILE_NAME)

    def close(self) -> None:
        self._checkpointer.stop()
        with self.lock:
            self._db.close()

    # -- loading ---------------------------------------------------------------

    def _meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def _load(self) -> None:
        slug, time_zone = self._meta("park_slug"), self._meta("time_zone")
        self.park = Park(slug, self._meta("park_name") or "", time_zone or "UTC") if slug else None
        self.zone = ZoneInfo(self.park.time_zone if self.park else "UTC")
        self.cursor = self._meta("cursor")
        last_sync = self._meta("last_sync_at")
        self.last_sync_at = datetime.fromisoformat(last_sync) if last_sync else None
        cooldown = self._meta("reentry_cooldown_s")
        self.cooldown = timedelta(seconds=int(cooldown)) if cooldown else REENTRY_COOLDOWN
        self.upload_generation = int(self._meta("upload_generation") or 0)
        self.keys: dict[int, bytes] = {
            r["key_id"]: bytes(r["public_key"]) for r in self._db.execute("SELECT * FROM keys")
        }
        self.tickets: dict[uuid.UUID, CachedTicket] = {}
        self.by_holder: dict[bytes, list[uuid.UUID]] = {}
        self.by_card: dict[str, uuid.UUID] = {}
        for r in self._db.execute("SELECT * FROM tickets"):
            self._put(ticket_from_db(r))
        self.devices: dict[str, DeviceRow] = {}
        for r in self._db.execute("SELECT * FROM devices"):
            settings = json.loads(r["settings"])
            self.devices[r["external_id"]] = DeviceRow(
                r["id"], r["name"], r["kind"], r["external_id"], r["zone"], r["direction"], settings
            )
        self.overlay: dict[uuid.UUID, list[_Pending]] = {}
        self._pending: dict[str, _Pending] = {}
        for r in self._db.execute(
            f"SELECT {EVENT_COLUMNS}, upload_gen FROM events"
            " WHERE reflected = 0 AND ok = 1 AND ticket_id IS NOT NULL ORDER BY rowid"
        ):
            self._add_pending(event_from_db(r), r["upload_gen"])
        self.outbox_size = self._db.execute(
            "SELECT count(*) FROM events WHERE uploaded = 0"
        ).fetchone()[0]
        latest = self._db.execute("SELECT max(at) FROM events").fetchone()[0]
        self.latest_at = datetime.fromisoformat(latest) if latest else None

    def _put(self, ticket: CachedTicket) -> None:
        old = self.tickets.get(ticket.row.id)
        if old is not None:
            self._unindex(old)
        self.tickets[ticket.row.id] = ticket
        if ticket.row.holder_hash is not None:
            self.by_holder.setdefault(ticket.row.holder_hash, []).append(ticket.row.id)
        if ticket.row.card is not None:
            self.by_card[ticket.row.card] = ticket.row.id

    def _unindex(self, ticket: CachedTicket) -> None:
        holder = ticket.row.holder_hash
        if holder is not None and ticket.row.id in self.by_holder.get(holder, ()):
            self.by_holder[holder].remove(ticket.row.id)
            if not self.by_holder[holder]:
                del self.by_holder[holder]
        if ticket.row.card is not None and self.by_card.get(ticket.row.card) == ticket.row.id:
            del self.by_card[ticket.row.card]

    def _add_pending(self, event: EdgeEvent, gen: int | None) -> _Pending:
        assert event.ticket_id is not None
        pending = _Pending(event, gen)
        self.overlay.setdefault(event.ticket_id, []).append(pending)
        self._pending[event.id] = pending
        return pending

    def _drop_pending(self, pending: _Pending) -> None:
        ticket_id = pending.event.ticket_id
        assert ticket_id is not None
        self.overlay[ticket_id].remove(pending)
        if not self.overlay[ticket_id]:
            del self.overlay[ticket_id]
        del self._pending[pending.event.id]

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            # A COMMIT that failed can leave the transaction open, and then no other
            # could begin: every later scan would be refused.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    # -- the decider's side ------------------------------------------------------

    def history(self, ticket_id: uuid.UUID, today: date) -> History:
        """The hub's counts for the ticket plus this edge's events they do not hold yet."""
        cached = self.tickets.get(ticket_id)
        if cached is None:
            base = History()
        elif cached.day == today:
            base = cached.baseline
        else:
            # Counted on another day: today's entries and who is inside start afresh.
            base = History(
                cached.baseline.entries_total, first_entry_day=cached.baseline.first_entry_day
            )
        pending = self.overlay.get(ticket_id)
        if not pending:
            return base
        total, on_day, inside = base.entries_total, base.entries_today, base.inside
        last_exit, first = base.last_exit_at, base.first_entry_day
        for item in pending:
            event = item.event
            if event.counted:
                total += 1
                on_day += event.day == today
                first = event.day if first is None else min(first, event.day)
            if event.day == today:
                inside = event.direction == "entry"
                last_exit = None if inside else event.at
        return History(total, on_day, inside, last_exit, first)

    @contextmanager
    def logging(self, reused_ids: Iterable[str] = ()) -> Iterator[EventLog]:
        """A run of events logged in one transaction, committed when the block ends.

        Each event is mirrored in memory as it is logged, so a later decision in the
        same block sees it, and all are written at the end in one statement; if the
        block, the write or the commit fails, the transaction is rolled back and the
        mirror undone, as if none of its events had been logged. `reused_ids` are
        the ids of the block's events that may be logged already (a device's own
        event ids, when it resends an event): they are read in one query first.
        """
        with self.lock:
            events: EventLog | None = None
            try:
                with self._transaction() as db:
                    events = EventLog(self, self._logged(db, reused_ids))
                    yield events
                    events._write(db)
            except BaseException:
                if events is not None:
                    events._undo()
                raise

    def _logged(self, db: sqlite3.Connection, ids: Iterable[str]) -> dict[str, EdgeEvent]:
        wanted = list(dict.fromkeys(ids))
        found: dict[str, EdgeEvent] = {}
        for start in range(0, len(wanted), _IDS_PER_QUERY):
            chunk = wanted[start : start + _IDS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT {EVENT_COLUMNS} FROM events WHERE id IN ({marks})"
            found.update((r["id"], event_from_db(r)) for r in db.execute(query, chunk))
        return found

    def event(self, event_id: str) -> EdgeEvent | None:
        """A logged event (a read from disk: only for replays, never on the usual path)."""
        with self.lock:
            r = self._db.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE id = ?", (event_id,)
            ).fetchone()
        return event_from_db(r) if r else None

    def record_clock_jump(self, jump: ClockJump) -> None:
        with self.lock:
            jumps = json.loads(self._meta("clock_jumps") or "[]")[-(KEPT_CLOCK_JUMPS - 1) :]
            jumps.append(
                {
                    "at": iso(jump.at),
                    "seen": iso(jump.seen),
                    "back_by_s": jump.back_by.total_seconds(),
                }
            )
            self._db.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES ('clock_jumps', ?)",
                (dumps(jumps),),
            )

    def clock_jumps(self) -> list[dict[str, object]]:
        with self.lock:
            return json.loads(self._meta("clock_jumps") or "[]")

    # -- the sync loop's side ----------------------------------------------------

    def pending(self, limit: int) -> list[EdgeEvent]:
        """The oldest events not acknowledged by the hub yet."""
        with self.lock:
            rows = self._db.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE uploaded = 0 ORDER BY rowid LIMIT ?",
                (limit,),
            ).fetchall()
        return [event_from_db(r) for r in rows]

    def mark_uploaded(self, event_ids: Iterable[str]) -> int:
        """Record that the hub acknowledged these events, under a new upload generation."""
        ids = list(event_ids)
        with self.lock:
            gen = self.upload_generation + 1
            with self._transaction() as db:
                changed = db.executemany(
                    "UPDATE events SET uploaded = 1, upload_gen = ? WHERE id = ? AND uploaded = 0",
                    [(gen, event_id) for event_id in ids],
                ).rowcount
                db.execute(
                    "INSERT OR REPLACE INTO meta (name, value) VALUES ('upload_generation', ?)",
                    (str(gen),),
                )
            self.upload_generation = gen
            self.outbox_size -= changed
            for event_id in ids:
                pending = self._pending.get(event_id)
                if pending is not None and pending.gen is None:
                    pending.gen = gen
            return changed

    def apply(self, batch: SyncBatch, *, upload_mark: int, synced_at: datetime) -> None:
        """Apply a sync answer in one transaction, then mirror it in memory.

        `upload_mark` is `upload_generation` as it was when the sync was requested:
        events acknowledged up to it are held by the baselines of the tickets sent.
        """
        if not batch.full and self.park is not None and batch.park.slug != self.park.slug:
            raise ValueError(f"a delta for park {batch.park.slug!r} on {self.park.slug!r}'s edge")
        zone = ZoneInfo(batch.park.time_zone)
        day = synced_at.astimezone(zone).date()
        sent = {row.id for row in batch.tickets}
        with self.lock:
            reflected = [
                item
                for ticket_id in sent
                for item in self.overlay.get(ticket_id, ())
                if item.gen is not None and item.gen <= upload_mark
            ]
            with self._transaction() as db:
                self._write(db, batch, day, synced_at)
                db.executemany(
                    "UPDATE events SET reflected = 1 WHERE id = ?",
                    [(item.event.id,) for item in reflected],
                )
            self._mirror(batch, zone, day, synced_at, reflected)

    def _write(
        self, db: sqlite3.Connection, batch: SyncBatch, day: date, synced_at: datetime
    ) -> None:
        if batch.full:
            db.execute("DELETE FROM tickets")
        db.executemany(
            "INSERT OR REPLACE INTO tickets VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    str(t.id),
                    t.product_number,
                    t.valid_from.isoformat(),
                    t.valid_to.isoformat(),
                    dumps(t.entitlement),
                    t.revoked,
                    t.revoked_reason,
                    t.holder_hash,
                    t.card,
                    t.entries_total,
                    t.entries_today,
                    t.first_entry_day.isoformat() if t.first_entry_day else None,
                    t.inside,
                    iso(t.last_exit_at) if t.last_exit_at else None,
                    day.isoformat(),
                    t.holder_check,
                )
                for t in batch.tickets
            ],
        )
        # Keys, devices and settings always come whole.
        db.execute("DELETE FROM keys")
        db.executemany("INSERT INTO keys VALUES (?, ?)", list(batch.keys.items()))
        db.execute("DELETE FROM devices")
        db.executemany(
            "INSERT OR REPLACE INTO devices VALUES (?,?,?,?,?,?,?)",
            [
                (d.id, d.name, d.kind, d.external_id, d.zone, d.direction, dumps(d.settings))
                for d in batch.devices
            ],
        )
        db.executemany(
            "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
            [
                ("park_slug", batch.park.slug),
                ("park_name", batch.park.name),
                ("time_zone", batch.park.time_zone),
                ("cursor", batch.cursor),
                ("last_sync_at", iso(synced_at)),
                ("reentry_cooldown_s", str(batch.reentry_cooldown_s)),
            ],
        )

    def _mirror(
        self,
        batch: SyncBatch,
        zone: ZoneInfo,
        day: date,
        synced_at: datetime,
        reflected: list[_Pending],
    ) -> None:
        if batch.full:
            self.tickets, self.by_holder, self.by_card = {}, {}, {}
        for row in batch.tickets:
            self._put(cached(row, day))
        self.keys = dict(batch.keys)
        self.devices = {d.external_id: d for d in batch.devices}
        self.park, self.zone = batch.park, zone
        self.cursor, self.last_sync_at = batch.cursor, synced_at
        self.cooldown = timedelta(seconds=batch.reentry_cooldown_s)
        for item in reflected:
            self._drop_pending(item)

    # -- card terminals' user lists (see `whitelist`) ---------------------------------

    def terminal_cards(self) -> dict[str, set[str]]:
        """The cards each ZKTeco terminal may hold, by serial number."""
        held: dict[str, set[str]] = {}
        with self.lock:
            for r in self._db.execute("SELECT sn, pin FROM terminal_cards"):
                held.setdefault(r["sn"], set()).add(r["pin"])
        return held

    def cards_sent(self, sn: str, pins: Iterable[str]) -> None:
        with self.lock, self._transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO terminal_cards (sn, pin) VALUES (?, ?)",
                [(sn, pin) for pin in pins],
            )

    def card_removed(self, sn: str, pin: str) -> None:
        with self.lock, self._transaction() as db:
            db.execute("DELETE FROM terminal_cards WHERE sn = ? AND pin = ?", (sn, pin))

    def prune(self, before: date) -> int:
        """Forget events older than `before` that the hub holds and no history needs."""
        with self.lock, self._transaction() as db:
            return db.execute(
                "DELETE FROM events WHERE day < ? AND uploaded = 1"
                " AND (reflected = 1 OR ok = 0 OR ticket_id IS NULL)",
                (before.isoformat(),),
            ).rowcount
