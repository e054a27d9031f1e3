"""The edge process: store, decider and sync loop, with every device adapter on top.

`vistapass gate-edge` runs `serve_edge`: an `Edge` and its app on the park's LAN:

- `POST /scan` takes a scan as JSON (simple HTTP readers and the simulator);
- `GET /status` says whether the hub is reachable, how many events wait in the outbox,
  when the last sync was and which devices are connected;
- ISAPI terminals post to `/isapi/events`, ZKTeco terminals poll `/iclock/...` (and
  are given the cards of today's tickets for their own user lists, `whitelist`);
- with `--mqtt`, MQTT gates on the park's broker; with `--tcp-port`, line controllers.

The hub is never in the gate-open path: adapters call the decider, which answers from
the local store; the sync loop runs beside them. Device lists come from the hub (a
manager adds devices in the console) and are refreshed after every sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from granian.constants import Interfaces
from granian.server.embed import Server
from litestar import Litestar, Request, get, post
from litestar.exceptions import HTTPException
from litestar.response import Response

from vistapass.gate_firmware_bridge.devices.base import Scan
from vistapass.gate_firmware_bridge.devices.isapi import IsapiAdapter, IsapiDevice
from vistapass.gate_firmware_bridge.devices.mqtt import MqttAdapter
from vistapass.gate_firmware_bridge.devices.tcp_line import TcpLineAdapter
from vistapass.gate_firmware_bridge.devices.zkteco import ZktecoAdapter, ZktecoDevice
from vistapass.gate_firmware_bridge.edge.clock import EdgeClock
from vistapass.gate_firmware_bridge.edge.decider import EdgeDecider
from vistapass.gate_firmware_bridge.edge.store import EdgeStore
from vistapass.gate_firmware_bridge.edge.sync import HubClient, SyncLoop
from vistapass.gate_firmware_bridge.edge.whitelist import CardWhitelist
from vistapass.gate_firmware_bridge.edge.wire import DeviceRow
from vistapass.platform.logging import get_logger

log = get_logger(__name__)

CREDENTIALS = ("qr", "card", "id_card")
DIRECTIONS = ("entry", "exit")
MAX_VALUE = 1024  # a ticket code is ~160 characters; a reader sending more is broken
MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    hub: str
    token: str
    data_dir: Path
    sync_interval: float = 5.0
    mqtt_url: str | None = None  # mqtt://host:port of the park's broker
    tcp_host: str = "0.0.0.0"  # noqa: S104 - controllers on the park's LAN connect in
    tcp_port: int | None = None

    @property
    def park_slug(self) -> str:
        """The park the token belongs to (its first part), known before any sync."""
        return self.token.split(".", 1)[0]


def _direction(value: Any) -> str:
    return value if value in DIRECTIONS else "entry"


def isapi_devices(devices: dict[str, DeviceRow]) -> list[IsapiDevice]:
    """The ISAPI terminals among the hub's devices; settings give their address and login."""
    found = []
    for row in devices.values():
        settings = row.settings or {}
        if row.kind != "isapi" or not settings.get("base_url"):
            continue
        found.append(
            IsapiDevice(
                id=row.external_id,
                base_url=str(settings["base_url"]),
                username=str(settings.get("username", "admin")),
                password=str(settings.get("password", "")),
                door=int(settings.get("door", 1)),
                direction=_direction(row.direction),  # type: ignore[arg-type]
                exit_readers=frozenset(int(n) for n in settings.get("exit_readers", ())),
                lane=settings.get("lane"),
                mac=settings.get("mac"),
            )
        )
    return found


def zkteco_devices(devices: dict[str, DeviceRow]) -> list[ZktecoDevice]:
    return [
        ZktecoDevice(
            sn=row.external_id,
            direction=_direction(row.direction),  # type: ignore[arg-type]
            lane=(row.settings or {}).get("lane"),
        )
        for row in devices.values()
        if row.kind == "zkteco"
    ]


