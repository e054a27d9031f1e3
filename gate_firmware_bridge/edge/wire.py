"""The hub's sync answer and the edge's events, as typed values.

The shapes are the hub <-> edge contract (`/gate/v1/sync` and `/gate/v1/events`).
Parsing is strict about types and lenient about extra fields, so a hub one
version ahead does not stop an edge: anything the edge cannot read raises
`WireError`, and the sync loop treats that like an unreachable hub (it keeps
deciding from the cache it has) rather than applying half a snapshot.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from vistapass.tenants.checkin.rules import REENTRY_COOLDOWN

DEVICE_DIRECTIONS = ("entry", "exit", "both")


class WireError(ValueError):
    """A hub answer that does not follow the contract."""


@dataclass(frozen=True, slots=True)
class Park:
    slug: str
    name: str
    time_zone: str


@dataclass(frozen=True, slots=True)
class TicketRow:
    """One ticket as the hub sent it; the counts are the hub's, as of that sync."""

    id: uuid.UUID
    product_number: int
    valid_from: date
    valid_to: date
    entitlement: Mapping[str, Any]
    revoked: bool = False
    revoked_reason: str | None = None
    holder_hash: bytes | None = None
    entries_total: int = 0
    entries_today: int = 0
    first_entry_day: date | None = None
    inside: bool = False
    last_exit_at: datetime | None = None
    # Not in the contract yet: a wristband/RFID number bound to the ticket. An edge
    # reads it when a hub sends it, so `card` scans work the day the hub does.
    card: str | None = None
    # A named ticket's salted check of its holder's ID card (tenants/visitors/gate_check.py).
    holder_check: bytes | None = None


@dataclass(frozen=True, slots=True)
class DeviceRow:
    id: str
    name: str
    kind: str
    external_id: str
    zone: str | None
    direction: str
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SyncBatch:
    park: Park
    cursor: str
    full: bool
    keys: Mapping[int, bytes]
    tickets: tuple[TicketRow, ...]
    devices: tuple[DeviceRow, ...]
    reentry_cooldown_s: int = int(REENTRY_COOLDOWN.total_seconds())


@dataclass(frozen=True, slots=True)
class EdgeEvent:
    """One decision of this edge: its log line and, until acknowledged, its outbox entry."""

    id: str
    ticket_id: uuid.UUID | None
    direction: str
    ok: bool
    code: str
    counted: bool
    day: date
    at: datetime
    device: str
    zone: str | None
    offline: bool

    def upload(self) -> dict[str, Any]:
        """The event as POST /gate/v1/events takes it."""
        return {
            "id": self.id,
            "ticket_id": str(self.ticket_id) if self.ticket_id else None,
            "direction": self.direction,
            "ok": self.ok,
            "code": self.code,
            "counted": self.counted,
            "at": self.at.isoformat(),
            "device": self.device,
            "zone": self.zone,
            "offline": self.offline,
        }


def _need(obj: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = obj.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise WireError(f"'{name}' is missing or not a {kind}")
    return value


def _optional_str(obj: Mapping[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is not None and not isinstance(value, str):
        raise WireError(f"'{name}' must be a string or null")
    return value


def _count(obj: Mapping[str, Any], name: str) -> int:
    value = obj.get(name) or 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise WireError(f"'{name}' must be a non-negative integer")
    return value


def _date(value: Any, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise WireError(f"'{name}' is not a date: {value!r}") from None


def _datetime(value: Any, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise WireError(f"'{name}' is not a date-time: {value!r}") from None
    if moment.tzinfo is None:
        raise WireError(f"'{name}' has no UTC offset: {value!r}")
    return moment


def _b64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise WireError(f"'{name}' is not base64 text")
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=False)
    except (binascii.Error, ValueError):
        raise WireError(f"'{name}' is not base64") from None


def _ticket(raw: Any) -> TicketRow:
    if not isinstance(raw, Mapping):
        raise WireError("a ticket is not an object")
    try:
        ticket_id = uuid.UUID(_need(raw, "id", str))
    except ValueError:
        raise WireError(f"ticket id {raw.get('id')!r} is not a uuid") from None
    first = raw.get("first_entry_day")
    last_exit = raw.get("last_exit_at")
    holder = raw.get("holder_hash")
    card = raw.get("card")
    check = raw.get("holder_check")
    return TicketRow(
        id=ticket_id,
        product_number=_need(raw, "product_number", int),
        valid_from=_date(raw.get("valid_from"), "valid_from"),
        valid_to=_date(raw.get("valid_to"), "valid_to"),
        entitlement=_need(raw, "entitlement", Mapping),
        revoked=bool(raw.get("revoked")),
        revoked_reason=_optional_str(raw, "revoked_reason"),
        holder_hash=_b64(holder, "holder_hash") if holder is not None else None,
        entries_total=_count(raw, "entries_total"),
        entries_today=_count(raw, "entries_today"),
        first_entry_day=_date(first, "first_entry_day") if first else None,
        inside=bool(raw.get("inside")),
        last_exit_at=_datetime(last_exit, "last_exit_at") if last_exit else None,
        card=str(card) if card not in (None, "") else None,
        holder_check=_b64(check, "holder_check") if check is not None else None,
    )


def _device(raw: Any) -> DeviceRow:
    if not isinstance(raw, Mapping):
        raise WireError("a device is not an object")
    direction = raw.get("direction") or "both"
    if direction not in DEVICE_DIRECTIONS:
        raise WireError(f"device direction {direction!r} is not one of {DEVICE_DIRECTIONS}")
    settings = raw.get("settings") or {}
    if not isinstance(settings, Mapping):
        raise WireError("device settings must be an object")
    return DeviceRow(
        id=str(_need(raw, "id", str)),
        name=str(raw.get("name") or ""),
        kind=str(raw.get("kind") or ""),
        external_id=str(_need(raw, "external_id", str)),
        zone=_optional_str(raw, "zone"),
        direction=direction,
        settings=dict(settings),
    )


def parse_sync(body: Any) -> SyncBatch:
    """A `GET /gate/v1/sync` answer, checked; WireError when it breaks the contract."""
    if not isinstance(body, Mapping):
        raise WireError("the sync answer is not an object")
    park = _need(body, "park", Mapping)
    keys: dict[int, bytes] = {}
    for raw in _need(body, "keys", list):
        if not isinstance(raw, Mapping):
            raise WireError("a key is not an object")
        keys[_need(raw, "key_id", int)] = _b64(raw.get("public_key"), "public_key")
    settings = body.get("settings") or {}
    if not isinstance(settings, Mapping):
        raise WireError("settings must be an object")
    cooldown = settings.get("reentry_cooldown_s", int(REENTRY_COOLDOWN.total_seconds()))
    if not isinstance(cooldown, int) or isinstance(cooldown, bool) or cooldown < 0:
        raise WireError("settings.reentry_cooldown_s must be a non-negative integer")
    return SyncBatch(
        park=Park(
            slug=_need(park, "slug", str),
            name=str(park.get("name") or ""),
            time_zone=_need(park, "time_zone", str),
        ),
        cursor=_need(body, "cursor", str),
        full=bool(body.get("full")),
        keys=keys,
        tickets=tuple(_ticket(raw) for raw in _need(body, "tickets", list)),
        devices=tuple(_device(raw) for raw in body.get("devices") or ()),
        reentry_cooldown_s=cooldown,
    )


def dumps(value: Any) -> str:
    """Compact, key-sorted JSON: stored entitlements compare equal when equal."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
