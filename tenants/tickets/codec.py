"""The ticket QR payload: a compact signed binary record, as base45 text.

Binary layout (big-endian), version 1:

    B   version (1)
    H   signing key id
    16s ticket id (UUID bytes)
    I   product number
    H   valid_from, days since 2020-01-01
    H   valid_to, days since 2020-01-01
    H   slot start, minutes after midnight (0xFFFF: no slot)
    H   slot end, minutes after midnight (0xFFFF: no slot)
    B   entries per day + 1 (0: unlimited)
    H   entries in total + 1 (0: unlimited)
    B   flags (TicketFlags)
    B   holder marker length (0 or 4), then the marker
    64s Ed25519 signature over every byte before it

The text is "VP1:" and the base45 (RFC 9285) of those bytes. Base45 uses only the
QR alphanumeric alphabet, which a QR code packs at 5.5 bits per character, so
the code is smaller than with base64 in byte mode; the prefix (also in that
alphabet) lets a reader tell our codes from any other QR code at a glance.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from enum import IntFlag

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vistapass.platform.errors import VistapassError

VERSION = 1
PREFIX = "VP1:"
EPOCH = date(2020, 1, 1)
LAST_DAY = EPOCH + timedelta(days=0xFFFF)
NO_SLOT = 0xFFFF
MINUTES_PER_DAY = 24 * 60
MAX_ENTRIES_PER_DAY = 0xFF - 1
MAX_ENTRIES_TOTAL = 0xFFFF - 1
MARKER_BYTES = 4
SIGNATURE_BYTES = 64
_FIXED = struct.Struct(">BH16sIHHHHBHBB")

BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_BASE45_VALUE = {char: value for value, char in enumerate(BASE45)}


class TicketInvalid(VistapassError):
    """A ticket code that must not admit; `code` says why."""

    status_code = 422
    code = "ticket_invalid"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class TicketFlags(IntFlag):
    REAL_NAME = 1
    FACE = 2
    REENTRY = 4
    PRIORITY = 8
    MEMBER = 16


NO_FLAGS = TicketFlags(0)
_KNOWN_FLAGS = int(
    TicketFlags.REAL_NAME
    | TicketFlags.FACE
    | TicketFlags.REENTRY
    | TicketFlags.PRIORITY
    | TicketFlags.MEMBER
)


def _check_range(name: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise ValueError(f"{name} must be within {low}..{high}, not {value}")


@dataclass(frozen=True, slots=True)
class TicketPayload:
    """What the gate needs to admit a ticket without asking the server."""

    key_id: int
    ticket_id: uuid.UUID
    product_number: int
    valid_from: date
    valid_to: date
    slot_start_min: int | None = None
    slot_end_min: int | None = None
    entries_per_day: int | None = None  # None: unlimited
    entries_total: int | None = None  # None: unlimited
    flags: TicketFlags = NO_FLAGS
    holder_marker: bytes = b""  # holder_marker() of a real-name holder's document hash

    def __post_init__(self) -> None:
        _check_range("key_id", self.key_id, 0, 0xFFFF)
        _check_range("product_number", self.product_number, 0, 0xFFFFFFFF)
        if not EPOCH <= self.valid_from <= self.valid_to <= LAST_DAY:
            raise ValueError(
                f"validity {self.valid_from}..{self.valid_to} must be ordered "
                f"and within {EPOCH}..{LAST_DAY}"
            )
        if (self.slot_start_min is None) != (self.slot_end_min is None):
            raise ValueError("a slot needs both its start and its end")
        if self.slot_start_min is not None and self.slot_end_min is not None:
            _check_range("slot_start_min", self.slot_start_min, 0, MINUTES_PER_DAY - 1)
            _check_range(
                "slot_end_min", self.slot_end_min, self.slot_start_min + 1, MINUTES_PER_DAY
            )
        _check_range("entries_per_day", self.entries_per_day, 0, MAX_ENTRIES_PER_DAY)
        _check_range("entries_total", self.entries_total, 0, MAX_ENTRIES_TOTAL)
        if int(self.flags) & ~_KNOWN_FLAGS:
            raise ValueError(f"unknown flag bits in {int(self.flags):#x}")
        if len(self.holder_marker) not in (0, MARKER_BYTES):
            raise ValueError(f"holder_marker must be empty or {MARKER_BYTES} bytes")


def holder_marker(document_hash: bytes) -> bytes:
    """The first bytes of a holder's document hash: enough for the gate to match a card."""
    return document_hash[:MARKER_BYTES]


def b45encode(data: bytes) -> str:
    chars: list[str] = []
    for start in range(0, len(data), 2):
        pair = data[start : start + 2]
        value = int.from_bytes(pair, "big")
        digits = 3 if len(pair) == 2 else 2
        for _ in range(digits):
            value, digit = divmod(value, 45)
            chars.append(BASE45[digit])
    return "".join(chars)


