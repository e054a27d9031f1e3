"""Hikvision ISAPI-style access-control terminals: event intake and door-open calls.

A terminal is set up (ISAPI `/ISAPI/Event/notification/httpHosts`) to POST its
events to the edge, which mounts `IsapiAdapter.router()` (by default at
`/isapi/events`). The body is either JSON, or multipart/form-data whose part named
`event_log` (some firmware: `AccessControllerEvent`) holds the JSON and whose other
parts are pictures, ignored here. The JSON is shaped like

    {"ipAddress": "10.0.0.21", "macAddress": "..", "dateTime": "2026-05-01T09:30:00+08:00",
     "eventType": "AccessControllerEvent",
     "AccessControllerEvent": {"deviceName": "..", "majorEventType": 5, "subEventType": 9,
        "cardNo": "1234567", "QRCodeInfo": "VP1:..", "cardReaderNo": 1, "serialNo": 812}}

sometimes wrapped in `{"EventNotificationAlert": {...}}`. An event carrying a QR
text (`QRCodeInfo`) or a card number (`cardNo`) is a scan: an all-digit `cardNo`
is a card, anything else a QR code read by a reader set to report it as a card.
Other events (door status, heartbeats, face/fingerprint matches without a card)
get 200 and are ignored. The terminal does not hold our tickets, so it refuses
every code by itself and reports it; the gate opens only by our door-open call.

`serialNo` counts the terminal's events. The adapter keeps the last one per
device: a jump is a gap (logged and counted: events the terminal never sent
us), a repeat is the terminal re-sending after a lost answer (not decided
twice), an older number is a late re-upload (logged, not decided: whoever
scanned is long gone), and a fall by more than `RESET_WINDOW` means the terminal
was reset, so counting starts again.

The HTTP answer goes out first (200 `OK`); deciding and the door-open call run
right after it, so a slow decision never makes the terminal re-send. On `open`
the adapter calls `PUT <base_url>/ISAPI/AccessControl/RemoteControl/door/<door>`
with `<RemoteControlDoor><cmd>open</cmd></RemoteControlDoor>` and HTTP digest
auth. A refusal sends nothing: the door stays shut.

Public surface: `IsapiDevice`, `IsapiAdapter(decide, devices)` with `router()`,
`start()`, `stop()`, `open_door()` and `stats`; the pure `extract_json`,
`parse_event`, `scan_of` and `SerialTracker`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from litestar import Request, Response, Router, post
from litestar.background_tasks import BackgroundTask

from vistapass.gate_firmware_bridge.devices import decide_safely
from vistapass.gate_firmware_bridge.devices.base import (
    Credential,
    Decide,
    Direction,
    Malformed,
    Scan,
)
from vistapass.platform.logging import get_logger

log = get_logger(__name__)

EVENT_PATH = "/isapi/events"
JSON_PART_NAMES = ("event_log", "AccessControllerEvent")
MAX_BODY = 4 * 1024 * 1024  # a capture picture rides along; more is not an event
MAX_JSON = 256 * 1024
RESET_WINDOW = 1000
DOOR_TIMEOUT = 3.0  # seconds; a person is waiting at the gate
DOOR_OPEN_XML = b"<RemoteControlDoor><cmd>open</cmd></RemoteControlDoor>"


@dataclass(frozen=True, slots=True)
class IsapiDevice:
    """One terminal as the edge's configuration knows it."""

    id: str  # the device id the edge uses in scans and its log
    base_url: str  # where its ISAPI answers, e.g. http://10.0.0.21
    username: str
    password: str
    door: int = 1
    direction: Direction = "entry"
    exit_readers: frozenset[int] = frozenset()  # cardReaderNo values that face the way out
    lane: str | None = None
    mac: str | None = None  # matched too, for terminals behind address translation

    def match_keys(self) -> set[str]:
        host = urlsplit(self.base_url).hostname or ""
        return {k.lower() for k in (self.id, host, self.mac or "") if k}


@dataclass(frozen=True, slots=True)
class IsapiEvent:
    event_type: str | None
    ip_address: str | None
    mac_address: str | None
    device_id: str | None
    at: datetime | None
    major: int | None
    minor: int | None
    serial_no: int | None
    card_no: str | None
    qr: str | None
    card_reader_no: int | None


@dataclass(slots=True)
class IsapiStats:
    events: int = 0
    scans: int = 0
    ignored: int = 0
    malformed: int = 0
    unknown_device: int = 0
    gaps: int = 0
    missing: int = 0  # serial numbers never received, summed over gaps
    duplicates: int = 0
    late: int = 0
    resets: int = 0
    opened: int = 0
    refused: int = 0
    open_failures: int = 0


