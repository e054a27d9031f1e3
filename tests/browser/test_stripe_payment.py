"""A visitor pays with the Stripe Payment Element, as on a park with Stripe connected.

Stripe is out of reach here, so its three parts are stood in for at their network
boundary: the API our server calls (FakeStripe, spoken to by the real `stripe` client),
the script the page loads from js.stripe.com and the confirm call that script makes to
api.stripe.com (StripeJs, reached through Chromium's host resolver over TLS), and the
signed webhook Stripe sends afterwards. Everything of ours is real: the page, its
Content-Security-Policy, pay.js, the webhook endpoint and the worker applying the event.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import update

from tests.browser.conftest import (
    LiveServer,
    chromium_options,
    chromium_paths,
    screenshot,
    serving,
)
from tests.browser.test_booking import click, fill, quote_text, until
from tests.conftest import run
from tests.fakes.stripe_js import DECLINED, SUCCEEDS, StripeJs
from tests.fakes.stripe_server import FakeStripe
from vistapass.platform.embedded._process import free_port
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.tenants.catalog.demo import seed_demo_catalog
from vistapass.tenants.models import ParkProfile

ACCOUNT = "acct_1VistapassBrowser"
PUBLISHABLE = "pk_test_vistapass_browser"
SECRET = "whsec_vistapass_browser"


@pytest.fixture(scope="module")
def stripe_site(
    migrated: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, StripeJs, str]]:
    """A server with Stripe configured, a park connected to it, and Stripe's browser side."""
    folder = tmp_path_factory.mktemp("stripe-site")
    settings = migrated.model_copy(
        update={
            "host": "127.0.0.1",
            "port": free_port(),
            # Its own queues: the session's other server has no Stripe to apply events with.
            "redis_namespace": f"{migrated.redis_namespace}-stripejs",
        }
    )
    slug = f"stripe-{secrets.token_hex(3)}"

    async def prepare(db: Any) -> None:
        await provision_tenant(db, slug, "Harbour Lights")
        await seed_demo_catalog(db, slug)
        async with tenant_session(db, slug) as session:
            await session.execute(update(ParkProfile).values(stripe_account_id=ACCOUNT))

    run(settings, prepare)
    with FakeStripe(accounts=[ACCOUNT]) as stripe:
        env = {
            "VISTAPASS_STRIPE_API_KEY": stripe.api_key,
            "VISTAPASS_STRIPE_API_BASE": stripe.url,
            "VISTAPASS_STRIPE_PUBLISHABLE_KEY": PUBLISHABLE,
            "VISTAPASS_STRIPE_WEBHOOK_SECRET": SECRET,
        }
        with serving(settings, folder, **env) as server:
            webhook = f"{server.url}/webhooks/stripe"
            with StripeJs(stripe, PUBLISHABLE, webhook, SECRET).start(folder) as stand_in:
                yield server, stand_in, slug


@pytest.fixture
def phone(stripe_site: tuple[LiveServer, StripeJs, str], tmp_path: Path) -> Iterator[WebDriver]:
    _, stand_in, _ = stripe_site
    _, driver_path = chromium_paths()
    options = chromium_options(tmp_path / "profile", "--lang=en", *stand_in.chromium_flags)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en"})
    options.add_experimental_option(
        "mobileEmulation", {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2}}
    )
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_declined_card_then_a_good_one_pays_through_the_payment_element(
    stripe_site: tuple[LiveServer, StripeJs, str], phone: WebDriver
) -> None:
    server, stand_in, slug = stripe_site
    driver, name = phone, "stripe-day-ticket-en"
    driver.get(f"{server.url}/p/{slug}/buy/day-ticket")
    until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "html.js #quote-body .total"),
          "a price", name)  # fmt: skip
    days = driver.find_elements(By.CSS_SELECTOR, "input[name=date]:not([disabled])")
    driver.execute_script("arguments[0].click()", days[min(3, len(days) - 1)])
    until(driver, lambda d: "× 1" in quote_text(d), "one adult priced", name)
    click(driver, "#continue")
    until(driver, lambda d: d.find_elements(By.ID, "who"), "step 2", name)
    fill(driver, "#contact_name", "Card Payer")
    fill(driver, "#contact_email", "card-payer@example.com")
    click(driver, "#place")

    # Step 3: the Payment Element, mounted by Stripe.js from js.stripe.com.
    until(driver, lambda d: d.find_elements(By.ID, "stand-in-card-number"),
          "the Payment Element", name)  # fmt: skip
    assert not driver.find_elements(By.ID, "test-pay")  # no test payment beside real money
    fill(driver, "#stand-in-card-number", DECLINED)
    click(driver, "#stripe-pay")
    until(driver, lambda d: d.find_element(By.ID, "stripe-error").text, "the decline", name)
    assert "declined" in driver.find_element(By.ID, "stripe-error").text
    screenshot(driver, f"{name}-declined")

    fill(driver, "#stand-in-card-number", SUCCEEDS)
    click(driver, "#stripe-pay")
    # Back from Stripe, the page waits for the webhook's worker, then shows the tickets.
    until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".qr svg"), "the tickets", name)
    assert len(driver.find_elements(By.CSS_SELECTOR, ".qr svg")) == 1
    screenshot(driver, f"{name}-tickets")
    assert len(stand_in.confirmed) == 2
    assert stand_in.delivered == [200, 200]
    intent = stand_in.stripe.intent(stand_in.confirmed[-1])
    assert intent["status"] == "succeeded" and intent["amount_received"] == intent["amount"]
    assert intent["metadata"]["vistapass_tenant"] == slug
