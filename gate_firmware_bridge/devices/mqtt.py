"""Our MQTT gate profile: IoT turnstiles talk to the edge through the park's broker.

Topics, per park and device (`<park>` and `<device>`: letters, digits, `_ . : -`):

- `vistapass/<park>/gate/<device>/scan`, device → edge, QoS 1, JSON
  `{"id": "<the device's scan id>", "credential": "qr"|"card"|"id_card",
    "value": "<text>", "direction": "entry"|"exit", "lane": "<lane>"|null,
    "at": "<ISO 8601 with offset>"|null, "document": "<ID number>"|null}`;
  `id`, `credential` and `value` are required, `direction` defaults to entry.
- `vistapass/<park>/gate/<device>/command`, edge → device, QoS 1, not retained,
  JSON `{"scan_id": "<id>", "open": true|false, "code": "ok"|"<why not>",
  "message": "<display text>"}`. `scan_id` repeats the scan's `id`, so a device
  (and the benchmark) pairs every answer with its scan and can time it.
- `vistapass/<park>/gate/<device>/status`, device → broker, retained,
  `online` when it connects and `offline` as its last will; the adapter keeps
  the latest in `device_status` for the edge's status page (an empty retained
  message, which clears the status, removes the device from it).

A payload that is not valid gets no answer: it is logged, counted and dropped,
and the gate stays shut (devices time out on their own).

The client is paho-mqtt 2.x. Its network loop runs in paho's own thread
(`loop_start`); messages hop into the edge's asyncio loop with
`loop.call_soon_threadsafe`, and answers are published from the loop (paho's
`publish` is thread-safe). aiomqtt would only wrap the same library; this keeps
one dependency and no second event-loop integration. Sessions are clean: a scan
that waited through a broker outage is stale by the time it could be answered.

Public surface: `MqttAdapter(decide, host, port, park)` with `start()`, `stop()`,
`connected`, `device_status` and `stats`; the pure `scan_topic`, `command_topic`,
`status_topic`, `parse_topic`, `parse_scan`, `command_payload` and `parse_command`.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vistapass.gate_firmware_bridge.devices import decide_safely
from vistapass.gate_firmware_bridge.devices.base import Answer, Decide, Malformed, Scan
from vistapass.platform.logging import get_logger

log = get_logger(__name__)

ROOT = "vistapass"
_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MAX_PAYLOAD = 8 * 1024
MAX_VALUE = 2048
CONNECT_TIMEOUT = 10.0
_CREDENTIALS = ("qr", "card", "id_card")
_STATUSES = ("online", "offline")


@dataclass(frozen=True, slots=True)
class Command:
    scan_id: str
    open: bool
    code: str
    message: str


@dataclass(slots=True)
class MqttStats:
    scans: int = 0
    commands: int = 0
    malformed: int = 0
    publish_failures: int = 0


def _name(value: str, what: str) -> str:
    if not _NAME.fullmatch(value):
        raise Malformed(f"the {what} name {value[:64]!r} is not allowed in a topic")
    return value


def scan_topic(park: str, device: str) -> str:
    return f"{ROOT}/{_name(park, 'park')}/gate/{_name(device, 'device')}/scan"


def command_topic(park: str, device: str) -> str:
    return f"{ROOT}/{_name(park, 'park')}/gate/{_name(device, 'device')}/command"


def status_topic(park: str, device: str) -> str:
    return f"{ROOT}/{_name(park, 'park')}/gate/{_name(device, 'device')}/status"


def parse_topic(topic: str, park: str) -> tuple[str, str]:
    """(device, kind) of a gate topic of this park; kind is `scan` or `status`."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != ROOT or parts[1] != park or parts[2] != "gate":
        raise Malformed("not a gate topic of this park")
    if parts[4] not in ("scan", "status"):
        raise Malformed("not a topic devices publish to")
    return _name(parts[3], "device"), parts[4]


