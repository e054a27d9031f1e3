"""Scanning tickets online: the check-in page and the hub's redeem call `scan`.

`scan` verifies the code, locks the ticket's row (`SELECT ... FOR UPDATE`), reads
its history from `admissions`, asks `rules.decide` and records the decision, all
in the caller's transaction: two devices scanning one ticket at once are
decided one after the other, so a single entry admits once. Every decision is
recorded, refusals included. A scan sent again with the same nonce (a retry
after a lost answer) gets the first decision back and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.db.raw import Raw, Statement
from vistapass.platform.errors import VistapassError
from vistapass.tenants.checkin.park_facts import park_facts, verify_code
from vistapass.tenants.checkin.reads import Prefetch, TicketRow, locked_ticket, ticket_of
from vistapass.tenants.checkin.rules import (
    DIRECTIONS,
    MAX_CODE,
    Direction,
    History,
    TicketFacts,
    decide,
    effective_window,
    message_for,
)
from vistapass.tenants.orders.context import Selling
from vistapass.tenants.orders.holders import HolderIn, document_hash
from vistapass.tenants.orders.views import ticket_state
from vistapass.tenants.tickets.codec import TicketInvalid, TicketPayload, decode
from vistapass.tenants.visitors.documents import normalise_document

MAX_NONCE = 100
MAX_DEVICE = 100
MAX_ZONE = 60
RECENT_LIMIT = 10


class ScanError(VistapassError):
    status_code = 422
    code = "invalid_scan"


@dataclass(frozen=True, slots=True)
class Decision:
    ok: bool
    code: str
    direction: str
    ticket: dict[str, Any] | None  # the ticket summary; None for a code that is not ours
    admission_id: int
    at: datetime
    replayed: bool = False

    @property
    def message(self) -> str:
        """In English: translate it with the page's gettext."""
        return message_for(self.code, self.direction)


@dataclass(frozen=True, slots=True)
class Presented:
    """An ID document shown at the gate, to compare with a named ticket's holder."""

    document_type: str
    document_number: str

    @classmethod
    def of(cls, document_type: str | None, document_number: str | None) -> Presented | None:
        """The document a scan request names (both fields, or neither), else ScanError."""
        if not document_type and not document_number:
            return None
        if not document_type or not document_number:
            raise ScanError(
                "Give both the document type and its number.",
                code="invalid_document",
                details={"field": "document_number" if document_type else "document_type"},
            )
        return cls(document_type, document_number)


@dataclass(frozen=True, slots=True)
class ParkClock:
    today: date
    minute: int


def _limit(value: str | None, name: str, most: int) -> str | None:
    if value is None:
        return None
    if len(value) > most or not value.isprintable():
        raise ScanError(
            f"'{name}' is at most {most} printable characters.",
            code=f"invalid_{name}",
            details={"field": name},
        )
    return value


async def park_clock(session: AsyncSession, now: datetime) -> ParkClock:
    local = now.astimezone((await park_facts(session)).zone)
    return ParkClock(local.date(), local.hour * 60 + local.minute)


def summary_of(
    row: TicketRow, payload: TicketPayload | None, history: History, today: date
) -> dict[str, Any]:
    """The ticket as staff see it next to a decision (history: after the decision)."""
    entitlement = row.entitlement
    extras = entitlement.get("extras") or {}
    valid_from, valid_to = row.valid_from, row.valid_to
    if payload is None and row.qr:
        # Only the dates are read from it here: the signature was checked when it was issued.
        payload = decode(row.qr)[0]
    if payload is not None:
        window = effective_window(payload, entitlement, history, today)
        valid_from, valid_to = window.valid_from, window.valid_to
    return {
        "id": str(row.id),
        "order": row.order_code,
        "number": row.position + 1,
        "product": row.product_code,
        "product_name": {"zh-CN": row.product_name_zh, "en": row.product_name_en},
        "unit": row.unit,
        "unit_label": {
            "zh-CN": row.unit_label_zh or row.unit,
            "en": row.unit_label_en or row.unit,
        },
        "valid_from": valid_from.isoformat(),
        "valid_to": valid_to.isoformat(),
        "slot": row.slot,
        "slot_start": extras.get("slot_start"),
        "slot_end": extras.get("slot_end"),
        "entries_used": history.entries_total,
        "entries_today": history.entries_today,
        "entries_total": entitlement.get("entries_total"),
        "entries_per_day": entitlement.get("entries_per_day"),
        "reentry_allowed": bool(entitlement.get("reentry_allowed")),
        "named": row.holder_id is not None,
        "inside": history.inside,
        "state": ticket_state(row),
    }


def _after(history: History, direction: str, ok: bool, counted: bool, today: date) -> History:
    if not ok:
        return history
    if direction == "exit":
        return History(
            history.entries_total, history.entries_today, False, None, history.first_entry_day
        )
    return History(
        history.entries_total + counted,
        history.entries_today + counted,
        True,
        None,
        history.first_entry_day or (today if counted else None),
    )


def _decision(row: Mapping[str, Any], replayed: bool) -> Decision:
    return Decision(
        ok=row["ok"],
        code=row["code"],
        direction=row["direction"],
        ticket=row["summary"],
        admission_id=row["id"],
        at=row["at"],
        replayed=replayed,
    )


