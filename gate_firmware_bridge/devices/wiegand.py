"""Wiegand 26 and 34 frames, and the plain 24-bit number some readers send instead.

Card readers wired to a controller (or to a Wiegand-to-serial/IP converter) hand
over a frame of bits, first bit first. This module only decodes; the transport
that carries the bits (a TCP line, an MQTT scan, a GPIO reader) calls it.

Frames (bit 0 is the first bit on the wire):

- **W26**: bit 0 is even parity over bits 0..12, bits 1..8 the facility code
  (8 bits), bits 9..24 the card number (16 bits), bit 25 odd parity over bits 13..25.
- **W34**: bit 0 even parity over bits 0..16, bits 1..32 a 32-bit value, bit 33
  odd parity over bits 17..33.
- **plain 24-bit**: `facility << 16 | card` as a decimal string, or hexadecimal
  with a `0x` prefix (or with `base=16` for readers set to print bare hex).

The card number the edge matches is a decimal string, by one convention for every
reader: **W26 and the plain 24-bit number give `facility * 65536 + card`; W34 gives
its 32-bit value.** A card therefore reads the same through a W26 reader and a
reader that prints the 24-bit number, which is what parks mix at their gates.

Public surface: `decode_bits`, `decode_int`, `decode_plain` (all return a
`WiegandCard` or raise `Malformed` saying which check failed), `encode_26`,
`encode_34`, and `to_scan`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vistapass.gate_firmware_bridge.devices.base import Direction, Malformed, Scan

Format = Literal["w26", "w34", "plain24"]
LENGTHS = (26, 34)
_BITS = frozenset("01")
# Longer text cannot be a 24-bit number in any base; refusing early keeps int()
# from working on megabytes of digits a broken reader might send.
_MAX_PLAIN_CHARS = 16


@dataclass(frozen=True, slots=True)
class WiegandCard:
    format: Format
    number: str  # the decimal card number the edge matches (see the module docstring)
    facility: int | None  # W26 and plain 24-bit only
    card: int  # the card field: 16 bits for W26 and plain, the whole 32-bit value for W34


def _ones(bits: str) -> int:
    return bits.count("1")


def decode_bits(bits: str) -> WiegandCard:
    """Decode a frame given as a string of `0`/`1`, first bit first."""
    if not isinstance(bits, str):
        raise Malformed("a Wiegand frame must be given as text")
    bits = bits.strip()
    if len(bits) not in LENGTHS:
        raise Malformed(f"a Wiegand frame has 26 or 34 bits, not {len(bits)}")
    if not set(bits) <= _BITS:
        raise Malformed("a Wiegand frame may only contain 0 and 1")
    if len(bits) == 26:
        if _ones(bits[0:13]) % 2:
            raise Malformed("W26 even parity (first 12 bits) failed")
        if _ones(bits[13:26]) % 2 == 0:
            raise Malformed("W26 odd parity (last 12 bits) failed")
        facility = int(bits[1:9], 2)
        card = int(bits[9:25], 2)
        return WiegandCard("w26", str(facility * 65536 + card), facility, card)
    if _ones(bits[0:17]) % 2:
        raise Malformed("W34 even parity (first 16 bits) failed")
    if _ones(bits[17:34]) % 2 == 0:
        raise Malformed("W34 odd parity (last 16 bits) failed")
    value = int(bits[1:33], 2)
    return WiegandCard("w34", str(value), None, value)


def decode_int(value: int, length: int) -> WiegandCard:
    """Decode a frame a converter packed into an integer (the first bit is the highest)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed("a packed Wiegand frame must be an integer")
    if length not in LENGTHS:
        raise Malformed(f"a Wiegand frame has 26 or 34 bits, not {length}")
    if not 0 <= value < 1 << length:
        raise Malformed(f"{value} does not fit in {length} bits")
    return decode_bits(format(value, f"0{length}b"))


def decode_plain(text: str, base: Literal[10, 16] | None = None) -> WiegandCard:
    """Decode the 24-bit number (`facility << 16 | card`) a reader printed as text.

    Without `base`, a `0x` prefix means hexadecimal and anything else decimal:
    bare hex like `123456` is indistinguishable from decimal, so a reader that
    prints bare hex must be configured with `base=16`.
    """
    if not isinstance(text, str):
        raise Malformed("a card number must be given as text")
    raw = text.strip()
    if base is None:
        base = 16 if raw[:2].lower() == "0x" else 10
    digits = raw[2:] if base == 16 and raw[:2].lower() == "0x" else raw
    allowed = "0123456789abcdefABCDEF" if base == 16 else "0123456789"
    if not digits or len(digits) > _MAX_PLAIN_CHARS or not set(digits) <= set(allowed):
        raise Malformed(f"not a base-{base} card number")
    value = int(digits, base)
    if value >= 1 << 24:
        raise Malformed("a plain card number has at most 24 bits")
    facility, card = value >> 16, value & 0xFFFF
    return WiegandCard("plain24", str(value), facility, card)


def encode_26(facility: int, card: int) -> str:
    """The W26 frame for a facility code and card number, parity bits included."""
    if not 0 <= facility < 1 << 8 or not 0 <= card < 1 << 16:
        raise ValueError("W26 carries an 8-bit facility code and a 16-bit card number")
    data = format(facility, "08b") + format(card, "016b")
    even = str(_ones(data[:12]) % 2)
    odd = str(1 - _ones(data[12:]) % 2)
    return even + data + odd


def encode_34(value: int) -> str:
    """The W34 frame for a 32-bit card value, parity bits included."""
    if not 0 <= value < 1 << 32:
        raise ValueError("W34 carries a 32-bit value")
    data = format(value, "032b")
    even = str(_ones(data[:16]) % 2)
    odd = str(1 - _ones(data[16:]) % 2)
    return even + data + odd


def to_scan(
    device: str,
    card: WiegandCard,
    *,
    direction: Direction = "entry",
    lane: str | None = None,
    event_id: str | None = None,
) -> Scan:
    """The scan a decoded card makes at a reader."""
    return Scan(
        device=device,
        credential="card",
        value=card.number,
        direction=direction,
        lane=lane,
        event_id=event_id,
    )
