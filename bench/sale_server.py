"""The app server of a sale benchmark run: started, waited for, inspected, stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from vistapass.platform.settings import Settings

# isort: split
# Modules beside this one: bench/ is sys.path[0] when bench/sale.py runs.
from sale_figures import BenchFailure

HEALTH_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 20.0
LOG_TAIL_LINES = 20


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def server_command(workers: int) -> list[str]:
    # The console script next to this interpreter, as `make run` would use it.
    script = Path(sys.executable).with_name("vistapass")
    if script.exists():
        return [str(script), "serve", "--workers", str(workers)]
    launcher = "from vistapass.platform.cli import main; main()"
    return [sys.executable, "-c", launcher, "serve", "--workers", str(workers)]


def start_server(
    settings: Settings, workers: int, port: int, folder: Path, run_id: str, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "VISTAPASS_ENV": "development",
        "VISTAPASS_HOST": "127.0.0.1",
        "VISTAPASS_PORT": str(port),
        "VISTAPASS_WORKERS": str(workers),
        "VISTAPASS_DATABASE_URL": settings.database_url,
        "VISTAPASS_REDIS_URL": settings.redis_url,
        "VISTAPASS_DATA_DIR": str(folder),
        "VISTAPASS_DB_ROLE_PREFIX": settings.db_role_prefix,
        "VISTAPASS_DEMO_PARK": "false",
        # A Redis that is not the run's own may hold someone's keys under the default.
        "VISTAPASS_REDIS_NAMESPACE": f"vistapass-bench-{run_id}",
    }
    with log.open("wb") as output:
        # A session of its own: the server and its workers are one process group,
        # stopped together, and a Ctrl-C at the terminal reaches only this run.
        return subprocess.Popen(
            server_command(workers),
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Whatever of the group outlived `vistapass serve` (it normally reaps granian).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def wait_healthy(base_url: str, process: subprocess.Popen[bytes] | None, log: Path | None) -> float:
    started = time.perf_counter()
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while True:
            if process is not None and process.poll() is not None:
                logged = tail(log) if log else ""
                raise BenchFailure(f"the server exited with {process.returncode}:\n{logged}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{base_url}/healthz").status_code == 200:
                    return time.perf_counter() - started
            if time.perf_counter() - started > HEALTH_TIMEOUT_S:
                logged = tail(log) if log else ""
                raise BenchFailure(
                    f"{base_url}/healthz did not answer within {HEALTH_TIMEOUT_S:.0f} s\n{logged}"
                )
            time.sleep(0.2)


def connections_per_worker(server_pid: int, port: int) -> list[int]:
    """Established connections to `port` held by each worker process of the server."""
    try:
        tree = psutil.Process(server_pid).children(recursive=True)
    except psutil.Error:
        return []
    counts = []
    # The workers are the leaves: `vistapass serve` runs granian, granian its workers.
    for worker in (process for process in tree if not process.children()):
        with contextlib.suppress(psutil.Error):
            counts.append(
                sum(
                    1
                    for conn in worker.net_connections("tcp")
                    if conn.status == psutil.CONN_ESTABLISHED and conn.laddr.port == port
                )
            )
    return counts
