"""Stripe's browser side, for a browser test: js.stripe.com and api.stripe.com on 127.0.0.1.

The booking page loads Stripe.js from https://js.stripe.com/v3/ and Stripe.js confirms the
payment with https://api.stripe.com. Neither is reachable here, so `StripeJs` serves both
over TLS (a certificate made for the two names) from one local port; Chromium is pointed
at it with `--host-resolver-rules` and told to accept the certificate. The script it
serves (stripe_js_v3.js) keeps the calls the page makes, and confirming a payment changes
the intent in `FakeStripe` and then, as Stripe does, delivers the signed webhook event to
the park's endpoint on its own thread, a moment after answering the browser.

Test cards, as Stripe documents them: 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002
is declined.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fakes.stripe_server import FakeStripe

SCRIPT = Path(__file__).with_name("stripe_js_v3.js")
HOSTS = ("js.stripe.com", "api.stripe.com")
SUCCEEDS = "4242424242424242"
DECLINED = "4000000000000002"


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTS[0])])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in HOSTS]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "stripe-js.crt", folder / "stripe-js.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stand_in: StripeJs


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_OPTIONS(self) -> None:  # the CORS preflight of the confirm call
        self._send(204, b"", "text/plain")

    def do_GET(self) -> None:
        if self.headers.get("Host", "").split(":")[0] == "js.stripe.com" and self.path in (
            "/v3/",
            "/v3",
        ):
            self._send(200, SCRIPT.read_bytes(), "application/javascript")
        else:
            self._send(404, b"{}", "application/json")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(self.rfile.read(length).decode()))
        parts = self.path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["v1", "payment_intents"] and parts[3] == "confirm":
            status, answer = self.server.stand_in.confirm(parts[2], form)
        else:
            status, answer = 404, {"error": {"type": "invalid_request_error"}}
        self._send(status, json.dumps(answer).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "Content-Type, Stripe-Account")
        self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class StripeJs:
    def __init__(
        self, stripe: FakeStripe, publishable_key: str, webhook_url: str, webhook_secret: str
    ) -> None:
        self.stripe = stripe
        self.publishable_key = publishable_key
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.confirmed: list[str] = []
        self.delivered: list[int] = []
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    def start(self, folder: Path) -> Self:
        cert, key = _certificate(folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server = _Server(("127.0.0.1", 0), _Handler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.stand_in = self
        self._server = server
        thread = threading.Thread(target=server.serve_forever, name="stripe-js", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def chromium_flags(self) -> tuple[str, ...]:
        """Send both Stripe hosts to this server and accept its certificate."""
        assert self._server is not None
        port = self._server.server_address[1]
        rules = ", ".join(f"MAP {host} 127.0.0.1:{port}" for host in HOSTS)
        return (f"--host-resolver-rules={rules}", "--ignore-certificate-errors")

    def confirm(self, intent_id: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """What api.stripe.com answers Stripe.js for a card payment on a PaymentIntent."""
        try:
            intent = self.stripe.intent(intent_id)
        except KeyError:
            return 404, _error("invalid_request_error", "resource_missing", "No such intent.")
        if form.get("key") != self.publishable_key or form.get("client_secret") != intent.get(
            "client_secret"
        ):
            return 401, _error("invalid_request_error", "secret_key_required", "Wrong key.")
        self.confirmed.append(intent_id)
        number = form.get("payment_method_data[card][number]", "")
        if number == SUCCEEDS:
            event = self.stripe.succeed(intent_id)
        elif number == DECLINED:
            event = self.stripe.fail(intent_id)
        else:
            return 402, _error("card_error", "incorrect_number", "Your card number is invalid.")
        self._deliver_later(event)
        if event["type"] == "payment_intent.payment_failed":
            return 402, _error("card_error", "card_declined", "Your card was declined.")
        return 200, self.stripe.intent(intent_id)

    def _deliver_later(self, event: dict[str, Any]) -> None:
        def deliver() -> None:
            status = self.stripe.deliver(self.webhook_url, event, self.webhook_secret)
            self.delivered.append(status)

        thread = threading.Thread(target=deliver, name="stripe-webhook", daemon=True)
        thread.start()
        self._threads.append(thread)


def _error(kind: str, code: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "code": code, "message": message}}
