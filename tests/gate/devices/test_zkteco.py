"""ZKTeco iclock push: record parsing, command queues, fuzzing, and real HTTP."""

from __future__ import annotations

import contextlib
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.gate.devices.support import CARD_OK, Gate, run, serve
from vistapass.gate_firmware_bridge.devices.base import Malformed
from vistapass.gate_firmware_bridge.devices.zkteco import (
    ICLOCK_PATH,
    RESEND_AFTER_S,
    AttlogRecord,
    WhitelistEntry,
    ZktecoAdapter,
    ZktecoDevice,
    format_commands,
    parse_attlog,
    parse_attlog_line,
    parse_command_results,
    userinfo_command,
)

FUZZ = settings(max_examples=200, deadline=None)
PARK = ZoneInfo("Asia/Shanghai")
SN = "CKJY201960021"


def test_attlog_lines() -> None:
    record = parse_attlog_line(f"{CARD_OK}\t2026-05-01 09:30:05\t0\t4\t0\t0\t0\r", PARK)
    assert record == AttlogRecord(CARD_OK, datetime(2026, 5, 1, 9, 30, 5, tzinfo=PARK), 0, 4)
    assert parse_attlog_line("77\t2026-05-01 09:30:05").verify == 0
    records, rejected = parse_attlog(
        "1\t2026-05-01 08:00:00\t0\t1\n\nbad line\n2\t2026-13-01 08:00:00\t0\t1\n", PARK
    )
    assert [r.pin for r in records] == ["1"]
    assert rejected == [
        "an ATTLOG record has at least a PIN and a time",
        "the time is not YYYY-MM-DD HH:MM:SS",
    ]


def test_command_results_and_commands() -> None:
    assert [
        (r.id, r.code)
        for r in parse_command_results("ID=3&Return=0&CMD=DATA\nID=4&Return=-1002&CMD=DATA\n")
    ] == [
        (3, 0),
        (4, -1002),
    ]
    with pytest.raises(Malformed, match="ID and Return"):
        parse_command_results("Return=0")
    assert userinfo_command(WhitelistEntry("42", "Li\tLei\nX")) == (
        "DATA UPDATE USERINFO PIN=42\tName=Li Lei X\tPri=0\tPasswd=\tCard=42\tGrp=1"
    )
    assert format_commands([(1, "A"), (2, "B")]) == "C:1:A\nC:2:B\n"
    with pytest.raises(ValueError, match="not a PIN"):
        userinfo_command(WhitelistEntry("12\t34"))


@FUZZ
@given(st.text(max_size=120))
def test_arbitrary_record_lines_only_ever_raise_malformed(line: str) -> None:
    with contextlib.suppress(Malformed):
        parse_attlog_line(line, PARK)
    with contextlib.suppress(Malformed):
        parse_command_results(line)


@FUZZ
@given(
    st.from_regex(r"[0-9]{1,10}", fullmatch=True),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    st.integers(0, 5),
    st.integers(0, 30),
)
def test_records_round_trip(pin: str, when: datetime, status: int, verify: int) -> None:
    line = f"{pin}\t{when:%Y-%m-%d %H:%M:%S}\t{status}\t{verify}\t0\t0\t0"
    record = parse_attlog_line(line, PARK)
    assert record == AttlogRecord(pin, when.replace(microsecond=0, tzinfo=PARK), status, verify)


@FUZZ
@given(st.text(max_size=80))
def test_any_name_stays_inside_its_field(name: str) -> None:
    command = userinfo_command(WhitelistEntry("7", name))
    assert "\n" not in command and "\r" not in command
    assert command.count("\t") == 5


@FUZZ
@given(st.binary(max_size=200))
def test_any_command_result_body_is_acknowledged(body: bytes) -> None:
    adapter = ZktecoAdapter(Gate(), [ZktecoDevice(SN)])
    assert adapter.on_results(SN, {}, body) == "OK"


