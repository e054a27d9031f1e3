"""A visitor on a phone adds a face photo to an annual card: a photo of a coffee cup is
refused with the reason and the typed details stay; a portrait is accepted and the
order goes on to payment. Screenshots: tests/artifacts/face-photo-*.png."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import LiveServer, screenshot
from tests.conftest import run
from tests.tenants.orders.conftest import open_weekday
from tests.tenants.visitors import face_images
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.tenants.catalog.demo import seed_demo_catalog

HOLDER = ("Li Lei", "11010519491231002X")


@pytest.fixture(scope="module")
def face_park(live_server: LiveServer) -> str:
    slug = f"faces-{secrets.token_hex(3)}"

    async def prepare(db: Any) -> None:
        await provision_tenant(db, slug, "Lakeview Gardens")
        await seed_demo_catalog(db, slug)

    run(live_server.settings, prepare)
    return slug


def wait_for(driver: WebDriver, selector: str) -> Any:
    return WebDriverWait(driver, 20).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, selector) or None
    )[0]


def submit(driver: WebDriver) -> None:
    driver.execute_script("arguments[0].click()", driver.find_element(By.ID, "place"))


def test_a_photo_without_a_face_is_refused_and_a_portrait_accepted(
    live_server: LiveServer, face_park: str, browser: WebDriver, tmp_path: Path
) -> None:
    cup, portrait = tmp_path / "cup.jpg", tmp_path / "me.jpg"
    cup.write_bytes(face_images.no_face())
    portrait.write_bytes(face_images.one_face())
    query = f"date={open_weekday(20)}&qty_adult=1&qty_senior=0"
    browser.get(f"{live_server.url}/p/{face_park}/buy/annual-card/who?{query}")
    wait_for(browser, "#who")
    browser.find_element(By.ID, "contact_name").send_keys("Visitor")
    browser.find_element(By.ID, "contact_email").send_keys("face-photo@example.com")
    browser.find_element(By.ID, "holder_name_0").send_keys(HOLDER[0])
    browser.find_element(By.ID, "holder_number_0").send_keys(HOLDER[1])
    # A saved photo, chosen from the phone's pictures.
    browser.find_element(By.ID, "holder_photo_0_file").send_keys(str(cup))
    submit(browser)

    error = WebDriverWait(browser, 20).until(
        lambda d: d.find_element(By.ID, "holder_photo_0-error").text or None
    )
    assert error.startswith("No face was found in this photo.")
    assert browser.find_element(By.ID, "holder_name_0").get_attribute("value") == HOLDER[0]
    assert browser.find_element(By.ID, "holder_number_0").get_attribute("value") == HOLDER[1]
    assert browser.find_element(By.ID, "contact_name").get_attribute("value") == "Visitor"
    screenshot(browser, "face-photo-refused")

    # The camera input this time (a file stands in for the camera in a headless browser).
    browser.find_element(By.ID, "holder_photo_0").send_keys(str(portrait))
    submit(browser)
    wait_for(browser, "#test-pay")
    screenshot(browser, "face-photo-accepted-step3")
