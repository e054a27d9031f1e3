"""`vistapass gate-edge` (the edge process in a park) and `vistapass gate-sim`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

DEFAULT_EDGE_PORT = 8700


@click.command("gate-edge")
@click.option("--hub", required=True, help="The hub's base URL, e.g. https://tickets.example.com")
@click.option("--token", required=True, envvar="VISTAPASS_EDGE_TOKEN", help="The edge credential.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("edge-data"),
    show_default=True,
    help="Where the edge keeps its store (SQLite).",
)
@click.option("--host", default="0.0.0.0", show_default=True, help="Listen address for devices.")  # noqa: S104
@click.option("--port", type=int, default=DEFAULT_EDGE_PORT, show_default=True)
@click.option("--mqtt", "mqtt_url", help="The park's MQTT broker, e.g. mqtt://127.0.0.1:1883")
@click.option("--tcp-port", type=int, help="Listen for TCP line controllers on this port.")
@click.option("--sync-interval", type=float, default=5.0, show_default=True)
def gate_edge(
    hub: str,
    token: str,
    data_dir: Path,
    host: str,
    port: int,
    mqtt_url: str | None,
    tcp_port: int | None,
    sync_interval: float,
) -> None:
    """Decide every scan in the park from a local cache, and sync with the hub."""
    if token.count(".") != 2:
        raise click.BadParameter("it looks like <park>.<id>.<secret>", param_hint="--token")
    # Imported here: the rest of `vistapass` should not pay for the edge's libraries.
    from vistapass.gate_firmware_bridge.edge.runtime import EdgeConfig, serve_edge

    config = EdgeConfig(
        hub=hub,
        token=token,
        data_dir=data_dir,
        sync_interval=sync_interval,
        mqtt_url=mqtt_url,
        tcp_port=tcp_port,
    )
    asyncio.run(serve_edge(config, host, port))


@click.command("gate-sim")
@click.option(
    "--edge", "edge_url", required=True, help="The edge's URL, e.g. http://127.0.0.1:8700"
)
@click.option("--lanes", type=click.IntRange(1, 256), default=4, show_default=True)
@click.option("--rate", type=click.FloatRange(0.1, 100_000), default=2.0, show_default=True,
              help="Scans per second over all lanes.")  # fmt: skip
@click.option(
    "--codes",
    "codes_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="The demo codes file (`make run` writes one in its data folder).",
)
@click.option("--seconds", type=float, default=3600.0, show_default=True, help="0: until stopped.")
@click.option("--report-every", type=float, default=30.0, show_default=True, help="Seconds.")
def gate_sim(
    edge_url: str, lanes: int, rate: float, codes_path: Path, seconds: float, report_every: float
) -> None:
    """Virtual turnstiles scanning the demo park's tickets at an edge."""
    from vistapass.gate_firmware_bridge.sim.lanes import Codes, run_lanes

    codes = Codes.from_json(json.loads(codes_path.read_text()))
    tally = asyncio.run(
        run_lanes(
            edge_url,
            codes,
            lanes=lanes,
            rate=rate,
            seconds=seconds,
            report=click.echo,
            every=report_every,
        )
    )
    if sum(tally.wrong.values()):
        raise SystemExit(1)
