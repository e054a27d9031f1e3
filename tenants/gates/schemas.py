"""Request bodies of `/gate/v1/` (see docs/gate-hub-api.md). Sizes match the columns.

A field too long, an unknown field or a naive timestamp is a 400 before any
database work; `forbid_unknown_fields` makes a misspelt field an error, not a
silently dropped value.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

MAX_EVENTS = 500

Direction = Literal["entry", "exit"]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Device = Annotated[str, msgspec.Meta(max_length=100)]
Zone = Annotated[str, msgspec.Meta(max_length=60)]
Moment = Annotated[datetime, msgspec.Meta(tz=True)]


class EventIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: uuid.UUID  # made by the edge; the same event resent keeps it
    direction: Direction
    ok: bool
    code: Code
    at: Moment
    ticket_id: uuid.UUID | None = None
    counted: bool = False
    device: Device = ""
    zone: Zone | None = None
    offline: bool = False


class EventsIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    events: Annotated[list[EventIn], msgspec.Meta(max_length=MAX_EVENTS)]


class DeviceStatus(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Annotated[str, msgspec.Meta(max_length=100)]
    online: bool


class StatusIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    online: bool
    outbox: Annotated[int, msgspec.Meta(ge=0)]
    version: Annotated[str, msgspec.Meta(max_length=40)]
    last_sync_at: Moment | None = None
    devices: Annotated[list[DeviceStatus], msgspec.Meta(max_length=200)] = []


class RedeemIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(max_length=2000)]
    direction: Direction
    nonce: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    zone: Zone | None = None
    document_type: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    document_number: Annotated[str, msgspec.Meta(max_length=40)] | None = None