# Each byte of the text's ASCII, translated to its base45 digit; 0xFF for a byte that is none.
_NOT_BASE45 = 0xFF
_DIGITS = bytes(
    BASE45.index(chr(byte)) if chr(byte) in BASE45 else _NOT_BASE45 for byte in range(256)
)


def b45decode(text: str) -> bytes:
    """Strict RFC 9285 decoding; ValueError on any character or group it does not allow.

    The gate decodes every code it is shown, so the whole groups are decoded in C
    where Python allows: the digits by `bytes.translate`, each group's three digits
    picked by slicing, the 2-byte values packed by `struct`; only the sum per group
    is a Python loop (a fifth of the time of a dictionary lookup per group). Text
    this path refuses is decoded group by group, which also names what is wrong.
    """
    if len(text) % 3 == 1:
        raise ValueError("base45 text cannot have a length of 3n+1")
    whole = len(text) - len(text) % 3
    if not text.isascii():
        return _b45decode_groups(text)
    digits = text.encode("ascii").translate(_DIGITS)
    if _NOT_BASE45 in digits:
        return _b45decode_groups(text)
    values = [
        low + middle * 45 + high * 2025
        for low, middle, high in zip(
            digits[0:whole:3], digits[1:whole:3], digits[2:whole:3], strict=True
        )
    ]
    if values and max(values) > 0xFFFF:
        return _b45decode_groups(text)
    head = struct.pack(f">{len(values)}H", *values)
    return head if whole == len(text) else head + _b45decode_groups(text[whole:])


def _b45decode_groups(text: str) -> bytes:
    out = bytearray()
    for start in range(0, len(text), 3):
        group = text[start : start + 3]
        value = 0
        for char in reversed(group):
            if char not in _BASE45_VALUE:
                raise ValueError(f"{char!r} is not a base45 character")
            value = value * 45 + _BASE45_VALUE[char]
        size = 2 if len(group) == 3 else 1
        if value >= 256**size:
            raise ValueError(f"base45 group {group!r} is out of range")
        out += value.to_bytes(size, "big")
    return bytes(out)


def _days(day: date) -> int:
    return (day - EPOCH).days


def _plus_one(count: int | None) -> int:
    return 0 if count is None else count + 1


def _minus_one(stored: int) -> int | None:
    return None if stored == 0 else stored - 1


def encode_body(payload: TicketPayload) -> bytes:
    """The signed part of the binary record."""
    no_slot = payload.slot_start_min is None or payload.slot_end_min is None
    return (
        _FIXED.pack(
            VERSION,
            payload.key_id,
            payload.ticket_id.bytes,
            payload.product_number,
            _days(payload.valid_from),
            _days(payload.valid_to),
            NO_SLOT if no_slot else payload.slot_start_min,
            NO_SLOT if no_slot else payload.slot_end_min,
            _plus_one(payload.entries_per_day),
            _plus_one(payload.entries_total),
            int(payload.flags),
            len(payload.holder_marker),
        )
        + payload.holder_marker
    )


def sign_payload(payload: TicketPayload, private_key: Ed25519PrivateKey) -> str:
    """The QR text for `payload`, signed with the park key numbered `payload.key_id`."""
    body = encode_body(payload)
    return PREFIX + b45encode(body + private_key.sign(body))


def _malformed(message: str) -> TicketInvalid:
    return TicketInvalid("malformed", message)


def decode(text: str) -> tuple[TicketPayload, bytes, bytes]:
    """(payload, signed bytes, signature) of a QR text; checks its form, not its signature."""
    if not text.startswith(PREFIX):
        raise _malformed("This is not a Vistapass ticket code.")
    try:
        raw = b45decode(text[len(PREFIX) :])
    except ValueError as exc:
        raise _malformed(f"The ticket code is damaged: {exc}.") from None
    if len(raw) < _FIXED.size + SIGNATURE_BYTES:
        raise _malformed("The ticket code is too short.")
    signed, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    (
        version,
        key_id,
        ticket_bytes,
        product_number,
        valid_from,
        valid_to,
        slot_start,
        slot_end,
        per_day,
        total,
        flags,
        marker_length,
    ) = _FIXED.unpack_from(signed)
    if version != VERSION:
        raise _malformed(f"Ticket code version {version} is not supported.")
    if len(signed) != _FIXED.size + marker_length:
        raise _malformed("The ticket code's length does not match its contents.")
    try:
        payload = TicketPayload(
            key_id=key_id,
            ticket_id=uuid.UUID(bytes=ticket_bytes),
            product_number=product_number,
            valid_from=EPOCH + timedelta(days=valid_from),
            valid_to=EPOCH + timedelta(days=valid_to),
            slot_start_min=None if slot_start == NO_SLOT else slot_start,
            slot_end_min=None if slot_end == NO_SLOT else slot_end,
            entries_per_day=_minus_one(per_day),
            entries_total=_minus_one(total),
            flags=TicketFlags(flags),
            holder_marker=signed[_FIXED.size :],
        )
    except ValueError as exc:
        raise _malformed(f"The ticket code holds an impossible value: {exc}.") from None
    return payload, signed, signature
