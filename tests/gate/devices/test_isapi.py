"""ISAPI event intake and door-open calls: parsing, serial gaps, fuzzing, real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.gate.devices.support import (
    CARD_OK,
    QR_OK,
    Gate,
    Terminal,
    eventually,
    run,
    serve,
)
from vistapass.gate_firmware_bridge.devices.base import Malformed
from vistapass.gate_firmware_bridge.devices.isapi import (
    DOOR_OPEN_XML,
    EVENT_PATH,
    IsapiAdapter,
    IsapiDevice,
    SerialTracker,
    extract_json,
    parse_event,
    scan_of,
)

FUZZ = settings(max_examples=200, deadline=None)
BOUNDARY = "MIME_boundary"
CST = timezone(timedelta(hours=8))


def event(serial: int, *, card: str | None = None, qr: str | None = None, **extra: Any) -> dict:
    acs: dict[str, Any] = {
        "deviceName": "East gate",
        "majorEventType": 5,
        "subEventType": 9,
        "cardReaderNo": 1,
        "serialNo": serial,
        "currentVerifyMode": "cardOrFace",
    }
    if card is not None:
        acs["cardNo"] = card
    if qr is not None:
        acs["QRCodeInfo"] = qr
    acs.update(extra)
    return {
        "ipAddress": "127.0.0.1",
        "portNo": 80,
        "protocol": "HTTP",
        "macAddress": "AC:CF:23:00:11:22",
        "channelID": 1,
        "dateTime": "2026-05-01T09:30:00+08:00",
        "activePostCount": 1,
        "eventType": "AccessControllerEvent",
        "eventState": "active",
        "eventDescription": "Access Controller Event",
        "AccessControllerEvent": acs,
    }


def multipart(payload: dict, part_name: str = "event_log") -> tuple[bytes, str]:
    """The body a terminal posts with a capture picture attached."""
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{part_name}"\r\n'
        "Content-Type: application/json\r\n\r\n"
    ).encode()
    body += json.dumps(payload).encode() + b"\r\n"
    body += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="Picture"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    body += b"\xff\xd8\xff\xe0--not-a-boundary\r\n\xff\xd9\r\n" + f"--{BOUNDARY}--\r\n".encode()
    return body, f"multipart/form-data; boundary={BOUNDARY}"


DEVICE = IsapiDevice(
    id="hik-east",
    base_url="http://10.0.0.21",
    username="admin",
    password="x",
    exit_readers=frozenset({2}),
)


def test_multipart_and_json_bodies_give_the_same_event() -> None:
    payload = event(812, qr=QR_OK)
    from_multipart = parse_event(*multipart(payload))
    from_json = parse_event(json.dumps(payload).encode(), "application/json")
    wrapped = parse_event(
        json.dumps({"EventNotificationAlert": payload}).encode(), "application/json"
    )
    assert from_multipart == from_json == wrapped
    assert from_json.serial_no == 812
    assert from_json.at == datetime(2026, 5, 1, 9, 30, tzinfo=CST)
    assert parse_event(*multipart(payload, "AccessControllerEvent")) == from_json


def test_events_become_scans() -> None:
    qr = scan_of(parse_event(*multipart(event(5, qr=QR_OK, cardNo="0"))), DEVICE)
    assert qr is not None
    assert (qr.credential, qr.value, qr.event_id, qr.direction) == (
        "qr",
        QR_OK,
        "hik-east:5",
        "entry",
    )
    card = scan_of(parse_event(*multipart(event(6, card=CARD_OK, cardReaderNo=2))), DEVICE)
    assert card is not None and (card.credential, card.direction) == ("card", "exit")
    # A reader in card mode passing QR text through cardNo.
    passed = scan_of(parse_event(*multipart(event(7, card="VP1:AB C"))), DEVICE)
    assert passed is not None and passed.credential == "qr"
    door_status = parse_event(*multipart(event(8, subEventType=21)))
    assert scan_of(door_status, DEVICE) is None


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"<EventNotificationAlert/>", "application/xml", "XML"),
        (b"{not json", "application/json", "not valid JSON"),
        (b"[1, 2]", "application/json", "not an object"),
        (b"--x\r\n\r\n{}", "multipart/form-data", "without a boundary"),
        (
            b"--b\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\r\n--b--",
            "multipart/form-data; boundary=b",
            "no JSON",
        ),
        (b"[" * 100_000, "application/json", "not valid JSON"),
    ],
)
def test_unreadable_bodies_say_why(body: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        extract_json(body, content_type)


def test_serial_tracker_tells_gaps_repeats_late_and_resets() -> None:
    tracker = SerialTracker(reset_window=100)
    assert tracker.observe("a", 10) == ("first", 0)
    assert tracker.observe("a", 11) == ("next", 0)
    assert tracker.observe("a", 15) == ("gap", 3)
    assert tracker.observe("a", 15) == ("duplicate", 0)
    assert tracker.observe("a", 12) == ("late", 0)
    assert tracker.observe("b", 1) == ("first", 0)
    assert tracker.observe("a", 16) == ("next", 0)
    tracker.observe("a", 5000)
    assert tracker.observe("a", 1) == ("reset", 0)
    assert tracker.observe("a", 2) == ("next", 0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4)
    ),
    max_leaves=20,
)


@FUZZ
@given(
    st.binary(max_size=400),
    st.sampled_from(
        ["application/json", "multipart/form-data; boundary=b", "multipart/mixed", "text/plain", ""]
    ),
)
def test_arbitrary_bodies_only_ever_raise_malformed(body: bytes, content_type: str) -> None:
    with contextlib.suppress(Malformed):
        parse_event(body, content_type)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "AccessControllerEvent",
                "dateTime",
                "ipAddress",
                "macAddress",
                "serialNo",
                "cardNo",
                "QRCodeInfo",
                "deviceID",
            ]
        ),
        json_values,
        max_size=6,
    ),
    st.dictionaries(
        st.sampled_from(["serialNo", "cardNo", "QRCodeInfo", "majorEventType", "cardReaderNo"]),
        json_values,
        max_size=5,
    ),
)
def test_odd_field_types_never_crash_the_parser(outer: dict, inner: dict) -> None:
    outer = {**outer, "AccessControllerEvent": inner}
    for body, content_type in (
        (json.dumps(outer).encode(), "application/json"),
        multipart(outer),
    ):
        parsed = parse_event(body, content_type)
        scan_of(parsed, DEVICE)


@FUZZ
@given(st.integers(0, 2**31), st.text(min_size=1, max_size=60).filter(str.isprintable))
def test_qr_text_round_trips_through_multipart(serial: int, qr: str) -> None:
    scan = scan_of(parse_event(*multipart(event(serial, qr=qr))), DEVICE)
    assert scan is not None and scan.value == qr and scan.event_id == f"hik-east:{serial}"


@FUZZ
@given(
    st.binary(max_size=300), st.sampled_from(["application/json", "multipart/mixed; boundary=b"])
)
@example(b"{}", "application/json")  # a known terminal's event with nothing to decide
def test_the_intake_answers_anything_with_a_4xx_or_200(body: bytes, content_type: str) -> None:
    adapter = IsapiAdapter(Gate(), [DEVICE])
    response = adapter.receive(body, content_type, peer="10.0.0.21")
    assert response.status_code in (200, 400, 403)


def test_terminal_end_to_end_over_real_http() -> None:
    gate = Gate()

    async def scenario() -> None:
        with Terminal() as terminal:
            device = IsapiDevice(
                id="hik-east",
                base_url=terminal.base_url,
                username=terminal.username,
                password=terminal.password,
                door=2,
            )
            adapter = IsapiAdapter(gate, [device])
            await adapter.start()
            try:
                async with serve(adapter.router()) as base, httpx.AsyncClient() as post:
                    url = base + EVENT_PATH

                    async def send(body: bytes, content_type: str) -> httpx.Response:
                        return await post.post(
                            url, content=body, headers={"Content-Type": content_type}
                        )

                    # 1. A known QR code: 200 at once, then the door-open call.
                    answer = await send(*multipart(event(100, qr=QR_OK)))
                    assert (answer.status_code, answer.text) == (200, "OK")
                    assert await asyncio.to_thread(terminal.door_opened.wait, 5)
                    assert terminal.opened == [
                        ("/ISAPI/AccessControl/RemoteControl/door/2", DOOR_OPEN_XML)
                    ]
                    assert gate.seen[0].value == QR_OK
                    assert gate.seen[0].event_id == "hik-east:100"
                    assert gate.seen[0].at == datetime(2026, 5, 1, 1, 30, tzinfo=UTC)

                    # 2. An unknown card after a gap of three events: refused, no call.
                    payload = json.dumps(event(104, card="99")).encode()
                    assert (await send(payload, "application/json")).status_code == 200
                    await eventually(lambda: adapter.stats.refused == 1)
                    assert (adapter.stats.gaps, adapter.stats.missing) == (1, 3)

                    # 3. The terminal re-sends event 104, then a late one: neither decided.
                    assert (await send(payload, "application/json")).status_code == 200
                    late = json.dumps(event(101, card=CARD_OK)).encode()
                    assert (await send(late, "application/json")).status_code == 200
                    assert (adapter.stats.duplicates, adapter.stats.late) == (1, 1)

                    # 4. Door status, garbage, and a stranger.
                    status = json.dumps(event(105, subEventType=21)).encode()
                    assert (await send(status, "application/json")).status_code == 200
                    garbage = await send(b"\x00\xffnot an event", "application/json")
                    assert garbage.status_code == 400
                    stranger = event(106, card=CARD_OK, ipAddress="10.9.9.9")
                    stranger_answer = await post.post(url, json=stranger)
                    assert stranger_answer.status_code == 200  # matched by its peer address

                    await eventually(lambda: adapter.stats.opened == 2)
            finally:
                await adapter.stop()
            assert len(gate.seen) == 3
            assert adapter.stats.malformed == 1 and adapter.stats.ignored == 1
            assert terminal.refused_auth == 1  # digest: one challenge, then reused

    run(scenario)


def test_a_terminal_that_refuses_the_password_is_a_logged_failure() -> None:
    async def scenario() -> bool:
        with Terminal() as terminal:
            device = IsapiDevice("hik-1", terminal.base_url, terminal.username, "wrong")
            adapter = IsapiAdapter(Gate(), [device])
            await adapter.start()
            try:
                opened = await adapter.open_door(device)
            finally:
                await adapter.stop()
            assert terminal.opened == []
            assert adapter.stats.open_failures == 1
            return opened

    assert run(scenario) is False


def test_unknown_terminals_are_refused() -> None:
    adapter = IsapiAdapter(Gate(), [DEVICE])
    body = json.dumps(event(1, card=CARD_OK, ipAddress="10.1.1.1")).encode()
    response = adapter.receive(body, "application/json", peer="10.1.1.1")
    assert response.status_code == 403 and adapter.stats.unknown_device == 1
