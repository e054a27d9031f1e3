"""Scan-to-open over MQTT on loopback: turnstiles, a broker, and the edge's MqttAdapter.

The broker is the one VISTAPASS_BENCH_MQTT_URL names (e.g. a park's Mosquitto,
which should run with `set_tcp_nodelay true`), else, like PostgreSQL and Redis,
an embedded one: amqtt, in this run's event loop. Each turnstile is a paho
client in its own thread, as device firmware is: it publishes a scan (QoS 1) and
waits for the command answering it before it scans again, so `turnstiles` scans
are in flight. Latency runs from its publish to the command arriving in its
client. The baseline is the same turnstiles talking to an echo subscriber that
answers every scan at once from paho's thread, with no edge: what the broker
round trip alone costs. Topics are the run's own (a fresh park name), and
nothing retained is left behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vistapass.gate_firmware_bridge.devices.base import Answer, Malformed
from vistapass.gate_firmware_bridge.devices.mqtt import (
    ROOT,
    MqttAdapter,
    command_payload,
    command_topic,
    parse_command,
    scan_topic,
)
from vistapass.platform.embedded._process import port_open

# isort: split
# Modules beside this one: bench/ is sys.path[0] when bench/gate.py runs.
from gate_devices import mqtt_device
from gate_edge import EdgeSetup
from gate_figures import Figures, Timed
from sale_figures import BenchFailure, say
from sale_server import free_port

ANSWER_TIMEOUT_S = 5.0  # a turnstile gives up on its scan after this
# Linux delays an ACK by up to 40 ms; a sender with Nagle's algorithm on waits for
# it before its next small packet. Round trips this much slower than they should
# be are that wait, and the report says where it comes from.
NAGLE_MS = 30.0
READY_TIMEOUT_S = 10.0
ECHO = Answer(open=True, code="ok", message="echo")

try:  # the embedded extra's broker, used only when the machine has none
    from amqtt.broker import Broker
except ImportError:
    Broker = None


@asynccontextmanager
async def broker() -> AsyncIterator[tuple[str, int, str]]:
    """(host, port, what it is): the named broker, or an embedded one."""
    named = os.environ.get("VISTAPASS_BENCH_MQTT_URL")
    if named:
        url = urlsplit(named)
        host, port = url.hostname or "127.0.0.1", url.port or 1883
        if not port_open(port, host, timeout=1):
            raise BenchFailure(f"no MQTT broker answers at {named} (VISTAPASS_BENCH_MQTT_URL)")
        yield host, port, f"broker at {host}:{port}"
        return
    if Broker is None:
        raise BenchFailure("amqtt (the embedded extra) is not installed")
    port = free_port()
    embedded = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {}},
        }
    )
    await embedded.start()
    try:
        yield "127.0.0.1", port, f"embedded amqtt broker on port {port}"
    finally:
        await embedded.shutdown()


def _no_delay(_client: Any, _userdata: Any, sock: Any) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _client(name: str) -> mqtt.Client:
    """A device-side client that sends each packet at once.

    paho leaves Nagle's algorithm on: a small packet written while the previous
    one is unacknowledged waits for the peer's delayed ACK (40 ms on Linux). The
    bench's own devices and echo turn it off, so that what remains is the
    broker's and the edge's doing.
    """
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{name}-{secrets.token_hex(4)}")
    client.on_socket_open = _no_delay
    return client


class Turnstile:
    """A gate on the broker: publishes scans, reads the commands on its topic.

    Its calls block, as firmware's do, so the bench runs them in threads: an
    embedded broker lives in the bench's event loop, which must keep running.
    """

    def __init__(self, host: str, port: int, park: str, device: str) -> None:
        self.host, self.port, self.park, self.device = host, port, park, device
        self.scans = scan_topic(park, device)
        self.commands: queue.Queue[tuple[str, float, str]] = queue.Queue()
        self.ready = threading.Event()
        self.client = _client(device)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_args: self.ready.set()
        self.client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        client.subscribe(command_topic(self.park, self.device), qos=1)

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        arrived = time.perf_counter()
        try:
            command = parse_command(message.payload)
        except Malformed:
            return  # not an answer of ours: the scan waiting for one times out
        self.commands.put((command.scan_id, arrived, command.code))

    def start(self) -> None:
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self.ready.wait(READY_TIMEOUT_S):
            raise BenchFailure(f"turnstile {self.device} did not get onto the broker")

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def run(self, codes: list[str], tag: str, timed: Timed) -> list[float]:
        """Scan each code in turn; the latencies of the answered ones."""
        latencies = []
        for number, code in enumerate(codes):
            scan_id = f"{self.device}-{tag}-{number}"
            body = {"id": scan_id, "credential": "qr", "value": code, "direction": "entry"}
            payload = json.dumps(body).encode()
            sent = time.perf_counter()
            self.client.publish(self.scans, payload, qos=1)
            while True:
                try:
                    answered, arrived, code_seen = self.commands.get(timeout=ANSWER_TIMEOUT_S)
                except queue.Empty:
                    timed.errors["no command"] += 1
                    break
                if answered == scan_id:
                    latencies.append(arrived - sent)
                    timed.answers[code_seen] += 1
                    break
                # Else the late answer to a scan that timed out: wait for ours.
        return latencies


class Echo:
    """Answers every scan of `park` at once, from paho's thread: the broker alone."""

    def __init__(self, host: str, port: int, park: str) -> None:
        self.park = park
        self.ready = threading.Event()
        self.client = _client("bench-echo")
        self.client.on_connect = lambda c, *_a: c.subscribe(f"{ROOT}/{park}/gate/+/scan", qos=1)
        self.client.on_subscribe = lambda *_args: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        if not self.ready.wait(READY_TIMEOUT_S):
            raise BenchFailure("the echo subscriber did not get onto the broker")

    def _on_message(self, client: mqtt.Client, _userdata: Any, message: Any) -> None:
        device = message.topic.split("/")[3]
        scan_id = json.loads(message.payload)["id"]
        client.publish(command_topic(self.park, device), command_payload(scan_id, ECHO), qos=1)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def _turnstiles(
    host: str, port: int, park: str, count: int, slices: list[list[str]], warmup: int, timed: Timed
) -> None:
    """Connect `count` turnstiles, warm them up untimed, then time the rest of `slices`."""
    gates = [Turnstile(host, port, park, mqtt_device(n + 1)) for n in range(count)]
    try:
        await asyncio.gather(*(asyncio.to_thread(gate.start) for gate in gates))
        pairs = list(zip(gates, slices, strict=True))
        warm = Timed("warm-up")
        await asyncio.gather(
            *(asyncio.to_thread(gate.run, part[:warmup], "w", warm) for gate, part in pairs)
        )
        if warm.errors:
            raise BenchFailure(f"the MQTT warm-up on {park} failed: {dict(warm.errors)}")
        started = time.perf_counter()
        results = await asyncio.gather(
            *(asyncio.to_thread(gate.run, part[warmup:], "t", timed) for gate, part in pairs)
        )
        timed.wall_s = time.perf_counter() - started
        for latencies in results:
            timed.latencies.extend(latencies)
    finally:
        for gate in gates:
            await asyncio.to_thread(gate.stop)


