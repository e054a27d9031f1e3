"""The TCP line protocol: parsing, fuzzing, and a real socket end to end."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.gate.devices.support import CARD_OK, QR_OK, Gate, failing_decide, run
from vistapass.gate_firmware_bridge.devices import DECIDE_FAILED
from vistapass.gate_firmware_bridge.devices.base import Answer, Malformed, Scan
from vistapass.gate_firmware_bridge.devices.tcp_line import (
    MAX_LINE,
    TOO_LONG,
    LineSplitter,
    Ping,
    TcpLineAdapter,
    format_answer,
    parse_line,
)

FUZZ = settings(max_examples=200, deadline=None)


def test_scan_line_keeps_the_value_verbatim() -> None:
    scan = parse_line(b"SCAN turnstile-4 L1 exit qr VP1:AB CD  EF\r")
    assert scan == Scan(
        device="turnstile-4", credential="qr", value="VP1:AB CD  EF", direction="exit", lane="L1"
    )
    assert parse_line(b"SCAN t - entry id 110101199003071234").credential == "id_card"
    assert parse_line(b"SCAN t - entry card 42").lane is None
    assert isinstance(parse_line(b"PING"), Ping)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"HELLO there", "unknown_command"),
        (b"SCAN t L1 sideways qr x", "bad_scan"),
        (b"SCAN t L1 entry face x", "bad_scan"),
        (b"SCAN t L1 entry qr", "bad_scan"),
        (b"SCAN t L1 entry qr ", "bad_scan"),
        (b"SCAN  L1 entry qr x", "bad_scan"),
        (b"SCAN t L1 entry qr \xe4\xb8\xad", "not_ascii"),
        (b"SCAN t L1 entry qr a\x07b", "bad_scan"),
    ],
)
def test_bad_lines_name_their_reason(line: bytes, reason: str) -> None:
    with pytest.raises(Malformed) as caught:
        parse_line(line)
    assert caught.value.reason.split(" ")[0] == reason


def test_answers_are_one_clean_line() -> None:
    assert format_answer("L1", Answer(True, "ok", "Welcome")) == b"OPEN L1 ok Welcome\n"
    assert format_answer(None, Answer(False, "revoked")) == b"DENY - revoked\n"
    assert format_answer("L2", Answer(False, "expired", "Ticket\nexpired 过期")) == (
        b"DENY L2 expired Ticket expired\n"
    )


def test_splitter_drops_an_over_long_line_and_resynchronises() -> None:
    splitter = LineSplitter(max_line=16)
    assert splitter.feed(b"PING\nx" + b"y" * 20) == [b"PING", TOO_LONG]
    assert splitter.feed(b"zzz\nPING\n") == [b"PING"]
    assert splitter.feed(b"a" * 16 + b"\n") == [TOO_LONG]
    assert splitter.feed(b"b" * 15 + b"\n") == [b"b" * 15]


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_ever_raise_malformed(raw: bytes) -> None:
    with contextlib.suppress(Malformed):
        parse_line(raw)


@FUZZ
@given(st.binary(max_size=400), st.lists(st.integers(1, 50), max_size=20))
def test_splitting_does_not_depend_on_how_bytes_arrive(stream: bytes, cuts: list[int]) -> None:
    whole = LineSplitter(max_line=32).feed(stream)
    pieces = LineSplitter(max_line=32)
    got: list[object] = []
    rest = stream
    for cut in cuts:
        got += pieces.feed(rest[:cut])
        rest = rest[cut:]
    got += pieces.feed(rest)
    assert got == whole
    assert all(item is TOO_LONG or (b"\n" not in item and len(item) < 32) for item in got)


@FUZZ
@given(st.booleans(), st.text(max_size=40), st.text(max_size=200), st.none() | st.text(max_size=8))
def test_any_answer_is_one_ascii_line(is_open: bool, code: str, message: str, lane: str | None):
    line = format_answer(lane, Answer(is_open, code, message))
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and line.isascii()


async def _exchange(port: int, lines: list[bytes]) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        replies = []
        for line in lines:
            writer.write(line)
            await writer.drain()
            replies.append(await asyncio.wait_for(reader.readline(), 5))
        return replies
    finally:
        writer.close()
        await writer.wait_closed()


def test_controller_end_to_end_over_a_real_socket() -> None:
    gate = Gate()

    async def scenario() -> None:
        adapter = TcpLineAdapter(gate, host="127.0.0.1", port=0)
        await adapter.start()
        try:
            replies = await _exchange(
                adapter.port,
                [
                    f"SCAN turnstile-1 L1 entry qr {QR_OK}\r\n".encode(),
                    b"SCAN turnstile-1 L2 entry qr VP1:FORGED\n",
                    b"PING\n",
                    b"BOOT v1.2\n",
                    b"SCAN " + b"x" * (MAX_LINE * 2) + b"\n",
                    b"PING\n",
                    f"SCAN turnstile-1 - exit card {CARD_OK}\n".encode(),
                ],
            )
            # Two controllers at once: each gets its own answers.
            both = await asyncio.gather(
                _exchange(adapter.port, [f"SCAN a L1 entry card {CARD_OK}\n".encode()]),
                _exchange(adapter.port, [b"SCAN b L9 entry card 999\n"]),
            )
        finally:
            await adapter.stop()
        assert replies == [
            b"OPEN L1 ok Welcome\n",
            b"DENY L2 bad_signature Ticket not valid\n",
            b"PONG\n",
            b"ERR unknown_command BOOT\n",
            f"ERR line_too_long the limit is {MAX_LINE} bytes\n".encode(),
            b"PONG\n",
            b"OPEN - ok Welcome\n",
        ]
        assert both == [[b"OPEN L1 ok Welcome\n"], [b"DENY L9 bad_signature Ticket not valid\n"]]
        assert adapter.errors == 2
        assert gate.seen[0] == Scan(
            device="turnstile-1", credential="qr", value=QR_OK, direction="entry", lane="L1"
        )
        assert gate.seen[2].direction == "exit" and gate.seen[2].credential == "card"

    run(scenario)


def test_a_failing_edge_keeps_the_gate_shut_and_the_link_up() -> None:
    async def scenario() -> list[bytes]:
        adapter = TcpLineAdapter(failing_decide, host="127.0.0.1", port=0)
        await adapter.start()
        try:
            return await _exchange(adapter.port, [b"SCAN t L1 entry qr X\n", b"PING\n"])
        finally:
            await adapter.stop()

    assert run(scenario) == [f"DENY L1 {DECIDE_FAILED} Please ask staff\n".encode(), b"PONG\n"]
