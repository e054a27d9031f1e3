"""A real Vistapass server (granian + a dramatiq worker) in child processes, for tests.

The server runs the same command line `vistapass serve` runs, against the test
database; browser tests and the gate tests (an edge syncing with a hub it can stop
and start) use it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from vistapass.platform.cli.run import server_command, worker_command
from vistapass.platform.settings import Settings

START_TIMEOUT = 60.0


@dataclass
class LiveServer:
    url: str
    settings: Settings


def _env(settings: Settings, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISTAPASS_")}
    env.update(
        VISTAPASS_ENV="test",
        VISTAPASS_DATABASE_URL=settings.database_url,
        VISTAPASS_REDIS_URL=settings.redis_url,
        VISTAPASS_REDIS_NAMESPACE=settings.redis_namespace,
        VISTAPASS_DB_ROLE_PREFIX=settings.db_role_prefix,
        VISTAPASS_DATA_DIR=str(settings.data_dir),
        VISTAPASS_SECRET_KEY=settings.secret_key,
        VISTAPASS_BASE_DOMAIN=settings.base_domain,
        VISTAPASS_HOST="127.0.0.1",
        VISTAPASS_PORT=str(port),
        VISTAPASS_LOG_FORMAT="json",
    )
    return env


@contextmanager
def serving(
    settings: Settings, logs: Path, *, worker: bool = True, **extra_env: str
) -> Iterator[LiveServer]:
    """`vistapass serve` (and its worker) on `settings.port`, until the block ends."""
    env = {**_env(settings, settings.port), **extra_env}
    commands = [(server_command(settings, 1), logs / "server.log")]
    if worker:
        commands.append((worker_command(settings), logs / "worker.log"))
    processes = [
        subprocess.Popen(command, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
        for command, log in commands
    ]
    url = f"http://127.0.0.1:{settings.port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError(f"the live server did not start; see {logs}")
            time.sleep(0.1)
        yield LiveServer(url, settings)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
