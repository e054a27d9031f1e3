"""`vistapass dev` (what `make run` calls): up with a demo park, Ctrl-C stops it all."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from vistapass.platform.cli.run import DEMO_NAME, DEMO_SLUG
from vistapass.platform.settings import Settings

pytestmark = pytest.mark.slow

SCRIPT = shutil.which("vistapass", path=str(Path(sys.executable).parent))
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


@dataclass
class Dev:
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    data_dir: Path
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dev_env(migrated: Settings, data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISTAPASS_")}
    env.update(
        VISTAPASS_DATABASE_URL=migrated.database_url,
        VISTAPASS_REDIS_URL=migrated.redis_url,
        VISTAPASS_DB_ROLE_PREFIX=migrated.db_role_prefix,
        VISTAPASS_DATA_DIR=str(data_dir),
        VISTAPASS_REDIS_NAMESPACE=migrated.redis_namespace,
        VISTAPASS_LOG_FORMAT="console",
        VISTAPASS_PORT=str(port),
        VISTAPASS_HOST="127.0.0.1",
        VISTAPASS_DEMO_PARK="true",
    )
    return env


def wait_healthy(dev: Dev) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        code = dev.proc.poll()
        if code is not None:
            pytest.fail(f"`vistapass dev` exited with {code}:\n{dev.output()}")
        try:
            if httpx.get(f"{dev.base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"/healthz not up within {START_TIMEOUT:.0f}s:\n{dev.output()}")
        time.sleep(0.2)


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Teardown for a test that did not stop it: Ctrl-C, then kill whatever is left."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group we created: stragglers, if any


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def servers_on(port: int) -> list[int]:
    """Live processes of any granian started for `port`."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "granian" in " ".join(cmdline) and str(port) in cmdline and not gone(process):
            found.append(process.pid)
    return found


@pytest.fixture
def dev(migrated: Settings, tmp_path: Path) -> Iterator[Dev]:
    assert SCRIPT is not None, "the vistapass console script is not installed in this venv"
    data_dir = tmp_path / "data"
    port = free_port()
    env = dev_env(migrated, data_dir, port)
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [SCRIPT, "dev"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Dev(proc=proc, env=env, data_dir=data_dir, port=port, log=log)
    try:
        wait_healthy(running)
        yield running
    finally:
        stop_group(proc)


def test_dev_serves_the_demo_park_and_stops_everything_on_sigint(dev: Dev) -> None:
    home = httpx.get(f"{dev.base}/p/{DEMO_SLUG}/", timeout=10)
    assert home.status_code == 200, home.text
    assert home.headers["content-type"].startswith("text/html")
    assert "Demo Park" in home.text
    assert DEMO_NAME in home.text

    ready = httpx.get(f"{dev.base}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"

    park = httpx.get(f"{dev.base}/p/{DEMO_SLUG}/api/v1/park", timeout=10)
    assert park.status_code == 200, park.text
    assert park.json()["slug"] == DEMO_SLUG
    assert park.json()["display_name"] == DEMO_NAME

    assert (dev.data_dir / "dev.pid").read_text() == str(dev.proc.pid)
    children = psutil.Process(dev.proc.pid).children(recursive=True)
    cmdlines = [" ".join(child.cmdline()) for child in children]
    assert any("granian" in c and str(dev.port) in c for c in cmdlines), cmdlines
    assert any("vistapass.platform.worker.main" in c for c in cmdlines), cmdlines

    dev.proc.send_signal(signal.SIGINT)
    assert dev.proc.wait(STOP_TIMEOUT) == 0, dev.output()

    left = [
        (child.pid, cmdline)
        for child, cmdline in zip(children, cmdlines, strict=True)
        if not gone(child)
    ]
    assert left == [], dev.output()
    assert servers_on(dev.port) == []
    assert not (dev.data_dir / "dev.pid").exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{dev.base}/healthz", timeout=2)


def test_a_second_dev_for_the_same_data_dir_is_refused(dev: Dev) -> None:
    second = subprocess.run(
        [SCRIPT, "dev"],
        env=dev.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 1, (second.stdout, second.stderr)
    assert "already running" in second.stderr
    assert str(dev.proc.pid) in second.stderr

    # The refused one touched nothing of the first.
    assert dev.proc.poll() is None
    assert (dev.data_dir / "dev.pid").read_text() == str(dev.proc.pid)
    assert httpx.get(f"{dev.base}/healthz", timeout=5).status_code == 200
