"""A new park operator's first session, in a real browser, as a person would do it.

Sign up on the page, verify the e-mail from the dev mailbox, turn on two-factor
sign-in, invite a cashier and a gate staff member; each of them joins from the
invitation and sees only their pages; the owner signs in again with 2FA.
Screenshots of each step go to tests/artifacts/.
"""

from __future__ import annotations

import re
import secrets
import time

import httpx
import pyotp
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser.conftest import LiveServer, screenshot

PASSWORD = "Lakeside gardens 2026!"


def wait(driver: WebDriver, seconds: float = 15) -> WebDriverWait:
    return WebDriverWait(driver, seconds)


def fill(driver: WebDriver, field_id: str, value: str) -> None:
    element = driver.find_element(By.ID, field_id)
    element.clear()
    element.send_keys(value)


def submit(driver: WebDriver, form_action: str, then: str) -> None:
    """Submit the form, then wait for an element of the page that should follow."""
    button = f"form[action='{form_action}'] button[type=submit]"
    # Clicked through the DOM: on an emulated phone a coordinate click can land
    # mid-scroll on nothing.
    driver.execute_script("arguments[0].click()", driver.find_element(By.CSS_SELECTOR, button))
    try:
        wait(driver).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, then)))
    except TimeoutException:
        screenshot(driver, "failed-step")
        raise AssertionError(f"after {form_action}: no {then} on {driver.current_url}") from None


def mail_link(server: LiveServer, to: str, path: str) -> str:
    """The newest link to `path` in a mail to `to`, once the worker has delivered it."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        mails = httpx.get(f"{server.url}/dev/mailbox.json", timeout=5).json()["mails"]
        for mail in mails:
            if mail["to"] == to:
                found = re.search(
                    rf"https?://[^\s\"<>]+{re.escape(path)}\?token=[\w-]+", mail["text"]
                )
                if found:
                    return found.group(0)
        time.sleep(0.2)
    raise AssertionError(f"no mail to {to} with a {path} link")


def nav(driver: WebDriver) -> list[str]:
    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "header nav a")]


def sign_out(driver: WebDriver) -> None:
    submit(driver, "/logout", then="form[action='/login']")


def test_an_operator_goes_from_nothing_to_a_staffed_park(live_server: LiveServer, browser) -> None:
    slug = f"lakeside-{secrets.token_hex(3)}"
    owner = f"owner-{slug}@example.com"
    browser.get(f"{live_server.url}/lang/en?next=/signup")

    # 1. Sign up: the slug is checked as it is typed.
    fill(browser, "park_name", "Lakeside Gardens")
    fill(browser, "slug", slug)
    wait(browser).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "slug-status"), "available")
    )
    fill(browser, "owner_name", "Lin Owner")
    fill(browser, "email", owner)
    fill(browser, "password", PASSWORD)
    screenshot(browser, "01-signup")
    submit(browser, "/signup", then="header nav")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Lakeside Gardens"
    screenshot(browser, "02-console")

    # 2. Verify the e-mail from the dev mailbox.
    browser.get(mail_link(live_server, owner, "/verify-email"))
    assert "verified" in browser.find_element(By.TAG_NAME, "main").text.lower()
    screenshot(browser, "03-email-verified")

    # 3. Turn on two-factor sign-in.
    browser.get(f"{live_server.url}/account/security")
    submit(browser, "/account/security/totp/start", then="figure.qr svg")
    secret = browser.find_element(By.CSS_SELECTOR, "main code").text.replace(" ", "")
    assert browser.find_elements(By.CSS_SELECTOR, "figure.qr svg")
    screenshot(browser, "04-totp-qr")
    fill(browser, "code", pyotp.TOTP(secret).now())
    submit(browser, "/account/security/totp/confirm", then="ul.recovery-codes code")
    codes = browser.find_elements(By.CSS_SELECTOR, "ul.recovery-codes code")
    assert len(codes) == 10
    screenshot(browser, "05-recovery-codes")

    # 4. Invite a cashier and a gate staff member.
    staff = {"cashier": f"cashier-{slug}@example.com", "gate_staff": f"gate-{slug}@example.com"}
    pages = {
        "cashier": [
            "Overview",
            "Products",
            "Calendar",
            "Orders",
            "Window sales",
            "Capacity",
            "API tokens",
        ],
        "gate_staff": ["Overview", "Check-in", "API tokens"],
    }
    for role, email in staff.items():
        browser.get(f"{live_server.url}/p/{slug}/console/staff")
        fill(browser, "invite-email", email)
        Select(browser.find_element(By.ID, "invite-role")).select_by_value(role)
        submit(browser, f"/p/{slug}/console/staff/invite", then=f"[aria-label='Revoke {email}']")
    screenshot(browser, "06-invitations")
    sign_out(browser)

    # 5. Each joins from the invitation and sees only their own pages.
    for role, email in staff.items():
        browser.get(mail_link(live_server, email, "/invitations/accept"))
        fill(browser, "accept-name", f"Staff {role}")
        fill(browser, "accept-password", PASSWORD)
        submit(browser, "/invitations/accept", then="header form[action='/logout']")
        browser.get(f"{live_server.url}/p/{slug}/console/")
        assert nav(browser) == pages[role], (role, nav(browser))
        screenshot(browser, f"07-{role}-console")
        browser.get(f"{live_server.url}/p/{slug}/console/staff")
        assert "403" in browser.title or "not allow" in browser.page_source
        browser.get(f"{live_server.url}/p/{slug}/console/")
        sign_out(browser)

    # 6. The owner signs in again: password, then the authenticator code.
    browser.get(f"{live_server.url}/login")
    fill(browser, "email", owner)
    fill(browser, "password", PASSWORD)
    submit(browser, "/login", then="form[action='/login/2fa']")
    # The next time step: the enrolment code must not be accepted twice.
    fill(browser, "code", pyotp.TOTP(secret).at(time.time() + 30))
    submit(browser, "/login/2fa", then="header nav")
    assert "Staff" in nav(browser) and "Audit log" in nav(browser)
    screenshot(browser, "08-owner-back-with-2fa")
