"""`vistapass serve`, `vistapass worker` and `vistapass dev` (what `make run` calls)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import psutil

from vistapass.platform.cli._common import fail, load_settings, run_async, services
from vistapass.platform.db import Database
from vistapass.platform.embedded.postgres import EmbeddedPostgres
from vistapass.platform.embedded.redis import EmbeddedRedis
from vistapass.platform.embedded.services import Services
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy import repository
from vistapass.platform.tenancy.binding import control_session
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.platform.tenancy.upgrade import upgrade_all
from vistapass.tenants.catalog.demo import seed_demo_catalog

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


def supervise(children: list[subprocess.Popen[bytes]]) -> int:
    """Wait until a child exits or we are told to stop; then stop every child."""
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
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
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
        code = supervise([subprocess.Popen(command, env=child_env(running))])
    sys.exit(code)


@click.command()
def worker() -> None:
    """Run the background job workers (dramatiq)."""
    with services() as running:
        code = supervise(
            [subprocess.Popen(worker_command(running.settings), env=child_env(running))]
        )
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
                subprocess.Popen(
                    server_command(running.settings, running.settings.workers), env=env
                ),
                subprocess.Popen(worker_command(running.settings), env=env),
            ]
            url = running.settings.url
            click.echo(
                f"\nVistapass is up: {url}/healthz\n"
                + (f"demo park: {url}/p/{DEMO_SLUG}/\n" if settings.demo_park else "")
                + f"database: {running.settings.database_url}\nCtrl-C stops everything.\n"
            )
            code = supervise(children)
    finally:
        pid_file.unlink(missing_ok=True)
    sys.exit(code)
