"""A small hub on 127.0.0.1 speaking the `/gate/v1/` contract, for the edge's unit tests.

Allowed only here, at the HTTP boundary: the edge's real `HubClient` talks to it
over real sockets. It keeps what the contract asks of the hub: events stored once
by id, ticket counts computed from the stored accepted events, a cursor after
which changed tickets (and tickets whose admissions changed) are sent again, and
401 for a wrong token. `stop()` and `start()` take it off and back on the same
port, as an uplink going down and coming back.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.gate.edge.support import TZ, Ticket, b64, public

TOKEN = "lakeside.0123456789abcdef0123456789abcdef.c2VjcmV0"


@dataclass
class HubState:
    keys: dict[int, Ed25519PrivateKey]
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)  # ticket id -> version it changed at
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: int = 1
    today: date | None = None
    statuses: list[dict[str, Any]] = field(default_factory=list)
    event_posts: int = 0
    duplicates: int = 0
    drop_next_events_answer: bool = False

    def touch(self, ticket_id: str) -> None:
        self.version += 1
        self.versions[ticket_id] = self.version

    def counts(self, ticket_id: str) -> dict[str, Any]:
        zone = ZoneInfo(TZ)
        accepted = sorted(
            (e for e in self.events.values() if e["ticket_id"] == ticket_id and e["ok"]),
            key=lambda e: e["at"],
        )
        days = [datetime.fromisoformat(e["at"]).astimezone(zone).date() for e in accepted]
        counted = [d for e, d in zip(accepted, days, strict=True) if e["counted"]]
        today = [e for e, d in zip(accepted, days, strict=True) if d == self.today]
        last = today[-1] if today else None
        return {
            "entries_total": len(counted),
            "entries_today": sum(1 for d in counted if d == self.today),
            "first_entry_day": min(counted).isoformat() if counted else None,
            "inside": bool(last and last["direction"] == "entry"),
            "last_exit_at": last["at"] if last and last["direction"] == "exit" else None,
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    hub: FakeHub


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test's assertions say what happened."""

    def _send(self, status: int, body: Any = None) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {TOKEN}":
            return True
        self._send(401, {"error": {"code": "invalid_credential", "message": "Unknown token."}})
        return False

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/gate/v1/sync":
            self._send(404, {"error": {"code": "not_found", "message": url.path}})
            return
        if self._authorised():
            cursor = parse_qs(url.query).get("cursor", [""])[0]
            self._send(200, self.server.hub.sync(cursor))

    def do_POST(self) -> None:
        if not self._authorised():
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        hub = self.server.hub
        if self.path == "/gate/v1/events":
            answer = hub.store_events(body["events"])
            if hub.take_drop():
                # Stored, but the answer is lost on the way back: the edge must resend.
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self._send(200, answer)
        elif self.path == "/gate/v1/status":
            with hub.lock:
                hub.state.statuses.append(body)
            self._send(204)
        else:
            self._send(404, {"error": {"code": "not_found", "message": self.path}})


class FakeHub:
    def __init__(self, keys: dict[int, Ed25519PrivateKey], tickets: list[Ticket]) -> None:
        self.state = HubState(keys=dict(keys))
        self.lock = threading.Lock()
        for ticket in tickets:
            self.put(ticket)
        self._server: _Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.hub = self
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def put(self, ticket: Ticket) -> None:
        with self.lock:
            self.state.tickets[str(ticket.id)] = dict(ticket.row)
            self.state.touch(str(ticket.id))

    def add_key(self, key_id: int, key: Ed25519PrivateKey) -> None:
        with self.lock:
            self.state.keys[key_id] = key

    def take_drop(self) -> bool:
        with self.lock:
            drop, self.state.drop_next_events_answer = self.state.drop_next_events_answer, False
            return drop

    def store_events(self, events: list[dict[str, Any]]) -> dict[str, int]:
        with self.lock:
            state = self.state
            state.event_posts += 1
            stored = duplicates = 0
            for event in events:
                if event["id"] in state.events:
                    duplicates += 1
                    continue
                state.events[event["id"]] = event
                stored += 1
                if event["ok"] and event["ticket_id"] in state.tickets:
                    state.touch(event["ticket_id"])
            state.duplicates += duplicates
            return {"stored": stored, "duplicates": duplicates, "conflicts": 0}

    def sync(self, cursor: str) -> dict[str, Any]:
        with self.lock:
            state = self.state
            since = int(cursor) if cursor.isdigit() else None
            ids = [t for t, v in state.versions.items() if since is None or v >= since]
            return {
                "park": {"slug": "lakeside", "name": "Lakeside", "time_zone": TZ},
                "cursor": str(state.version + 1),
                "full": since is None,
                "keys": [
                    {"key_id": k, "public_key": b64(public(v))} for k, v in state.keys.items()
                ],
                "tickets": [{**state.tickets[t], **state.counts(t)} for t in ids],
                "devices": [],
                "settings": {"reentry_cooldown_s": 300},
            }
