"""Scan-to-open over HTTP on loopback: ISAPI terminals posting events to the edge.

Each simulated terminal posts an access-control event and waits until its door
opens before it posts the next, as a lane does, so `terminals` events are in
flight. Latency runs from the moment the event is sent to the moment the edge's
door-open PUT reaches the terminal's own HTTP server (digest auth checked, as
the device does). The baseline is a plain round trip to the edge's /healthz
through the same client, server and event loop. Here too: the device list the
edge is configured with, its MQTT turnstiles included (measured in `gate_mqtt`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from granian.constants import Interfaces
from granian.server.embed import Server

from vistapass.gate_firmware_bridge.devices.isapi import EVENT_PATH, IsapiStats
from vistapass.gate_firmware_bridge.edge.wire import DeviceRow

# isort: split
# Modules beside this one: bench/ is sys.path[0] when bench/gate.py runs.
from gate_edge import EdgeSetup
from gate_figures import Figures, Timed
from raw_http import Connection, HttpError
from sale_figures import BenchFailure, say
from sale_server import free_port

ANSWER_TIMEOUT_S = 5.0  # a turnstile gives up on its scan after this
READY_TIMEOUT_S = 10.0
TERMINAL_USER, TERMINAL_PASSWORD = "admin", secrets.token_urlsafe(12)


# --- devices as the edge's configuration lists them ------------------------------------


def mqtt_device(number: int) -> str:
    return f"bench-ts-{number}"


def isapi_device(number: int) -> str:
    return f"bench-isapi-{number}"


def device_rows(terminal_url: str, turnstiles: int, terminals: int) -> list[DeviceRow]:
    """The devices a hub would send: one ISAPI terminal per door, the MQTT turnstiles."""
    rows = [
        DeviceRow(
            id=f"row-{mqtt_device(n)}",
            name=f"Turnstile {n}",
            kind="mqtt",
            external_id=mqtt_device(n),
            zone=None,
            direction="entry",
        )
        for n in range(1, turnstiles + 1)
    ]
    rows += [
        DeviceRow(
            id=f"row-{isapi_device(n)}",
            name=f"Terminal {n}",
            kind="isapi",
            external_id=isapi_device(n),
            zone=None,
            direction="entry",
            settings={
                "base_url": terminal_url,
                "username": TERMINAL_USER,
                "password": TERMINAL_PASSWORD,
                "door": n,
            },
        )
        for n in range(1, terminals + 1)
    ]
    return rows


# --- the ISAPI terminal's side ------------------------------------------------------------


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - digest auth is MD5 by definition


class DoorTerminal:
    """The terminals' ISAPI server (one per run, a door per terminal).

    It challenges with HTTP digest auth as a Hikvision terminal does and hands
    the arrival time of every accepted door-open PUT to `on_open(door, at)`. It
    is an asyncio server in the bench's own loop: a server thread would wait
    for the GIL (up to 5 ms a hand-over) and time the bench, not the edge.
    """

    realm = "DS-K1T"

    def __init__(self) -> None:
        # The address is fixed now (the edge's device list names it); it listens
        # only while the HTTP phase runs, in that phase's event loop.
        self.port = free_port()
        self.nonce = secrets.token_hex(8)
        self.on_open: Callable[[int, float], None] = lambda _door, _at: None
        self.refused_auth = 0
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @asynccontextmanager
    async def listening(self) -> AsyncIterator[None]:
        """Serve for the block; then wait for the edge to hang up its connections."""
        server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        try:
            yield
        finally:
            server.close()
            await server.wait_closed()
            if self._connections:
                await asyncio.wait(self._connections, timeout=READY_TIMEOUT_S)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._requests(reader, writer)
        finally:
            writer.close()
            self._connections.discard(task)

    def _authorized(self, method: str, header: str | None) -> bool:
        if not header or not header.startswith("Digest "):
            return False
        params = {}
        for part in header.removeprefix("Digest ").split(","):
            name, _, value = part.strip().partition("=")
            params[name] = value.strip('"')
        if params.get("username") != TERMINAL_USER or params.get("nonce") != self.nonce:
            return False
        ha1 = _md5(f"{TERMINAL_USER}:{self.realm}:{TERMINAL_PASSWORD}")
        ha2 = _md5(f"{method}:{params.get('uri', '')}")
        fields = ":".join(params.get(name, "") for name in ("nc", "cnonce", "qop"))
        expected = _md5(f"{ha1}:{self.nonce}:{fields}:{ha2}")
        return secrets.compare_digest(expected, params.get("response", ""))

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One keep-alive connection of the edge's HTTP client, request after request."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                arrived = time.perf_counter()
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                await reader.readexactly(int(headers.get("content-length", "0")))
                if method != "PUT" or not self._authorized(method, headers.get("authorization")):
                    self.refused_auth += 1
                    challenge = (
                        f'Digest realm="{self.realm}", qop="auth", '
                        f'nonce="{self.nonce}", algorithm=MD5'
                    )
                    writer.write(
                        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n"
                        + f"WWW-Authenticate: {challenge}\r\n\r\n".encode()
                    )
                    continue
                door = urlsplit(path).path.rsplit("/", 1)[-1]
                self.on_open(int(door) if door.isdigit() else 0, arrived)
                body = b"<ResponseStatus><statusCode>1</statusCode></ResponseStatus>"
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            return  # the edge closed the connection (or sent what no terminal reads)


def isapi_event(device: str, serial: int, code: str) -> bytes:
    """An access-control event as a terminal posts it: a QR code read at reader 1."""
    return json.dumps(
        {
            "ipAddress": "127.0.0.1",
            "deviceID": device,
            "dateTime": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "eventType": "AccessControllerEvent",
            "AccessControllerEvent": {
                "majorEventType": 5,
                "subEventType": 75,
                "cardReaderNo": 1,
                "serialNo": serial,
                "QRCodeInfo": code,
            },
        }
    ).encode()


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[int]:
    """The edge's Litestar app on a loopback port (granian, embedded in this loop)."""
    port = free_port()
    server = Server(
        app, address="127.0.0.1", port=port, interface=Interfaces.ASGI, log_enabled=False
    )
    task = asyncio.create_task(server.serve())
    probe = Connection("127.0.0.1", port)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            with contextlib.suppress(HttpError):
                if (await probe.request("GET", "/healthz"))[0] == 200:
                    break
            if time.monotonic() > deadline or task.done():
                raise BenchFailure("the edge's HTTP server did not come up")
            await asyncio.sleep(0.05)
        yield port
    finally:
        await probe.close()
        server.stop()
        await asyncio.wait_for(task, 10)


