"""Keeping the edge and the hub in step, without ever being in the gate's way.

Each round pushes the outbox (oldest first, at most 500 events a call, each
marked uploaded only once the hub answered 200: at-least-once, and the hub
stores each event id once), then pulls the changes since the cursor and
applies them, then reports the edge's status. Push before pull, never both at
once: the store's overlay accounting (see `store`) relies on a pull that starts
after an upload was acknowledged seeing that upload.

When the hub cannot be reached (a network error, a timeout, a 5xx, an answer
that breaks the contract, or a refusal such as a revoked credential) the round
stops, the store is marked offline and the loop retries with an exponential
backoff capped at `max_backoff`. Decisions go on from the cache meanwhile;
events decided offline say so. A signing key rotated while the edge was
offline is unknown to it until the next successful pull, so codes signed with
the new key are refused `unknown_key` until then: the hub sends every key on
every pull, and the park keeps the old key valid while new codes roll out.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx

from vistapass.gate_firmware_bridge.edge.clock import EdgeClock
from vistapass.gate_firmware_bridge.edge.store import EdgeStore
from vistapass.gate_firmware_bridge.edge.wire import EdgeEvent, SyncBatch, WireError, parse_sync
from vistapass.platform.logging import get_logger

log = get_logger(__name__)

BATCH = 500  # the hub's limit per POST /gate/v1/events
MAX_BATCHES_PER_ROUND = 40  # a long outage's backlog is sent over a few rounds, not one
DeviceStatus = Callable[[], list[dict[str, Any]]]


class HubError(Exception):
    """The hub could not be used this round; the edge stays on its cache."""


class HubUnavailable(HubError):
    """Unreachable, too slow, a 5xx, or an answer outside the contract."""


class HubRefused(HubError):
    """A 4xx: e.g. a revoked credential (`invalid_credential`); needs a person to fix."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code


def _edge_version() -> str:
    try:
        return version("vistapass")
    except PackageNotFoundError:
        return "0"


class HubClient:
    """The hub's `/gate/v1/` API, authenticated with the edge's credential."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/gate/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise HubUnavailable(f"{method} {path}: {exc!r}") from exc
        if response.status_code >= 500:
            raise HubUnavailable(f"{method} {path}: HTTP {response.status_code}")
        if response.status_code >= 400:
            try:
                error = response.json().get("error") or {}
            except (ValueError, AttributeError):
                error = {}
            raise HubRefused(
                response.status_code, str(error.get("code", "")), str(error.get("message", ""))
            )
        return response

    async def sync(self, cursor: str | None) -> SyncBatch:
        params = {"cursor": cursor} if cursor else None
        response = await self._call("GET", "/sync", params=params)
        try:
            return parse_sync(response.json())
        except (ValueError, WireError) as exc:
            raise HubUnavailable(f"GET /sync: {exc}") from exc

    async def push_events(self, events: Sequence[EdgeEvent]) -> dict[str, Any]:
        response = await self._call(
            "POST", "/events", json={"events": [event.upload() for event in events]}
        )
        try:
            answer = response.json()
        except ValueError as exc:
            raise HubUnavailable(f"POST /events: {exc}") from exc
        if not isinstance(answer, dict):
            raise HubUnavailable("POST /events: the answer is not an object")
        return answer

    async def post_status(self, status: dict[str, Any]) -> None:
        await self._call("POST", "/status", json=status)


class SyncLoop:
    """Runs sync rounds every `interval` seconds, backing off while the hub is away."""

    def __init__(
        self,
        store: EdgeStore,
        client: HubClient,
        interval: float = 5.0,
        *,
        max_backoff: float = 30.0,
        clock: EdgeClock | None = None,
        device_status: DeviceStatus | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.interval = interval
        self.max_backoff = max_backoff
        self.clock = clock or EdgeClock()
        self.device_status = device_status
        self.failures = 0
        self.last_error: str | None = None
        self.version = _edge_version()
        self._rounds = asyncio.Condition()

    @property
    def online(self) -> bool:
        return self.store.online

    def status(self) -> dict[str, Any]:
        """The body of POST /gate/v1/status."""
        last = self.store.last_sync_at
        return {
            "online": self.store.online,
            "outbox": self.store.outbox_size,
            "last_sync_at": last.isoformat() if last else None,
            "version": self.version,
            "devices": self.device_status() if self.device_status else [],
        }

    async def push(self) -> int:
        """Upload the outbox; the number of events the hub acknowledged."""
        sent = 0
        for _ in range(MAX_BATCHES_PER_ROUND):
            events = self.store.pending(BATCH)
            if not events:
                break
            answer = await self.client.push_events(events)
            self.store.mark_uploaded(event.id for event in events)
            sent += len(events)
            if answer.get("conflicts"):
                log.info("gate_edge.conflicts_reported", conflicts=answer["conflicts"])
            if len(events) < BATCH:
                break
        return sent

    async def pull(self) -> SyncBatch:
        mark = self.store.upload_generation
        batch = await self.client.sync(self.store.cursor)
        try:
            self.store.apply(batch, upload_mark=mark, synced_at=self.clock.now())
        except ValueError as exc:
            raise HubUnavailable(f"sync not applied: {exc}") from exc
        return batch

    async def run_once(self) -> None:
        """One round: push, pull, report. HubError when the hub could not be used."""
        try:
            await self.push()
            await self.pull()
            self.store.online = True
            self.failures, self.last_error = 0, None
            await self.client.post_status(self.status())
        except HubError as exc:
            self.store.online = False
            self.last_error = str(exc)
            raise

    def next_delay(self) -> float:
        if not self.failures:
            return self.interval
        return min(self.max_backoff, self.interval * 2 ** (self.failures - 1))

    async def wait_round(self) -> None:
        """Return when the running loop ends its next round, successful or not."""
        async with self._rounds:
            await self._rounds.wait()

    async def run(self, stop: asyncio.Event) -> None:
        """Sync until `stop` is set; never raises for the hub's sake."""
        while not stop.is_set():
            try:
                await self.run_once()
            except HubError as exc:
                self.failures += 1
                log.warning(
                    "gate_edge.hub_unreachable",
                    error=str(exc),
                    failures=self.failures,
                    refused=isinstance(exc, HubRefused),
                )
            except sqlite3.Error:
                # The local disk, not the hub: say so loudly, and try again next round.
                self.failures += 1
                log.exception("gate_edge.store_failed_during_sync")
            async with self._rounds:
                self._rounds.notify_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.next_delay())