def _text(body: dict[str, Any], name: str, most: int, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > most:
        raise HTTPException(
            status_code=400,
            detail=f"'{name}' is a string of 1 to {most} characters.",
            extra={"code": f"invalid_{name}"},
        )
    return value


def scan_from_json(body: Any) -> Scan:
    """A scan posted to /scan; HTTPException 400 naming the bad field otherwise."""
    if not isinstance(body, dict):
        raise HTTPException(status_code=400, detail="A JSON object is expected.")
    credential = body.get("credential", "qr")
    direction = body.get("direction", "entry")
    if credential not in CREDENTIALS:
        raise HTTPException(status_code=400, detail=f"credential is one of {CREDENTIALS}.")
    if direction not in DIRECTIONS:
        raise HTTPException(status_code=400, detail="direction is 'entry' or 'exit'.")
    return Scan(
        device=_text(body, "device", MAX_NAME, required=True) or "",
        credential=credential,
        value=_text(body, "value", MAX_VALUE, required=True) or "",
        direction=direction,
        lane=_text(body, "lane", MAX_NAME),
        event_id=_text(body, "event_id", MAX_NAME),
        document=_text(body, "document", MAX_NAME),
    )


class Edge:
    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = EdgeStore.in_dir(config.data_dir)
        self.clock = EdgeClock()
        self.decider = EdgeDecider(self.store, self.clock)
        self.client = HubClient(config.hub, config.token)
        self.sync = SyncLoop(
            self.store,
            self.client,
            config.sync_interval,
            clock=self.clock,
            device_status=self.device_status,
        )
        self.isapi = IsapiAdapter(self.decider.decide, isapi_devices(self.store.devices))
        self.zkteco = ZktecoAdapter(self.decider.decide, zkteco_devices(self.store.devices))
        self.whitelist = CardWhitelist(self.store, self.zkteco)
        self.mqtt: MqttAdapter | None = None
        if config.mqtt_url:
            broker = urlsplit(config.mqtt_url)
            self.mqtt = MqttAdapter(
                self.decider.decide,
                broker.hostname or "127.0.0.1",
                broker.port or 1883,
                park=config.park_slug,
                username=broker.username,
                password=broker.password,
            )
        self.tcp: TcpLineAdapter | None = None
        if config.tcp_port is not None:
            self.tcp = TcpLineAdapter(self.decider.decide, config.tcp_host, config.tcp_port)
        self._devices_seen: dict[str, DeviceRow] = dict(self.store.devices)

    def device_status(self) -> list[dict[str, Any]]:
        """What the hub's console shows per device: MQTT gates say online/offline."""
        known = self.mqtt.device_status if self.mqtt else {}
        return [
            {"id": row.external_id, "online": known.get(row.external_id) == "online"}
            for row in self.store.devices.values()
        ]

    def refresh_devices(self) -> None:
        """Hand the adapters the device list of the latest sync, when it changed."""
        if self.store.devices == self._devices_seen:
            return
        self._devices_seen = dict(self.store.devices)
        self.isapi.set_devices(isapi_devices(self._devices_seen))
        self.zkteco.set_devices(zkteco_devices(self._devices_seen))
        log.info("gate_edge.devices", count=len(self._devices_seen))

    def status(self) -> dict[str, Any]:
        park = self.store.park
        return {
            **self.sync.status(),
            "park": park.slug if park else self.config.park_slug,
            "mqtt": None if self.mqtt is None else self.mqtt.connected,
            "tcp_port": None if self.tcp is None else self.tcp.port,
            "devices": self.device_status(),
        }

    async def _sync_forever(self, stop: asyncio.Event) -> None:
        syncing = asyncio.create_task(self.sync.run(stop))
        try:
            while not stop.is_set():
                await self.sync.wait_round()
                self.refresh_devices()
                self.whitelist.refresh(self.clock.now().astimezone(self.store.zone).date())
        finally:
            await syncing

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Adapters up and the sync loop going, for as long as the block (the app) runs."""
        stop = asyncio.Event()
        adapters = [a for a in (self.isapi, self.zkteco, self.mqtt, self.tcp) if a is not None]
        for adapter in adapters:
            await adapter.start()
        syncing = asyncio.create_task(self._sync_forever(stop))
        try:
            yield
        finally:
            stop.set()
            syncing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await syncing
            for adapter in reversed(adapters):
                await adapter.stop()
            await self.client.aclose()
            # Joins the decider's threads: blocking, but only once the adapters are down.
            self.decider.close()
            self.store.close()

    def app(self) -> Litestar:
        edge = self

        @post("/scan", status_code=200)
        async def scan(request: Request[Any, Any, Any]) -> dict[str, Any]:
            try:
                body = await request.json()
            except ValueError:
                raise HTTPException(status_code=400, detail="The body is not JSON.") from None
            answer = await edge.decider.decide(scan_from_json(body))
            return {"open": answer.open, "code": answer.code, "message": answer.message}

        @get("/status")
        async def status() -> dict[str, Any]:
            return edge.status()

        @get("/healthz")
        async def healthz() -> Response[str]:
            return Response("ok", media_type="text/plain")

        # No lifespan: `serve_edge` runs the adapters and the sync loop around the server.
        return Litestar(
            route_handlers=[scan, status, healthz, self.isapi.router(), self.zkteco.router()]
        )


async def serve_edge(config: EdgeConfig, host: str, port: int) -> None:
    """Run an edge until SIGINT or SIGTERM."""
    edge = Edge(config)
    server = Server(
        edge.app(), address=host, port=port, interface=Interfaces.ASGI, log_enabled=False
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, server.stop)
    async with edge.running():
        log.info("gate_edge.listening", host=host, port=port, park=config.park_slug)
        await server.serve()
