"""ZKTeco push ("iclock", ADMS) terminals: event intake and whitelist sync.

The terminal connects out to the edge (its "server address" set to the edge,
path `/iclock`) and speaks plain-text HTTP:

- `GET /iclock/cdata?SN=<sn>&options=all`: the handshake; answered with
  `GET OPTION FROM: <sn>` and option lines (`ATTLOGStamp`, `Delay` = how often
  it polls, `Realtime=1` = push each record at once, `TransFlag`, `TimeZone`).
- `POST /iclock/cdata?SN=<sn>&table=ATTLOG&Stamp=<n>`: records, one per line,
  tab-separated `PIN, YYYY-MM-DD HH:MM:SS, status, verify, workcode, ...`;
  answered `OK: <lines>`. Other tables (OPERLOG, ATTPHOTO, ...) are acknowledged
  the same way and not read.
- `GET /iclock/getrequest?SN=<sn>`: the poll; answered with queued commands,
  one `C:<id>:<command>` per line, or `OK` when there are none.
- `POST /iclock/devicecmd?SN=<sn>`: results, one `ID=<id>&Return=<code>&CMD=<cmd>`
  per line (`Return` 0 is success); answered `OK`.

How the gate opens, honestly: a ZKTeco terminal opens its door by itself when
the card (PIN) is on its own user list, and then posts the record. The edge
cannot say no in time. What it controls is the list: `queue_whitelist` hands the
terminal `DATA UPDATE USERINFO` commands for the cards valid today, and
`queue_removal` takes cards off with `DATA DELETE USERINFO`. Each ATTLOG record
becomes a `Scan` (credential `card`, value = PIN) that goes to `decide` so the
edge's log, entitlement counts and anti-passback stay right; when the edge's
answer is a refusal, nothing more is sent to the terminal (the door already
opened), and the adapter logs and counts it as `admitted_but_refused` for the
audit. Records are decided before the terminal gets its `OK`, so an edge that
dies mid-upload makes the terminal send them again rather than lose them. A
command handed out and never reported on (the terminal rebooted, its answer was
lost) goes out again at a poll `RESEND_AFTER_S` later, under the same id: adding
or deleting a user twice does no harm.

Public surface: `ZktecoDevice`, `WhitelistEntry`, `ZktecoAdapter(decide, devices)`
with `router()`, `start()`, `stop()`, `queue_whitelist()`, `queue_removal()`,
`pending()` and `stats`; the pure `parse_attlog_line`, `parse_attlog`,
`parse_command_results`, `handshake`, `userinfo_command` and `format_commands`.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from litestar import Request, Response, Router, get, post

from vistapass.gate_firmware_bridge.devices import decide_safely
from vistapass.gate_firmware_bridge.devices.base import Decide, Direction, Malformed, Scan
from vistapass.platform.logging import get_logger

log = get_logger(__name__)

ICLOCK_PATH = "/iclock"
_SN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PIN = re.compile(r"[0-9A-Za-z]{1,32}")
POLL_SECONDS = 5  # `Delay`: how often the terminal polls, so how soon a whitelist change lands
MAX_BODY = 2 * 1024 * 1024
MAX_NAME = 24  # terminals keep at most this many characters of a user's name
COMMANDS_PER_POLL = 50
# A command a terminal took and never reported on (it rebooted, the answer was lost)
# is sent again at its poll after this long: user-list commands may run twice.
RESEND_AFTER_S = 120.0
SEEN_RECORDS = 20_000  # how many records are remembered to drop re-sent ones


@dataclass(frozen=True, slots=True)
class ZktecoDevice:
    sn: str
    direction: Direction = "entry"
    lane: str | None = None


@dataclass(frozen=True, slots=True)
class WhitelistEntry:
    pin: str  # the card number the terminal matches, decimal
    name: str = ""
    card: str | None = None  # the RFID number to store; the PIN when not given


@dataclass(frozen=True, slots=True)
class AttlogRecord:
    pin: str
    at: datetime
    status: int
    verify: int


@dataclass(frozen=True, slots=True)
class CommandResult:
    id: int
    code: int
    command: str


@dataclass(slots=True)
class ZktecoStats:
    handshakes: int = 0
    polls: int = 0
    records: int = 0
    duplicates: int = 0
    rejected_lines: int = 0
    admitted_but_refused: int = 0
    commands_sent: int = 0
    commands_ok: int = 0
    commands_failed: int = 0
    commands_resent: int = 0
    unknown_results: int = 0


def valid_sn(value: str | None) -> str:
    if value is None or not _SN.fullmatch(value):
        raise Malformed("the SN parameter is missing or not a serial number")
    return value


def _small_int(text: str, what: str) -> int:
    text = text.strip()
    digits = text.removeprefix("-")
    if not digits.isascii() or not digits.isdigit() or len(digits) > 9:
        raise Malformed(f"{what} is not a number")
    return int(text)


def parse_attlog_line(line: str, tz: tzinfo = UTC) -> AttlogRecord:
    """One ATTLOG record; the terminal's clock has no zone, so the park's is given."""
    fields = line.rstrip("\r").split("\t")
    if len(fields) < 2:
        raise Malformed("an ATTLOG record has at least a PIN and a time")
    pin = fields[0].strip()
    if not _PIN.fullmatch(pin):
        raise Malformed("the PIN is not a card number")
    try:
        at = datetime.strptime(fields[1].strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
    except ValueError:
        raise Malformed("the time is not YYYY-MM-DD HH:MM:SS") from None
    status = _small_int(fields[2], "status") if len(fields) > 2 and fields[2].strip() else 0
    verify = _small_int(fields[3], "verify") if len(fields) > 3 and fields[3].strip() else 0
    return AttlogRecord(pin, at, status, verify)


def parse_attlog(text: str, tz: tzinfo = UTC) -> tuple[list[AttlogRecord], list[str]]:
    """All readable records of an upload, and the reasons the other lines were dropped."""
    records: list[AttlogRecord] = []
    rejected: list[str] = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        try:
            records.append(parse_attlog_line(line, tz))
        except Malformed as exc:
            rejected.append(exc.reason)
    return records, rejected


def parse_command_results(text: str) -> list[CommandResult]:
    """The `ID=..&Return=..&CMD=..` lines of a devicecmd post; unreadable lines raise."""
    results: list[CommandResult] = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        pairs = dict(part.partition("=")[::2] for part in line.strip().split("&"))
        if "ID" not in pairs or "Return" not in pairs:
            raise Malformed("a command result needs ID and Return")
        results.append(
            CommandResult(
                _small_int(pairs["ID"], "ID"),
                _small_int(pairs["Return"], "Return"),
                pairs.get("CMD", ""),
            )
        )
    return results


def handshake(sn: str, attlog_stamp: str | None, tz: tzinfo = UTC) -> str:
    offset = datetime.now(tz).utcoffset()
    hours = int(offset.total_seconds() // 3600) if offset else 0
    lines = [
        f"GET OPTION FROM: {sn}",
        f"ATTLOGStamp={attlog_stamp or 'None'}",
        "OPERLOGStamp=9999",  # user-list edits made at the terminal are not read back
        "ATTPHOTOStamp=None",
        "ErrorDelay=30",
        f"Delay={POLL_SECONDS}",
        "TransTimes=00:00;14:05",
        "TransInterval=1",
        "TransFlag=TransData AttLog",
        f"TimeZone={hours}",
        "Realtime=1",
        "Encrypt=None",
    ]
    return "\r\n".join(lines) + "\r\n"


def _field(value: str) -> str:
    # A tab or a line break would split the command into fields the terminal misreads.
    return " ".join(value.split())


def userinfo_command(entry: WhitelistEntry) -> str:
    if not _PIN.fullmatch(entry.pin):
        raise ValueError(f"{entry.pin!r} is not a PIN a terminal accepts")
    card = entry.card if entry.card is not None else entry.pin
    if card and not _PIN.fullmatch(card):
        raise ValueError(f"{card!r} is not a card number")
    name = _field(entry.name)[:MAX_NAME]
    return f"DATA UPDATE USERINFO PIN={entry.pin}\tName={name}\tPri=0\tPasswd=\tCard={card}\tGrp=1"


def format_commands(commands: Iterable[tuple[int, str]]) -> str:
    return "".join(f"C:{command_id}:{command}\n" for command_id, command in commands)


class ZktecoAdapter:
    """The `/iclock` endpoints and the per-terminal command queues."""

    def __init__(
        self,
        decide: Decide,
        devices: Iterable[ZktecoDevice],
        tz: tzinfo = UTC,
        path: str = ICLOCK_PATH,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.decide = decide
        self.tz = tz
        self.path = path
        self._monotonic = monotonic
        self.stats = ZktecoStats()
        self._ids = itertools.count(1)
        self._queues: dict[str, deque[tuple[int, str]]] = {}
        self.set_devices(devices)
        # Sent and not yet reported on: id -> (serial number, command, when sent).
        self._in_flight: dict[int, tuple[str, str, float]] = {}
        self._stamps: dict[str, str] = {}
        self._seen: OrderedDict[tuple[str, str, datetime], None] = OrderedDict()
        # Told (serial number, command, Return code) for each result a terminal reports.
        self.on_result: Callable[[str, str, int], None] | None = None

    def set_devices(self, devices: Iterable[ZktecoDevice]) -> None:
        """The terminals the edge's configuration lists now; queued commands are kept."""
        self.devices = {device.sn: device for device in devices}
        for sn in self.devices:
            self._queues.setdefault(sn, deque())

    async def start(self) -> None:
        """Nothing to open: the terminals come to the edge's HTTP server."""

    async def stop(self) -> None:
        self._in_flight.clear()

    def queue_whitelist(self, sn: str, entries: Iterable[WhitelistEntry]) -> list[int]:
        """Queue `DATA UPDATE USERINFO` for each entry; the terminal takes them on its next poll."""
        return [self._queue(sn, userinfo_command(entry)) for entry in entries]

    def queue_removal(self, sn: str, pins: Iterable[str]) -> list[int]:
        ids = []
        for pin in pins:
            if not _PIN.fullmatch(pin):
                raise ValueError(f"{pin!r} is not a PIN a terminal accepts")
            ids.append(self._queue(sn, f"DATA DELETE USERINFO PIN={pin}"))
        return ids

    def pending(self, sn: str) -> int:
        """Commands queued or sent and not yet confirmed for this terminal."""
        waiting = len(self._queues.get(sn, ()))
        return waiting + sum(1 for owner, _, _ in self._in_flight.values() if owner == sn)

    def _queue(self, sn: str, command: str) -> int:
        if sn not in self._queues:
            raise KeyError(f"no ZKTeco terminal {sn} is configured")
        command_id = next(self._ids)
        self._queues[sn].append((command_id, command))
        return command_id

    def router(self) -> Router:
        adapter = self

        @get(["/cdata", "/cdata.aspx"], media_type="text/plain")
        async def cdata_get(request: Request[Any, Any, Any]) -> Response[str]:
            return adapter.reply(adapter.on_handshake, request, b"")

        @post(
            ["/cdata", "/cdata.aspx"],
            status_code=200,
            media_type="text/plain",
            request_max_body_size=MAX_BODY,
        )
        async def cdata_post(request: Request[Any, Any, Any]) -> Response[str]:
            body = await request.body()
            sn = adapter.known_sn(request)
            if isinstance(sn, Response):
                return sn
            text = await adapter.on_upload(sn, request.query_params, body)
            return Response(text, media_type="text/plain")

        @get(["/getrequest", "/getrequest.aspx"], media_type="text/plain")
        async def getrequest(request: Request[Any, Any, Any]) -> Response[str]:
            return adapter.reply(adapter.on_poll, request, b"")

        @post(["/devicecmd", "/devicecmd.aspx"], status_code=200, media_type="text/plain")
        async def devicecmd(request: Request[Any, Any, Any]) -> Response[str]:
            return adapter.reply(adapter.on_results, request, await request.body())

        return Router(path=self.path, route_handlers=[cdata_get, cdata_post, getrequest, devicecmd])

    def known_sn(self, request: Request[Any, Any, Any]) -> str | Response[str]:
        try:
            sn = valid_sn(request.query_params.get("SN"))
        except Malformed as exc:
            log.warning("gate.zkteco.bad_sn", path=request.url.path)
            return Response(exc.reason, status_code=400, media_type="text/plain")
        if sn not in self.devices:
            # Refused, not acknowledged: an unknown terminal keeps its records and re-sends
            # them once someone adds it to the edge's configuration.
            log.warning("gate.zkteco.unknown_device", sn=sn)
            return Response("unknown device", status_code=403, media_type="text/plain")
        return sn

    def reply(self, handler: Any, request: Request[Any, Any, Any], body: bytes) -> Response[str]:
        sn = self.known_sn(request)
        if isinstance(sn, Response):
            return sn
        return Response(handler(sn, request.query_params, body), media_type="text/plain")

    def on_handshake(self, sn: str, query: Any, _body: bytes) -> str:
        if query.get("options") != "all":
            return "OK"  # a plain heartbeat
        self.stats.handshakes += 1
        return handshake(sn, self._stamps.get(sn), self.tz)

    async def on_upload(self, sn: str, query: Any, body: bytes) -> str:
        text = body.decode("utf-8", errors="replace")
        lines = sum(1 for line in text.split("\n") if line.strip())
        if query.get("table") != "ATTLOG":
            return f"OK: {lines}"
        records, rejected = parse_attlog(text, self.tz)
        if rejected:
            self.stats.rejected_lines += len(rejected)
            log.warning("gate.zkteco.rejected_lines", sn=sn, count=len(rejected), first=rejected[0])
        device = self.devices[sn]
        for record in records:
            await self._record(device, record)
        stamp = query.get("Stamp")
        if stamp and stamp.isascii() and stamp.isdigit():
            self._stamps[sn] = stamp
        return f"OK: {lines}"

    async def _record(self, device: ZktecoDevice, record: AttlogRecord) -> None:
        key = (device.sn, record.pin, record.at)
        if key in self._seen:
            self.stats.duplicates += 1
            return
        self._seen[key] = None
        if len(self._seen) > SEEN_RECORDS:
            self._seen.popitem(last=False)
        self.stats.records += 1
        scan = Scan(
            device=device.sn,
            credential="card",
            value=record.pin,
            direction=device.direction,
            lane=device.lane,
            event_id=f"{device.sn}:{record.pin}:{record.at:%Y%m%dT%H%M%S}",
            at=record.at,
        )
        answer = await decide_safely(self.decide, scan)
        if not answer.open:
            self.stats.admitted_but_refused += 1
            log.warning(
                "gate.zkteco.admitted_but_refused", sn=device.sn, pin=record.pin, code=answer.code
            )

    def on_poll(self, sn: str, _query: Any, _body: bytes) -> str:
        self.stats.polls += 1
        now = self._monotonic()
        queue = self._queues[sn]
        self._requeue_unanswered(sn, queue, now)
        batch = [queue.popleft() for _ in range(min(len(queue), COMMANDS_PER_POLL))]
        if not batch:
            return "OK"
        for command_id, command in batch:
            self._in_flight[command_id] = (sn, command, now)
        self.stats.commands_sent += len(batch)
        return format_commands(batch)

    def _requeue_unanswered(self, sn: str, queue: deque[tuple[int, str]], now: float) -> None:
        """Put this terminal's commands unanswered for RESEND_AFTER_S back at the front
        of its queue, oldest first, under the same ids."""
        stale = sorted(
            command_id
            for command_id, (owner, _, sent_at) in self._in_flight.items()
            if owner == sn and now - sent_at >= RESEND_AFTER_S
        )
        for command_id in reversed(stale):
            _, command, _ = self._in_flight.pop(command_id)
            queue.appendleft((command_id, command))
        if stale:
            self.stats.commands_resent += len(stale)
            log.warning("gate.zkteco.commands_resent", sn=sn, count=len(stale))

    def on_results(self, sn: str, _query: Any, body: bytes) -> str:
        try:
            results = parse_command_results(body.decode("utf-8", errors="replace"))
        except Malformed as exc:
            log.warning("gate.zkteco.bad_results", sn=sn, reason=exc.reason)
            return "OK"  # the terminal cannot do better; re-sending would not help
        for result in results:
            sent = self._in_flight.pop(result.id, None)
            if sent is None or sent[0] != sn:
                self.stats.unknown_results += 1
                continue
            if result.code == 0:
                self.stats.commands_ok += 1
            else:
                self.stats.commands_failed += 1
                log.warning("gate.zkteco.command_failed", sn=sn, id=result.id, code=result.code)
            if self.on_result is not None:
                self.on_result(sn, sent[1], result.code)
        return "OK"
