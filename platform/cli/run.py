"""`vistapass serve`, `vistapass worker` and `vistapass dev` (what `make run` calls)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import psutil

from vistapass.gate_firmware_bridge.sim.demo_codes import seed_demo_codes
from vistapass.gate_firmware_bridge.sim.demo_setup import CODES_FILE, TOKEN_FILE, demo_edge_token
from vistapass.platform.cache import redis_client
from vistapass.platform.cli._common import fail, load_settings, run_async, services
from vistapass.platform.db import Database
from vistapass.platform.embedded._process import free_port, port_open
from vistapass.platform.embedded.postgres import EmbeddedPostgres
from vistapass.platform.embedded.redis import EmbeddedRedis
from vistapass.platform.embedded.services import Services
from vistapass.platform.errors import VistapassError
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy import repository
from vistapass.platform.tenancy.binding import control_session
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.platform.tenancy.upgrade import upgrade_all
from vistapass.tenants.catalog.demo import seed_demo_catalog
from vistapass.tenants.orders.context import Selling

DEMO_SLUG = "demo"
DEMO_NAME = "Demo Park 演示景区"


def server_command(settings: Settings, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--factory",
        "--host",
        settings.host,
        "--port",
        str(settings.port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--no-access-log",
        "vistapass.platform.app:create_app",
    ]


def worker_command(settings: Settings) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dramatiq",
        "vistapass.platform.worker.main",
        "--processes",
        str(settings.worker_processes),
        "--threads",
        str(settings.worker_threads),
    ]


def child_env(running: Services) -> dict[str, str]:
    return {**os.environ, **running.env}


def spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A child in a process group of its own, so that stopping it stops what it started
    (dramatiq's worker processes, granian's workers) even when it is killed."""
    return subprocess.Popen(command, env=env, start_new_session=True)


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signum)


def supervise(children: list[subprocess.Popen[bytes]]) -> int:
    """Wait until a child exits or we are told to stop; then stop every child's group."""
    stopping: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopping.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    code = child.returncode or 1
                    stopping.append(0)
                    break
            else:
                time.sleep(0.2)
    finally:
        for child in children:
            _signal_group(child, signal.SIGTERM)
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            # Whatever of the group outlived its leader (a worker busy with a job).
            _signal_group(child, signal.SIGKILL)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return code


@click.command()
@click.option("--workers", type=click.IntRange(1, 64), help="Server processes (VISTAPASS_WORKERS).")
def serve(workers: int | None) -> None:
    """Serve the app with granian on VISTAPASS_HOST:VISTAPASS_PORT."""
    with services() as running:
        settings = running.settings
        command = server_command(settings, workers or settings.workers)
        code = supervise([spawn(command, child_env(running))])
    sys.exit(code)


@click.command()
def worker() -> None:
    """Run the background job workers (dramatiq)."""
    with services() as running:
        code = supervise([spawn(worker_command(running.settings), child_env(running))])
    sys.exit(code)


async def _prepare(db: Database, demo: bool) -> None:
    results = await upgrade_all(db, concurrency=db.settings.migrate_concurrency)
    failed = [r.schema for r in results if not r.ok]
    if failed:
        fail(f"migrations failed for {', '.join(failed)}; run `vistapass db upgrade` for details")
    if not demo:
        return
    async with control_session(db) as session:
        existing = await repository.get_by_slug(session, DEMO_SLUG)
    if existing is None or existing.status == "provisioning":
        await provision_tenant(db, DEMO_SLUG, DEMO_NAME)
    await seed_demo_catalog(db, DEMO_SLUG)


