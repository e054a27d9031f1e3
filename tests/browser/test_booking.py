"""A visitor on a phone buys each demo product in three steps, in Chinese and in English.

A real Chromium at 390x844 whose own language setting picks the page language;
each run ends on the e-ticket page with one QR code per ticket. Screenshots of
every step go to tests/artifacts/booking-<product>-<lang>-<step>.png.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import LiveServer, chromium_options, chromium_paths, screenshot
from tests.conftest import run
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.tenants.catalog.demo import seed_demo_catalog

# Real-name holders: one document per language, so the two annual-card runs (which may
# fall on the same day) stay within the one-ticket-per-document-per-day limit.
HOLDERS = {"en": ("Li Lei", "11010519491231002X"), "zh-CN": ("韩梅梅", "110101199003071233")}
TEXT = {
    "en": {"continue": "Continue", "total": "Total"},
    "zh-CN": {"continue": "继续", "total": "总价"},
}


@pytest.fixture(scope="module")
def demo_park(live_server: LiveServer) -> str:
    slug = f"visit-{secrets.token_hex(3)}"

    async def prepare(db: Any) -> None:
        await provision_tenant(db, slug, "Lakeview Gardens")
        await seed_demo_catalog(db, slug)

    run(live_server.settings, prepare)
    return slug


@pytest.fixture(params=["en", "zh-CN"])
def phone(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[WebDriver, str]]:
    """A 390x844 phone whose browser language is the parameter (no cookie, no switch)."""
    language = request.param
    _, driver_path = chromium_paths()
    options = chromium_options(tmp_path / "profile", f"--lang={language}")
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    options.add_experimental_option(
        "mobileEmulation", {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2}}
    )
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver, language
    finally:
        driver.quit()


def until(driver: WebDriver, check: Callable[[WebDriver], Any], what: str, name: str) -> Any:
    try:
        return WebDriverWait(driver, 15).until(check)
    except TimeoutException:
        screenshot(driver, f"{name}-failed")
        raise AssertionError(f"{name}: {what} did not happen on {driver.current_url}") from None


def click(driver: WebDriver, selector: str) -> None:
    # Through the DOM: on an emulated phone a coordinate click can land mid-scroll.
    driver.execute_script("arguments[0].click()", driver.find_element(By.CSS_SELECTOR, selector))


def fill(driver: WebDriver, selector: str, value: str) -> None:
    element = driver.find_element(By.CSS_SELECTOR, selector)
    element.clear()
    element.send_keys(value)


def quote_text(driver: WebDriver) -> str:
    return driver.find_element(By.ID, "quote-body").text


def fits_the_screen(driver: WebDriver) -> bool:
    width = driver.execute_script("return document.documentElement.scrollWidth")
    return width <= driver.execute_script("return window.innerWidth")


def later_open_day(driver: WebDriver) -> None:
    """Pick the third bookable day of the calendar, as a visitor planning ahead would."""
    days = driver.find_elements(By.CSS_SELECTOR, "input[name=date]:not([disabled])")
    driver.execute_script("arguments[0].click()", days[min(2, len(days) - 1)])


def choose(driver: WebDriver, product: str, name: str) -> int:
    """Step 1 for each product: returns how many tickets the order will have."""
    later_open_day(driver)
    if product == "day-ticket":
        click(driver, "button[name=step][value='adult:+1']")
        until(driver, lambda d: "× 2" in quote_text(d), "two adults priced", name)
        return 2
    if product == "sunrise-slot":
        click(driver, "input[name=slot][value='14:00']")
        click(driver, "button[name=step][value='child:+1']")
        until(driver, lambda d: "× 1" in quote_text(d) and quote_text(d).count("×") == 2,
              "an adult and a child priced", name)  # fmt: skip
        return 2
    if product == "family-pack":
        fill(driver, "input[name=age_child]", "7")
        until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#quote-body .total"),
              "the pack priced", name)  # fmt: skip
        return 3
    until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#quote-body .total"),
          "the card priced", name)  # fmt: skip
    return 1


@pytest.mark.parametrize("product", ["day-ticket", "sunrise-slot", "family-pack", "annual-card"])
def test_a_visitor_buys_in_three_steps_on_a_phone(
    live_server: LiveServer, demo_park: str, phone: tuple[WebDriver, str], product: str
) -> None:
    driver, language = phone
    name = f"booking-{product}-{'zh' if language == 'zh-CN' else 'en'}"
    driver.get(f"{live_server.url}/p/{demo_park}/")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
    click(driver, f"a[href='/p/{demo_park}/buy/{product}']")

    # Step 1: date, slot and people, priced live by the page's script.
    until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "html.js #quote-body .total"),
          "a price", name)  # fmt: skip
    tickets = choose(driver, product, name)
    assert TEXT[language]["total"] in quote_text(driver)
    assert fits_the_screen(driver)
    # The picture shows the people and the price, the part of the page just used.
    driver.execute_script("document.getElementById('continue').scrollIntoView({block: 'end'})")
    screenshot(driver, f"{name}-step1")
    click(driver, "#continue")

    # Step 2: who is going.
    until(driver, lambda d: d.find_elements(By.ID, "who"), "step 2", name)
    fill(driver, "#contact_name", "Visitor")
    fill(driver, "#contact_email", f"{product}-{language}@example.com")
    fill(driver, "#contact_phone", "13800000000")
    holders = driver.find_elements(By.CSS_SELECTOR, ".holder")
    if product == "annual-card":
        assert len(holders) == tickets
        holder, number = HOLDERS[language]
        fill(driver, "#holder_name_0", holder)
        fill(driver, "#holder_number_0", number[:-1] + "0")  # a typo first
        until(driver, lambda d: d.find_element(By.ID, "holder_number_0-error").text,
              "the check digit refused as typed", name)  # fmt: skip
        fill(driver, "#holder_number_0", number)
        until(driver, lambda d: not d.find_element(By.ID, "holder_number_0-error").text,
              "the corrected number accepted", name)  # fmt: skip
    else:
        assert not holders
    assert fits_the_screen(driver)
    screenshot(driver, f"{name}-step2")
    click(driver, "#place")

    # Step 3: the order held, paid with the development-only test payment.
    until(driver, lambda d: d.find_elements(By.ID, "test-pay"), "step 3", name)
    assert driver.find_element(By.ID, "hold").text
    assert fits_the_screen(driver)
    screenshot(driver, f"{name}-step3")
    click(driver, "#test-pay")

    # The confirmation: the e-ticket page, one QR code per person.
    until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".qr svg"), "the tickets", name)
    assert len(driver.find_elements(By.CSS_SELECTOR, ".qr svg")) == tickets
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
    assert fits_the_screen(driver)
    screenshot(driver, f"{name}-tickets")
