"""Tickets: the signed QR payload and its offline verification."""

from __future__ import annotations

from vistapass.tenants.tickets.codec import (
    TicketFlags,
    TicketInvalid,
    TicketPayload,
    decode,
    holder_marker,
    sign_payload,
)
from vistapass.tenants.tickets.verify import check_window, verify_ticket

__all__ = [
    "TicketFlags",
    "TicketInvalid",
    "TicketPayload",
    "check_window",
    "decode",
    "holder_marker",
    "sign_payload",
    "verify_ticket",
]
