"""Sale benchmark: orders/s over HTTP against the raw PostgreSQL limit of the same writes.

Run as `.venv/bin/python bench/sale.py [--clients 32] [--hot-capacity 5000]
[--spread-requests 15000] [--workers 2] [--duration 5] [--httpx] [--pgbench]`
(`make bench-sale`).

What is measured, in one run, in a park of its own with two timed-entry products
sold for one weekday about ten days ahead:

1. **Raw limit**: with the app server idle, `--clients` psycopg connections to the
   same PostgreSQL server, each running for `--duration` seconds the writes a sale
   is made of and nothing else, one transaction each, once before the HTTP phases
   and once after them (pooled: transactions over seconds of both rounds):
   `BEGIN; UPDATE bucket SET taken = taken + 1 WHERE id = $1 AND taken + 1 <= capacity;
   INSERT INTO orders (bucket, n) VALUES ($1, 1); COMMIT`, (a) always on one row,
   (b) on one of 100 rows at random. Committed transactions per second are the raw
   limits. The client is a Python asyncio loop like the app, so that the ratios
   compare like with like; `--pgbench` also runs pgbench's C client (if it is on
   PATH) as a cross-check, reported but not used in the ratios.
2. **Hot slot**: `--clients` concurrent HTTP clients, one keep-alive connection
   each, post one-place orders for one slot of `--hot-capacity` places of a
   flash-sale product (Redis gate in front), 1.5 times as many as there are
   places, so that it sells out. Its orders/s is the places sold divided by the
   seconds until the last one was sold: the sold-out answers after that measure
   rejection, not selling, and would make the figure depend on the overshoot.
   `sold_out` answers that came before a request that was then sold a place are
   counted apart (no place comes back during a run, so those answers were false),
   and so is the rate of `sold_out` answers after the sell-out.
3. **Spread**: `--spread-requests` orders over 100 slots chosen at random, none of
   which can fill up; orders/s is 201 answers per wall second of the phase.
4. **Oversell**: at the end, for every bucket of both products, the places in
   pending or paid orders must be at most the slot's capacity, equal the bucket's
   `taken`, and add up to the 201 answers the clients saw; the hot slot must be
   sold out exactly. `oversold` is the places sold beyond capacity.

For both HTTP phases: p50/p95/p99 latency over every request; the errors (answers
other than 201 and 409 `sold_out`, exceptions, and in the spread phase `sold_out`
too); and the cores used by the client, the app server (and each of its
processes), PostgreSQL and Redis (when the run started them), the rest of the
machine (`other`: a test suite running alongside makes a run's figures unreliable)
and the host of a virtual machine (`steal`). Placing an order is measured; paying
for it (a second call) is not. Untimed warm-up orders come first, and the clients
reconnect until every server worker holds some of their connections: a worker
still starting when /healthz first answers would otherwise get none for the run.
The HTTP client is a minimal HTTP/1.1 one written here: httpx costs about 3 ms of
CPU per request on a 2-core machine, could not send more than ~350 requests/s, and
would take CPU from the server measured; `--httpx` sends with httpx instead.

Goals on a 2-core machine: hot slot >= 1.0x the raw single-row limit, spread >=
0.5x the raw 100-row limit. The goals are reported, not enforced: the exit code is
non-zero only when the measurement failed or the oversell check found a problem.

The app server is `vistapass serve --workers N` on a free port, started by the run,
unless `VISTAPASS_BENCH_URL` names a running server. PostgreSQL and Redis come
from `VISTAPASS_BENCH_DATABASE_URL` / `VISTAPASS_BENCH_REDIS_URL`, or start
embedded in a temporary folder, and the run works in a database and role prefix
of its own. With `VISTAPASS_BENCH_URL`, `VISTAPASS_BENCH_DATABASE_URL` must name
the (migrated) database that server uses: the park and the raw tables are created
in it, in schemas of the run's own. Whatever the run started or created (servers,
folder, database or schemas, roles) is removed at the end, also on failure. The
last line of stdout is
`hot_orders_s=... hot_ratio=... spread_orders_s=... spread_ratio=... oversold=0`.

This file is the entry point: arguments, the run's setup and teardown, the order of
the phases and the report. The parts are in the modules beside it, imported by name
since the bench is no package (`bench/` is `sys.path[0]` when this runs):
`sale_figures` (the plan and the figures), `sale_park` (the park, the database and
the oversell check), `sale_raw` (the raw PostgreSQL limit and pgbench),
`sale_server` (the app server), `sale_http` (the HTTP clients and phases) and
`sale_cpu` (CPU accounting).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from sqlalchemy.engine import make_url

from vistapass.platform.embedded.postgres import EmbeddedPostgres
from vistapass.platform.embedded.redis import EmbeddedRedis
from vistapass.platform.embedded.services import Services, ensure_services
from vistapass.platform.settings import Settings

# isort: split
# Modules beside this file: bench/ is sys.path[0] when it runs as a script.
from bench_run import Cleanup, measured, positive_int, stop_on_sigterm
from sale_cpu import CpuMeter
from sale_figures import (
    HOT_PRODUCT,
    HOT_SLOT,
    SPREAD_PRODUCT,
    SPREAD_SLOTS,
    BenchFailure,
    Figures,
    Phase,
    Plan,
    detail_pairs,
    final_pairs,
    percentile,
    say,
)
from sale_http import (
    BALANCE_ATTEMPTS,
    WARMUP_PER_CLIENT,
    HttpxClient,
    RawClient,
    order_body,
    run_phase,
    spread_over_workers,
    warm_up,
)
from sale_park import (
    check_oversell,
    create_database,
    drop_database_and_roles,
    drop_park,
    prepare_park,
    visit_date,
)
from sale_raw import create_raw_tables, drop_schema, measure_pgbench, measure_raw
from sale_server import (
    connections_per_worker,
    free_port,
    server_command,
    start_server,
    stop_server,
    wait_healthy,
)

DEFAULT_CLIENTS = 32
# Phases of a few seconds each here: at one second (1,000 places) a run's figure
# moved by a quarter from one run to the next, set by how its first and last
# batches fell. The hot phase also answers the sold-out stampede after it sells.
DEFAULT_HOT_CAPACITY = 5000
DEFAULT_SPREAD_REQUESTS = 15000
DEFAULT_WORKERS = 2
DEFAULT_DURATION_S = 5.0
# Requests per place in the hot phase: enough that the slot surely sells out.
HOT_OVERSHOOT = 1.5
GOAL_HOT_RATIO = 1.0
GOAL_SPREAD_RATIO = 0.5
# Whose CPU per request is reported (the rest of the machine is not the run's).
CPU_PER_REQUEST = ("client", "server", "postgres", "redis")


# --- arguments -------------------------------------------------------------------------


def positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from exc
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be above 0: {value!r}")
    return number


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clients",
        type=positive_int,
        default=DEFAULT_CLIENTS,
        help=f"concurrent HTTP clients and raw connections (default: {DEFAULT_CLIENTS})",
    )
    parser.add_argument(
        "--hot-capacity",
        type=positive_int,
        default=DEFAULT_HOT_CAPACITY,
        help=f"places in the hot slot (default: {DEFAULT_HOT_CAPACITY})",
    )
    parser.add_argument(
        "--spread-requests",
        type=positive_int,
        default=DEFAULT_SPREAD_REQUESTS,
        help=f"orders over the {SPREAD_SLOTS} slots (default: {DEFAULT_SPREAD_REQUESTS})",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=DEFAULT_WORKERS,
        help=f"server worker processes (default: {DEFAULT_WORKERS}; "
        "ignored with VISTAPASS_BENCH_URL)",
    )
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=DEFAULT_DURATION_S,
        help=f"seconds per raw PostgreSQL phase (default: {DEFAULT_DURATION_S:g})",
    )
    parser.add_argument(
        "--httpx",
        action="store_true",
        help="send the orders with httpx instead of the bench's own HTTP/1.1 client",
    )
    parser.add_argument(
        "--pgbench",
        action="store_true",
        help="also run pgbench on the raw writes as a cross-check (not used in the ratios)",
    )
    args = parser.parse_args(argv)
    # The park's slots cap a capacity at this (plugins/pricing/time_slot.py).
    if args.hot_capacity > 1_000_000:
        parser.error("--hot-capacity is at most 1000000")
    return args


# --- HTTP phases -----------------------------------------------------------------------


def report_phase(phase: Phase) -> None:
    def ms(values: Sequence[float], share: float) -> str:
        return f"{percentile(values, share) * 1000:.1f}"

    if phase.until_sold_out:
        sold_for = f"{phase.sold} sold in {phase.selling_s:.2f} s (until the last sale)"
        refused = (
            f"{phase.sold_out} sold out ({phase.early_sold_out} before the last sale was asked "
            f"for; {phase.rejects_s:.1f}/s after it), "
        )
    else:
        sold_for, refused = f"{phase.sold} sold in {phase.selling_s:.2f} s", ""
    say(
        f"{phase.name}: {phase.requests} requests in {phase.wall_s:.2f} s, {sold_for}: "
        f"{phase.orders_s:.1f} orders/s; {refused}{phase.error_count} errors"
    )
    say(
        f"  latency all p50/p95/p99 {ms(phase.latencies, 0.5)}/{ms(phase.latencies, 0.95)}/"
        f"{ms(phase.latencies, 0.99)} ms; sold p50/p95/p99 {ms(phase.sale_latencies, 0.5)}/"
        f"{ms(phase.sale_latencies, 0.95)}/{ms(phase.sale_latencies, 0.99)} ms"
    )
    if phase.cpu_cores:
        used = ", ".join(f"{name} {cores:.2f}" for name, cores in phase.cpu_cores.items())
        say(f"  cpu in cores: {used}")
        spent = {name: phase.cpu_ms_per_request(name) for name in CPU_PER_REQUEST}
        per_request = ", ".join(f"{name} {ms:.3f}" for name, ms in spent.items() if ms)
        say(f"  cpu per request in ms: {per_request}")
    busy = [f"{cores:.2f}" for cores in phase.server_processes if cores >= 0.01]
    if busy:
        # Keep-alive connections stay with the worker that accepted them: one busy
        # worker and idle others means the load was not spread.
        say(f"  server processes in cores: {', '.join(busy)}")
    if phase.errors:
        shown = ", ".join(f"{kind} x{count}" for kind, count in phase.errors.most_common(5))
        say(f"  errors: {shown}")


async def measure_http(
    base_url: str,
    plan: Plan,
    args: argparse.Namespace,
    figures: Figures,
    meter: CpuMeter,
    balance: Callable[[], list[int]] | None,
) -> None:
    orders_url = f"{base_url}/p/{plan.slug}/api/v1/orders"
    pick = random.Random(plan.run_id)

    def spread_body(_number: int) -> bytes:
        return order_body(SPREAD_PRODUCT, plan.visit_date, pick.choice(plan.spread_slots))

    def hot_body(_number: int) -> bytes:
        return order_body(HOT_PRODUCT, plan.visit_date, HOT_SLOT)

    client_type = HttpxClient if args.httpx else RawClient
    client = client_type(orders_url, args.clients)
    try:
        await warm_up(client, plan, args.clients, figures, spread_body)
        if balance is not None:
            await spread_over_workers(
                client,
                balance,
                lambda round_: warm_up(client, plan, args.clients, figures, spread_body, round_),
                args.clients,
            )
        phases = (
            (Phase("hot", plan.hot_requests, until_sold_out=True), hot_body),
            (Phase("spread", plan.spread_requests), spread_body),
        )
        for phase, body_for in phases:
            before = meter.sample()
            await run_phase(client, plan, phase, args.clients, body_for)
            after = meter.sample()
            phase.cpu_cores = meter.cores(before, after, phase.wall_s)
            phase.server_processes = meter.processes(before, after, phase.wall_s, "server")
            report_phase(phase)
        figures.hot, figures.spread = phases[0][0], phases[1][0]
    finally:
        await client.aclose()


# --- report ----------------------------------------------------------------------------


def report_goals(figures: Figures) -> None:
    for name, ratio, goal, raw in (
        ("hot slot", figures.hot_ratio, GOAL_HOT_RATIO, "raw single-row limit"),
        ("spread", figures.spread_ratio, GOAL_SPREAD_RATIO, f"raw {SPREAD_SLOTS}-row limit"),
    ):
        verdict = "met" if ratio >= goal else "MISSED"
        say(f"goal: {name} >= {goal:.1f}x the {raw}: {ratio:.3f}x, {verdict}")


# --- setup and teardown ----------------------------------------------------------------


def make_plan(args: argparse.Namespace) -> Plan:
    run_id = secrets.token_hex(3)
    # Every warm-up round may be needed to spread the connections over the workers.
    warmup = WARMUP_PER_CLIENT * args.clients * (BALANCE_ATTEMPTS + 1)
    return Plan(
        run_id=run_id,
        slug=f"sale-{run_id}",
        visit_date=visit_date(),
        hot_capacity=args.hot_capacity,
        hot_requests=math.ceil(args.hot_capacity * HOT_OVERSHOOT),
        # Every spread order could land in one slot and still find a place.
        spread_capacity=min(1_000_000, args.spread_requests + warmup),
        spread_requests=args.spread_requests,
    )


def embedded_pids(services: Services) -> dict[str, int]:
    """PostgreSQL's and Redis's pids, when this run started them (else unknown)."""
    pids: dict[str, int] = {}
    for server in services.started:
        if isinstance(server, EmbeddedPostgres) and (running := server.running()):
            pids["postgres"] = running.pid
        elif isinstance(server, EmbeddedRedis) and (running_redis := server.running()):
            pids["redis"] = running_redis.pid
    return pids


def measure(
    args: argparse.Namespace, data_dir: Path, figures: Figures, cleanups: list[Cleanup]
) -> None:
    """Set up, measure and check; every resource made is registered in `cleanups`."""
    plan = make_plan(args)
    external_url = os.environ.get("VISTAPASS_BENCH_URL", "").rstrip("/")
    bench_database_url = os.environ.get("VISTAPASS_BENCH_DATABASE_URL", "")
    bench_redis_url = os.environ.get("VISTAPASS_BENCH_REDIS_URL", "")
    trees: dict[str, int] = {}
    raw_schema = f"bench_raw_{plan.run_id}"
    if external_url:
        if not bench_database_url:
            raise BenchFailure(
                "VISTAPASS_BENCH_URL needs VISTAPASS_BENCH_DATABASE_URL: the database that "
                "server uses, where the park is created"
            )
        settings = Settings(
            data_dir=data_dir, database_url=bench_database_url, redis_url=bench_redis_url
        )
        database_url = settings.database_url
        say(f"server {external_url}, database {make_url(database_url).database}")
        cleanups.append(
            ("dropping the park", lambda: drop_park(database_url, plan, settings.db_role_prefix))
        )
    else:
        services = ensure_services(
            Settings(data_dir=data_dir, database_url=bench_database_url, redis_url=bench_redis_url)
        )
        cleanups.append(("stopping the servers", services.stop_started))
        trees.update(embedded_pids(services))
        database, role_prefix = f"vistapass_bench_{plan.run_id}", f"vb{plan.run_id}"
        server_url = services.settings.database_url
        create_database(server_url, database)
        cleanups.append(
            (
                "dropping the database",
                lambda: drop_database_and_roles(server_url, database, role_prefix),
            )
        )
        say(f"database {database}, role prefix {role_prefix}")
        settings = services.settings.model_copy(
            update={
                "database_url": make_url(server_url).set(database=database).render_as_string(False),
                "db_role_prefix": role_prefix,
            }
        )
        database_url = settings.database_url
    asyncio.run(prepare_park(settings, plan, migrate=not external_url))

    create_raw_tables(database_url, raw_schema)
    cleanups.append(("dropping the raw tables", lambda: drop_schema(database_url, raw_schema)))
    measure_raw(database_url, raw_schema, args, figures, "before")
    if args.pgbench:
        measure_pgbench(database_url, raw_schema, args, figures, data_dir)

    # The server's worker processes are only known when the run started the server.
    balance: Callable[[], list[int]] | None = None
    if external_url:
        base_url = external_url
        wait_healthy(base_url, None, None)
    else:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        log = data_dir / "server.log"
        server = start_server(settings, args.workers, port, data_dir / "server", plan.run_id, log)
        cleanups.append(("stopping the app server", lambda: stop_server(server)))
        trees["server"] = server.pid
        balance = partial(connections_per_worker, server.pid, port)
        ready_s = wait_healthy(base_url, server, log)
        say(
            f"server: {' '.join(server_command(args.workers)[-3:])} at {base_url}, "
            f"healthy in {ready_s:.1f} s"
        )
    asyncio.run(measure_http(base_url, plan, args, figures, CpuMeter(trees), balance))
    check_oversell(database_url, plan, figures)
    # This machine's speed drifts by a quarter within minutes: a second round after
    # the HTTP phases, pooled with the first, is the baseline they are held against.
    measure_raw(database_url, raw_schema, args, figures, "after")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    started = time.perf_counter()
    data_dir = Path(tempfile.mkdtemp(prefix="vistapass-bench-sale-"))
    external = bool(os.environ.get("VISTAPASS_BENCH_URL"))
    figures = Figures(clients=args.clients, workers=None if external else args.workers)
    if not measured(
        "bench/sale.py", data_dir, lambda cleanups: measure(args, data_dir, figures, cleanups)
    ):
        return 1
    report_goals(figures)
    say(f"run took {time.perf_counter() - started:.1f} s")
    say("figures: " + " ".join(f"{key}={value}" for key, value in detail_pairs(figures)))
    say(" ".join(f"{key}={value}" for key, value in final_pairs(figures)))
    if figures.check_problems:
        print(
            f"bench/sale.py: the oversell check failed ({len(figures.check_problems)} problems)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
