"""A cashier sells at the window, then gate staff check the tickets in and out.

Real server, real headless Chromium on a 360 px phone. The check-in browser's
camera is Chromium's fake capture device playing a video made here from the
sold ticket's QR code (a Y4M file written by hand: a header, then raw YUV 4:2:0
frames), so the page's camera path runs end to end: Chromium on Linux has no
BarcodeDetector, so frames go to the server's QR reader. The manual path
(search by order code, check in from the result, paste a code) runs too.
Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import segno
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from tests.browser.conftest import LiveServer, chromium_options, chromium_paths, screenshot
from tests.conftest import Member, run
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.tenants.catalog.demo import seed_demo_catalog
from vistapass.tenants.models import Order, Ticket

VIDEO_SIZE = (640, 480)
VIDEO_FRAMES = 10


def wait(driver: WebDriver, seconds: float = 20) -> WebDriverWait:
    return WebDriverWait(driver, seconds)


def click(driver: WebDriver, selector: str) -> None:
    # Through the DOM: on an emulated phone a coordinate click can land mid-scroll.
    driver.execute_script("arguments[0].click()", driver.find_element(By.CSS_SELECTOR, selector))


def wait_for_text(driver: WebDriver, selector: str, text: str, shot: str) -> None:
    try:
        wait(driver).until(
            expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text)
        )
    except TimeoutException:
        screenshot(driver, f"failed-{shot}")
        found = driver.find_element(By.CSS_SELECTOR, selector).text
        raise AssertionError(f"no {text!r} in {selector}: {found!r}") from None


def sign_in_as(driver: WebDriver, server: LiveServer, member: Member, path: str) -> None:
    login = "/login?next=" + quote(path, safe="")
    driver.get(f"{server.url}/lang/en?next={quote(login, safe='')}")
    driver.find_element(By.ID, "email").send_keys(member.email)
    driver.find_element(By.ID, "password").send_keys(member.password)
    click(driver, "form[action='/login'] button[type=submit]")
    wait(driver).until(expected_conditions.url_contains(path))


def y4m_of_qr(text: str, path: Path) -> Path:
    """A short grey video with the ticket's QR code in the middle, as Chromium's fake camera."""
    out = io.BytesIO()
    segno.make(text, micro=False, error="m").save(out, kind="png", scale=6, border=4)
    code = Image.open(io.BytesIO(out.getvalue())).convert("L")
    frame = Image.new("L", VIDEO_SIZE, 200)
    frame.paste(code, ((VIDEO_SIZE[0] - code.width) // 2, (VIDEO_SIZE[1] - code.height) // 2))
    width, height = VIDEO_SIZE
    luma = frame.tobytes()
    chroma = bytes([128]) * ((width // 2) * (height // 2))  # no colour: U and V at the middle
    with path.open("wb") as video:
        video.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(VIDEO_FRAMES):
            video.write(b"FRAME\n" + luma + chroma + chroma)
    return path


@pytest.fixture
def camera_browsers(tmp_path: Path) -> Iterator[list[webdriver.Chrome]]:
    """Browsers started by the test once it has a video: each plays it as its camera."""
    started: list[webdriver.Chrome] = []
    yield started
    for driver in started:
        driver.quit()


def start_camera_browser(started: list[webdriver.Chrome], video: Path, profile: Path) -> WebDriver:
    _, driver_path = chromium_paths()
    options = chromium_options(
        profile,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    )
    options.add_experimental_option(
        "mobileEmulation", {"deviceMetrics": {"width": 360, "height": 780, "pixelRatio": 2}}
    )
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    started.append(driver)
    return driver


def ticket_codes(server: LiveServer, slug: str, order_code: str) -> list[str]:
    async def load(db) -> list[str]:
        async with tenant_session(db, slug) as session:
            rows = await session.scalars(
                select(Ticket.qr)
                .join(Order, Order.id == Ticket.order_id)
                .where(Order.code == order_code)
                .order_by(Ticket.position)
            )
            return [qr for qr in rows if qr]

    return run(server.settings, load)


def test_sell_at_the_window_then_check_in_and_out(
    live_server: LiveServer, browser, camera_browsers, make_member, tmp_path: Path
) -> None:
    slug = f"gates-{secrets.token_hex(3)}"

    async def prepare(db) -> None:
        await provision_tenant(db, slug, "Gate Test Park")
        await seed_demo_catalog(db, slug)

    run(live_server.settings, prepare)
    cashier = make_member(slug, "cashier")
    gate = make_member(slug, "gate_staff")

    # 1. The cashier sells two adult day tickets for today, paid in cash.
    window = f"/p/{slug}/console/window"
    sign_in_as(browser, live_server, cashier, window)
    browser.get(f"{live_server.url}{window}?product=day-ticket")
    click(browser, "button[data-step='1'][data-for='qty_adult']")
    click(browser, "button[data-step='1'][data-for='qty_adult']")
    wait(browser).until(lambda d: d.find_element(By.ID, "total").text.startswith("¥"))
    total = browser.find_element(By.ID, "total").text
    browser.find_element(By.ID, "tendered").send_keys("1000")
    wait(browser).until(lambda d: d.find_element(By.ID, "change").text.startswith("¥"))
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 360
    screenshot(browser, "window-01-basket")
    click(browser, "#sale-form button.sell")
    wait(browser).until(expected_conditions.presence_of_element_located((By.ID, "order-code")))
    order_code = browser.find_element(By.ID, "order-code").text
    assert len(browser.find_elements(By.CSS_SELECTOR, ".printed-ticket svg.qr-code")) == 2
    assert total in browser.page_source and browser.find_element(By.ID, "change-due").text
    screenshot(browser, "window-02-tickets")
    first, _ = ticket_codes(live_server, slug, order_code)

    # 2. Gate staff point the camera at the first ticket: in, then out.
    camera = start_camera_browser(
        camera_browsers, y4m_of_qr(first, tmp_path / "ticket.y4m"), tmp_path / "camera-profile"
    )
    checkin = f"/p/{slug}/console/checkin"
    sign_in_as(camera, live_server, gate, checkin)
    camera.get(f"{live_server.url}{checkin}")
    wait(camera).until(lambda d: d.find_element(By.ID, "camera-card").is_displayed())
    click(camera, "#camera-start")
    wait_for_text(camera, "#result .reason", "Entry accepted.", "camera-entry")
    assert "ok" in camera.find_element(By.ID, "result").get_attribute("class")
    assert order_code in camera.find_element(By.ID, "result").text
    screenshot(camera, "checkin-01-camera-entry")
    click(camera, ".direction a[data-direction='exit']")
    wait_for_text(camera, "#result .reason", "Exit recorded.", "camera-exit")
    screenshot(camera, "checkin-02-camera-exit")
    click(camera, "#camera-stop")

    # 3. The second ticket by hand: search by order code, check in from the result.
    click(camera, ".direction a[data-direction='entry']")
    camera.find_element(By.ID, "code").send_keys(order_code)
    click(camera, "#manual-form button[type=submit]")
    wait(camera).until(
        expected_conditions.visibility_of_element_located(
            (By.CSS_SELECTOR, "#search-results li > button")
        )
    )
    screenshot(camera, "checkin-03-search")
    buttons = camera.find_elements(By.CSS_SELECTOR, "#search-results li > button")
    assert len(buttons) == 2
    camera.execute_script("arguments[0].click()", buttons[1])
    wait_for_text(camera, "#result .reason", "Entry accepted.", "manual-entry")
    screenshot(camera, "checkin-04-manual-entry")
    # A wristband for the second visitor, for the card-reading gates: no reload.
    card_fields = camera.find_elements(By.CSS_SELECTOR, "#search-results .card-form input")
    assert len(card_fields) == 2
    card_fields[1].send_keys("3001234567")
    forms = camera.find_elements(By.CSS_SELECTOR, "#search-results .card-form")
    camera.execute_script("arguments[0].requestSubmit()", forms[1])
    wait_for_text(
        camera,
        "#search-results li:nth-of-type(2) .card-notice",
        "Card 3001234567 is bound to ticket 2.",
        "card",
    )
    camera.execute_script("arguments[0].scrollIntoView()", forms[1])
    screenshot(camera, "checkin-04b-card-bound")

    # 4. The first ticket's code pasted again: its single entry is spent (red, with why).
    code_field = camera.find_element(By.ID, "code")
    code_field.clear()
    code_field.send_keys(first)
    click(camera, "#manual-form button[type=submit]")
    wait_for_text(camera, "#result .reason", "Already used.", "manual-used")
    assert "refused" in camera.find_element(By.ID, "result").get_attribute("class")
    recent = camera.find_elements(By.CSS_SELECTOR, "#recent li")
    assert len(recent) >= 4 and "Already used." in recent[0].text
    assert camera.execute_script("return document.documentElement.scrollWidth") <= 360
    screenshot(camera, "checkin-05-already-used")
