"""The embedded PostgreSQL and Valkey/Redis servers: start, reuse, survive, refuse.

Each test has its own data directory and stops every server started there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
import redis

from vistapass.platform.embedded.postgres import EmbeddedPostgres
from vistapass.platform.embedded.redis import EmbeddedRedis
from vistapass.platform.embedded.services import ensure_services
from vistapass.platform.settings import Environment, Settings, SettingsError

pytestmark = pytest.mark.embedded

REDIS_NAMES = {"valkey-server", "redis-server"}

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from vistapass.platform.embedded.services import ensure_services
    from vistapass.platform.settings import Settings

    running = ensure_services(
        Settings(env="development", data_dir=Path(sys.argv[1]), database_url="", redis_url="")
    )
    print(running.settings.database_url, running.settings.redis_url, len(running.started),
          flush=True)
    time.sleep(600)
    """
)


def embedded_settings(data_dir: Path) -> Settings:
    """Embedded servers in `data_dir`, whatever VISTAPASS_* the environment has."""
    return Settings(env=Environment.DEVELOPMENT, data_dir=data_dir, database_url="", redis_url="")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh data directory; every server started there is stopped afterwards.

    Not under `tmp_path`: as root, PostgreSQL runs as `embedded_postgres`, which must be
    able to walk down to its data, and every pytest session that starts on this machine
    resets /tmp/pytest-of-root to mode 0700 (seen failing initdb when runs overlap).
    """
    root = Path(tempfile.mkdtemp(prefix="vistapass-embedded-test-"))
    folder = root / "data"
    try:
        yield folder
    finally:
        try:
            EmbeddedRedis(folder).stop()
        finally:
            EmbeddedPostgres(folder).stop()
        stopped = EmbeddedPostgres(folder).running() is None and (
            EmbeddedRedis(folder).running() is None
        )
        if stopped:
            shutil.rmtree(root, ignore_errors=True)
    assert stopped, f"an embedded server in {folder} did not stop"


def postmasters(pgdata: Path) -> list[psutil.Process]:
    """PostgreSQL server processes (not their backends) serving `pgdata`."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            cmdline = process.info["cmdline"] or []
            if process.info["name"] != "postgres" or "-D" not in cmdline:
                continue
            if str(pgdata) not in cmdline:
                continue
            parent = process.parent()
            if parent is not None and parent.name() == "postgres":
                continue
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        found.append(process)
    return found


def redis_servers(port: int) -> list[psutil.Process]:
    """Valkey/Redis server processes (not their save forks) listening on `port`."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            if process.info["name"] not in REDIS_NAMES:
                continue
            cmdline = " ".join(process.info["cmdline"] or [])
            if f":{port}" not in cmdline and f"--port {port} " not in f"{cmdline} ":
                continue
            parent = process.parent()
            if parent is not None and parent.name() in REDIS_NAMES:
                continue
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        found.append(process)
    return found


def test_starts_both_then_reuses_them(data_dir: Path) -> None:
    settings = embedded_settings(data_dir)
    first = ensure_services(settings)
    assert sorted(type(server).__name__ for server in first.started) == [
        "EmbeddedPostgres",
        "EmbeddedRedis",
    ]
    assert first.settings.database_url.startswith("postgresql://postgres@127.0.0.1:")
    assert first.settings.redis_url.startswith("redis://127.0.0.1:")
    assert first.env["VISTAPASS_DATA_DIR"] == str(data_dir.resolve())

    second = ensure_services(settings)
    assert second.started == []
    assert second.settings.database_url == first.settings.database_url
    assert second.settings.redis_url == first.settings.redis_url

    second.stop_started()  # reused servers belong to their starter: still up
    assert EmbeddedPostgres(data_dir).running() is not None
    assert EmbeddedRedis(data_dir).running() is not None


def test_servers_outlive_a_killed_starter_and_are_reused(data_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISTAPASS_")}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # blocks until the child has both servers up
        assert line, child.communicate(timeout=30)
        child_db_url, child_redis_url, child_started = line.split()
        assert child_started == "2"
        before = EmbeddedPostgres(data_dir).running()
        assert before is not None
    finally:
        child.kill()  # SIGKILL: no cleanup of any kind in the starter
        child.communicate(timeout=30)
    assert child.returncode == -9

    running = ensure_services(embedded_settings(data_dir))
    assert running.started == []
    assert running.settings.database_url == child_db_url
    assert running.settings.redis_url == child_redis_url

    postgres = EmbeddedPostgres(data_dir).running()
    assert postgres is not None
    assert postgres.pid == before.pid
    assert [p.pid for p in postmasters(EmbeddedPostgres(data_dir).pgdata)] == [postgres.pid]

    valkey = EmbeddedRedis(data_dir).running()
    assert valkey is not None
    assert running.settings.redis_url == valkey.url
    assert [p.pid for p in redis_servers(valkey.port)] == [valkey.pid]

    with psycopg.connect(running.settings.database_url, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert redis.Redis.from_url(running.settings.redis_url).ping()


def test_data_survives_a_restart(data_dir: Path) -> None:
    settings = embedded_settings(data_dir)
    first = ensure_services(settings)
    assert len(first.started) == 2
    with psycopg.connect(first.settings.database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (id int PRIMARY KEY, note text NOT NULL)")
        conn.execute("INSERT INTO kept VALUES (1, 'still here')")
    client = redis.Redis.from_url(first.settings.redis_url)
    client.set("vistapass-embedded-test:kept", "still here")
    client.close()

    first.stop_started()
    assert EmbeddedPostgres(data_dir).running() is None
    assert EmbeddedRedis(data_dir).running() is None

    second = ensure_services(settings)
    assert len(second.started) == 2  # really restarted, not reused
    with psycopg.connect(second.settings.database_url) as conn:
        assert conn.execute("SELECT id, note FROM kept").fetchall() == [(1, "still here")]
    client = redis.Redis.from_url(second.settings.redis_url)
    try:
        assert client.get("vistapass-embedded-test:kept") == b"still here"
        assert client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        client.close()


def test_production_refuses_embedded_servers(data_dir: Path) -> None:
    settings = Settings(
        env="production", data_dir=data_dir, secret_key="x" * 40, database_url="", redis_url=""
    )
    with pytest.raises(SettingsError, match="VISTAPASS_DATABASE_URL") as caught:
        ensure_services(settings)
    assert "VISTAPASS_REDIS_URL" in str(caught.value)
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
    assert not (data_dir / "redis" / "server.pid").exists()
    assert EmbeddedPostgres(data_dir).running() is None
    assert EmbeddedRedis(data_dir).running() is None
