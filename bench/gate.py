"""Gate benchmark: the edge's decisions, scan-to-open over MQTT and HTTP, the hub's redeem.

Run as `.venv/bin/python bench/gate.py [--quick] [--scans 20000] [--lanes 32]
[--mqtt-scans 2000] [--http-events 1000] [--redeem-tickets 4000] [--clients 16]
[--workers 2]` (`make bench-gate`).

What is measured, in one run, each with its baseline taken in the same run:

1. **Edge decision**: an edge store (SQLite, as `vistapass gate-edge` keeps it)
   filled through `EdgeStore.apply` with a full sync of synthetic tickets valid
   today, signed with a freshly generated Ed25519 key. Three phases of
   `--scans` scans each, mostly first entries, some repeats (already used) and
   forged codes, each phase with codes of its own:
   - *unloaded*: `EdgeDecider.decide_now`, one scan after another in this
     process: p50/p99 latency of a scan on an idle edge, and scans/s;
   - *loaded*: `--lanes` lanes as asyncio tasks on one event loop calling
     `EdgeDecider.decide`, as the device adapters do, each lane scanning again as
     soon as it is answered, so the edge is never idle: scans/s is the edge
     process's throughput, and p50/p99 the latency from `decide` called to
     answered (signature check on the verify threads, the wait for the writer,
     the batch's decisions and its commit). At that load the latency is mostly
     queueing: its mean is about lanes ÷ scans/s, whatever a decision costs.
     Three rounds on codes of their own; the median round's figures are kept
     (threads sharing two cores make one round vary by a third run to run);
   - *paced*: the same lanes, open loop at 5,000 scans/s in all (the goal): scan
     k is due at k ÷ 5,000 s, and its latency counts from then: p50/p99 at the
     goal's rate. An edge that cannot keep up falls behind, and its p99 shows by
     how much (printed, not in the last line).
   Baseline: raw Ed25519 verifications of the unloaded phase's codes with
   `cryptography` on one thread (`decision_ratio` = loaded scans/s ÷ verifies/s).
2. **Scan-to-open over MQTT**: the edge's `MqttAdapter` over the same store; paho
   turnstiles publish scans through the named broker (or an embedded amqtt
   one) and time each until its open command arrives: p95. Baseline: the same
   turnstiles against an echo subscriber (`mqtt_ratio` = p95 ÷ echo p95).
3. **Scan-to-open over HTTP**: ISAPI-style events posted to the edge's app
   (granian on loopback), timed until the door-open PUT reaches the terminal's
   HTTP server (digest auth): p95. Baseline: GET /healthz of the edge
   (`http_ratio` = p95 ÷ /healthz p95).
4. **Hub online redeem**: `vistapass serve --workers N` with a park of the demo
   catalogue and `--redeem-tickets` day tickets for today sold at the window;
   `--clients` scanners with a device credential redeem each ticket once,
   closed loop (each sends its next scan when the answer came): the most
   scans/s. Then `--paced-redeems` more, open loop at 400 scans/s in all (the
   goal's load), latency counted from when each scan was due: p50/p99. Baseline:
   the same clients on GET /healthz (`redeem_ratio` = redeems/s ÷ healthz/s).

Goals (issue 7): decision p99 <= 5 ms, >= 5,000 scans/s per edge process,
scan-to-open p95 <= 50 ms on loopback, online redeem >= 400 scans/s with p99 <=
50 ms. They are reported, not enforced: the exit code is non-zero only when the
measurement failed or a check did (a first entry refused, a door that did not
open). PostgreSQL and Redis come from `VISTAPASS_BENCH_DATABASE_URL` /
`VISTAPASS_BENCH_REDIS_URL`, or start embedded in a temporary folder; the MQTT
broker from `VISTAPASS_BENCH_MQTT_URL`, or embedded (amqtt). The run
works in a database, role prefix, Redis namespace and MQTT topics of its own and
removes all it made at the end, also on failure. The last line of stdout is
`decision_p99_ms=… scans_per_s=… mqtt_open_p95_ms=… http_open_p95_ms=…
redeem_per_s=… redeem_p99_ms=… decision_ratio=… mqtt_ratio=… http_ratio=… redeem_ratio=…`;
`decision_p99_ms` is the unloaded phase's (one decision's own time; under 32
closed-loop lanes the p99 is mostly queueing, lanes ÷ throughput), `scans_per_s`
the loaded phase's, `redeem_per_s` the closed-loop redeem's and `redeem_p99_ms`
the paced one's.

The parts are in the modules beside this file (bench/ is `sys.path[0]` when it
runs): `gate_edge` (the store and the decision phase), `gate_mqtt`, `gate_devices`
(the ISAPI terminal and the HTTP phase), `gate_hub` (the park and the redeem
phase), `gate_figures` (figures and goals); the loopback HTTP client (`raw_http`)
and the app server and database helpers of `bench/sale.py` are shared.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from redis import Redis
from sqlalchemy.engine import make_url

from vistapass.platform.embedded.services import ensure_services
from vistapass.platform.logging import configure_logging
from vistapass.platform.settings import Settings

# isort: split
# Modules beside this file: bench/ is sys.path[0] when it runs as a script.
from bench_run import Cleanup, measured, positive_int, stop_on_sigterm
from gate_devices import DoorTerminal, device_rows, measure_http
from gate_edge import (
    EDGE_PHASES,
    EdgeSetup,
    build_edge,
    measure_decision,
    measure_loaded,
    measure_paced,
)
from gate_figures import GOAL_SCANS_PER_S, Figures
from gate_hub import WARMUP_PER_CLIENT, measure_redeem, prepare_park
from gate_mqtt import measure_mqtt
from sale_figures import say
from sale_park import create_database, drop_database_and_roles
from sale_server import (
    connections_per_worker,
    free_port,
    server_command,
    start_server,
    stop_server,
    wait_healthy,
)

# (full run, --quick): sizes of each phase.
SIZES = {
    "scans": (20_000, 2_000),
    "mqtt_scans": (2_000, 200),
    "http_events": (1_000, 100),
    "redeem_tickets": (4_000, 200),
    "paced_redeems": (2_000, 200),
    "workers": (2, 1),
}
CLIENTS = 16
LANES = 32
TURNSTILES = 4
TERMINALS = 4
DEVICE_WARMUP = 5  # untimed scans per MQTT turnstile and ISAPI terminal
FORGED_CODES = 50


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, for a smoke test (defaults below)"
    )
    for name, (full, quick) in SIZES.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=positive_int,
            default=None,
            help=f"default {full}, with --quick {quick}",
        )
    parser.add_argument(
        "--lanes", type=positive_int, default=LANES, help=f"edge lanes when loaded ({LANES})"
    )
    parser.add_argument(
        "--clients", type=positive_int, default=CLIENTS, help=f"redeem scanners ({CLIENTS})"
    )
    parser.add_argument(
        "--turnstiles", type=positive_int, default=TURNSTILES, help=f"MQTT devices ({TURNSTILES})"
    )
    parser.add_argument(
        "--terminals", type=positive_int, default=TERMINALS, help=f"ISAPI devices ({TERMINALS})"
    )
    args = parser.parse_args(argv)
    for name, (full, quick) in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    return args


# --- the edge ---------------------------------------------------------------------------


async def _device_phases(setup: EdgeSetup, terminal: DoorTerminal, args: argparse.Namespace,
                         figures: Figures) -> None:  # fmt: skip
    await measure_mqtt(setup, args.turnstiles, DEVICE_WARMUP, figures)
    await measure_http(setup, terminal, args.terminals, DEVICE_WARMUP, figures)


def measure_edge(
    args: argparse.Namespace, run_id: str, data_dir: Path, figures: Figures, cleanups: list[Cleanup]
) -> None:
    terminal = DoorTerminal()  # listens during the HTTP phase only
    counts = (
        EDGE_PHASES * args.scans,
        args.mqtt_scans + DEVICE_WARMUP * args.turnstiles,
        args.http_events + DEVICE_WARMUP * args.terminals,
    )
    setup = build_edge(
        data_dir / "edge",
        f"gate-bench-{run_id}",
        counts,
        device_rows(terminal.base_url, args.turnstiles, args.terminals),
        FORGED_CODES,
    )
    cleanups.append(("closing the edge", lambda: _close_edge(setup)))
    measure_decision(setup, args.scans, int(run_id, 16), figures)
    measure_loaded(setup, args.scans, args.lanes, int(run_id, 16) + 1, figures)
    measure_paced(setup, args.scans, args.lanes, GOAL_SCANS_PER_S, int(run_id, 16) + 2, figures)
    asyncio.run(_device_phases(setup, terminal, args, figures))


def _close_edge(setup: EdgeSetup) -> None:
    # The edge's hub client was never used, but it holds a connection pool.
    asyncio.run(setup.edge.client.aclose())
    setup.edge.decider.close()
    setup.edge.store.close()


# --- the hub ----------------------------------------------------------------------------


def _clear_namespace(redis_url: str, namespace: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"{namespace}*"):
            client.delete(key)
    finally:
        client.close()


def measure_hub(
    args: argparse.Namespace, run_id: str, data_dir: Path, figures: Figures, cleanups: list[Cleanup]
) -> None:
    services = ensure_services(
        Settings(
            data_dir=data_dir / "services",
            database_url=os.environ.get("VISTAPASS_BENCH_DATABASE_URL", ""),
            redis_url=os.environ.get("VISTAPASS_BENCH_REDIS_URL", ""),
        )
    )
    cleanups.append(("stopping the servers", services.stop_started))
    server_url = services.settings.database_url
    database, role_prefix = f"vistapass_bench_gate_{run_id}", f"vg{run_id}"
    # What start_server gives the app server: its Redis keys are under this namespace.
    namespace = f"vistapass-bench-{run_id}"
    create_database(server_url, database)
    cleanups.append(
        (
            "dropping the database",
            lambda: drop_database_and_roles(server_url, database, role_prefix),
        )
    )
    redis_url = services.settings.redis_url
    cleanups.append(("clearing the Redis keys", lambda: _clear_namespace(redis_url, namespace)))
    say(f"hub: database {database}, role prefix {role_prefix}")
    # The app server gets the same data folder, hence the same secret key.
    (data_dir / "hub").mkdir()
    settings = services.settings.model_copy(
        update={
            "database_url": make_url(server_url).set(database=database).render_as_string(False),
            "db_role_prefix": role_prefix,
            "redis_namespace": namespace,
            "data_dir": data_dir / "hub",
            "demo_park": False,
        }
    )
    park = prepare_park(
        settings,
        f"gate-bench-{run_id}",
        args.redeem_tickets + args.paced_redeems + args.clients * WARMUP_PER_CLIENT,
    )
    port = free_port()
    log = data_dir / "server.log"
    server = start_server(settings, args.workers, port, settings.data_dir, run_id, log)
    cleanups.append(("stopping the app server", lambda: stop_server(server)))
    ready_s = wait_healthy(f"http://127.0.0.1:{port}", server, log)
    command = " ".join(server_command(args.workers)[-3:])
    say(f"hub: {command} on port {port}, healthy in {ready_s:.1f} s")
    per_worker = partial(connections_per_worker, server.pid, port)
    asyncio.run(measure_redeem(port, park, args.clients, args.paced_redeems, figures, per_worker))


# --- the run ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    # The edge logs every refusal; the figures are the output. Litestar's default
    # logging (the edge's app sets it up) would show each door-open call and migration.
    configure_logging(Settings(log_level="WARNING"))
    for chatty in ("httpx", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    started = time.perf_counter()
    run_id = secrets.token_hex(3)
    data_dir = Path(tempfile.mkdtemp(prefix="vistapass-bench-gate-"))
    figures = Figures()
    say(
        f"gate bench {run_id}: {args.scans} decisions unloaded, loaded and paced by "
        f"{args.lanes} lanes, {args.mqtt_scans} MQTT scans, "
        f"{args.http_events} ISAPI events, {args.redeem_tickets} redeems by {args.clients} "
        f"clients on {args.workers} workers"
    )

    def measure(cleanups: list[Cleanup]) -> None:
        measure_edge(args, run_id, data_dir, figures, cleanups)
        measure_hub(args, run_id, data_dir, figures, cleanups)

    if not measured("bench/gate.py", data_dir, measure):
        return 1
    figures.report()
    say(f"run took {time.perf_counter() - started:.1f} s")
    say(figures.final_line())
    return 1 if figures.problems else 0


if __name__ == "__main__":
    sys.exit(main())
