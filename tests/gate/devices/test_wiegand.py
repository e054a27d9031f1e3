"""Wiegand 26/34 and the plain 24-bit number: known frames, parity, and fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vistapass.gate_firmware_bridge.devices.base import Malformed
from vistapass.gate_firmware_bridge.devices.wiegand import (
    decode_bits,
    decode_int,
    decode_plain,
    encode_26,
    encode_34,
    to_scan,
)

FUZZ = settings(max_examples=200, deadline=None)


def test_w26_known_frame() -> None:
    # Facility 1, card 1: data 00000001 0000000000000001; the first half has one 1
    # (even parity bit 1), the second half one 1 (odd parity bit 0).
    assert encode_26(1, 1) == "1" + "00000001" + "0000000000000001" + "0"
    card = decode_bits("10000000100000000000000010")
    assert (card.format, card.facility, card.card) == ("w26", 1, 1)
    assert card.number == str(65536 + 1)


def test_w34_known_frame() -> None:
    frame = encode_34(0xDEADBEEF)
    assert len(frame) == 34
    card = decode_bits(frame)
    assert (card.format, card.number, card.facility) == ("w34", str(0xDEADBEEF), None)


def test_parity_failures_say_which_parity() -> None:
    frame = encode_26(200, 4242)
    flipped_first = str(1 - int(frame[0])) + frame[1:]
    flipped_last = frame[:-1] + str(1 - int(frame[-1]))
    with pytest.raises(Malformed, match="W26 even parity"):
        decode_bits(flipped_first)
    with pytest.raises(Malformed, match="W26 odd parity"):
        decode_bits(flipped_last)
    frame34 = encode_34(7)
    with pytest.raises(Malformed, match="W34 even parity"):
        decode_bits(str(1 - int(frame34[0])) + frame34[1:])
    with pytest.raises(Malformed, match="W34 odd parity"):
        decode_bits(frame34[:-1] + str(1 - int(frame34[-1])))


def test_wrong_lengths_and_characters_are_refused() -> None:
    with pytest.raises(Malformed, match="26 or 34 bits, not 25"):
        decode_bits("1" * 25)
    with pytest.raises(Malformed, match="only contain 0 and 1"):
        decode_bits("2" * 26)
    with pytest.raises(Malformed, match="does not fit"):
        decode_int(1 << 26, 26)
    with pytest.raises(Malformed, match="26 or 34"):
        decode_int(5, 32)


def test_packed_integer_is_the_same_frame() -> None:
    frame = encode_26(17, 60000)
    assert decode_int(int(frame, 2), 26) == decode_bits(frame)


def test_plain_number_matches_the_w26_convention() -> None:
    w26 = decode_bits(encode_26(12, 34567))
    assert decode_plain(str(12 * 65536 + 34567)).number == w26.number
    assert decode_plain(hex(12 * 65536 + 34567)).number == w26.number
    assert decode_plain("0C8707", base=16).number == w26.number
    with pytest.raises(Malformed, match="24 bits"):
        decode_plain(str(1 << 24))
    with pytest.raises(Malformed, match="base-10"):
        decode_plain("12ab")


def test_to_scan_gives_a_card_scan() -> None:
    scan = to_scan("reader-3", decode_bits(encode_26(1, 2)), direction="exit", lane="L2")
    assert (scan.credential, scan.value, scan.direction, scan.lane) == (
        "card",
        str(65536 + 2),
        "exit",
        "L2",
    )


@FUZZ
@given(st.integers(0, 255), st.integers(0, 65535))
def test_w26_round_trip(facility: int, card: int) -> None:
    decoded = decode_bits(encode_26(facility, card))
    assert (decoded.facility, decoded.card) == (facility, card)
    assert decoded.number == str(facility * 65536 + card)


@FUZZ
@given(st.integers(0, 2**32 - 1))
def test_w34_round_trip(value: int) -> None:
    assert decode_bits(encode_34(value)).number == str(value)


@FUZZ
@given(st.integers(0, 255), st.integers(0, 65535), st.integers(0, 25))
def test_any_single_bit_flip_is_caught(facility: int, card: int, position: int) -> None:
    frame = encode_26(facility, card)
    flipped = frame[:position] + str(1 - int(frame[position])) + frame[position + 1 :]
    with pytest.raises(Malformed):
        decode_bits(flipped)


@FUZZ
@given(st.text(max_size=40) | st.text(alphabet="01 \t", max_size=40))
def test_arbitrary_text_only_ever_raises_malformed(text: str) -> None:
    for decode in (decode_bits, decode_plain):
        with contextlib.suppress(Malformed):
            decode(text)


@FUZZ
@given(st.integers(-(2**40), 2**40), st.sampled_from([0, 24, 26, 34, 35]))
def test_arbitrary_integers_only_ever_raise_malformed(value: int, length: int) -> None:
    with contextlib.suppress(Malformed):
        decode_int(value, length)
