"""Request bodies of the order API (answers are plain dicts from `views`)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

import msgspec

from vistapass.tenants.catalog.schemas import QuoteLineIn

# Bounds on what a buyer sends: a longer value is a 400 naming the field, never a
# database error, and nothing absurd is stored.
Name = Annotated[str, msgspec.Meta(max_length=100)]
Email = Annotated[str, msgspec.Meta(max_length=254, pattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")]
Phone = Annotated[str, msgspec.Meta(max_length=32, pattern=r"^$|^\+?[0-9][0-9 ()-]{4,30}$")]
Locale = Literal["zh-CN", "en"]


class ContactIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name = ""
    email: Email = ""
    phone: Phone = ""


class HolderBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name
    document_type: Annotated[str, msgspec.Meta(max_length=20)]
    document_number: Annotated[str, msgspec.Meta(max_length=40)]


class OrderIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product: str
    date: date
    lines: list[QuoteLineIn]
    contact: ContactIn
    slot: str | None = None
    holders: list[HolderBody] = []
    payment: Annotated[str, msgspec.Meta(max_length=30)] = "stripe"  # or test, outside production
    locale: Locale = "zh-CN"
    renewal_of: uuid.UUID | None = None  # the annual card (ticket id) being renewed
    member: Annotated[str, msgspec.Meta(max_length=200)] | None = None  # a member pass


class WindowSaleIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    product: str
    date: date
    lines: list[QuoteLineIn]
    payment: Annotated[str, msgspec.Meta(max_length=30)]  # cash or card_terminal
    slot: str | None = None
    holders: list[HolderBody] = []
    contact: ContactIn = ContactIn()
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""
    renewal_of: uuid.UUID | None = None


class RefundIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tickets: list[uuid.UUID] | None = None  # None: every ticket still valid
    reason: Annotated[str, msgspec.Meta(max_length=200)] = "requested_by_customer"


class OutsideRefundIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A refund staff paid another way after the provider failed one."""

    amount: Annotated[int, msgspec.Meta(ge=1)]  # minor units
    method: Annotated[str, msgspec.Meta(max_length=30)]  # cash or bank_transfer
    reference: Annotated[str, msgspec.Meta(max_length=200)] = ""  # kept in the audit log
