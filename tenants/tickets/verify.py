"""Deciding whether a ticket code may admit.

`verify_ticket` needs only the park's public keys and its revocation list, never
the database or a private key: it is the check the gate bridge runs offline,
with both lists synced while it was online. The validity window is a separate
step, `check_window`, because only the gate knows the date and time it admits at.

Codes are signed with `cryptography` and checked with libsodium (PyNaCl): the
same Ed25519, but libsodium verifies in about two thirds of the time, and a gate
verifies every code it is shown. libsodium also refuses keys and signatures
built on small-order points, which only a forger makes: a code signed by a
park's key verifies the same with either.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Container, Mapping
from datetime import date

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from vistapass.tenants.tickets.codec import TicketInvalid, TicketPayload, decode


def verify_ticket(
    text: str, public_keys: Mapping[int, bytes], revoked: Container[uuid.UUID]
) -> TicketPayload:
    """The payload of a genuine, unrevoked ticket code; TicketInvalid otherwise.

    Codes: `malformed` (not a ticket code of ours), `unknown_key` (signed by a key
    this list does not have), `bad_signature` (altered or forged), `revoked`.
    """
    payload, signed, signature = decode(text)
    raw_key = public_keys.get(payload.key_id)
    if raw_key is None:
        raise TicketInvalid("unknown_key", f"Signing key {payload.key_id} is not known here.")
    try:
        public_key = _public_key(raw_key)
    except ValueError:
        raise TicketInvalid(
            "unknown_key", f"Signing key {payload.key_id} is not a valid Ed25519 public key."
        ) from None
    try:
        public_key.verify(signed, signature)
    except BadSignatureError:
        raise TicketInvalid("bad_signature", "The ticket code's signature is wrong.") from None
    # Only after the signature: a forged code learns nothing about the revocation list.
    if payload.ticket_id in revoked:
        raise TicketInvalid("revoked", "This ticket was cancelled.")
    return payload


@functools.lru_cache(maxsize=64)
def _public_key(raw: bytes) -> VerifyKey:
    """A park has a handful of keys, each checked once for its length."""
    return VerifyKey(raw)


def check_window(payload: TicketPayload, today: date, minute_of_day: int | None) -> None:
    """Refuse a ticket outside its dates, or outside its slot when the time is given.

    Codes: `not_yet_valid`, `expired`, `wrong_slot` (before or after the slot,
    whose end is exclusive). `minute_of_day` None checks the date alone.
    """
    if today < payload.valid_from:
        raise TicketInvalid("not_yet_valid", f"This ticket is valid from {payload.valid_from}.")
    if today > payload.valid_to:
        raise TicketInvalid("expired", f"This ticket was valid until {payload.valid_to}.")
    start, end = payload.slot_start_min, payload.slot_end_min
    if minute_of_day is None or start is None or end is None:
        return
    if not start <= minute_of_day < end:
        raise TicketInvalid(
            "wrong_slot",
            f"This ticket's slot is {start // 60:02d}:{start % 60:02d}"
            f"-{end // 60:02d}:{end % 60:02d}.",
        )
