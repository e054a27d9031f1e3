"""Tenancy benchmark: how fast a park goes live and how fast `db upgrade` walks every schema.

Run as `.venv/bin/python bench/tenancy.py [--sizes 100,1000] [--concurrency N]`
(`make bench-tenancy`).

What is measured, in one run, on a database and role prefix of its own:

1. **Baseline**: for 50 schemas, the bare minimum a park needs done by hand with
   psycopg, one transaction each: `CREATE SCHEMA`, `CREATE ROLE ... NOLOGIN`,
   `GRANT USAGE` and the two tables of the tenant tree as raw `CREATE TABLE`s.
   The mean per schema is `baseline_s`: the floor any provisioning code sits on.
2. **Provisioning**: after the control plane is migrated, parks are created one
   after another with `provision_tenant` up to the largest size. For each size N:
   the total seconds to get to N parks, and the mean and p95 of one park's
   `provision_tenant` call (its "live" time) over those N parks.
3. **Upgrade**: when the park count reaches each size, every park schema is
   downgraded to base (untimed, one transaction each), then `upgrade_all` is timed
   as it brings `public` and every schema back to head with `--concurrency` worker
   processes; every result must be ok and at head, or the run fails.
4. **Catalog**: the `pg_class` rows of one park schema, and the growth of the
   `pg_catalog` relations (`pg_total_relation_size`, shared catalogs included)
   over the provisioning phases, per park in KB. The downgrade/upgrade phases
   in between are left out of that growth.

Goals: a park is live in <= 3 s, and 1,000 schemas are upgraded in <= 120 s on a
2-core machine. The goals are reported, not enforced: the exit code only says
whether the measurement itself succeeded.

The servers come from `VISTAPASS_BENCH_DATABASE_URL` / `VISTAPASS_BENCH_REDIS_URL`,
or start embedded in a temporary folder. Whatever the run started or created
(servers, folder, database, roles) is removed at the end, also on failure. The
last line of stdout is the figures as space-separated `key=value` pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psycopg
from psycopg import sql
from sqlalchemy import TextClause, select, text
from sqlalchemy.engine import make_url

from vistapass.platform.db import Database
from vistapass.platform.db.migrations import Tree, downgrade_tenant, head
from vistapass.platform.embedded.services import Services, ensure_services
from vistapass.platform.models import Tenant, TenantStatus
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.platform.tenancy.upgrade import SchemaResult, upgrade_all, upgrade_control_plane

BASELINE_SCHEMAS = 50
DEFAULT_SIZES = (100, 1000)
GOAL_PARK_LIVE_S = 3.0
GOAL_UPGRADE_1000_S = 120.0

# The tenant tree's two tables (tenants/migrations/versions/*.py), written by hand.
BASELINE_TABLES = (
    """CREATE TABLE {schema}.park_profile (
        id smallint NOT NULL,
        display_name text NOT NULL,
        time_zone varchar(64) NOT NULL,
        currency varchar(3) NOT NULL,
        default_locale varchar(10) NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ck_park_profile_single_row CHECK (id = 1),
        CONSTRAINT pk_park_profile PRIMARY KEY (id)
    )""",
    """CREATE TABLE {schema}.job_runs (
        message_id varchar(64) NOT NULL,
        actor_name varchar(100) NOT NULL,
        finished_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_job_runs PRIMARY KEY (message_id)
    )""",
)

CATALOG_BYTES = text(
    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'pg_catalog' AND c.relkind = 'r'"
)
SCHEMA_RELATIONS = text(
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = :schema"
)


class BenchFailure(Exception):
    """The benchmark could not measure what it set out to; the message says why."""


@dataclass
class Figures:
    sizes: tuple[int, ...]
    concurrency: int
    baseline_s: float = 0.0
    park_times: list[float] = field(default_factory=list)
    upgrade_s: dict[int, float] = field(default_factory=dict)
    catalog_rels_per_schema: int = 0
    catalog_growth_bytes: int = 0


# --- arguments -----------------------------------------------------------------------


def parse_sizes(value: str) -> tuple[int, ...]:
    try:
        sizes = sorted({int(part) for part in value.split(",") if part.strip()})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of park counts: {value!r}") from exc
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes are positive park counts, e.g. 100,1000")
    return tuple(sizes)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=DEFAULT_SIZES,
        help="park counts to report, comma-separated (default: 100,1000)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="worker processes for the upgrade (default: settings.migrate_concurrency)",
    )
    args = parser.parse_args(argv)
    if args.concurrency is not None and args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    return args


# --- small helpers -------------------------------------------------------------------


def say(message: str) -> None:
    print(message, flush=True)


def p95(values: Sequence[float]) -> float:
    """The nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def libpq_url(url: str, database: str) -> str:
    return make_url(url).set(drivername="postgresql", database=database).render_as_string(False)


def slug_for(index: int) -> str:
    return f"park-{index:05d}"


# --- the bench database and its roles ------------------------------------------------


