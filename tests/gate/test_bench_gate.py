"""`bench/gate.py --quick` runs end to end and ends with its figures line.

The benchmark runs as `make bench-gate` runs it, in a child process, against
this test run's PostgreSQL and Redis (it makes and drops a database of its own
there) and the machine's MQTT broker when one answers. Timings are not checked:
they depend on the machine; that every figure is measured is.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import psycopg
import pytest

from tests.conftest import ROOT, admin_dsn

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

KEYS = (
    "decision_p99_ms",
    "scans_per_s",
    "mqtt_open_p95_ms",
    "http_open_p95_ms",
    "redeem_per_s",
    "redeem_p99_ms",
    "decision_ratio",
    "mqtt_ratio",
    "http_ratio",
    "redeem_ratio",
)


def test_the_quick_run_reports_every_figure(servers: tuple[str, str]) -> None:
    database_url, redis_url = servers
    env = {
        **os.environ,
        "VISTAPASS_BENCH_DATABASE_URL": database_url,
        "VISTAPASS_BENCH_REDIS_URL": redis_url,
    }
    if os.environ.get("VISTAPASS_TEST_MQTT_URL"):
        env["VISTAPASS_BENCH_MQTT_URL"] = os.environ["VISTAPASS_TEST_MQTT_URL"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gate.py"), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=140,
    )
    output = f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, output
    last = done.stdout.strip().splitlines()[-1]
    figures = dict(pair.split("=", 1) for pair in last.split())
    assert tuple(figures) == KEYS, output
    for key, value in figures.items():
        number = float(value)
        assert math.isfinite(number) and number > 0, f"{key}={value}\n{output}"
    # The run's own database and roles are gone again.
    run_id = done.stdout.split(":", 1)[0].removeprefix("gate bench ").strip()
    with psycopg.connect(admin_dsn(database_url)) as conn:
        left = conn.execute(
            "SELECT (SELECT count(*) FROM pg_database WHERE datname = %s)"
            " + (SELECT count(*) FROM pg_roles WHERE rolname LIKE %s)",
            (f"vistapass_bench_gate_{run_id}", f"vg{run_id}\\_%"),
        ).fetchone()
    assert len(run_id) == 6 and left == (0,), output
