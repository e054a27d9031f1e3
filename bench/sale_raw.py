"""The raw PostgreSQL limit: the writes a sale is made of, with no app in between.

The sale benchmark's ratios divide the app's orders/s by these transactions/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

# isort: split
# Modules beside this one: bench/ is sys.path[0] when bench/sale.py runs.
from sale_figures import SPREAD_SLOTS, BenchFailure, Figures, RawResult, say
from sale_park import libpq_url

# The raw buckets never run out, so every raw transaction does both writes.
RAW_CAPACITY = 2_000_000_000

RAW_TABLES = (
    "CREATE TABLE {schema}.bucket (id int PRIMARY KEY, capacity int NOT NULL, taken int NOT NULL)",
    "CREATE TABLE {schema}.orders (id bigserial PRIMARY KEY, bucket int NOT NULL, "
    "n int NOT NULL, at timestamptz NOT NULL DEFAULT now())",
)
RAW_UPDATE = "UPDATE {schema}.bucket SET taken = taken + 1 WHERE id = %s AND taken + 1 <= capacity"
RAW_INSERT = "INSERT INTO {schema}.orders (bucket, n) VALUES (%s, 1)"
PGBENCH_SCRIPT = """\\set b random(1, :buckets)
BEGIN;
UPDATE {schema}.bucket SET taken = taken + 1 WHERE id = :b AND taken + 1 <= capacity;
INSERT INTO {schema}.orders (bucket, n) VALUES (:b, 1);
COMMIT;
"""


def create_raw_tables(database_url: str, schema: str) -> None:
    schema_id = sql.Identifier(schema)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn, conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema_id))
        for statement in RAW_TABLES:
            conn.execute(sql.SQL(statement).format(schema=schema_id))
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.bucket (id, capacity, taken) "
                "SELECT i, %s, 0 FROM generate_series(1, %s) AS i"
            ).format(schema_id),
            (RAW_CAPACITY, SPREAD_SLOTS),
        )


def drop_schema(database_url: str, schema: str) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


async def raw_phase(
    database_url: str, schema: str, result: RawResult, clients: int, duration: float, rows: int
) -> None:
    """Every connection commits update-and-insert transactions until the time is up."""
    update = sql.SQL(RAW_UPDATE).format(schema=sql.Identifier(schema))
    insert = sql.SQL(RAW_INSERT).format(schema=sql.Identifier(schema))
    # Autocommit, so that `transaction()` sends BEGIN and COMMIT: four round trips,
    # as pgbench would send them (psycopg prepares the statements after a few runs).
    connections = [
        await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True)
        for _ in range(clients)
    ]
    committed = [0] * clients

    async def client(index: int, conn: psycopg.AsyncConnection[Any], deadline: float) -> None:
        pick = random.Random(index)
        while time.perf_counter() < deadline:
            bucket = 1 if rows == 1 else pick.randint(1, rows)
            async with conn.transaction():
                await conn.execute(update, (bucket,))
                await conn.execute(insert, (bucket,))
            committed[index] += 1

    try:
        started = time.perf_counter()
        await asyncio.gather(
            *(client(i, conn, started + duration) for i, conn in enumerate(connections))
        )
        # Added up over the rounds: the limit is the rate of them all together.
        result.seconds += time.perf_counter() - started
        result.transactions += sum(committed)
    finally:
        for conn in connections:
            await conn.close()


def run_pgbench(
    database_url: str, schema: str, clients: int, duration: float, rows: int, folder: Path
) -> float:
    """pgbench's transactions per second on the same writes, or raise BenchFailure."""
    script = folder / f"raw-{rows}.sql"
    script.write_text(PGBENCH_SCRIPT.format(schema=schema))
    url = make_url(libpq_url(database_url))
    # A password goes in the environment, not on a command line others can read.
    env = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    conninfo = URL.create(
        url.drivername,
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    ).render_as_string(False)
    command = [
        "pgbench", "--no-vacuum", "--protocol=prepared", f"--client={clients}",
        f"--jobs={min(clients, os.cpu_count() or 1)}", f"--time={max(1, round(duration))}",
        f"--define=buckets={rows}", f"--file={script}", conninfo,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    found = re.search(r"^tps = ([0-9.]+)", done.stdout, re.MULTILINE)
    if done.returncode != 0 or found is None:
        raise BenchFailure(f"pgbench failed: {(done.stderr or done.stdout).strip()[-500:]}")
    return float(found.group(1))


def measure_raw(
    database_url: str, schema: str, args: argparse.Namespace, figures: Figures, when: str
) -> None:
    """One round of the raw limits (`when`: before or after the HTTP phases)."""
    clients, duration = args.clients, args.duration
    for result, rows in ((figures.raw_hot, 1), (figures.raw_spread, SPREAD_SLOTS)):
        before = result.transactions, result.seconds
        asyncio.run(raw_phase(database_url, schema, result, clients, duration, rows))
        transactions, seconds = result.transactions - before[0], result.seconds - before[1]
        say(
            f"raw {result.name} ({rows} row{'s' if rows > 1 else ''}), {when}: {clients} "
            f"connections, {transactions} transactions in {seconds:.2f} s, "
            f"{transactions / seconds:.1f} tx/s"
        )


def measure_pgbench(
    database_url: str, schema: str, args: argparse.Namespace, figures: Figures, folder: Path
) -> None:
    if shutil.which("pgbench") is None:
        say("pgbench: not on PATH, skipped")
        return
    for name, rows in (("hot", 1), ("spread", SPREAD_SLOTS)):
        tx_s = run_pgbench(database_url, schema, args.clients, args.duration, rows, folder)
        figures.pgbench_tx_s[name] = tx_s
        plural = "s" if rows > 1 else ""
        say(f"pgbench {name} ({rows} row{plural}): {tx_s:.1f} tx/s (cross-check only)")