def create_database(server_url: str, database: str) -> None:
    with psycopg.connect(libpq_url(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def drop_database_and_roles(server_url: str, database: str, role_prefix: str) -> int:
    """Drop the database, then every role with the prefix; returns the roles dropped."""
    with psycopg.connect(libpq_url(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )
        roles = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (role_prefix + "\\_%",)
        ).fetchall()
        for (role,) in roles:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    return len(roles)


# --- baseline ------------------------------------------------------------------------


def baseline_schema(conn: psycopg.Connection, schema: str, role: str) -> None:
    schema_id, role_id = sql.Identifier(schema), sql.Identifier(role)
    with conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema_id))
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(role_id))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema_id, role_id))
        for statement in BASELINE_TABLES:
            conn.execute(sql.SQL(statement).format(schema=schema_id))


def measure_baseline(database_url: str, role_prefix: str) -> float:
    """Mean seconds for one hand-made park schema, over BASELINE_SCHEMAS of them."""
    timings: list[float] = []
    with psycopg.connect(libpq_url(database_url, make_url(database_url).database or "")) as conn:
        conn.autocommit = True
        for index in range(BASELINE_SCHEMAS):
            schema = f"bl_{index:04d}"
            started = time.perf_counter()
            baseline_schema(conn, schema, f"{role_prefix}_{schema}")
            timings.append(time.perf_counter() - started)
    return statistics.fmean(timings)


# --- provisioning, upgrade, catalog --------------------------------------------------


async def scalar(db: Database, statement: TextClause, **params: object) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(statement, params)).scalar_one())


