from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import assume, given
from hypothesis import strategies as st

from vistapass.tenants.tickets import (
    TicketFlags,
    TicketInvalid,
    TicketPayload,
    check_window,
    decode,
    holder_marker,
    sign_payload,
    verify_ticket,
)
from vistapass.tenants.tickets.codec import PREFIX, _b45decode_groups, b45decode, b45encode

PRIVATE = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
KEYS = {3: PRIVATE.public_key().public_bytes_raw()}
DAY = date(2026, 5, 1)
TICKET = TicketPayload(
    key_id=3,
    ticket_id=uuid.UUID("6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f"),
    product_number=1042,
    valid_from=DAY,
    valid_to=DAY,
    slot_start_min=9 * 60,
    slot_end_min=10 * 60,
    entries_per_day=1,
    entries_total=1,
    flags=TicketFlags.REAL_NAME | TicketFlags.FACE,
    holder_marker=b"\x9a\x01\xfe\x42",
)
TEXT = sign_payload(TICKET, PRIVATE)
NOT_ADMITTED = {"malformed", "unknown_key", "bad_signature"}


def _codes(raw: bytes) -> str:
    return PREFIX + b45encode(raw)


@st.composite
def payloads(draw: st.DrawFn) -> TicketPayload:
    valid_from = draw(st.dates(date(2020, 1, 1), date(2199, 6, 6)))
    valid_to = draw(st.dates(valid_from, date(2199, 6, 6)))
    slot = draw(
        st.none()
        | st.integers(0, 1439).flatmap(lambda s: st.tuples(st.just(s), st.integers(s + 1, 1440)))
    )
    return TicketPayload(
        key_id=draw(st.integers(0, 0xFFFF)),
        ticket_id=draw(st.uuids()),
        product_number=draw(st.integers(0, 2**32 - 1)),
        valid_from=valid_from,
        valid_to=valid_to,
        slot_start_min=None if slot is None else slot[0],
        slot_end_min=None if slot is None else slot[1],
        entries_per_day=draw(st.none() | st.integers(0, 254)),
        entries_total=draw(st.none() | st.integers(0, 65534)),
        flags=TicketFlags(draw(st.integers(0, 31))),
        holder_marker=draw(st.sampled_from([b""]) | st.binary(min_size=4, max_size=4)),
    )


# Base45


def test_base45_matches_rfc_9285_examples() -> None:
    for raw, text in (
        (b"AB", "BB8"),
        (b"Hello!!", "%69 VD92EX0"),
        (b"base-45", "UJCLQE7W581"),
        (b"ietf!", "QED8WEX0"),
        (b"", ""),
    ):
        assert b45encode(raw) == text
        assert b45decode(text) == raw


@given(st.binary(max_size=200))
def test_base45_round_trips(raw: bytes) -> None:
    assert b45decode(b45encode(raw)) == raw


@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:a~", max_size=30))
def test_base45_table_decoding_answers_as_the_group_by_group_one(text: str) -> None:
    """The lookup table is a speed-up only: same bytes, same refusals."""
    assume(len(text) % 3 != 1)  # refused before either looks at a group

    def outcome(decoder):
        try:
            return decoder(text)
        except ValueError:
            return ValueError

    assert outcome(b45decode) == outcome(_b45decode_groups)


@given(st.text(max_size=30))
def test_base45_fast_decoding_answers_as_the_group_by_group_one_for_any_text(text: str) -> None:
    """Any text at all, not only ASCII: the same bytes or the same refusal message."""
    assume(len(text) % 3 != 1)

    def outcome(decoder):
        try:
            return decoder(text)
        except ValueError as exc:
            return str(exc)

    assert outcome(b45decode) == outcome(_b45decode_groups)


@pytest.mark.parametrize(
    "text", ["GGW", "A", "ABCD", "ab", "AB~", "GGW ZZ", "::", "AB\u00c9", "\u0660\u0661\u0662"]
)
def test_base45_refuses_what_rfc_9285_forbids(text: str) -> None:
    with pytest.raises(ValueError):
        b45decode(text)


# Encoding


@given(payloads())
def test_payloads_round_trip(payload: TicketPayload) -> None:
    text = sign_payload(payload, PRIVATE)
    decoded, signed, signature = decode(text)
    assert decoded == payload
    PRIVATE.public_key().verify(signature, signed)
    assert verify_ticket(text, {payload.key_id: KEYS[3]}, set()) == payload


def test_qr_text_is_short() -> None:
    # Measured: 160 characters with a holder marker (104 bytes), 154 without;
    # QR version 7 at error correction M, in alphanumeric mode.
    assert len(TEXT) == 160
    plain = TicketPayload(
        key_id=1, ticket_id=uuid.uuid4(), product_number=1, valid_from=DAY, valid_to=DAY
    )
    assert len(sign_payload(plain, PRIVATE)) == 154
    qr = segno.make(TEXT, error="m", boost_error=False)
    assert (qr.mode, qr.version) == ("alphanumeric", 7)