def _demo_gates(settings: Settings, data_dir: Path) -> tuple[str, dict[str, str], bool]:
    """The demo edge's credential and the simulator's tickets, kept in the data folder.

    Returns the edge's URL, its environment and whether the simulator has tickets: a
    demo park that cannot sell (e.g. its keys were sealed under another secret key)
    still gets its edge, with a warning instead of a simulator.
    """
    token_path, codes_path = data_dir / TOKEN_FILE, data_dir / CODES_FILE
    saved_token = token_path.read_text().strip() if token_path.exists() else None

    async def prepare(db: Database) -> tuple[str, dict[str, Any] | None]:
        redis = redis_client(settings)
        try:
            selling = Selling.build(db, settings, redis)
            token = await demo_edge_token(selling, DEMO_SLUG, saved_token)
            try:
                # Fresh tickets at every start: the last run's valid ones are used up.
                return token, await seed_demo_codes(selling, DEMO_SLUG)
            except VistapassError as exc:
                click.echo(f"warning: no gate simulator, its tickets could not be sold: {exc}")
                return token, None
        finally:
            await redis.aclose()

    token, codes = run_async(settings, prepare)
    token_path.write_text(token)
    token_path.chmod(0o600)
    if codes is not None:
        codes_path.write_text(json.dumps(codes, indent=1))
    return f"http://127.0.0.1:{free_port()}", {"VISTAPASS_EDGE_TOKEN": token}, codes is not None


def _gate_commands(
    settings: Settings, data_dir: Path, edge_url: str, *, simulator: bool
) -> list[list[str]]:
    """An edge for the demo park (its token comes in the environment) and four lanes."""
    cli = [sys.executable, "-m", "vistapass.platform.cli"]
    port = edge_url.rsplit(":", 1)[1]
    edge = [*cli, "gate-edge", "--hub", settings.url, "--data-dir", str(data_dir / "edge"),
            "--host", "127.0.0.1", "--port", port]  # fmt: skip
    if port_open(1883, timeout=0.5):  # a local MQTT broker (Mosquitto)
        edge += ["--mqtt", "mqtt://127.0.0.1:1883"]
    sim = [*cli, "gate-sim", "--edge", edge_url, "--lanes", "4", "--rate", "0.5",
           "--codes", str(data_dir / CODES_FILE), "--seconds", "0"]  # fmt: skip
    return [edge, sim] if simulator else [edge]


def _claim_dev(data_dir: Path) -> Path:
    """One `vistapass dev` per data directory; a dead one's servers are adopted."""
    pid_file = data_dir / "dev.pid"
    try:
        pid = int(pid_file.read_text())
        command = " ".join(psutil.Process(pid).cmdline())
    except (OSError, ValueError, psutil.Error):
        command = ""
    # A pid reused by another program after a crash does not count.
    if "vistapass" in command and " dev" in command and pid != os.getpid():
        fail(f"`vistapass dev` is already running for {data_dir} (pid {pid})")
    data_dir.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))
    return pid_file


@click.command()
def dev() -> None:
    """Everything on embedded defaults with a demo park; Ctrl-C stops it all."""
    settings = load_settings()
    pid_file = _claim_dev(settings.resolved_data_dir)
    running = None
    try:
        with services(settings) as running:
            # This is the only `dev` for its data directory, so the embedded servers
            # there are its own, even ones a killed run left behind: stop them on exit.
            data_dir = settings.resolved_data_dir
            running.started = [
                *([EmbeddedPostgres(data_dir)] if not settings.database_url else []),
                *([EmbeddedRedis(data_dir)] if not settings.redis_url else []),
            ]
            run_async(running.settings, lambda db: _prepare(db, settings.demo_park))
            env = child_env(running)
            children = [
                spawn(server_command(running.settings, running.settings.workers), env),
                spawn(worker_command(running.settings), env),
            ]
            url = running.settings.url
            gates = ""
            if settings.demo_park:
                edge_url, edge_env, simulator = _demo_gates(running.settings, data_dir)
                commands = _gate_commands(running.settings, data_dir, edge_url, simulator=simulator)
                children += [spawn(command, {**env, **edge_env}) for command in commands]
                gates = f"demo gate edge: {edge_url}/status (the simulator scans there)\n"
            click.echo(
                f"\nVistapass is up: {url}/healthz\n"
                + (f"demo park: {url}/p/{DEMO_SLUG}/\n" if settings.demo_park else "")
                + gates
                + f"database: {running.settings.database_url}\nCtrl-C stops everything.\n"
            )
            code = supervise(children)
    finally:
        pid_file.unlink(missing_ok=True)
    sys.exit(code)