async def provision_up_to(db: Database, figures: Figures, target: int) -> None:
    """Provision parks one after another until there are `target` of them."""
    step = max(1, target // 10)
    while len(figures.park_times) < target:
        index = len(figures.park_times) + 1
        started = time.perf_counter()
        await provision_tenant(db, slug_for(index), f"Bench Park {index}")
        figures.park_times.append(time.perf_counter() - started)
        if index % step == 0 or index == target:
            recent = statistics.fmean(figures.park_times[-step:])
            say(f"  {index:>6} parks live, last {step}: {recent:.4f} s/park")


async def live_schemas(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(Tenant.schema_name)
            .where(Tenant.status == TenantStatus.ACTIVE)
            .order_by(Tenant.slug)
        )
        return list(rows.scalars())


async def downgrade_all(db: Database) -> int:
    schemas = await live_schemas(db)
    for schema in schemas:
        await db.in_sync_transaction(downgrade_tenant, schema, "base")
    return len(schemas)


def check_upgrade(results: list[SchemaResult], parks: int) -> None:
    """Fail unless `public` and each of `parks` schemas went from base to head."""
    tenant_head, control_head = head(Tree.TENANT), head(Tree.CONTROL)
    problems = [f"{r.schema}: {r.error}" for r in results if not r.ok]
    if results and results[0].after != control_head:
        problems.append(f"public at {results[0].after}, head is {control_head}")
    tenants = results[1:]
    if len(tenants) != parks:
        problems.append(f"{len(tenants)} park schemas upgraded, expected {parks}")
    problems += [
        f"{r.schema}: {r.before} -> {r.after}, expected None -> {tenant_head}"
        for r in tenants
        if r.ok and (r.before is not None or r.after != tenant_head)
    ]
    if problems:
        shown = "; ".join(problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise BenchFailure(f"upgrade of {parks} schemas failed: {shown}{more}")


async def measure_upgrade(db: Database, figures: Figures, size: int) -> None:
    started = time.perf_counter()
    downgraded = await downgrade_all(db)
    say(f"  downgraded {downgraded} schemas to base in {time.perf_counter() - started:.1f} s")
    if downgraded != size:
        raise BenchFailure(f"{downgraded} live park schemas, expected {size}")
    started = time.perf_counter()
    results = await upgrade_all(db, concurrency=figures.concurrency)
    elapsed = time.perf_counter() - started
    check_upgrade(results, size)
    figures.upgrade_s[size] = elapsed
    say(
        f"  upgraded {size} schemas to head in {elapsed:.2f} s "
        f"({elapsed * 1000 / size:.1f} ms/schema, concurrency {figures.concurrency})"
    )


async def measure_parks(db: Database, figures: Figures) -> None:
    say(f"control plane: {(await upgrade_control_plane(db)).after}")
    for size in figures.sizes:
        say(f"provisioning to {size} parks")
        before = await scalar(db, CATALOG_BYTES)
        await provision_up_to(db, figures, size)
        figures.catalog_growth_bytes += await scalar(db, CATALOG_BYTES) - before
        if not figures.catalog_rels_per_schema:
            first_schema = (await live_schemas(db))[0]
            figures.catalog_rels_per_schema = await scalar(
                db, SCHEMA_RELATIONS, schema=first_schema
            )
        times = figures.park_times[:size]
        say(
            f"  {size} parks: {sum(times):.2f} s total, mean {statistics.fmean(times):.4f} s, "
            f"p95 {p95(times):.4f} s"
        )
        say(f"upgrading {size} schemas")
        await measure_upgrade(db, figures, size)


async def measure_tenancy(settings: Settings, figures: Figures) -> None:
    db = Database(settings)
    try:
        await measure_parks(db, figures)
    finally:
        await db.dispose()


def measure(settings: Settings, figures: Figures) -> None:
    say(f"baseline: {BASELINE_SCHEMAS} hand-made schemas")
    figures.baseline_s = measure_baseline(settings.database_url, settings.db_role_prefix)
    say(f"  {figures.baseline_s:.4f} s/schema")
    asyncio.run(measure_tenancy(settings, figures))


# --- report --------------------------------------------------------------------------


def report_pairs(figures: Figures) -> list[tuple[str, str]]:
    largest = figures.sizes[-1]
    times = figures.park_times[:largest]
    mean = statistics.fmean(times)
    pairs = [
        ("park_live_s", f"{mean:.4f}"),
        ("park_live_p95_s", f"{p95(times):.4f}"),
        ("baseline_s", f"{figures.baseline_s:.4f}"),
        ("park_live_vs_baseline", f"{mean / figures.baseline_s:.1f}"),
    ]
    for size in figures.sizes:
        pairs.append((f"provision_{size}_s", f"{sum(figures.park_times[:size]):.2f}"))
    for size in figures.sizes:
        pairs.append((f"upgrade_{size}_s", f"{figures.upgrade_s[size]:.2f}"))
    pairs += [
        ("upgrade_per_schema_ms", f"{figures.upgrade_s[largest] * 1000 / largest:.1f}"),
        ("catalog_rels_per_schema", str(figures.catalog_rels_per_schema)),
        ("catalog_kb_per_park", f"{figures.catalog_growth_bytes / 1024 / largest:.1f}"),
        ("concurrency", str(figures.concurrency)),
    ]
    return pairs


def report_goals(figures: Figures) -> None:
    largest = figures.sizes[-1]
    mean = statistics.fmean(figures.park_times[:largest])
    verdict = "met" if mean <= GOAL_PARK_LIVE_S else "MISSED"
    say(f"goal: park live <= {GOAL_PARK_LIVE_S:.0f} s: {mean:.4f} s mean, {verdict}")
    per_1000 = figures.upgrade_s[largest] * 1000 / largest
    verdict = "met" if per_1000 <= GOAL_UPGRADE_1000_S else "MISSED"
    scaled = "" if largest == 1000 else f" (scaled from {largest})"
    say(
        f"goal: 1000 schemas upgraded <= {GOAL_UPGRADE_1000_S:.0f} s: "
        f"{per_1000:.1f} s{scaled}, {verdict}"
    )


# --- setup and teardown --------------------------------------------------------------


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_in_own_database(server: Settings, figures: Figures) -> None:
    """Measure in a database and role prefix of this run, then drop both."""
    run_id = secrets.token_hex(3)
    database, role_prefix = f"vistapass_bench_{run_id}", f"vb{run_id}"
    create_database(server.database_url, database)
    say(f"database {database}, role prefix {role_prefix}")
    settings = server.model_copy(
        update={
            "database_url": make_url(server.database_url)
            .set(database=database)
            .render_as_string(False),
            "db_role_prefix": role_prefix,
        }
    )
    try:
        measure(settings, figures)
    finally:
        dropped = drop_database_and_roles(server.database_url, database, role_prefix)
        say(f"dropped database {database} and {dropped} roles")


def attempt(what: str, step: Callable[[], object], problems: list[str]) -> None:
    try:
        step()
    except Exception as exc:
        problems.append(f"{what}: {type(exc).__name__}: {exc}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    data_dir = Path(tempfile.mkdtemp(prefix="vistapass-bench-"))
    services: Services | None = None
    figures: Figures | None = None
    problems: list[str] = []
    try:
        services = ensure_services(
            Settings(
                data_dir=data_dir,
                database_url=os.environ.get("VISTAPASS_BENCH_DATABASE_URL", ""),
                redis_url=os.environ.get("VISTAPASS_BENCH_REDIS_URL", ""),
            )
        )
        concurrency = args.concurrency or services.settings.migrate_concurrency
        figures = Figures(sizes=args.sizes, concurrency=concurrency)
        run_in_own_database(services.settings, figures)
    except BenchFailure as exc:
        problems.append(str(exc))
    except (Exception, KeyboardInterrupt) as exc:
        traceback.print_exc(file=sys.stderr)
        problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        if services is not None:
            attempt("stopping the servers", services.stop_started, problems)
        attempt("removing the data folder", lambda: shutil.rmtree(data_dir), problems)
    if problems or figures is None:
        for problem in problems:
            print(f"bench/tenancy.py failed: {problem}", file=sys.stderr)
        return 1
    report_goals(figures)
    say(f"run took {time.perf_counter() - started:.1f} s")
    say(" ".join(f"{key}={value}" for key, value in report_pairs(figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
