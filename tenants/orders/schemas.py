"""Request bodies of the order API (answers are plain dicts from `views`)."""

from __future__ import annotations

import uuid
from datetime import date

import msgspec

from vistapass.tenants.catalog.schemas import QuoteLineIn


class ContactIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str = ""
    email: str = ""
    phone: str = ""


class HolderBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    document_type: str
    document_number: str


class OrderIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product: str
    date: date
    lines: list[QuoteLineIn]
    contact: ContactIn
    slot: str | None = None
    holders: list[HolderBody] = []
    payment: str = "stripe"  # stripe, or test outside production; free orders need none
    locale: str = "zh-CN"
    renewal_of: uuid.UUID | None = None  # the annual card (ticket id) being renewed


class WindowSaleIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product: str
    date: date
    lines: list[QuoteLineIn]
    payment: str  # cash or card_terminal
    slot: str | None = None
    holders: list[HolderBody] = []
    contact: ContactIn = ContactIn()
    note: str = ""
    renewal_of: uuid.UUID | None = None


class RefundIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tickets: list[uuid.UUID] | None = None  # None: every ticket still valid
    reason: str = "requested_by_customer"
