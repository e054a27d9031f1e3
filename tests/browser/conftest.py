"""A real server (tests/live_server.py) and a real headless Chromium.

Selenium drives Debian's Chromium through its ChromeDriver. Each test can save
screenshots under tests/artifacts/.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.live_server import LiveServer, serving
from vistapass.platform.embedded._process import free_port
from vistapass.platform.settings import Settings

__all__ = ["LiveServer", "serving"]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


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
