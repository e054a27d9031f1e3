"""The Stripe gateway, through the real `stripe` client, against a local FakeStripe."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fakes.stripe_server import FakeStripe, ReceivedRequest, decode_form
from vistapass.platform.errors import VistapassError
from vistapass.tenants.payments.stripe_gateway import (
    IntentResult,
    PaymentProviderError,
    RefundResult,
    StripeConfig,
    StripeGateway,
    WebhookEvent,
    WebhookRejected,
    platform_fee,
)

T = TypeVar("T")

# stripe's HTTPXClient hands httpx the encoded body as `data=`, which httpx 0.28 deprecates.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Use 'content=<...>' to upload raw bytes/text content.:DeprecationWarning"
)

ACCOUNT = "acct_1VistapassAlpha"
OTHER_ACCOUNT = "acct_1VistapassBeta"
SECRET = "whsec_vistapass_test_endpoint"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with FakeStripe(accounts=[ACCOUNT, OTHER_ACCOUNT]) as server:
        yield server


@pytest.fixture
def config(fake: FakeStripe) -> StripeConfig:
    return StripeConfig(
        api_key=fake.api_key,
        webhook_secret=SECRET,
        api_base=fake.url,
        platform_fee_bp=250,
        platform_fee_fixed=30,
    )


@pytest.fixture
def gateway(config: StripeConfig) -> Iterator[StripeGateway]:
    """For the webhook tests, which never touch the network."""
    gateway = StripeGateway(config)
    yield gateway
    asyncio.run(gateway.aclose())


def run(config: StripeConfig, work: Callable[[StripeGateway], Awaitable[T]]) -> T:
    """`work(gateway)` in a fresh event loop, with a gateway made and closed inside it."""

    async def main() -> T:
        async with StripeGateway(config) as gateway:
            return await work(gateway)

    return asyncio.run(main())


def new_key() -> str:
    return f"order-{uuid.uuid4()}"


async def create(gateway: StripeGateway, key: str, amount: int = 12_345) -> IntentResult:
    return await gateway.create_payment_intent(
        amount=amount,
        currency="CNY",
        connected_account=ACCOUNT,
        order_code="VP-7Q2K",
        tenant="alpha",
        order_id="7b0c1a9e-0000-4000-8000-000000000001",
        idempotency_key=key,
        description="Alpha Park tickets VP-7Q2K",
    )


def sent_with_key(fake: FakeStripe, key: str) -> list[ReceivedRequest]:
    return [r for r in fake.requests if r.header("Idempotency-Key") == key]


def provider_error(config: StripeConfig, work: Callable[[StripeGateway], Awaitable[Any]]) -> Any:
    with pytest.raises(PaymentProviderError) as caught:
        run(config, work)
    return caught.value


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


def paid_intent(fake: FakeStripe, config: StripeConfig, amount: int = 10_000) -> IntentResult:
    intent = run(config, lambda gw: create(gw, new_key(), amount=amount))
    fake.succeed(intent.id)
    return intent


async def refund(gateway: StripeGateway, intent_id: str, amount: int) -> RefundResult:
    return await gateway.refund(
        payment_intent=intent_id,
        amount=amount,
        connected_account=ACCOUNT,
        idempotency_key=new_key(),
    )


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


# -- webhooks --------------------------------------------------------------------------


def succeeded_event(fake: FakeStripe, config: StripeConfig) -> dict[str, Any]:
    intent = run(config, lambda gw: create(gw, new_key()))
    return fake.succeed(intent.id)


def test_a_signed_event_is_parsed(
    fake: FakeStripe, config: StripeConfig, gateway: StripeGateway
) -> None:
    event = succeeded_event(fake, config)
    payload, signature = fake.signed(event, SECRET)

    parsed = gateway.parse_webhook(payload, signature)

    assert parsed == WebhookEvent(
        id=event["id"],
        type="payment_intent.succeeded",
        account=ACCOUNT,
        created=event["created"],
        livemode=False,
        object=event["data"]["object"],
    )
    assert parsed.object["amount_received"] == parsed.object["amount"]
    assert parsed.object["metadata"]["vistapass_tenant"] == "alpha"


def test_refund_and_failure_events_are_parsed(
    fake: FakeStripe, config: StripeConfig, gateway: StripeGateway
) -> None:
    fake.refund_status = "pending"
    try:
        intent = paid_intent(fake, config)
        done = run(config, lambda gw: refund(gw, intent.id, 3_000))
    finally:
        fake.refund_status = "succeeded"
    assert done.status == "pending"

    refunded = gateway.parse_webhook(*fake.signed(fake.refund_event(done.id), SECRET))
    assert (refunded.type, refunded.object["object"]) == ("charge.refunded", "charge")
    assert refunded.object["amount_refunded"] == 3_000

    event = fake.refund_event(done.id, "refund.updated", status="succeeded")
    updated = gateway.parse_webhook(*fake.signed(event, SECRET))
    assert (updated.object["id"], updated.object["status"]) == (done.id, "succeeded")

    unpaid = run(config, lambda gw: create(gw, new_key()))
    failed = gateway.parse_webhook(*fake.signed(fake.fail(unpaid.id), SECRET))
    assert failed.type == "payment_intent.payment_failed"
    assert failed.object["last_payment_error"]["code"] == "card_declined"


def rejected(gateway: StripeGateway, payload: bytes, signature: str | None) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        gateway.parse_webhook(payload, signature)
    assert caught.value.status_code == 400
    return caught.value


def test_a_tampered_payload_is_rejected(
    fake: FakeStripe, config: StripeConfig, gateway: StripeGateway
) -> None:
    payload, signature = fake.signed(succeeded_event(fake, config), SECRET)
    tampered = payload.replace(b'"amount_received": 12345', b'"amount_received": 99999')
    assert tampered != payload

    assert rejected(gateway, tampered, signature).code == "invalid_signature"


def test_a_delivery_signed_with_another_secret_is_rejected(
    fake: FakeStripe, config: StripeConfig, gateway: StripeGateway
) -> None:
    payload, signature = fake.signed(succeeded_event(fake, config), "whsec_someone_else")

    assert rejected(gateway, payload, signature).code == "invalid_signature"


def test_a_stale_delivery_is_rejected_and_a_recent_one_accepted(
    fake: FakeStripe, config: StripeConfig, gateway: StripeGateway
) -> None:
    event = succeeded_event(fake, config)
    now = int(time.time())

    stale = rejected(gateway, *fake.signed(event, SECRET, timestamp=now - 301))
    assert stale.code == "invalid_signature"
    assert "tolerance" in stale.message

    assert gateway.parse_webhook(*fake.signed(event, SECRET, timestamp=now - 290)).id == event["id"]


@pytest.mark.parametrize("header", [None, "", "t=abc,v1=00", "v1=deadbeef", "t=1700000000"])
def test_a_missing_or_malformed_signature_is_rejected(
    fake: FakeStripe, config: StripeConfig, gateway: StripeGateway, header: str | None
) -> None:
    payload, _ = fake.signed(succeeded_event(fake, config), SECRET)

    assert rejected(gateway, payload, header).code == "invalid_signature"


def test_a_signed_body_that_is_not_an_event_is_rejected(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    thin = {"id": "evt_1", "object": "v2.core.event", "type": "v1.payment_intent.succeeded"}

    assert rejected(gateway, *fake.signed(thin, SECRET)).code == "invalid_payload"
    payload = b"\xff\xfe not utf-8"
    assert rejected(gateway, payload, "t=1,v1=00").code == "invalid_signature"


def test_deliver_posts_a_signed_event_to_an_endpoint(
    fake: FakeStripe, config: StripeConfig, gateway: StripeGateway
) -> None:
    received: list[WebhookEvent] = []

    class Endpoint(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            try:
                received.append(gateway.parse_webhook(body, self.headers.get("Stripe-Signature")))
                status = 200
            except WebhookRejected as exc:
                status = exc.status_code
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe"
        event = succeeded_event(fake, config)
        assert fake.deliver(url, event, SECRET) == 200
        assert fake.deliver(url, event, "whsec_wrong") == 400
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert [e.id for e in received] == [event["id"]]
    assert json.loads(json.dumps(received[0].object)) == event["data"]["object"]


# -- configuration and the fee ---------------------------------------------------------


def test_config_repr_keeps_secrets_out_of_logs(config: StripeConfig) -> None:
    text = repr(config)
    assert config.api_key not in text
    assert SECRET not in text


@pytest.mark.parametrize(
    "changes", [{"platform_fee_bp": 10_001}, {"platform_fee_fixed": -1}, {"webhook_secret": ""}]
)
def test_a_bad_configuration_stops_the_gateway_at_construction(
    config: StripeConfig, changes: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        StripeGateway(replace(config, **changes))


@pytest.mark.parametrize(
    ("amount", "bp", "fixed", "fee"),
    [
        (12_345, 250, 30, 339),
        (2, 2_500, 0, 1),  # 0.5 rounds up
        (1, 4_999, 0, 0),  # 0.4999 rounds down
        (100, 0, 500, 100),  # capped at the amount
        (0, 250, 30, 0),
        (10_000, 10_000, 0, 10_000),
    ],
)
def test_platform_fee_examples(amount: int, bp: int, fixed: int, fee: int) -> None:
    assert platform_fee(amount, bp, fixed) == fee


@pytest.mark.parametrize(("amount", "bp", "fixed"), [(-1, 0, 0), (1, -1, 0), (1, 10_001, 0)])
def test_platform_fee_refuses_nonsense(amount: int, bp: int, fixed: int) -> None:
    with pytest.raises(ValueError):
        platform_fee(amount, bp, fixed)


amounts = st.integers(min_value=0, max_value=10**10)
basis_points = st.integers(min_value=0, max_value=10_000)
fixed_fees = st.integers(min_value=0, max_value=10**6)


@given(amount=amounts, extra=amounts, bp=basis_points, fixed=fixed_fees)
def test_platform_fee_is_bounded_and_monotonic(
    amount: int, extra: int, bp: int, fixed: int
) -> None:
    fee = platform_fee(amount, bp, fixed)

    assert 0 <= fee <= amount
    assert fee <= platform_fee(amount + extra, bp, fixed)
    # Never more than half a minor unit away from the exact proportional fee.
    if fee < amount:
        assert abs((fee - fixed) * 10_000 - amount * bp) <= 5_000