async def _settled(stats: IsapiStats) -> None:
    """Wait until the adapter has finished every door call it started.

    The terminal notes a door-open as the PUT arrives, before it answers: the
    edge's client may still be reading that answer when the last lane is done.
    """
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while stats.opened + stats.refused + stats.open_failures < stats.scans:
        if time.monotonic() > deadline:
            return  # the shortfall shows in the adapter's figures
        await asyncio.sleep(0.01)


class Lanes:
    """The terminals' side of the phase: events posted, door-opens awaited, per door."""

    def __init__(self, port: int, terminal: DoorTerminal) -> None:
        self.port = port
        self.waiting: dict[int, asyncio.Future[float]] = {}
        terminal.on_open = self.opened

    def opened(self, door: int, at: float) -> None:
        future = self.waiting.pop(door, None)
        if future is not None and not future.done():
            future.set_result(at)

    async def events(self, door: int, codes: list[str], first_serial: int, timed: Timed) -> None:
        """Post one event per code, each after the door opened for the one before."""
        device = isapi_device(door)
        conn = Connection("127.0.0.1", self.port)
        try:
            # Serial numbers count up per terminal: a repeated one is a resend, not a scan.
            for serial, code in enumerate(codes, start=first_serial):
                future = asyncio.get_running_loop().create_future()
                self.waiting[door] = future
                sent = time.perf_counter()
                try:
                    status, _ = await conn.request(
                        "POST", EVENT_PATH, isapi_event(device, serial, code)
                    )
                except HttpError as exc:
                    timed.errors[str(exc)[:60]] += 1
                    continue
                if status != 200:
                    timed.errors[f"status {status}"] += 1
                    continue
                try:
                    opened = await asyncio.wait_for(future, ANSWER_TIMEOUT_S)
                except TimeoutError:
                    timed.errors["no door-open"] += 1
                    continue
                timed.latencies.append(opened - sent)
                timed.answers["opened"] += 1
        finally:
            await conn.close()

    async def health(self, count: int, timed: Timed) -> None:
        conn = Connection("127.0.0.1", self.port)
        try:
            for _ in range(count):
                sent = time.perf_counter()
                status, _ = await conn.request("GET", "/healthz")
                timed.latencies.append(time.perf_counter() - sent)
                timed.answers[f"status {status}"] += 1
        finally:
            await conn.close()


async def _phase(lanes: Lanes, slices: list[list[str]], warmup: int, figures: Figures) -> None:
    terminals = range(len(slices))
    per_lane = len(slices[0]) - warmup
    await asyncio.gather(*(lanes.health(warmup, Timed("warm-up")) for _ in terminals))
    started = time.perf_counter()
    await asyncio.gather(*(lanes.health(per_lane, figures.http_health) for _ in terminals))
    figures.http_health.wall_s = time.perf_counter() - started
    # Untimed first events: digest auth's first challenge, the code paths warm.
    warm = Timed("warm-up")
    await asyncio.gather(*(lanes.events(n + 1, slices[n][:warmup], 1, warm) for n in terminals))
    if warm.errors:
        raise BenchFailure(f"the ISAPI warm-up failed: {dict(warm.errors)}")
    started = time.perf_counter()
    await asyncio.gather(
        *(lanes.events(n + 1, slices[n][warmup:], warmup + 1, figures.http) for n in terminals)
    )
    figures.http.wall_s = time.perf_counter() - started


async def measure_http(
    setup: EdgeSetup, terminal: DoorTerminal, terminals: int, warmup: int, figures: Figures
) -> None:
    """ISAPI events posted to the edge, each timed until its door-open PUT arrives."""
    edge = setup.edge
    per_terminal = len(setup.http_codes) // terminals
    if per_terminal <= warmup:
        raise BenchFailure("too few codes for the HTTP phase")
    slices = [setup.http_codes[n * per_terminal : (n + 1) * per_terminal] for n in range(terminals)]
    # The terminal outlives the adapter, whose client hangs up when it stops.
    async with terminal.listening():
        await edge.isapi.start()
        try:
            async with serving(edge.app()) as port:
                await _phase(Lanes(port, terminal), slices, warmup, figures)
                await _settled(edge.isapi.stats)
        finally:
            await edge.isapi.stop()
    say(figures.http_health.line())
    say(figures.http.line())
    stats = edge.isapi.stats
    if figures.http.errors or not figures.http.count or stats.open_failures or stats.refused:
        # Every code is a first entry: an event without its door-open is a fault.
        figures.problems.append(f"{figures.http.name}: {dict(figures.http.errors)}, {stats}")
