"""Chromium loads a park's page from the real server."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.browser.conftest import LiveServer, screenshot


def test_a_park_page_renders_on_a_phone_sized_window(live_server: LiveServer, browser) -> None:
    # Pages follow the browser's language; Chinese is chosen here as a visitor would.
    browser.get(f"{live_server.url}/lang/zh-CN?next=/p/alpha/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Alpha Park"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    viewport = browser.execute_script("return window.innerWidth")
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert viewport == 360
    assert width <= viewport  # nothing forces sideways scrolling on a phone
    assert screenshot(browser, "park-home").stat().st_size > 0
