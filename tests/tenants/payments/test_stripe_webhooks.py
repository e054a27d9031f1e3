"""Stripe webhook deliveries: signed the real way, verified by the gateway."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.fakes.stripe_server import FakeStripe
from tests.tenants.payments.support import (
    ACCOUNT,
    SECRET,
    create,
    new_key,
    paid_intent,
    refund,
    run,
)
from vistapass.tenants.payments.stripe_gateway import (
    StripeConfig,
    StripeGateway,
    WebhookEvent,
    WebhookRejected,
)

# stripe's HTTPXClient hands httpx the encoded body as `data=`, which httpx 0.28 deprecates.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Use 'content=<...>' to upload raw bytes/text content.:DeprecationWarning"
)


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
