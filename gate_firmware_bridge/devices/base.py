"""What every device adapter speaks: a scan in, an answer out.

An adapter turns its device's wire format into a `Scan`, hands it to the edge's
`Decide` callable, and turns the `Answer` into the device's open (or refuse)
command. Adapters never decide: the edge does, the same way for every vendor.
A frame that cannot be read raises `Malformed` with the reason, which the
adapter logs before it drops the frame; no input may crash an adapter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Direction = Literal["entry", "exit"]
# qr: a ticket code read by a QR reader; card: a card or wristband number (Wiegand,
# RFID); id_card: a mainland ID card number read by an ID reader (real-name check).
Credential = Literal["qr", "card", "id_card"]


class Malformed(ValueError):
    """A frame, body or line that is not what its protocol allows."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Scan:
    device: str  # the device's id as the edge knows it (serial number, MQTT client id)
    credential: Credential
    value: str  # the QR text, the card number in decimal, or the ID number
    direction: Direction = "entry"
    lane: str | None = None
    event_id: str | None = None  # the device's own id for this event, when it has one
    at: datetime | None = None  # when the device saw it, if it says (the edge keeps its own time)
    document: str | None = None  # an ID number presented together with a ticket code


@dataclass(frozen=True, slots=True)
class Answer:
    open: bool
    code: str  # "ok", or why not (the codes of vistapass.tenants.checkin.rules.CODES)
    message: str = ""  # short text for the device's display


Decide = Callable[[Scan], Awaitable[Answer]]