async def measure_mqtt(setup: EdgeSetup, turnstiles: int, warmup: int, figures: Figures) -> None:
    per_gate = len(setup.mqtt_codes) // turnstiles
    if per_gate <= warmup:
        raise BenchFailure("too few codes for the MQTT phase")
    slices = [setup.mqtt_codes[n * per_gate : (n + 1) * per_gate] for n in range(turnstiles)]
    park = setup.edge.store.park
    assert park is not None
    async with broker() as (host, port, described):
        figures.broker = described
        say(f"mqtt: {described}, {turnstiles} turnstiles")
        # The baseline first, on topics of its own, so the edge never sees its scans.
        echo = await asyncio.to_thread(Echo, host, port, f"{park.slug}-echo")
        try:
            await _turnstiles(host, port, echo.park, turnstiles, slices, warmup, figures.mqtt_echo)
        finally:
            await asyncio.to_thread(echo.stop)
        say(figures.mqtt_echo.line())
        adapter = MqttAdapter(setup.edge.decider.decide, host, port, park=park.slug)
        await adapter.start()
        try:
            if not adapter.connected:
                raise BenchFailure("the edge's MQTT adapter did not connect")
            await _turnstiles(host, port, park.slug, turnstiles, slices, warmup, figures.mqtt)
        finally:
            await adapter.stop()
        say(figures.mqtt.line())
    echo_ms, edge_ms = figures.mqtt_echo.p(0.5), figures.mqtt.p(0.5)
    if echo_ms > NAGLE_MS:
        figures.notes.append(
            f"the echo round trip alone takes {echo_ms:.0f} ms: the broker sends with Nagle's "
            "algorithm on and waits for delayed ACKs (Mosquitto: `set_tcp_nodelay true`)"
        )
    if edge_ms - echo_ms > NAGLE_MS:
        figures.notes.append(
            f"the edge adds {edge_ms - echo_ms:.0f} ms to the echo's round trip: its MQTT "
            "client sending with Nagle's algorithm on (no TCP_NODELAY) gives about 40 ms"
        )
    for timed in (figures.mqtt_echo, figures.mqtt):
        # Every code is scanned once: anything but an open command is a fault.
        if timed.errors or set(timed.answers) != {"ok"}:
            figures.problems.append(f"{timed.name}: {dict(timed.answers)}, {dict(timed.errors)}")
