"""The edge's local store: one SQLite file, and the same facts held in memory.

SQLite runs in WAL mode with synchronous=NORMAL: a committed transaction
survives the edge process being killed (kill -9, a crash); only a power cut can
lose the last few commits, which is the price of not waiting for an fsync on
every scan. Every read the decider makes is served from memory, loaded once at
start and updated right after each commit, so a scan never waits on disk to be
read; it waits only for its own event to be written.

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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from vistapass.gate_firmware_bridge.edge.clock import ClockJump
from vistapass.gate_firmware_bridge.edge.wire import (
    DeviceRow,
    EdgeEvent,
    Park,
    SyncBatch,
    TicketRow,
    dumps,
)
from vistapass.tenants.checkin.rules import REENTRY_COOLDOWN, History, TicketFacts

FILE_NAME = "edge.sqlite3"
SCHEMA_VERSION = 1
KEPT_CLOCK_JUMPS = 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (key_id INTEGER PRIMARY KEY, public_key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tickets (
    id TEXT PRIMARY KEY, product_number INTEGER NOT NULL,
    valid_from TEXT NOT NULL, valid_to TEXT NOT NULL, entitlement TEXT NOT NULL,
    revoked INTEGER NOT NULL, revoked_reason TEXT, holder_hash BLOB, card TEXT,
    entries_total INTEGER NOT NULL, entries_today INTEGER NOT NULL, first_entry_day TEXT,
    inside INTEGER NOT NULL, last_exit_at TEXT, baseline_day TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, external_id TEXT NOT NULL,
    zone TEXT, direction TEXT NOT NULL, settings TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, ticket_id TEXT, direction TEXT NOT NULL, ok INTEGER NOT NULL,
    code TEXT NOT NULL, counted INTEGER NOT NULL, day TEXT NOT NULL, at TEXT NOT NULL,
    device TEXT NOT NULL, zone TEXT, offline INTEGER NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0, upload_gen INTEGER,
    reflected INTEGER NOT NULL DEFAULT 0
);
-- Partial indexes keep the outbox and the overlay cheap to find in a long log
-- (entries are ordered by rowid within the single indexed value).
CREATE INDEX IF NOT EXISTS events_outbox ON events (uploaded) WHERE uploaded = 0;
CREATE INDEX IF NOT EXISTS events_overlay ON events (reflected) WHERE reflected = 0 AND ok = 1;
"""

_EVENT_COLUMNS = "id, ticket_id, direction, ok, code, counted, day, at, device, zone, offline"


def _iso(moment: datetime) -> str:
    # Fixed width, so SQLite's text order is time order.
    return moment.isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class CachedTicket:
    """A synced ticket: its facts for `rules.decide`, and the hub's counts as of `day`."""

    row: TicketRow
    facts: TicketFacts
    baseline: History
    day: date  # the park's date when the hub counted `entries_today` and `inside`


class _Pending:
    """An accepted event of this edge that no baseline holds yet."""

    __slots__ = ("event", "gen")

    def __init__(self, event: EdgeEvent, gen: int | None) -> None:
        self.event = event
        self.gen = gen  # the upload generation that acknowledged it; None: not yet


def _cached(row: TicketRow, day: date) -> CachedTicket:
    return CachedTicket(
        row=row,
        facts=TicketFacts(
            entitlement=row.entitlement,
            revoked_reason=row.revoked_reason,
            revoked=row.revoked,
            holder_hash=row.holder_hash,
        ),
        baseline=History(
            entries_total=row.entries_total,
            entries_today=row.entries_today,
            inside=row.inside,
            last_exit_at=row.last_exit_at,
            first_entry_day=row.first_entry_day,
        ),
        day=day,
    )


def _ticket_from_db(r: sqlite3.Row) -> CachedTicket:
    row = TicketRow(
        id=uuid.UUID(r["id"]),
        product_number=r["product_number"],
        valid_from=date.fromisoformat(r["valid_from"]),
        valid_to=date.fromisoformat(r["valid_to"]),
        entitlement=json.loads(r["entitlement"]),
        revoked=bool(r["revoked"]),
        revoked_reason=r["revoked_reason"],
        holder_hash=bytes(r["holder_hash"]) if r["holder_hash"] is not None else None,
        entries_total=r["entries_total"],
        entries_today=r["entries_today"],
        first_entry_day=date.fromisoformat(r["first_entry_day"]) if r["first_entry_day"] else None,
        inside=bool(r["inside"]),
        last_exit_at=datetime.fromisoformat(r["last_exit_at"]) if r["last_exit_at"] else None,
        card=r["card"],
    )
    return _cached(row, date.fromisoformat(r["baseline_day"]))


