"""The edge's SQLite schema, and its rows to and from the values the store holds."""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from vistapass.gate_firmware_bridge.edge.wire import EdgeEvent, TicketRow
from vistapass.tenants.checkin.rules import History, TicketFacts

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (key_id INTEGER PRIMARY KEY, public_key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tickets (
    id TEXT PRIMARY KEY, product_number INTEGER NOT NULL,
    valid_from TEXT NOT NULL, valid_to TEXT NOT NULL, entitlement TEXT NOT NULL,
    revoked INTEGER NOT NULL, revoked_reason TEXT, holder_hash BLOB, card TEXT,
    entries_total INTEGER NOT NULL, entries_today INTEGER NOT NULL, first_entry_day TEXT,
    inside INTEGER NOT NULL, last_exit_at TEXT, baseline_day TEXT NOT NULL,
    holder_check BLOB
);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, external_id TEXT NOT NULL,
    zone TEXT, direction TEXT NOT NULL, settings TEXT NOT NULL
);
-- The cards each ZKTeco terminal may hold on its own user list: added when sent,
-- removed when the terminal confirms their deletion (see `whitelist`).
CREATE TABLE IF NOT EXISTS terminal_cards (
    sn TEXT NOT NULL, pin TEXT NOT NULL, PRIMARY KEY (sn, pin)
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

# Columns added after a store's first release: (table, column, type), added when missing.
ADDED_COLUMNS = (("tickets", "holder_check", "BLOB"),)

EVENT_COLUMNS = "id, ticket_id, direction, ok, code, counted, day, at, device, zone, offline"


def iso(moment: datetime) -> str:
    # Fixed width, so SQLite's text order is time order.
    return moment.isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class CachedTicket:
    """A synced ticket: its facts for `rules.decide`, and the hub's counts as of `day`."""

    row: TicketRow
    facts: TicketFacts
    baseline: History
    day: date  # the park's date when the hub counted `entries_today` and `inside`


def cached(row: TicketRow, day: date) -> CachedTicket:
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


def ticket_from_db(r: sqlite3.Row) -> CachedTicket:
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
        holder_check=bytes(r["holder_check"]) if r["holder_check"] is not None else None,
    )
    return cached(row, date.fromisoformat(r["baseline_day"]))


def event_from_db(r: sqlite3.Row) -> EdgeEvent:
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


def event_row(event: EdgeEvent) -> tuple[Any, ...]:
    """The values of `EVENT_COLUMNS` for an event."""
    return (
        event.id,
        str(event.ticket_id) if event.ticket_id else None,
        event.direction,
        event.ok,
        event.code,
        event.counted,
        event.day.isoformat(),
        iso(event.at),
        event.device,
        event.zone,
        event.offline,
    )
