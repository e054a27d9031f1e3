"""What the device-adapter tests share: the edge's side and the devices' side, both real.

`Gate` is the `decide` callable the edge hands an adapter, deciding from a dict of
known codes (the edge's interface, not a stand-in for any service of ours).
`serve` runs a Litestar app on a real loopback socket with granian's embedded
server; `Terminal` is an HTTP server in a thread that plays a Hikvision terminal
and checks HTTP digest auth the way the device does.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from granian.constants import Interfaces
from granian.server.embed import Server
from litestar import Litestar, Router

from vistapass.gate_firmware_bridge.devices.base import Answer, Scan
from vistapass.platform.embedded._process import port_open

try:  # the embedded extra's broker, used only when the machine has none
    from amqtt.broker import Broker
except ImportError:
    Broker = None

QR_OK = "VP1:ADMIT ME 0001"  # spaces on purpose: base45 ticket codes contain them
CARD_OK = "1234567"
TERMINAL_PASSWORD = "Gate-1234"
REFUSED = Answer(open=False, code="bad_signature", message="Ticket not valid")


@dataclass
class Gate:
    """Admits the codes it knows, refuses the rest, and remembers every scan."""

    known: dict[str, Answer] = field(
        default_factory=lambda: {
            QR_OK: Answer(open=True, code="ok", message="Welcome"),
            CARD_OK: Answer(open=True, code="ok", message="Welcome"),
        }
    )
    seen: list[Scan] = field(default_factory=list)

    async def __call__(self, scan: Scan) -> Answer:
        self.seen.append(scan)
        return self.known.get(scan.value, REFUSED)


async def failing_decide(scan: Scan) -> Answer:
    raise RuntimeError(f"the edge's store is gone ({scan.value})")


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until `check()` holds, failing after `within` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        await asyncio.sleep(0.01)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def serve(router: Router | Litestar) -> AsyncIterator[str]:
    """Serve a router (or a whole app) over real HTTP on loopback; yields the base URL."""
    port = free_port()
    server = Server(
        router if isinstance(router, Litestar) else Litestar(route_handlers=[router]),
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        log_enabled=False,
    )
    task = asyncio.create_task(server.serve())
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    await client.get(f"{base}/__ready__")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.02)
        yield base
    finally:
        server.stop()
        await asyncio.wait_for(task, 10)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - digest auth is MD5 by definition


def _digest_params(header: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in header.removeprefix("Digest ").split(","):
        name, _, value = part.strip().partition("=")
        params[name] = value.strip('"')
    return params


class Terminal:
    """A Hikvision-like terminal's ISAPI server: records door-open calls it accepted."""

    realm = "DS-K1T"

    def __init__(self, username: str = "admin", password: str = TERMINAL_PASSWORD) -> None:
        self.username = username
        self.password = password
        self.nonce = secrets.token_hex(8)
        self.opened: list[tuple[str, bytes]] = []
        self.refused_auth = 0
        self.door_opened = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def authorized(self, method: str, header: str | None) -> bool:
        if not header or not header.startswith("Digest "):
            return False
        p = _digest_params(header)
        if p.get("username") != self.username or p.get("nonce") != self.nonce:
            return False
        ha1 = _md5(f"{self.username}:{self.realm}:{self.password}")
        ha2 = _md5(f"{method}:{p.get('uri', '')}")
        expected = _md5(f"{ha1}:{self.nonce}:{p.get('nc')}:{p.get('cnonce')}:{p.get('qop')}:{ha2}")
        return secrets.compare_digest(expected, p.get("response", ""))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        terminal = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if not terminal.authorized("PUT", self.headers.get("Authorization")):
                    terminal.refused_auth += 1
                    self.send_response(401)
                    self.send_header(
                        "WWW-Authenticate",
                        f'Digest realm="{terminal.realm}", qop="auth", '
                        f'nonce="{terminal.nonce}", algorithm=MD5',
                    )
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                terminal.opened.append((urlsplit(self.path).path, body))
                terminal.door_opened.set()
                reply = b"<ResponseStatus><statusCode>1</statusCode></ResponseStatus>"
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep the test output to what fails

        return Handler

    def __enter__(self) -> Terminal:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def mqtt_url() -> tuple[str, int]:
    url = urlsplit(os.environ.get("VISTAPASS_TEST_MQTT_URL", "mqtt://127.0.0.1:1883"))
    return url.hostname or "127.0.0.1", url.port or 1883


@asynccontextmanager
async def mqtt_broker(embedded: bool = False) -> AsyncIterator[tuple[str, int]]:
    """The machine's broker (Mosquitto), or an embedded amqtt one when none answers.

    `embedded=True` starts the amqtt broker whatever answers, so the fallback the
    suite relies on without Mosquitto is itself tested where Mosquitto runs.
    """
    host, port = mqtt_url()
    if not embedded and port_open(port, host, timeout=1):
        yield host, port
        return
    if Broker is None:
        # `make test` installs the embedded extra: a missing broker is a broken setup.
        pytest.fail("no MQTT broker at VISTAPASS_TEST_MQTT_URL and amqtt is not installed")
    port = free_port()
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {}},
        }
    )
    await broker.start()
    try:
        yield "127.0.0.1", port
    finally:
        await broker.shutdown()


def run(work: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(work())