def test_unlimited_and_zero_entries_differ() -> None:
    unlimited = TicketPayload(
        key_id=3, ticket_id=uuid.uuid4(), product_number=1, valid_from=DAY, valid_to=DAY
    )
    none_left = TicketPayload(
        key_id=3,
        ticket_id=unlimited.ticket_id,
        product_number=1,
        valid_from=DAY,
        valid_to=DAY,
        entries_per_day=0,
        entries_total=0,
    )
    decoded = decode(sign_payload(unlimited, PRIVATE))[0]
    assert (decoded.entries_per_day, decoded.entries_total) == (None, None)
    decoded = decode(sign_payload(none_left, PRIVATE))[0]
    assert (decoded.entries_per_day, decoded.entries_total) == (0, 0)


@pytest.mark.parametrize(
    "changes",
    [
        {"key_id": 65536},
        {"key_id": -1},
        {"product_number": 2**32},
        {"valid_to": date(2026, 4, 30)},
        {"valid_from": date(2019, 12, 31)},
        {"valid_to": date(2199, 6, 7)},
        {"slot_end_min": None},
        {"slot_start_min": 600},
        {"slot_end_min": 1441},
        {"entries_per_day": 255},
        {"entries_total": 65535},
        {"flags": TicketFlags(64)},
        {"holder_marker": b"abc"},
    ],
)
def test_impossible_payloads_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        replace(TICKET, **changes)


def test_holder_marker_is_the_start_of_the_document_hash() -> None:
    assert holder_marker(bytes(range(32))) == b"\x00\x01\x02\x03"


# Verifying


def test_genuine_ticket_verifies() -> None:
    assert verify_ticket(TEXT, KEYS, {uuid.uuid4()}) == TICKET


def _refusal(
    text: str, keys: dict[int, bytes] = KEYS, revoked: set[uuid.UUID] | None = None
) -> str:
    with pytest.raises(TicketInvalid) as info:
        verify_ticket(text, keys, revoked or set())
    assert info.value.status_code == 422
    return info.value.code


def test_unknown_key_revoked_and_forged_are_refused() -> None:
    assert _refusal(TEXT, {4: KEYS[3]}) == "unknown_key"
    assert _refusal(TEXT, {3: b"short"}) == "unknown_key"
    assert _refusal(TEXT, revoked={TICKET.ticket_id}) == "revoked"
    assert _refusal(sign_payload(TICKET, OTHER)) == "bad_signature"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "VP1",
        "XX1:" + TEXT[4:],
        TEXT.lower(),
        TEXT[:-1],
        TEXT[:-3],
        TEXT[:40],
        _codes(b"\x02" + b45decode(TEXT[4:])[1:]),
        _codes(b45decode(TEXT[4:]) + b"\x00"),
        "https://example.com/?t=" + TEXT,
    ],
)
def test_malformed_codes_are_refused(text: str) -> None:
    assert _refusal(text) in NOT_ADMITTED


def test_a_version_other_than_one_is_malformed() -> None:
    raw = b45decode(TEXT[len(PREFIX) :])
    assert _refusal(_codes(b"\x02" + raw[1:])) == "malformed"


def test_every_byte_position_is_signed() -> None:
    raw = b45decode(TEXT[len(PREFIX) :])
    assert len(raw) == 104
    for position in range(len(raw)):
        altered = raw[:position] + bytes([raw[position] ^ 0x01]) + raw[position + 1 :]
        assert _refusal(_codes(altered)) in NOT_ADMITTED


@given(st.data())
def test_altering_any_byte_is_refused(data: st.DataObject) -> None:
    raw = b45decode(TEXT[len(PREFIX) :])
    position = data.draw(st.integers(0, len(raw) - 1), label="position")
    mask = data.draw(st.integers(1, 255), label="mask")
    altered = raw[:position] + bytes([raw[position] ^ mask]) + raw[position + 1 :]
    assert _refusal(_codes(altered)) in NOT_ADMITTED


@given(st.data())
def test_altering_any_character_is_refused(data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(TEXT) - 1), label="position")
    char = data.draw(st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:x"))
    altered = TEXT[:position] + char + TEXT[position + 1 :]
    if altered != TEXT:
        assert _refusal(altered) in NOT_ADMITTED


# The validity window


def test_window_dates_and_slot() -> None:
    check_window(TICKET, DAY, None)
    check_window(TICKET, DAY, 9 * 60)
    check_window(TICKET, DAY, 10 * 60 - 1)
    for today, minute, code in (
        (date(2026, 4, 30), None, "not_yet_valid"),
        (date(2026, 5, 2), 9 * 60 + 30, "expired"),
        (DAY, 9 * 60 - 1, "wrong_slot"),
        (DAY, 10 * 60, "wrong_slot"),
    ):
        with pytest.raises(TicketInvalid) as info:
            check_window(TICKET, today, minute)
        assert info.value.code == code


def test_window_without_a_slot_is_the_whole_day() -> None:
    all_day = TicketPayload(
        key_id=3,
        ticket_id=uuid.uuid4(),
        product_number=1,
        valid_from=DAY,
        valid_to=date(2026, 5, 3),
    )
    for minute in (0, 720, 1439, None):
        check_window(all_day, date(2026, 5, 3), minute)
