"""What an edge pulls: keys, tickets of today and tomorrow with their gate history, devices.

The cursor is `1.<xmin>.<park day>`: `xmin` is the oldest transaction still
running when this pull read (see the t0007 migration), taken before the read so
that anything committed meanwhile is sent now and again next time, never
skipped. The day is in it because a new day changes which tickets an edge needs
(tomorrow's become today's, the day after's come in) and resets entries today:
a cursor from another day gets a full snapshot, as does no cursor or one that
cannot be read.
"""

from __future__ import annotations

import base64
import re
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.crypto.envelope import KeyWrapper
from vistapass.tenants.checkin.reads import histories
from vistapass.tenants.checkin.rules import REENTRY_COOLDOWN, History
from vistapass.tenants.checkin.service import park_clock
from vistapass.tenants.gates.credentials import Caller, describe_device
from vistapass.tenants.gates.device_secrets import open_settings
from vistapass.tenants.keys.signing import public_keys
from vistapass.tenants.models import GateDevice
from vistapass.tenants.park.service import get_profile

CURSOR_VERSION = "1"
_CURSOR = re.compile(r"^1\.(\d{1,20})\.(\d{4}-\d{2}-\d{2})$")

_XMIN = text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")

# Issued tickets whose dates touch today or tomorrow; the cursor narrows a delta.
_TICKETS = text(
    """
    SELECT t.id, p.number AS product_number, t.valid_from, t.valid_to, t.entitlement,
           t.revoked_at IS NOT NULL AS revoked, t.revoked_reason, h.document_hash,
           h.gate_check, t.card
      FROM tickets t
      JOIN orders o ON o.id = t.order_id
      JOIN products p ON p.id = o.product_id
      LEFT JOIN ticket_holders h ON h.id = t.holder_id
     WHERE t.qr IS NOT NULL
       AND t.valid_from <= :tomorrow AND t.valid_to >= :today
       AND (CAST(:since AS xid8) IS NULL OR t.sync_xid >= CAST(:since AS xid8))
     ORDER BY t.id
    """
)


def make_cursor(xmin: str, today: date) -> str:
    return f"{CURSOR_VERSION}.{xmin}.{today.isoformat()}"


def read_cursor(cursor: str | None, today: date) -> str | None:
    """The xmin to send changes from, or None for a full snapshot."""
    match = _CURSOR.fullmatch(cursor or "")
    if match is None or match[2] != today.isoformat():
        return None
    return match[1]


def _b64(raw: bytes | None) -> str | None:
    return base64.b64encode(bytes(raw)).decode() if raw is not None else None


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _ticket(row: Any, history: History) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "product_number": row.product_number,
        "valid_from": row.valid_from.isoformat(),
        "valid_to": row.valid_to.isoformat(),
        "entitlement": row.entitlement or {},
        "revoked": row.revoked,
        "revoked_reason": row.revoked_reason,
        "holder_hash": _b64(row.document_hash),
        "holder_check": _b64(row.gate_check),
        "card": row.card,
        "entries_total": history.entries_total,
        "entries_today": history.entries_today,
        "first_entry_day": _iso(history.first_entry_day),
        "inside": history.inside,
        "last_exit_at": _iso(history.last_exit_at),
    }


async def pull(
    session: AsyncSession,
    wrapper: KeyWrapper,
    slug: str,
    edge: Caller,
    cursor: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The answer to `GET /gate/v1/sync` for `edge` of the session's park."""
    xmin = (await session.execute(_XMIN)).scalar_one()
    clock = await park_clock(session, now)
    since = read_cursor(cursor, clock.today)
    rows = list(
        await session.execute(
            _TICKETS,
            {"today": clock.today, "tomorrow": clock.today + timedelta(days=1), "since": since},
        )
    )
    seen = await histories(session, [row.id for row in rows], clock.today)
    profile = await get_profile(session)
    keys = await public_keys(session)
    devices = await session.scalars(
        select(GateDevice).where(GateDevice.edge_id == edge.id).order_by(GateDevice.name)
    )
    return {
        "park": {"slug": slug, "name": profile.display_name, "time_zone": profile.time_zone},
        "cursor": make_cursor(xmin, clock.today),
        "full": since is None,
        "keys": [
            {"key_id": key_id, "public_key": _b64(raw)} for key_id, raw in sorted(keys.items())
        ],
        "tickets": [_ticket(row, seen.get(row.id, History())) for row in rows],
        "devices": [
            # The edge logs in to its terminals: it alone gets their passwords.
            describe_device(device)
            | {"settings": await open_settings(session, wrapper, device.id, device.settings or {})}
            for device in devices
        ],
        "settings": {"reentry_cooldown_s": int(REENTRY_COOLDOWN.total_seconds())},
    }
