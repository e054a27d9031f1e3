"""The MQTT gate profile: payload parsing, fuzzing, and a real broker end to end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import secrets
import threading
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from tests.gate.devices.support import QR_OK, Gate, eventually, mqtt_broker, run
from vistapass.gate_firmware_bridge.devices.base import Answer, Malformed, Scan
from vistapass.gate_firmware_bridge.devices.mqtt import (
    Command,
    MqttAdapter,
    command_payload,
    command_topic,
    parse_command,
    parse_scan,
    parse_topic,
    scan_topic,
    status_topic,
)

FUZZ = settings(max_examples=200, deadline=None)


def test_scan_payloads() -> None:
    payload = json.dumps(
        {
            "id": "s-1",
            "credential": "qr",
            "value": QR_OK,
            "direction": "exit",
            "lane": "L2",
            "at": "2026-05-01T09:30:00+08:00",
        }
    ).encode()
    scan = parse_scan("ts-1", payload)
    assert scan == Scan(
        device="ts-1",
        credential="qr",
        value=QR_OK,
        direction="exit",
        lane="L2",
        event_id="s-1",
        at=datetime(2026, 5, 1, 1, 30, tzinfo=UTC),
    )
    minimal = parse_scan("ts-1", b'{"id": "2", "credential": "card", "value": "42"}')
    assert (minimal.direction, minimal.lane, minimal.at) == ("entry", None, None)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"credential": "qr", "value": "x"}', "id must be"),
        (b'{"id": "1", "credential": "face", "value": "x"}', "credential"),
        (b'{"id": "1", "credential": "qr", "value": ""}', "value must be"),
        (b'{"id": "1", "credential": "qr", "value": "x", "direction": "up"}', "direction"),
        (b'{"id": "1", "credential": "qr", "value": "x", "at": "09:30"}', "ISO 8601"),
        (b'{"id": "1", "credential": "qr", "value": "x", "at": "2026-05-01T09:30"}', "offset"),
        (b"[" * 5000, "not JSON"),
        (b"{" * 50_000, "too large"),
    ],
)
def test_bad_scans_say_why(payload: bytes, reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        parse_scan("ts-1", payload)


def test_topics() -> None:
    assert scan_topic("alpha", "ts-1") == "vistapass/alpha/gate/ts-1/scan"
    assert parse_topic("vistapass/alpha/gate/ts-1/status", "alpha") == ("ts-1", "status")
    for topic in ("vistapass/beta/gate/ts-1/scan", "vistapass/alpha/gate/ts-1/command", "x"):
        with pytest.raises(Malformed):
            parse_topic(topic, "alpha")
    with pytest.raises(Malformed):
        command_topic("alpha", "a/b")


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_payloads_only_ever_raise_malformed(payload: bytes) -> None:
    with contextlib.suppress(Malformed):
        parse_scan("ts-1", payload)
    with contextlib.suppress(Malformed):
        parse_command(payload)


@FUZZ
@given(st.text(max_size=80))
def test_arbitrary_topics_only_ever_raise_malformed(topic: str) -> None:
    with contextlib.suppress(Malformed):
        parse_topic(topic, "alpha")


@FUZZ
@given(st.text(min_size=1, max_size=40), st.booleans(), st.text(max_size=30), st.text(max_size=60))
def test_commands_round_trip(scan_id: str, is_open: bool, code: str, message: str) -> None:
    payload = command_payload(scan_id, Answer(is_open, code, message))
    assert parse_command(payload) == Command(scan_id, is_open, code, message)


class Turnstile:
    """A gate device on the broker: publishes scans and its status, reads its commands.

    Its calls block (as a device's firmware would), so tests run them in a thread:
    the embedded broker shares the test's event loop and must keep running.
    """

    def __init__(self, host: str, port: int, park: str, device: str) -> None:
        self.host, self.port, self.park, self.device = host, port, park, device
        self.commands: queue.Queue[Command] = queue.Queue()
        self.ready = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{device}-{secrets.token_hex(4)}"
        )
        self.client.will_set(status_topic(park, device), "offline", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        client.subscribe(command_topic(self.park, self.device), qos=1)

    def _on_subscribe(self, client: mqtt.Client, *_args: Any) -> None:
        client.publish(status_topic(self.park, self.device), "online", qos=1, retain=True)
        self.ready.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: Any) -> None:
        self.commands.put(parse_command(message.payload))

    def start(self) -> None:
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        assert self.ready.wait(5), "the turnstile did not get onto the broker"

    def publish(self, payload: bytes) -> None:
        self.client.publish(scan_topic(self.park, self.device), payload, qos=1).wait_for_publish(5)

    def scan(self, scan_id: str, credential: str, value: str, **extra: Any) -> None:
        body = {"id": scan_id, "credential": credential, "value": value, **extra}
        self.publish(json.dumps(body).encode())

    async def command(self) -> Command:
        return await asyncio.to_thread(self.commands.get, timeout=5)

    def lose_power(self) -> None:
        """Drop off without a DISCONNECT, so the broker publishes the last will."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _clear_retained(host: str, port: int, topic: str) -> None:
    cleaner = mqtt.Client(CallbackAPIVersion.VERSION2)
    cleaner.connect(host, port)
    cleaner.loop_start()
    cleaner.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
    cleaner.disconnect()
    cleaner.loop_stop()


@pytest.mark.parametrize("embedded", [False, True], ids=["machine-broker", "embedded-broker"])
def test_turnstile_end_to_end_through_a_real_broker(embedded: bool) -> None:
    gate = Gate()
    park = f"t{secrets.token_hex(4)}"  # its own topics: retained status cannot leak between runs

    async def scenario() -> None:
        async with mqtt_broker(embedded) as (host, port):
            adapter = MqttAdapter(gate, host, port, park)
            await adapter.start()
            turnstile = Turnstile(host, port, park, "ts-1")
            try:
                assert adapter.connected
                await asyncio.to_thread(turnstile.start)
                await eventually(lambda: adapter.device_status.get("ts-1") == "online")

                await asyncio.to_thread(
                    turnstile.scan, "s-1", "qr", QR_OK, lane="L1", at="2026-05-01T09:30:00+08:00"
                )
                assert await turnstile.command() == Command("s-1", True, "ok", "Welcome")
                await asyncio.to_thread(turnstile.scan, "s-2", "card", "999", direction="exit")
                assert await turnstile.command() == Command(
                    "s-2", False, "bad_signature", "Ticket not valid"
                )
                # Garbage gets no answer; the next good scan is answered as usual.
                await asyncio.to_thread(turnstile.publish, b"\x00garbage")
                await asyncio.to_thread(turnstile.scan, "s-3", "qr", QR_OK)
                assert (await turnstile.command()).scan_id == "s-3"
                assert adapter.stats.malformed == 1 and adapter.stats.commands == 3

                await asyncio.to_thread(turnstile.lose_power)
                await eventually(lambda: adapter.device_status.get("ts-1") == "offline")
                await asyncio.to_thread(_clear_retained, host, port, status_topic(park, "ts-1"))
                await eventually(lambda: "ts-1" not in adapter.device_status)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(turnstile.stop)
                await adapter.stop()
        assert gate.seen[0] == Scan(
            device="ts-1",
            credential="qr",
            value=QR_OK,
            lane="L1",
            event_id="s-1",
            at=datetime(2026, 5, 1, 1, 30, tzinfo=UTC),
        )
        assert (gate.seen[1].direction, gate.seen[1].credential) == ("exit", "card")
        assert len(gate.seen) == 3

    run(scenario)


def test_an_unreachable_broker_does_not_stop_the_edge() -> None:
    async def scenario() -> bool:
        adapter = MqttAdapter(Gate(), "127.0.0.1", 1, "alpha", connect_timeout=0.5)
        await adapter.start()
        connected = adapter.connected
        await adapter.stop()
        return connected

    assert run(scenario) is False