def _boundary(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary":
            value = value.strip().strip('"')
            return value or None
    return None


def _parts(body: bytes, boundary: str) -> Iterable[tuple[dict[str, str], bytes]]:
    for chunk in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        if chunk.startswith(b"--"):
            return  # the closing delimiter
        head, sep, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            continue
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        yield headers, content.removesuffix(b"\r\n")


def _part_name(disposition: str) -> str | None:
    for param in disposition.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "name":
            return value.strip().strip('"')
    return None


def extract_json(body: bytes, content_type: str) -> dict[str, Any]:
    """The event's JSON object from a JSON or multipart/form-data (or mixed) body."""
    if len(body) > MAX_BODY:
        raise Malformed("the body is too large for an event")
    kind = content_type.split(";")[0].strip().lower()
    raw = body
    if kind.startswith("multipart/"):
        boundary = _boundary(content_type)
        if not boundary:
            raise Malformed("a multipart body without a boundary")
        named = fallback = None
        for headers, content in _parts(body, boundary):
            name = _part_name(headers.get("content-disposition", ""))
            if name in JSON_PART_NAMES:
                named = content
                break
            if fallback is None and (
                "json" in headers.get("content-type", "") or content.lstrip().startswith(b"{")
            ):
                fallback = content
        raw = named if named is not None else fallback
        if raw is None:
            raise Malformed("no JSON event part in the multipart body")
    elif raw.lstrip().startswith(b"<"):
        raise Malformed("XML event notifications are not read; set the HTTP host to JSON")
    if len(raw) > MAX_JSON:
        raise Malformed("the event JSON is too large")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise Malformed("the event is not valid JSON") from None
    if isinstance(data, dict) and isinstance(data.get("EventNotificationAlert"), dict):
        data = data["EventNotificationAlert"]
    if not isinstance(data, dict):
        raise Malformed("the event JSON is not an object")
    return data


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def _str(value: object, limit: int = 4096) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # some firmware sends cardNo as a number
    if isinstance(value, str) and value and len(value) <= limit and value.isprintable():
        return value
    return None


def _when(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None  # a time without its zone is no fact


def parse_event(body: bytes, content_type: str) -> IsapiEvent:
    """Read one event notification. Raises `Malformed` when it cannot be read at all."""
    data = extract_json(body, content_type)
    inner = data.get("AccessControllerEvent")
    acs: dict[str, Any] = inner if isinstance(inner, dict) else {}
    mac = _str(data.get("macAddress"), 64)
    return IsapiEvent(
        event_type=_str(data.get("eventType"), 64),
        ip_address=_str(data.get("ipAddress"), 64),
        mac_address=mac.lower() if mac else None,
        device_id=_str(data.get("deviceID"), 128),
        at=_when(data.get("dateTime")),
        major=_int(acs.get("majorEventType")),
        minor=_int(acs.get("subEventType")),
        serial_no=_int(acs.get("serialNo")),
        card_no=_str(acs.get("cardNo"), 256),
        qr=_str(acs.get("QRCodeInfo")),
        card_reader_no=_int(acs.get("cardReaderNo")),
    )


def credential_of(event: IsapiEvent) -> tuple[Credential, str] | None:
    if event.qr:
        return "qr", event.qr
    if event.card_no and event.card_no != "0":
        return ("card" if event.card_no.isdigit() else "qr"), event.card_no
    return None


def scan_of(event: IsapiEvent, device: IsapiDevice) -> Scan | None:
    """The scan an event reports, or None when it is not a scan (door status, heartbeat)."""
    found = credential_of(event)
    if found is None:
        return None
    credential, value = found
    exit_reader = event.card_reader_no is not None and event.card_reader_no in device.exit_readers
    return Scan(
        device=device.id,
        credential=credential,
        value=value,
        direction="exit" if exit_reader else device.direction,
        lane=device.lane,
        event_id=f"{device.id}:{event.serial_no}" if event.serial_no is not None else None,
        at=event.at,
    )


Observation = Literal["first", "next", "gap", "duplicate", "late", "reset"]


@dataclass(slots=True)
class SerialTracker:
    """The last `serialNo` per device, to tell gaps, repeats and late re-uploads apart."""

    reset_window: int = RESET_WINDOW
    last: dict[str, int] = field(default_factory=dict)

    def observe(self, device: str, serial: int) -> tuple[Observation, int]:
        """What this serial number means, and how many numbers were skipped before it."""
        previous = self.last.get(device)
        if previous is None:
            self.last[device] = serial
            return "first", 0
        if serial == previous:
            return "duplicate", 0
        if serial > previous:
            self.last[device] = serial
            missing = serial - previous - 1
            return ("gap" if missing else "next"), missing
        if previous - serial > self.reset_window:
            self.last[device] = serial
            return "reset", 0
        return "late", 0


class IsapiAdapter:
    """Event intake for ISAPI terminals, and the door-open calls back to them."""

    def __init__(
        self,
        decide: Decide,
        devices: Iterable[IsapiDevice],
        path: str = EVENT_PATH,
        door_timeout: float = DOOR_TIMEOUT,
    ) -> None:
        self.decide = decide
        self.path = path
        self.door_timeout = door_timeout
        self.set_devices(devices)
        self._client: httpx.AsyncClient | None = None
        self.serials = SerialTracker()
        self.stats = IsapiStats()

    def set_devices(self, devices: Iterable[IsapiDevice]) -> None:
        """The terminals the edge's configuration lists now (it changes with each sync)."""
        self.devices = list(devices)
        self._by_key = {key: device for device in self.devices for key in device.match_keys()}
        self._auth = {d.id: httpx.DigestAuth(d.username, d.password) for d in self.devices}

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.door_timeout)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def router(self) -> Router:
        """The Litestar router the edge mounts; terminals POST their events to `path`."""
        adapter = self

        @post("/", status_code=200, request_max_body_size=MAX_BODY)
        async def receive_event(request: Request[Any, Any, Any]) -> Response[str]:
            body = await request.body()
            peer = request.client.host if request.client else None
            return adapter.receive(body, request.headers.get("content-type", ""), peer)

        return Router(path=self.path, route_handlers=[receive_event])

    def device_for(self, event: IsapiEvent, peer: str | None) -> IsapiDevice | None:
        for key in (event.device_id, event.mac_address, event.ip_address, peer):
            if key and (device := self._by_key.get(key.lower())):
                return device
        return None

    def receive(self, body: bytes, content_type: str, peer: str | None) -> Response[str]:
        """Answer one notification; the decision is scheduled to run after the answer."""
        self.stats.events += 1
        try:
            event = parse_event(body, content_type)
        except Malformed as exc:
            self.stats.malformed += 1
            log.warning("gate.isapi.malformed", peer=peer, reason=exc.reason)
            return Response(exc.reason, status_code=400, media_type="text/plain")
        device = self.device_for(event, peer)
        if device is None:
            self.stats.unknown_device += 1
            log.warning("gate.isapi.unknown_device", peer=peer, ip=event.ip_address)
            return Response("unknown device", status_code=403, media_type="text/plain")
        # Every event of the terminal counts up serialNo, door status included, so
        # every one is observed; only a fresh scan is decided.
        fresh = event.serial_no is None or self._fresh(device, event.serial_no)
        scan = scan_of(event, device)
        if scan is None:
            self.stats.ignored += 1
            return Response("OK", status_code=200, media_type="text/plain")
        if not fresh:
            return Response("OK", status_code=200, media_type="text/plain")
        self.stats.scans += 1
        return Response(
            "OK",
            status_code=200,
            media_type="text/plain",
            background=BackgroundTask(self.handle, scan, device),
        )

    def _fresh(self, device: IsapiDevice, serial: int) -> bool:
        seen, missing = self.serials.observe(device.id, serial)
        if seen == "gap":
            self.stats.gaps += 1
            self.stats.missing += missing
            log.warning("gate.isapi.serial_gap", device=device.id, serial=serial, missing=missing)
        elif seen == "duplicate":
            self.stats.duplicates += 1
        elif seen == "late":
            self.stats.late += 1
            log.info("gate.isapi.late_event", device=device.id, serial=serial)
        elif seen == "reset":
            self.stats.resets += 1
            log.warning("gate.isapi.serial_reset", device=device.id, serial=serial)
        return seen not in ("duplicate", "late")

    async def handle(self, scan: Scan, device: IsapiDevice) -> None:
        answer = await decide_safely(self.decide, scan)
        if not answer.open:
            self.stats.refused += 1
            return
        if await self.open_door(device):
            self.stats.opened += 1

    async def open_door(self, device: IsapiDevice) -> bool:
        """Send the terminal its door-open command; False (logged) when it did not take it."""
        if self._client is None:
            raise RuntimeError("the adapter is not started")
        url = f"{device.base_url.rstrip('/')}/ISAPI/AccessControl/RemoteControl/door/{device.door}"
        try:
            response = await self._client.put(
                url,
                content=DOOR_OPEN_XML,
                headers={"Content-Type": "application/xml"},
                auth=self._auth[device.id],
            )
        except httpx.HTTPError as exc:
            self.stats.open_failures += 1
            log.error("gate.isapi.door_unreachable", device=device.id, error=str(exc))
            return False
        if response.status_code != 200:
            self.stats.open_failures += 1
            log.error("gate.isapi.door_refused", device=device.id, status=response.status_code)
            return False
        return True
