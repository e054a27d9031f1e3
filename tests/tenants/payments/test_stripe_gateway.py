"""The Stripe gateway, through the real `stripe` client, against a local FakeStripe:
intents, refunds, and failures on the way to Stripe."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

import httpx
import pytest

from tests.fakes.stripe_server import FakeStripe
from tests.fakes.stripe_wire import decode_form
from tests.tenants.payments.support import (
    ACCOUNT,
    OTHER_ACCOUNT,
    create,
    new_key,
    paid_intent,
    provider_error,
    refund,
    run,
    sent_with_key,
)
from vistapass.platform.errors import VistapassError
from vistapass.tenants.payments.stripe_gateway import (
    IntentResult,
    RefundResult,
    StripeConfig,
    StripeGateway,
)

# stripe's HTTPXClient hands httpx the encoded body as `data=`, which httpx 0.28 deprecates.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Use 'content=<...>' to upload raw bytes/text content.:DeprecationWarning"
)


# -- creating and reading intents ------------------------------------------------------


def test_create_is_a_direct_charge_carrying_the_platform_fee(
    fake: FakeStripe, config: StripeConfig
) -> None:
    key = new_key()
    intent = run(config, lambda gw: create(gw, key))

    # 250 bp of 12 345 is 308.625, rounded half up to 309, plus the fixed 30.
    assert intent.application_fee_amount == 339
    assert intent.id.startswith("pi_")
    assert intent.client_secret is not None
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    assert intent.status == "requires_payment_method"
    assert (intent.amount, intent.amount_received, intent.currency) == (12_345, 0, "cny")
    assert intent.latest_charge is None
    assert intent.metadata["vistapass_order_code"] == "VP-7Q2K"

    [request] = sent_with_key(fake, key)
    assert (request.method, request.path) == ("POST", "/v1/payment_intents")
    assert request.header("Authorization") == f"Bearer {fake.api_key}"
    assert request.header("Stripe-Account") == ACCOUNT
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert request.form == {
        "amount": "12345",
        "currency": "cny",
        "description": "Alpha Park tickets VP-7Q2K",
        "payment_method_types[0]": "card",
        "payment_method_types[1]": "wechat_pay",
        "payment_method_types[2]": "alipay",
        "payment_method_options[wechat_pay][client]": "web",
        "metadata[vistapass_tenant]": "alpha",
        "metadata[vistapass_order_id]": "7b0c1a9e-0000-4000-8000-000000000001",
        "metadata[vistapass_order_code]": "VP-7Q2K",
        "application_fee_amount": "339",
    }
    assert fake.intent(intent.id)["payment_method_types"] == ["card", "wechat_pay", "alipay"]


def test_a_fee_free_park_sends_no_application_fee(fake: FakeStripe, config: StripeConfig) -> None:
    key = new_key()
    free = replace(config, platform_fee_bp=0, platform_fee_fixed=0)
    intent = run(free, lambda gw: create(gw, key))

    assert intent.application_fee_amount == 0
    [request] = sent_with_key(fake, key)
    assert "application_fee_amount" not in request.form


def test_the_same_idempotency_key_returns_the_same_intent(
    fake: FakeStripe, config: StripeConfig
) -> None:
    key = new_key()

    async def twice(gateway: StripeGateway) -> tuple[IntentResult, IntentResult]:
        return await create(gateway, key), await create(gateway, key)

    first, second = run(config, twice)

    assert first == second
    assert len(sent_with_key(fake, key)) == 2


def test_an_idempotency_key_reused_for_another_amount_is_a_conflict(
    config: StripeConfig,
) -> None:
    key = new_key()

    async def other_amount(gateway: StripeGateway) -> None:
        await create(gateway, key, amount=1_000)
        await create(gateway, key, amount=2_000)

    error = provider_error(config, other_amount)
    assert (error.status_code, error.code, error.retryable) == (409, "idempotency_conflict", False)
    assert isinstance(error, VistapassError)


def test_retrieve_reports_what_was_received(fake: FakeStripe, config: StripeConfig) -> None:
    intent = run(config, lambda gw: create(gw, new_key()))
    fake.succeed(intent.id)

    found = run(config, lambda gw: gw.retrieve_payment_intent(intent.id, ACCOUNT))

    assert found.status == "succeeded"
    assert found.amount_received == intent.amount
    assert found.latest_charge is not None and found.latest_charge.startswith("ch_")
    assert found.application_fee_amount == 339
    [request] = fake.requests_to("GET", f"/v1/payment_intents/{intent.id}")
    assert request.header("Stripe-Account") == ACCOUNT


def test_an_intent_is_not_found_on_another_parks_account(config: StripeConfig) -> None:
    intent = run(config, lambda gw: create(gw, new_key()))

    error = provider_error(config, lambda gw: gw.retrieve_payment_intent(intent.id, OTHER_ACCOUNT))
    assert (error.status_code, error.code) == (404, "resource_missing")
    assert error.request_id is not None and error.request_id.startswith("req_")


# -- refunds ---------------------------------------------------------------------------


def test_refunds_in_parts_on_the_parks_account(fake: FakeStripe, config: StripeConfig) -> None:
    intent = paid_intent(fake, config)

    async def in_two_parts(gateway: StripeGateway) -> tuple[RefundResult, RefundResult]:
        return await refund(gateway, intent.id, 4_000), await refund(gateway, intent.id, 6_000)

    first, rest = run(config, in_two_parts)

    assert first.id.startswith("re_") and first.id != rest.id
    assert (first.status, first.amount, rest.amount) == ("succeeded", 4_000, 6_000)
    requests = fake.requests_to("POST", "/v1/refunds")
    sent = next(r for r in requests if r.form.get("payment_intent") == intent.id)
    assert sent.form == {
        "payment_intent": intent.id,
        "amount": "4000",
        "reason": "requested_by_customer",
    }
    assert sent.header("Stripe-Account") == ACCOUNT
    assert sent.header("Idempotency-Key") is not None
    charge = fake.charge(fake.intent(intent.id)["latest_charge"])
    assert (charge["amount_refunded"], charge["refunded"]) == (10_000, True)


def test_a_refund_can_return_the_platform_fee(fake: FakeStripe, config: StripeConfig) -> None:
    intent = paid_intent(fake, config)
    key = new_key()
    run(
        config,
        lambda gw: gw.refund(
            payment_intent=intent.id,
            amount=2_500,
            connected_account=ACCOUNT,
            idempotency_key=key,
            reason="duplicate",
            refund_application_fee=True,
        ),
    )

    [sent] = sent_with_key(fake, key)
    assert sent.form["refund_application_fee"] == "true"
    assert sent.form["reason"] == "duplicate"


def test_refunding_more_than_was_received_is_refused(
    fake: FakeStripe, config: StripeConfig
) -> None:
    intent = paid_intent(fake, config)

    error = provider_error(config, lambda gw: refund(gw, intent.id, 10_001))
    assert (error.status_code, error.code, error.retryable) == (409, "amount_too_large", False)
    assert "greater than unrefunded amount" in error.message

    run(config, lambda gw: refund(gw, intent.id, 10_000))
    error = provider_error(config, lambda gw: refund(gw, intent.id, 1))
    assert (error.status_code, error.code) == (409, "charge_already_refunded")


def test_an_unpaid_intent_cannot_be_refunded(config: StripeConfig) -> None:
    intent = run(config, lambda gw: create(gw, new_key()))

    error = provider_error(config, lambda gw: refund(gw, intent.id, 100))
    assert (error.status_code, error.code) == (409, "charge_not_refundable")


def test_refund_amounts_must_be_positive(config: StripeConfig) -> None:
    with pytest.raises(ValueError, match="positive"):
        run(config, lambda gw: refund(gw, "pi_whatever", 0))


# -- failures on the way to Stripe -----------------------------------------------------


def test_a_server_error_is_retried_with_the_same_idempotency_key(
    fake: FakeStripe, config: StripeConfig
) -> None:
    key = new_key()
    fake.fail_next(500)
    intent = run(config, lambda gw: create(gw, key))

    attempts = sent_with_key(fake, key)
    assert len(attempts) == 2
    assert attempts[0].form == attempts[1].form
    assert fake.intent(intent.id)["amount"] == 12_345


def test_stripe_out_of_reach_is_retryable(config: StripeConfig) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = replace(config, api_base=f"http://127.0.0.1:{closed_port}", max_network_retries=0)

    error = provider_error(unreachable, lambda gw: create(gw, new_key()))
    assert (error.status_code, error.code, error.retryable) == (
        503,
        "payment_provider_unavailable",
        True,
    )


def test_a_wrong_api_key_is_a_configuration_error(fake: FakeStripe, config: StripeConfig) -> None:
    wrong = replace(config, api_key="sk_test_not_the_right_one")

    error = provider_error(wrong, lambda gw: create(gw, new_key()))
    assert (error.status_code, error.code) == (502, "payment_provider_misconfigured")
    assert "Invalid API Key" in error.message


def test_an_account_not_connected_to_the_platform_is_a_configuration_error(
    config: StripeConfig,
) -> None:
    async def elsewhere(gateway: StripeGateway) -> IntentResult:
        return await gateway.retrieve_payment_intent("pi_123", "acct_1NotOurs")

    error = provider_error(config, elsewhere)
    assert (error.status_code, error.code) == (502, "payment_provider_misconfigured")


def test_a_gateway_refuses_a_second_event_loop(config: StripeConfig) -> None:
    """Its connection pool belongs to the first loop; reuse elsewhere is a wiring mistake."""
    gateway = StripeGateway(config)

    async def first_loop() -> None:
        await create(gateway, new_key())
        # Closed here, where its connections live; the gateway still remembers the loop.
        await gateway.aclose()

    asyncio.run(first_loop())

    with pytest.raises(RuntimeError, match="another event loop"):
        asyncio.run(create(gateway, new_key()))


def test_the_fake_answers_unknown_routes_and_bad_keys_like_stripe(fake: FakeStripe) -> None:
    auth = {"Authorization": f"Bearer {fake.api_key}"}
    unknown = httpx.get(f"{fake.url}/v1/payment_links", headers=auth)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "invalid_request_error"
    assert "Unrecognized request URL" in unknown.json()["error"]["message"]

    anonymous = httpx.get(f"{fake.url}/v1/payment_intents/pi_1")
    assert anonymous.status_code == 401
    assert "did not provide an API key" in anonymous.json()["error"]["message"]


def test_decode_form_rebuilds_stripes_nested_parameters() -> None:
    assert decode_form(
        {"a[0]": "x", "a[1]": "y", "m[k]": "v", "o[w][client]": "web", "n": "1"}
    ) == {"a": ["x", "y"], "m": {"k": "v"}, "o": {"w": {"client": "web"}}, "n": "1"}