def _text(data: dict[str, Any], key: str, limit: int, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        raise Malformed(f"{key} must be printable text of 1 to {limit} characters")
    return value


def parse_scan(device: str, payload: bytes) -> Scan:
    """The scan a device published. Raises `Malformed` with the first problem found."""
    if len(payload) > MAX_PAYLOAD:
        raise Malformed("the scan payload is too large")
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        raise Malformed("the scan payload is not JSON") from None
    if not isinstance(data, dict):
        raise Malformed("the scan payload is not a JSON object")
    scan_id = _text(data, "id", 128, required=True)
    credential = data.get("credential")
    if credential not in _CREDENTIALS:
        raise Malformed("credential must be qr, card or id_card")
    value = _text(data, "value", MAX_VALUE, required=True)
    direction = data.get("direction", "entry")
    if direction not in ("entry", "exit"):
        raise Malformed("direction must be entry or exit")
    at_text = _text(data, "at", 64)
    at = None
    if at_text is not None:
        try:
            at = datetime.fromisoformat(at_text)
        except ValueError:
            raise Malformed("at must be an ISO 8601 time") from None
        if at.tzinfo is None:
            raise Malformed("at must carry its UTC offset")
    assert value is not None
    return Scan(
        device=device,
        credential=credential,
        value=value,
        direction=direction,
        lane=_text(data, "lane", 64),
        event_id=scan_id,
        at=at,
        document=_text(data, "document", 64),
    )


def command_payload(scan_id: str | None, answer: Answer) -> bytes:
    body = {"scan_id": scan_id, "open": answer.open, "code": answer.code, "message": answer.message}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def parse_command(payload: bytes) -> Command:
    """What a device reads from its command topic (the simulator and tests use it)."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        raise Malformed("the command is not JSON") from None
    if not isinstance(data, dict):
        raise Malformed("the command is not a JSON object")
    scan_id, is_open = data.get("scan_id"), data.get("open")
    code, message = data.get("code"), data.get("message", "")
    if not isinstance(scan_id, str) or not isinstance(is_open, bool):
        raise Malformed("a command carries a scan_id and open")
    if not isinstance(code, str) or not isinstance(message, str):
        raise Malformed("a command's code and message are text")
    return Command(scan_id, is_open, code, message)


def _no_delay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    """Send each small command at once: with Nagle's algorithm a gate's open command
    waits for the broker's delayed ACK, some 40 ms on Linux, at every scan."""
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class MqttAdapter:
    """Subscribes to one park's gate scans and publishes the edge's answers."""

    def __init__(
        self,
        decide: Decide,
        host: str = "127.0.0.1",
        port: int = 1883,
        park: str = "demo",
        *,
        username: str | None = None,
        password: str | None = None,
        client_id: str | None = None,
        keepalive: int = 30,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.decide = decide
        self.host = host
        self.port = port
        self.park = _name(park, "park")
        self.keepalive = keepalive
        self.connect_timeout = connect_timeout
        self.device_status: dict[str, str] = {}
        self.stats = MqttStats()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"vistapass-edge-{park}-{secrets.token_hex(4)}",
            clean_session=True,
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
        self._client.on_socket_open = _no_delay
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribed: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        return self._client.is_connected() and bool(self._subscribed and self._subscribed.is_set())

    async def start(self) -> None:
        """Connect and subscribe; a broker that is not up yet is retried in the background."""
        self._loop = asyncio.get_running_loop()
        self._subscribed = asyncio.Event()
        self._client.connect_async(self.host, self.port, self.keepalive)
        self._client.loop_start()
        try:
            await asyncio.wait_for(self._subscribed.wait(), self.connect_timeout)
        except TimeoutError:
            log.warning("gate.mqtt.not_connected_yet", host=self.host, port=self.port)

    async def stop(self) -> None:
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._loop = None

    # paho's thread ----------------------------------------------------------------

    def _call_in_loop(self, callback: Any, *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # stopping: nobody is left to answer
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            return  # the loop closed between the check and the call

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("gate.mqtt.connect_refused", reason=str(reason))
            return
        # Subscribing on every (re)connect: a clean session forgets subscriptions.
        client.subscribe(
            [(f"{ROOT}/{self.park}/gate/+/scan", 1), (f"{ROOT}/{self.park}/gate/+/status", 1)]
        )

    def _on_subscribe(self, _c: Any, _u: Any, _mid: Any, reasons: Any, _p: Any) -> None:
        if any(reason.is_failure for reason in reasons):
            log.error("gate.mqtt.subscribe_refused", reasons=[str(r) for r in reasons])
            return
        if self._subscribed is not None:
            self._call_in_loop(self._subscribed.set)

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self._subscribed is not None:
            self._call_in_loop(self._subscribed.clear)
        if reason.is_failure:
            log.warning("gate.mqtt.disconnected", reason=str(reason))

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        self._call_in_loop(self._dispatch, message.topic, bytes(message.payload))

    # the edge's loop ----------------------------------------------------------------

    def _dispatch(self, topic: str, payload: bytes) -> None:
        try:
            device, kind = parse_topic(topic, self.park)
        except Malformed as exc:
            self.stats.malformed += 1
            log.warning("gate.mqtt.bad_topic", topic=topic[:200], reason=exc.reason)
            return
        if kind == "status":
            status = payload.decode("utf-8", errors="replace").strip()
            if not payload:
                self.device_status.pop(device, None)  # its retained status was cleared
            elif status in _STATUSES:
                self.device_status[device] = status
            else:
                self.stats.malformed += 1
                log.warning("gate.mqtt.bad_status", device=device, status=status[:32])
            return
        task = asyncio.get_running_loop().create_task(self._answer(device, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, device: str, payload: bytes) -> None:
        try:
            scan = parse_scan(device, payload)
        except Malformed as exc:
            self.stats.malformed += 1
            log.warning("gate.mqtt.malformed_scan", device=device, reason=exc.reason)
            return
        self.stats.scans += 1
        answer = await decide_safely(self.decide, scan)
        info = self._client.publish(
            command_topic(self.park, device), command_payload(scan.event_id, answer), qos=1
        )
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.stats.publish_failures += 1
            log.error("gate.mqtt.publish_failed", device=device, rc=info.rc)
            return
        self.stats.commands += 1