_ADMISSION = "SELECT id, ok, code, direction, summary, at FROM admissions"
_BY_NONCE = _ADMISSION + " WHERE nonce = %(nonce)s"
_RECENT = _ADMISSION + " ORDER BY id DESC LIMIT %(limit)s"
_RECORD = """
    INSERT INTO admissions (ticket_id, direction, code, ok, counted, day, at, device, zone,
                            nonce, staff_user_id, summary)
    VALUES (%(ticket_id)s, %(direction)s, %(code)s, %(ok)s, %(counted)s, %(day)s, %(at)s,
            %(device)s, %(zone)s, %(nonce)s, %(staff_user_id)s, %(summary)s)
    ON CONFLICT (nonce) DO NOTHING
    RETURNING id
"""


def _checked_document(presented: Presented | None, today: date) -> HolderIn | None:
    if presented is None:
        return None
    number = normalise_document(presented.document_type, presented.document_number, today=today)
    return HolderIn("", presented.document_type, number)


async def scan(
    session: AsyncSession,
    selling: Selling,
    *,
    code: str,
    direction: Direction | str,
    device: str,
    nonce: str | None,
    now: datetime,
    zone: str | None = None,
    document: Presented | None = None,
    staff_user_id: uuid.UUID | None = None,
    commit: bool = False,
    prefetched: Prefetch | None = None,
) -> Decision:
    """Decide one scan and record it; see the module's docstring.

    `commit`: the record is the transaction's last write, so COMMIT travels with
    it (one round trip less for the hub's redeem, whose session then has nothing
    left to commit). Safe to lose halfway: a retry with the same nonce finds the
    first decision, or makes it.
    """
    if direction not in DIRECTIONS:
        raise ScanError(
            "direction is 'entry' or 'exit'.",
            code="invalid_direction",
            details={"direction": direction},
        )
    nonce = _limit(nonce or None, "nonce", MAX_NONCE)
    device = _limit(device, "device", MAX_DEVICE) or ""
    zone = _limit(zone or None, "zone", MAX_ZONE)
    # A nonce seen before is found when the decision is recorded (ON CONFLICT): a
    # retry is rare, so the usual scan does not pay a lookup for it first. Deciding
    # again changes nothing; the first decision is what the retry gets.
    raw = await Raw.of(session)
    clock = await park_clock(session, now)
    # A mistyped ID number is the staff's typo to fix, not a decision about the ticket.
    checked = _checked_document(document, clock.today)
    text_code = code.strip()
    row: TicketRow | None = None
    payload: TicketPayload | None = None
    history = History()
    counted = False
    try:
        if len(text_code) > MAX_CODE:
            raise TicketInvalid("malformed", "Far too long for a ticket code.")
        if prefetched is not None and prefetched.code == text_code:
            payload = prefetched.payload  # verified against the same kept keys
        else:
            payload = await verify_code(session, text_code)
    except TicketInvalid as exc:
        verdict_code = exc.code
    else:
        if (
            prefetched is not None
            and prefetched.rows is not None
            and (prefetched.ticket_id, prefetched.today) == (payload.ticket_id, clock.today)
        ):
            row, history = ticket_of(payload.ticket_id, *prefetched.rows)
        else:
            row, history = await locked_ticket(raw, payload.ticket_id, clock.today)
        if row is None:
            # Signed by this park but gone (its order deleted): as good as cancelled.
            verdict_code = "revoked"
        else:
            presented_hash = None
            if checked is not None and row.holder_hash is not None:
                presented_hash = await document_hash(session, selling, checked)
            verdict = decide(
                payload,
                TicketFacts(
                    entitlement=row.entitlement,
                    revoked_reason=row.revoked_reason,
                    revoked=row.revoked_at is not None,
                    holder_hash=row.holder_hash,
                ),
                history,
                direction=direction,  # type: ignore[arg-type]
                today=clock.today,
                minute=clock.minute,
                now=now,
                zone=zone,
                presented_hash=presented_hash,
            )
            verdict_code, counted = verdict.code, verdict.counted
    ok = verdict_code == "ok"
    summary = None
    if row is not None:
        after = _after(history, direction, ok, counted, clock.today)
        summary = summary_of(row, payload, after, clock.today)
    record: Statement = (
        _RECORD,
        {
            "ticket_id": row.id if row is not None else None,
            "direction": direction,
            "code": verdict_code,
            "ok": ok,
            "counted": counted,
            "day": clock.today,
            "at": now,
            "device": device,
            "zone": zone,
            "nonce": nonce,
            "staff_user_id": staff_user_id,
            "summary": Jsonb(summary) if summary is not None else None,
        },
    )
    if commit:
        # The decision a retry gets is read before the COMMIT too: after it, the
        # park's binding (transaction-local) is gone. A statement of its own, so it
        # sees a concurrent first decision that committed after the insert began.
        lookup: list[Statement] = [(_BY_NONCE, {"nonce": nonce})] if nonce else []
        found, *firsts = await raw.batch(record, *lookup, ("COMMIT", None))
        first = firsts[0][0] if lookup and firsts[0] else None
    else:
        (found,) = await raw.batch(record)
        first = None
    if not found:
        # The nonce was decided before, or by a concurrent request that committed first.
        assert nonce is not None
        first = first or await raw.one(_BY_NONCE, {"nonce": nonce})
        assert first is not None
        return _decision(first, replayed=True)
    return Decision(ok, verdict_code, direction, summary, found[0]["id"], now)


async def recent(session: AsyncSession, limit: int = RECENT_LIMIT) -> list[Decision]:
    """The park's latest decisions, newest first."""
    rows = await (await Raw.of(session)).all(_RECENT, {"limit": limit})
    return [_decision(row, replayed=False) for row in rows]
