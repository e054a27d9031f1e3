"""A TCP line protocol for simple controllers: one ASCII line per message.

A controller (a PLC, a microcontroller behind a turnstile, a serial-to-TCP
converter with a script) connects to the edge and sends, each line ending in
`\\n` (a `\\r` before it is ignored):

    SCAN <device> <lane> <entry|exit> <qr|card|id> <value>
    PING

and gets, in the order its lines came:

    OPEN <lane> ok[ <message>]
    DENY <lane> <code>[ <message>]
    PONG
    ERR <reason>[ <detail>]

Tokens are separated by one space. `<lane>` is `-` when the device has one lane.
`<value>` is everything after the fifth space, verbatim (ticket QR text may hold
spaces). `id` is an ID card number (credential `id_card`). A line longer than
`MAX_LINE` bytes, a line that is not ASCII, an unknown command or a bad SCAN gets
`ERR` with the reason (`line_too_long`, `not_ascii`, `unknown_command`, `bad_scan`),
is logged, and the connection stays open: a device with a bug must not lose its
link to the gate. `<message>` is display text, sanitised to printable ASCII.

Public surface: `parse_line`, `format_answer`, `LineSplitter` (pure, fuzzed) and
`TcpLineAdapter(decide, host, port)` with `start()`, `stop()` and `port`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from vistapass.gate_firmware_bridge.devices import decide_safely
from vistapass.gate_firmware_bridge.devices.base import (
    Answer,
    Credential,
    Decide,
    Direction,
    Malformed,
    Scan,
)
from vistapass.platform.logging import get_logger

log = get_logger(__name__)

MAX_LINE = 1024  # bytes, the newline included
MAX_MESSAGE = 64  # display text sent back; small controller displays show less anyway
NO_LANE = "-"
_CREDENTIALS: dict[str, Credential] = {"qr": "qr", "card": "card", "id": "id_card"}
_DIRECTIONS: tuple[Direction, ...] = ("entry", "exit")
_READ_CHUNK = 4096


@dataclass(frozen=True, slots=True)
class Ping:
    pass


Request = Scan | Ping


class TooLong:
    """Marks a line that passed `MAX_LINE` and was thrown away (up to its newline)."""


TOO_LONG = TooLong()


def _token(value: str, what: str) -> str:
    if not value or not value.isprintable():
        raise Malformed(f"bad_scan {what} must be printable and not empty")
    return value


def parse_line(raw: bytes) -> Request:
    """One line, without its newline, as a request. Raises `Malformed("<reason> <detail>")`."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        line = raw.decode("ascii")
    except UnicodeDecodeError:
        raise Malformed("not_ascii the line must be ASCII") from None
    command, _, rest = line.partition(" ")
    if command == "PING" and not rest:
        return Ping()
    if command != "SCAN":
        shown = command[:32] if command.isprintable() else "?"
        raise Malformed(f"unknown_command {shown}")
    parts = rest.split(" ", 4)
    if len(parts) != 5:
        raise Malformed("bad_scan SCAN <device> <lane> <entry|exit> <qr|card|id> <value>")
    device, lane, direction, credential, value = parts
    if direction not in _DIRECTIONS:
        raise Malformed("bad_scan direction must be entry or exit")
    if credential not in _CREDENTIALS:
        raise Malformed("bad_scan credential must be qr, card or id")
    if not value or not value.isprintable():
        raise Malformed("bad_scan the value must be printable and not empty")
    return Scan(
        device=_token(device, "device"),
        credential=_CREDENTIALS[credential],
        value=value,
        direction="entry" if direction == "entry" else "exit",
        lane=None if lane == NO_LANE else _token(lane, "lane"),
    )


def _display(text: str) -> str:
    printable = "".join(ch if " " <= ch <= "~" else " " for ch in text)
    return " ".join(printable.split())[:MAX_MESSAGE]


def format_answer(lane: str | None, answer: Answer) -> bytes:
    """The reply line for a decided scan."""
    lane_token = _display(lane or "").replace(" ", "_") or NO_LANE
    code = _display(answer.code).replace(" ", "_") or "unknown"
    head = f"OPEN {lane_token} ok" if answer.open else f"DENY {lane_token} {code}"
    message = _display(answer.message)
    return (f"{head} {message}" if message else head).encode("ascii") + b"\n"


class LineSplitter:
    """Cuts a byte stream into lines, replacing each over-long line by one `TOO_LONG`.

    asyncio's `readline` gives up on a long line and leaves the stream in a state
    one cannot resynchronise from; this keeps reading and drops bytes until the next
    newline, so the device's following lines are understood again.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes | TooLong]:
        out: list[bytes | TooLong] = []
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if not self._discarding and len(self._buffer) >= self.max_line:
                    self._discarding = True
                    out.append(TOO_LONG)
                if self._discarding:
                    self._buffer.clear()
                return out
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if self._discarding:
                self._discarding = False  # the rest of the over-long line ends here
            elif end + 1 > self.max_line:
                out.append(TOO_LONG)
            else:
                out.append(line)


class TcpLineAdapter:
    """An asyncio TCP server speaking the line protocol to any number of controllers."""

    def __init__(
        self, decide: Decide, host: str = "127.0.0.1", port: int = 4100, max_line: int = MAX_LINE
    ) -> None:
        self.decide = decide
        self.host = host
        self._requested_port = port
        self.max_line = max_line
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.errors = 0  # lines answered with ERR, for the edge's status page

    @property
    def port(self) -> int:
        """The port actually bound (useful with `port=0`)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the adapter is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self._requested_port)
        log.info("gate.tcp_line.listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        splitter = LineSplitter(self.max_line)
        try:
            while data := await reader.read(_READ_CHUNK):
                for item in splitter.feed(data):
                    writer.write(await self._answer(item, peer))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            log.info("gate.tcp_line.disconnected", peer=peer)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _answer(self, item: bytes | TooLong, peer: object) -> bytes:
        if isinstance(item, TooLong):
            return self._error("line_too_long", f"the limit is {self.max_line} bytes", peer)
        try:
            request = parse_line(item)
        except Malformed as exc:
            reason, _, detail = exc.reason.partition(" ")
            return self._error(reason, detail, peer)
        if isinstance(request, Ping):
            return b"PONG\n"
        answer = await decide_safely(self.decide, request)
        return format_answer(request.lane, answer)

    def _error(self, reason: str, detail: str, peer: object) -> bytes:
        self.errors += 1
        log.warning("gate.tcp_line.rejected", peer=peer, reason=reason, detail=detail)
        return f"ERR {reason} {_display(detail)}".rstrip().encode("ascii") + b"\n"