def _event_from_db(r: sqlite3.Row) -> EdgeEvent:
    return EdgeEvent(
        id=r["id"],
        ticket_id=uuid.UUID(r["ticket_id"]) if r["ticket_id"] else None,
        direction=r["direction"],
        ok=bool(r["ok"]),
        code=r["code"],
        counted=bool(r["counted"]),
        day=date.fromisoformat(r["day"]),
        at=datetime.fromisoformat(r["at"]),
        device=r["device"],
        zone=r["zone"],
        offline=bool(r["offline"]),
    )


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
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self.lock = threading.RLock()
        # Set by the sync loop: whether the last exchange with the hub succeeded.
        self.online = False
        self._load()

    @classmethod
    def in_dir(cls, data_dir: Path | str) -> EdgeStore:
        return cls(Path(data_dir) / FILE_NAME)

    def close(self) -> None:
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
            self._put(_ticket_from_db(r))
        self.devices: dict[str, DeviceRow] = {}
        for r in self._db.execute("SELECT * FROM devices"):
            settings = json.loads(r["settings"])
            self.devices[r["external_id"]] = DeviceRow(
                r["id"], r["name"], r["kind"], r["external_id"], r["zone"], r["direction"], settings
            )
        self.overlay: dict[uuid.UUID, list[_Pending]] = {}
        self._pending: dict[str, _Pending] = {}
        for r in self._db.execute(
            f"SELECT {_EVENT_COLUMNS}, upload_gen FROM events"
            " WHERE reflected = 0 AND ok = 1 AND ticket_id IS NOT NULL ORDER BY rowid"
        ):
            self._add_pending(_event_from_db(r), r["upload_gen"])
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

    def _add_pending(self, event: EdgeEvent, gen: int | None) -> None:
        assert event.ticket_id is not None
        pending = _Pending(event, gen)
        self.overlay.setdefault(event.ticket_id, []).append(pending)
        self._pending[event.id] = pending

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

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

    def append(self, event: EdgeEvent) -> bool:
        """Log the event and commit; False when an event with its id is already logged."""
        with self.lock:
            cursor = self._db.execute(
                f"INSERT OR IGNORE INTO events ({_EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    event.id,
                    str(event.ticket_id) if event.ticket_id else None,
                    event.direction,
                    event.ok,
                    event.code,
                    event.counted,
                    event.day.isoformat(),
                    _iso(event.at),
                    event.device,
                    event.zone,
                    event.offline,
                ),
            )
            if cursor.rowcount != 1:
                return False
            self.outbox_size += 1
            if self.latest_at is None or event.at > self.latest_at:
                self.latest_at = event.at
            if event.ok and event.ticket_id is not None:
                self._add_pending(event, None)
            return True

    def event(self, event_id: str) -> EdgeEvent | None:
        """A logged event (a read from disk: only for replays, never on the usual path)."""
        with self.lock:
            r = self._db.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE id = ?", (event_id,)
            ).fetchone()
        return _event_from_db(r) if r else None

    def record_clock_jump(self, jump: ClockJump) -> None:
        with self.lock:
            jumps = json.loads(self._meta("clock_jumps") or "[]")[-(KEPT_CLOCK_JUMPS - 1) :]
            jumps.append(
                {
                    "at": _iso(jump.at),
                    "seen": _iso(jump.seen),
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
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE uploaded = 0 ORDER BY rowid LIMIT ?",
                (limit,),
            ).fetchall()
        return [_event_from_db(r) for r in rows]

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
            "INSERT OR REPLACE INTO tickets VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    _iso(t.last_exit_at) if t.last_exit_at else None,
                    day.isoformat(),
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
                ("last_sync_at", _iso(synced_at)),
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
            self._put(_cached(row, day))
        self.keys = dict(batch.keys)
        self.devices = {d.external_id: d for d in batch.devices}
        self.park, self.zone = batch.park, zone
        self.cursor, self.last_sync_at = batch.cursor, synced_at
        self.cooldown = timedelta(seconds=batch.reentry_cooldown_s)
        for item in reflected:
            ticket_id = item.event.ticket_id
            assert ticket_id is not None
            self.overlay[ticket_id].remove(item)
            if not self.overlay[ticket_id]:
                del self.overlay[ticket_id]
            del self._pending[item.event.id]

    def prune(self, before: date) -> int:
        """Forget events older than `before` that the hub holds and no history needs."""
        with self.lock, self._transaction() as db:
            return db.execute(
                "DELETE FROM events WHERE day < ? AND uploaded = 1"
                " AND (reflected = 1 OR ok = 0 OR ticket_id IS NULL)",
                (before.isoformat(),),
            ).rowcount