def test_terminal_end_to_end_over_real_http() -> None:
    gate = Gate()
    adapter = ZktecoAdapter(gate, [ZktecoDevice(SN, direction="entry", lane="L3")], tz=PARK)

    async def scenario() -> None:
        await adapter.start()
        async with serve(adapter.router()) as base, httpx.AsyncClient() as terminal:
            iclock = base + ICLOCK_PATH

            # Handshake: the terminal learns how to talk to us.
            hello = await terminal.get(f"{iclock}/cdata", params={"SN": SN, "options": "all"})
            assert hello.status_code == 200
            assert hello.text.startswith(f"GET OPTION FROM: {SN}\r\n")
            assert "Realtime=1" in hello.text and "ATTLOGStamp=None" in hello.text

            # Whitelist sync: queued, handed out on the poll, confirmed by devicecmd.
            assert (await terminal.get(f"{iclock}/getrequest", params={"SN": SN})).text == "OK"
            ids = adapter.queue_whitelist(SN, [WhitelistEntry(CARD_OK, "Ana")])
            removed = adapter.queue_removal(SN, ["555"])
            poll = await terminal.get(f"{iclock}/getrequest", params={"SN": SN})
            assert poll.text == (
                f"C:{ids[0]}:DATA UPDATE USERINFO PIN={CARD_OK}\tName=Ana\tPri=0\tPasswd="
                f"\tCard={CARD_OK}\tGrp=1\nC:{removed[0]}:DATA DELETE USERINFO PIN=555\n"
            )
            assert adapter.pending(SN) == 2
            done = await terminal.post(
                f"{iclock}/devicecmd",
                params={"SN": SN},
                content=f"ID={ids[0]}&Return=0&CMD=DATA\nID={removed[0]}&Return=-1&CMD=DATA\n",
            )
            assert done.text == "OK" and adapter.pending(SN) == 0
            assert (adapter.stats.commands_ok, adapter.stats.commands_failed) == (1, 1)

            # Records: the whitelisted card and one the edge refuses, plus a broken line.
            upload = (
                f"{CARD_OK}\t2026-05-01 09:30:05\t0\t4\t0\t0\t0\n"
                "31337\t2026-05-01 09:30:09\t0\t4\t0\t0\t0\n"
                "garbage\n"
            )
            params = {"SN": SN, "table": "ATTLOG", "Stamp": "9000"}
            posted = await terminal.post(f"{iclock}/cdata", params=params, content=upload)
            assert (posted.status_code, posted.text) == (200, "OK: 3")
            again = await terminal.post(f"{iclock}/cdata", params=params, content=upload)
            assert again.text == "OK: 3"
            photo = await terminal.post(
                f"{iclock}/cdata", params={"SN": SN, "table": "OPERLOG"}, content="OPLOG 4\t0\n"
            )
            assert photo.text == "OK: 1"

            hello = await terminal.get(f"{iclock}/cdata", params={"SN": SN, "options": "all"})
            assert "ATTLOGStamp=9000" in hello.text

            stranger = await terminal.get(f"{iclock}/getrequest", params={"SN": "OTHER1"})
            assert stranger.status_code == 403
            nameless = await terminal.get(f"{iclock}/getrequest")
            assert nameless.status_code == 400
        await adapter.stop()

    run(scenario)
    assert [(s.value, s.credential, s.lane, s.device) for s in gate.seen] == [
        (CARD_OK, "card", "L3", SN),
        ("31337", "card", "L3", SN),
    ]
    assert gate.seen[0].at == datetime(2026, 5, 1, 9, 30, 5, tzinfo=PARK)
    assert gate.seen[0].event_id == f"{SN}:{CARD_OK}:20260501T093005"
    assert adapter.stats.records == 2 and adapter.stats.duplicates == 2
    assert adapter.stats.admitted_but_refused == 1 and adapter.stats.rejected_lines == 2


def test_queueing_for_an_unconfigured_terminal_fails_loudly() -> None:
    adapter = ZktecoAdapter(Gate(), [ZktecoDevice(SN)])
    with pytest.raises(KeyError):
        adapter.queue_whitelist("NOPE", [WhitelistEntry("1")])


def test_a_command_the_terminal_never_reports_on_is_sent_again() -> None:
    """A terminal that rebooted (or lost its answer) after taking a command gets it
    again at a poll RESEND_AFTER_S later, under the same id; the rest wait behind it."""
    clock = [1000.0]
    adapter = ZktecoAdapter(Gate(), [ZktecoDevice(SN)], tz=PARK, monotonic=lambda: clock[0])

    async def scenario() -> None:
        async with serve(adapter.router()) as base, httpx.AsyncClient() as terminal:
            iclock = base + ICLOCK_PATH

            async def poll() -> str:
                return (await terminal.get(f"{iclock}/getrequest", params={"SN": SN})).text

            [first] = adapter.queue_whitelist(SN, [WhitelistEntry(CARD_OK, "Ana")])
            sent = await poll()
            assert sent.startswith(f"C:{first}:DATA UPDATE USERINFO PIN={CARD_OK}")
            [later] = adapter.queue_removal(SN, ["555"])
            clock[0] += RESEND_AFTER_S - 1
            assert await poll() == f"C:{later}:DATA DELETE USERINFO PIN=555\n"
            assert adapter.pending(SN) == 2 and adapter.stats.commands_resent == 0
            clock[0] += 1  # the first is unanswered for RESEND_AFTER_S now
            assert await poll() == sent
            assert adapter.stats.commands_resent == 1 and adapter.pending(SN) == 2
            body = f"ID={first}&Return=0&CMD=DATA\nID={later}&Return=0&CMD=DATA\n"
            await terminal.post(f"{iclock}/devicecmd", params={"SN": SN}, content=body)
            assert adapter.pending(SN) == 0 and adapter.stats.commands_ok == 2
            # The answer to the first sending, arriving at last, is one too many.
            late = f"ID={first}&Return=0&CMD=DATA\n"
            await terminal.post(f"{iclock}/devicecmd", params={"SN": SN}, content=late)
            assert adapter.stats.unknown_results == 1 and adapter.stats.commands_ok == 2
            clock[0] += RESEND_AFTER_S * 2
            assert await poll() == "OK"

    run(scenario)
