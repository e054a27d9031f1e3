"""The public quote API's request and response bodies."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

import msgspec


class QuoteLineIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    unit: str
    quantity: int
    ages: list[int] | None = None


class QuoteIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product: str
    date: date
    lines: list[QuoteLineIn]
    slot: str | None = None
    channel: str = "web"
    renewal_of: uuid.UUID | None = None  # the annual card (ticket id) being renewed
    # A member pass from the booking site's sign-in (never a percentage): on the web
    # channel, the card it names gives its member price. See catalog.membership.
    member: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class QuoteAdjustmentOut(msgspec.Struct, frozen=True):
    code: str
    reason: str
    amount: int


class QuoteLineOut(msgspec.Struct, frozen=True):
    unit: str
    quantity: int
    base_price: int
    adjustments: list[QuoteAdjustmentOut]
    unit_price: int
    total: int


class QuoteEntitlementOut(msgspec.Struct, frozen=True):
    unit: str
    valid_from: date
    valid_to: date
    slot: str | None
    entries_per_day: int | None
    entries_total: int | None
    zones: list[str]
    real_name_required: bool
    face_required: bool
    reentry_allowed: bool


class QuoteOut(msgspec.Struct, frozen=True):
    product: str
    date: date
    slot: str | None
    channel: str
    currency: str
    day_kind: str
    lines: list[QuoteLineOut]
    adjustments: list[QuoteAdjustmentOut]
    subtotal: int
    total: int
    entitlements: list[QuoteEntitlementOut]
