"""The admission rules, as one pure function of a ticket and its history.

No database, no clock, no network: the check-in page and the hub's online
redeem call it through `service.scan` (which reads the history under a row
lock), and a gate edge can call it on its own cache. Every caller then gives
the same answer for the same ticket, history and moment.

Entries are checked in this order, the first failure deciding the answer:
signature (done before, by `verify_ticket`) → revoked or refunded → validity
window (dates, blackout dates, slot) → zone → entitlement (entries in total,
then today) → anti-passback (inside already; re-entry cooldown) → real name.
An exit only needs a genuine code whose holder is inside: people whose ticket
was refunded, or whose slot ended, must still be able to leave.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from vistapass.tenants.tickets.codec import (
    LAST_DAY,
    TicketInvalid,
    TicketPayload,
    holder_marker,
)
from vistapass.tenants.tickets.verify import check_window

Direction = Literal["entry", "exit"]
DIRECTIONS: tuple[str, ...] = ("entry", "exit")

# How long after an exit the same ticket may come back in. Parks have no setting
# for it yet, so it is one value for all: long enough that a ticket handed back
# over the fence to a second person is refused, short enough for a real trip to
# the car park. A gate edge takes the same constant until a park setting exists.
REENTRY_COOLDOWN = timedelta(minutes=5)
DEFAULT_VALIDITY_DAYS = 365

# Every answer a scan can get; `ok` is the only one that opens the gate.
CODES: tuple[str, ...] = (
    "ok",
    "malformed",
    "bad_signature",
    "unknown_key",
    "revoked",
    "refunded",
    "not_yet_valid",
    "expired",
    "wrong_slot",
    "blackout_date",
    "wrong_zone",
    "already_used",
    "no_entries_left_today",
    "already_inside",
    "not_inside",
    "reentry_cooldown",
    "real_name_mismatch",
)


MAX_CODE = 512  # our codes are about 160 characters; anything far longer is not one

# English message ids; the API and the pages translate them into the staff's language.
MESSAGES: dict[str, str] = {
    "ok:entry": "Entry accepted.",
    "ok:exit": "Exit recorded.",
    "malformed": "Not a ticket code of this park.",
    "bad_signature": "Forged or altered ticket code.",
    "unknown_key": "This ticket was not signed by this park.",
    "revoked": "This ticket was cancelled.",
    "refunded": "This ticket was refunded.",
    "not_yet_valid": "Wrong day: this ticket is not valid yet.",
    "expired": "Wrong day: this ticket has expired.",
    "wrong_slot": "Wrong time slot.",
    "blackout_date": "This ticket is not valid today (blackout date).",
    "wrong_zone": "This ticket is not valid in this zone.",
    "already_used": "Already used.",
    "no_entries_left_today": "No entries left today.",
    "already_inside": "Already inside: scan an exit first.",
    "not_inside": "Not inside: no entry was recorded.",
    "reentry_cooldown": "Re-entry too soon after leaving: please wait a few minutes.",
    "real_name_mismatch": "The ID document does not match the ticket holder.",
}


def message_for(code: str, direction: str) -> str:
    return MESSAGES.get(f"{code}:{direction}") or MESSAGES.get(code) or code


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What the park knows about a ticket beyond its signed code."""

    entitlement: Mapping[str, Any]
    revoked_reason: str | None = None  # None: live; "refunded", or why it was revoked
    revoked: bool = False
    holder_hash: bytes | None = None  # a named ticket's document hash


@dataclass(frozen=True, slots=True)
class History:
    """The ticket's accepted scans so far, as of the scan being decided."""

    entries_total: int = 0  # counted entries, ever
    entries_today: int = 0  # counted entries on the park's today
    inside: bool = False  # today's last accepted scan was an entry
    last_exit_at: datetime | None = None  # when, if today's last accepted scan was an exit
    first_entry_day: date | None = None  # the day of the first counted entry


@dataclass(frozen=True, slots=True)
class Verdict:
    code: str
    counted: bool = False  # the entry uses up one of the ticket's entries

    @property
    def ok(self) -> bool:
        return self.code == "ok"


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def effective_window(
    payload: TicketPayload, entitlement: Mapping[str, Any], history: History, today: date
) -> TicketPayload:
    """The payload with the dates it is really valid for.

    A card that starts on its first entry ("activation": "first_entry") carries the
    dates it would have if first used on the day it was bought; its real window
    runs `validity_days` from the first counted entry, or from today when this
    entry is the first.
    """
    extras = entitlement.get("extras") or {}
    if extras.get("activation") != "first_entry":
        return payload
    days = _count(extras.get("validity_days")) or DEFAULT_VALIDITY_DAYS
    start = history.first_entry_day or max(payload.valid_from, today)
    end = min(start + timedelta(days=days - 1), LAST_DAY)
    return dataclasses.replace(payload, valid_from=start, valid_to=end)


def _window(
    payload: TicketPayload, facts: TicketFacts, history: History, today: date, minute: int | None
) -> str | None:
    window = effective_window(payload, facts.entitlement, history, today)
    try:
        check_window(window, today, minute)
    except TicketInvalid as exc:
        return exc.code
    extras = facts.entitlement.get("extras") or {}
    if today.isoformat() in (extras.get("blackout_dates") or ()):
        return "blackout_date"
    return None


def _is_reentry(facts: TicketFacts, history: History) -> bool:
    """Back in after an exit today, on a ticket that allows it: not a new entry."""
    return (
        bool(facts.entitlement.get("reentry_allowed"))
        and not history.inside
        and history.last_exit_at is not None
    )


def _entitlement(facts: TicketFacts, history: History) -> str | None:
    total = _count(facts.entitlement.get("entries_total"))
    if total is not None and history.entries_total >= total:
        return "already_used"
    per_day = _count(facts.entitlement.get("entries_per_day"))
    if per_day is not None and history.entries_today >= per_day:
        return "no_entries_left_today"
    return None


def _real_name(payload: TicketPayload, facts: TicketFacts, presented: bytes | None) -> bool:
    """True when a presented document fits the ticket's holder (or nothing is to compare)."""
    if presented is None:
        return True
    if facts.holder_hash is not None:
        return presented == facts.holder_hash
    # Offline, an edge may know only the 4-byte marker signed into the code.
    if payload.holder_marker:
        return holder_marker(presented) == payload.holder_marker
    return True


def decide(
    payload: TicketPayload,
    facts: TicketFacts,
    history: History,
    *,
    direction: Direction,
    today: date,
    minute: int | None,
    now: datetime,
    zone: str | None = None,
    presented_hash: bytes | None = None,
    cooldown: timedelta = REENTRY_COOLDOWN,
) -> Verdict:
    """The answer for a genuine code (its signature already verified)."""
    if direction == "exit":
        return Verdict("ok") if history.inside else Verdict("not_inside")
    if facts.revoked:
        return Verdict("refunded" if facts.revoked_reason == "refunded" else "revoked")
    refused = _window(payload, facts, history, today, minute)
    if refused:
        return Verdict(refused)
    zones = facts.entitlement.get("zones") or ()
    if zone and zones and zone not in zones:
        return Verdict("wrong_zone")
    reentry = _is_reentry(facts, history)
    if not reentry:
        refused = _entitlement(facts, history)
        if refused:
            return Verdict(refused)
    if history.inside:
        return Verdict("already_inside")
    if history.last_exit_at is not None and now - history.last_exit_at < cooldown:
        return Verdict("reentry_cooldown")
    if not _real_name(payload, facts, presented_hash):
        return Verdict("real_name_mismatch")
    return Verdict("ok", counted=not reentry)
