"""Signed tickets, a hub snapshot in the contract's shape, and a clock the test moves.

Codes are real: signed with a generated Ed25519 key through `codec.sign_payload`,
verified by the edge exactly as they would be at a gate.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vistapass.gate_firmware_bridge.devices.base import Scan
from vistapass.gate_firmware_bridge.edge.clock import EdgeClock
from vistapass.gate_firmware_bridge.edge.decider import EdgeDecider
from vistapass.gate_firmware_bridge.edge.store import EdgeStore
from vistapass.gate_firmware_bridge.edge.wire import parse_sync
from vistapass.tenants.tickets.codec import NO_FLAGS, TicketFlags, TicketPayload, sign_payload

TZ = "Asia/Shanghai"
PARK_TZ = ZoneInfo(TZ)
DAY = date(2026, 6, 10)
KEY_ID = 1
SIGNING = Ed25519PrivateKey.generate()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A moment on the park's clock, in UTC as a machine clock gives it."""
    local = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=PARK_TZ)
    return local.astimezone(UTC)


class ManualClock:
    """The machine's clock, as the test sets it."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


def entitlement(**fields: Any) -> dict[str, Any]:
    return {
        "entries_per_day": 1,
        "entries_total": 1,
        "zones": [],
        "reentry_allowed": False,
        "extras": {},
        **fields,
    }


class Ticket:
    """A sold ticket: its signed code and its row as the hub sends it."""

    def __init__(
        self,
        *,
        valid_from: date = DAY,
        valid_to: date = DAY,
        key: Ed25519PrivateKey = SIGNING,
        key_id: int = KEY_ID,
        flags: TicketFlags = NO_FLAGS,
        marker: bytes = b"",
        **row: Any,
    ) -> None:
        self.id = uuid.uuid4()
        ent = row.pop("entitlement", None) or entitlement()
        self.payload = TicketPayload(
            key_id=key_id,
            ticket_id=self.id,
            product_number=7,
            valid_from=valid_from,
            valid_to=valid_to,
            entries_per_day=ent.get("entries_per_day"),
            entries_total=ent.get("entries_total"),
            flags=flags,
            holder_marker=marker,
        )
        self.code = sign_payload(self.payload, key)
        self.row: dict[str, Any] = {
            "id": str(self.id),
            "product_number": 7,
            "valid_from": valid_from.isoformat(),
            "valid_to": valid_to.isoformat(),
            "entitlement": ent,
            "revoked": False,
            "revoked_reason": None,
            "holder_hash": None,
            "entries_total": 0,
            "entries_today": 0,
            "first_entry_day": None,
            "inside": False,
            "last_exit_at": None,
            **row,
        }

    def scan(self, direction: str = "entry", device: str = "lane-1", **kw: Any) -> Scan:
        return Scan(device=device, credential="qr", value=self.code, direction=direction, **kw)  # type: ignore[arg-type]


def sync_body(
    tickets: list[Ticket],
    *,
    keys: dict[int, Ed25519PrivateKey] | None = None,
    devices: list[dict[str, Any]] | None = None,
    full: bool = True,
    cursor: str = "1",
    cooldown_s: int = 300,
) -> dict[str, Any]:
    keys = keys if keys is not None else {KEY_ID: SIGNING}
    return {
        "park": {"slug": "lakeside", "name": "Lakeside", "time_zone": TZ},
        "cursor": cursor,
        "full": full,
        "keys": [{"key_id": k, "public_key": b64(public(v))} for k, v in keys.items()],
        "tickets": [t.row for t in tickets],
        "devices": devices or [],
        "settings": {"reentry_cooldown_s": cooldown_s},
    }


def device(external_id: str, *, zone: str | None = None, direction: str = "both") -> dict:
    return {
        "id": str(uuid.uuid4()),
        "name": external_id,
        "kind": "mqtt",
        "external_id": external_id,
        "zone": zone,
        "direction": direction,
        "settings": {},
    }


def synced_store(path: Path, tickets: list[Ticket], clock: ManualClock, **body: Any) -> EdgeStore:
    store = EdgeStore(path)
    store.apply(parse_sync(sync_body(tickets, **body)), upload_mark=0, synced_at=clock())
    return store


def edge(
    tmp_path: Path, tickets: list[Ticket], moment: datetime | None = None, **body: Any
) -> tuple[EdgeDecider, ManualClock]:
    clock = ManualClock(moment or at(DAY, 10))
    store = synced_store(tmp_path / "edge.sqlite3", tickets, clock, **body)
    return EdgeDecider(store, EdgeClock(clock)), clock
