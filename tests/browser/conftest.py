"""A real server (granian + a dramatiq worker) and a real headless Chromium.

The server runs the same command line `vistapass serve` runs, against the test
database; Selenium drives Debian's Chromium through its ChromeDriver. Each test
can save screenshots under tests/artifacts/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from vistapass.platform.cli.run import server_command, worker_command
from vistapass.platform.embedded._process import free_port
from vistapass.platform.settings import Settings

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
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
def serving(settings: Settings, logs: Path, **extra_env: str) -> Iterator[LiveServer]:
    """`vistapass serve` and its worker on `settings.port`, until the block ends."""
    env = {**_env(settings, settings.port), **extra_env}
    processes = [
        subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        for command, out in (
            (server_command(settings, 1), (logs / "server.log").open("wb")),
            (worker_command(settings), (logs / "worker.log").open("wb")),
        )
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


@pytest.fixture(scope="session")
def live_server(
    migrated: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    settings = migrated.model_copy(update={"host": "127.0.0.1", "port": free_port()})
    with serving(settings, tmp_path_factory.mktemp("live-server")) as server:
        yield server


def chromium_options(profile: Path, *flags: str) -> webdriver.ChromeOptions:
    """Headless Debian Chromium with the network quiet (this machine reaches no Google)."""
    binary, _ = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
        *flags,
    ):  # fmt: skip
        options.add_argument(flag)
    return options


def chromium_paths() -> tuple[str, str]:
    browser = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not (Path(browser).exists() and Path(driver).exists()):
        raise RuntimeError("Chromium is missing: `make test` installs chromium and chromium-driver")
    return browser, driver


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    _, driver_path = chromium_paths()
    options = chromium_options(tmp_path / "profile")
    # A phone: 360 CSS pixels wide, the narrowest the pages are built for.
    options.add_experimental_option(
        "mobileEmulation", {"deviceMetrics": {"width": 360, "height": 780, "pixelRatio": 2}}
    )
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
