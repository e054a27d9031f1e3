"""A local Stripe that the real `stripe` client can talk to.

`FakeStripe` is an HTTP server on 127.0.0.1 speaking the few endpoints Vistapass uses,
with Stripe's request encoding (form bodies with bracketed keys such as
`metadata[vistapass_order_id]` and `payment_method_types[0]`), its JSON object shapes
and its error envelope, so tests exercise the real client's encoding, headers, retries
and error mapping rather than a mock of them:

- `POST /v1/payment_intents`, `GET /v1/payment_intents/{id}`,
- `POST /v1/refunds`, `GET /v1/refunds/{id}`, `GET /v1/refunds?payment_intent=`.

Objects belong to the account named by `Stripe-Account` (direct charges), as on Stripe:
the same id asked for on another account is `resource_missing`. `Idempotency-Key` is
honoured per account: the same key with the same parameters replays the first response,
with other parameters it is an `idempotency_error`. Only successful responses are kept
for replay, so a retried request after a failure runs again, as Stripe documents.

What Stripe does outside the API (the customer paying, a refund settling, the park
refunding in Stripe's dashboard) is driven from the test: `succeed`, `fail`,
`refund_event` and `dashboard_refund` change the state and return the event Stripe
would send, `signed` signs it with Stripe's scheme and `deliver` posts it. Like
Stripe's current API versions, a charge in an event does not list its refunds.
"""

from __future__ import annotations

import copy
import hmac
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import parse_qsl, urlsplit

import httpx

from tests.fakes.stripe_wire import (
    API_VERSION,
    REFUND_REASONS,
    ReceivedRequest,
    StripeApiError,
    decode_form,
    event_object,
    json_bytes,
    new_charge,
    new_intent,
    new_refund,
    positive_int,
    redact,
    refund_page,
    signed_event,
    stripe_id,
)


@dataclass
class _Stored:
    account: str | None
    obj: dict[str, Any]


@dataclass
class _Replay:
    form: dict[str, str]
    path: str
    status: int
    body: bytes


@dataclass
class _Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeStripe


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive, as api.stripe.com does, so the client's connection pool is exercised.
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        response = self.server.fake.handle(method, self.path, dict(self.headers.items()), body)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        # The requests are kept in FakeStripe.requests; stderr lines would only be noise.
        return


class FakeStripe:
    def __init__(
        self, api_key: str = "sk_test_vistapass_fake", *, accounts: Iterable[str] | None = None
    ) -> None:
        """`accounts`, when given, are the only connected accounts the key may act for."""
        if not api_key.startswith("sk_test_"):
            raise ValueError("the fake is test mode only: its key starts with sk_test_")
        self.api_key = api_key
        self.accounts = frozenset(accounts) if accounts is not None else None
        self.requests: list[ReceivedRequest] = []
        self.events: list[dict[str, Any]] = []
        # Wallet refunds (WeChat Pay, Alipay) can start out `pending`; tests set this.
        self.refund_status = "succeeded"
        self._intents: dict[str, _Stored] = {}
        self._charges: dict[str, _Stored] = {}
        self._refunds: dict[str, _Stored] = {}
        self._replays: dict[tuple[str | None, str], _Replay] = {}
        self._failures: list[int] = []
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="fake-stripe", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeStripe is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- inspection ------------------------------------------------------------------

    def intent(self, intent_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._intents[intent_id].obj)

    def refund(self, refund_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._refunds[refund_id].obj)

    def charge(self, charge_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._charges[charge_id].obj)

    def requests_to(self, method: str, path: str) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    # -- test controls ---------------------------------------------------------------

    def fail_next(self, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` authenticated API calls with Stripe's `api_error`."""
        with self._lock:
            self._failures.extend([status] * times)

    def succeed(self, intent_id: str) -> dict[str, Any]:
        """The customer paid: the intent succeeds with a charge for the full amount."""
        with self._lock:
            stored = self._intents[intent_id]
            intent = stored.obj
            if intent["status"] in ("succeeded", "canceled"):
                raise ValueError(f"{intent_id} is already {intent['status']}")
            charge = new_charge(intent)
            charge_id = charge["id"]
            self._charges[charge_id] = _Stored(stored.account, charge)
            intent.update(
                status="succeeded",
                amount_received=intent["amount"],
                latest_charge=charge_id,
                last_payment_error=None,
            )
            return self._event("payment_intent.succeeded", intent, stored.account)

    def fail(self, intent_id: str, code: str = "card_declined") -> dict[str, Any]:
        """The payment attempt was declined: the intent wants another payment method."""
        with self._lock:
            stored = self._intents[intent_id]
            intent = stored.obj
            if intent["status"] in ("succeeded", "canceled"):
                raise ValueError(f"{intent_id} is already {intent['status']}")
            intent.update(
                status="requires_payment_method",
                last_payment_error={
                    "type": "card_error",
                    "code": code,
                    "message": "Your card was declined.",
                },
            )
            return self._event("payment_intent.payment_failed", intent, stored.account)

    def refund_event(
        self,
        refund_id: str,
        kind: Literal["charge.refunded", "refund.updated"] = "charge.refunded",
        *,
        status: str | None = None,
    ) -> dict[str, Any]:
        """The event Stripe sends about a refund, after moving it to `status` if given.

        `charge.refunded` carries the charge with its refunded total; `refund.updated`
        carries the refund, with `previous_attributes` as Stripe sends for updates.
        """
        with self._lock:
            stored = self._refunds[refund_id]
            refund = stored.obj
            previous: dict[str, Any] = {}
            if status is not None and status != refund["status"]:
                previous["status"] = refund["status"]
                refund["status"] = status
                if status in ("failed", "canceled"):
                    charge = self._charges[refund["charge"]].obj
                    charge["amount_refunded"] -= refund["amount"]
                    charge["refunded"] = False
            if kind == "refund.updated":
                return self._event(kind, refund, stored.account, previous)
            charge = self._charges[refund["charge"]].obj
            return self._event(kind, charge, stored.account)

    def dashboard_refund(self, intent_id: str, amount: int | None = None) -> dict[str, Any]:
        """Someone refunds in Stripe's dashboard (no metadata of ours): the charge.refunded
        event Stripe then sends. `amount` None refunds what is left."""
        with self._lock:
            account = self._intents[intent_id].account
            params: dict[str, Any] = {"payment_intent": intent_id}
            if amount is not None:
                params["amount"] = str(amount)
            refund = self._create_refund(params, account)
            charge = self._charges[refund["charge"]].obj
            return self._event("charge.refunded", charge, account)

    signed = staticmethod(signed_event)

    def deliver(
        self, url: str, event: Mapping[str, Any], secret: str, timestamp: int | None = None
    ) -> int:
        """POST the signed event to a webhook endpoint; its HTTP status code."""
        payload, signature = self.signed(event, secret, timestamp)
        response = httpx.post(
            url,
            content=payload,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": signature,
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
            timeout=10,
        )
        return response.status_code

    # -- HTTP ------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, raw_headers: Mapping[str, str], body: bytes
    ) -> _Response:
        split = urlsplit(target)
        headers = {name.lower(): value for name, value in raw_headers.items()}
        form = dict(parse_qsl(body.decode(), keep_blank_values=True)) if body else {}
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        with self._lock:
            self.requests.append(ReceivedRequest(method, split.path, headers, form, query))
            request_id = stripe_id("req_", 14)
            response_headers = {
                "Request-Id": request_id,
                "Stripe-Version": headers.get("stripe-version", API_VERSION),
            }
            account = headers.get("stripe-account")
            if account:
                response_headers["Stripe-Account"] = account
            key = headers.get("idempotency-key") if method == "POST" else None
            if key:
                response_headers["Idempotency-Key"] = key
            try:
                self._authenticate(headers.get("authorization"))
                self._check_account(account)
                if self._failures:
                    raise StripeApiError(
                        self._failures.pop(0),
                        "An unknown error occurred",
                        type_="api_error",
                    )
                if key:
                    replay = self._replays.get((account, key))
                    if replay is not None:
                        if replay.form != form or replay.path != split.path:
                            raise StripeApiError(
                                400,
                                "Keys for idempotent requests can only be used with the same "
                                "parameters they were first used with. Try using a key other "
                                f"than '{key}' if you meant to execute a different request.",
                                type_="idempotency_error",
                            )
                        response_headers["Idempotent-Replayed"] = "true"
                        return _Response(replay.status, replay.body, response_headers)
                params = decode_form(form if method == "POST" else query)
                status, obj = self._route(method, split.path, params, account)
            except StripeApiError as exc:
                return _Response(exc.status, json_bytes({"error": exc.body}), response_headers)
            except ValueError as exc:
                error = {"type": "invalid_request_error", "message": f"Invalid request: {exc}"}
                return _Response(400, json_bytes({"error": error}), response_headers)
            encoded = json_bytes(obj)
            if key:
                self._replays[(account, key)] = _Replay(form, split.path, status, encoded)
            return _Response(status, encoded, response_headers)

    def _authenticate(self, authorization: str | None) -> None:
        if not authorization:
            raise StripeApiError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        scheme, _, key = authorization.partition(" ")
        if scheme != "Bearer" or not hmac.compare_digest(key, self.api_key):
            raise StripeApiError(401, f"Invalid API Key provided: {redact(key)}")

    def _check_account(self, account: str | None) -> None:
        if account is None:
            return
        if not account.startswith("acct_") or (
            self.accounts is not None and account not in self.accounts
        ):
            raise StripeApiError(
                403,
                f"The provided key '{redact(self.api_key)}' does not have access to account "
                f"'{account}' (or that account does not exist). Application access may have "
                "been revoked.",
                code="account_invalid",
            )

    def _route(
        self, method: str, path: str, params: dict[str, Any], account: str | None
    ) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["v1", "payment_intents"]:
            return 200, self._create_intent(params, account)
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "payment_intents"]:
            return 200, self._find(self._intents, parts[2], account, "payment_intent", "intent")
        if method == "POST" and parts == ["v1", "refunds"]:
            return 200, self._create_refund(params, account)
        if method == "GET" and parts == ["v1", "refunds"]:
            return 200, self._list_refunds(params, account)
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "refunds"]:
            return 200, self._find(self._refunds, parts[2], account, "refund", "refund")
        raise StripeApiError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
        )

    def _find(
        self,
        table: dict[str, _Stored],
        object_id: str,
        account: str | None,
        kind: str,
        param: str,
    ) -> dict[str, Any]:
        stored = table.get(object_id)
        if stored is None or stored.account != account:
            raise StripeApiError(
                404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param
            )
        return stored.obj

    def _list_refunds(self, params: dict[str, Any], account: str | None) -> dict[str, Any]:
        limit = positive_int(params, "limit") if "limit" in params else 10
        if limit > 100:
            raise StripeApiError(
                400, "Limit must be between 1 and 100.", code="parameter_invalid", param="limit"
            )
        intent_id = params.get("payment_intent")
        if intent_id is not None:
            self._find(self._intents, intent_id, account, "payment_intent", "payment_intent")
        found = [
            stored.obj
            for stored in self._refunds.values()
            if stored.account == account
            and (intent_id is None or stored.obj["payment_intent"] == intent_id)
        ]
        return refund_page(found, limit)

    def _create_intent(self, params: dict[str, Any], account: str | None) -> dict[str, Any]:
        intent = new_intent(params, account)
        self._intents[intent["id"]] = _Stored(account, intent)
        return intent

    def _create_refund(self, params: dict[str, Any], account: str | None) -> dict[str, Any]:
        intent_id = params.get("payment_intent")
        if not intent_id:
            raise StripeApiError(
                400,
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                code="parameter_missing",
            )
        intent = self._find(self._intents, intent_id, account, "payment_intent", "payment_intent")
        reason = params.get("reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise StripeApiError(
                400,
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                code="parameter_invalid",
                param="reason",
            )
        charge_id = intent["latest_charge"]
        if intent["status"] != "succeeded" or charge_id is None:
            raise StripeApiError(
                400,
                f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                code="charge_not_refundable",
                param="payment_intent",
            )
        charge = self._charges[charge_id].obj
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise StripeApiError(
                400,
                f"Charge {charge_id} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = positive_int(params, "amount") if "amount" in params else remaining
        if amount > remaining:
            raise StripeApiError(
                400,
                f"Refund amount ({amount} {charge['currency']}) is greater than unrefunded "
                f"amount on charge ({remaining} {charge['currency']})",
                code="amount_too_large",
                param="amount",
            )
        refund = new_refund(
            charge, amount, reason, params.get("metadata") or {}, self.refund_status
        )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self._refunds[refund["id"]] = _Stored(account, refund)
        return refund

    def _event(
        self,
        event_type: str,
        obj: dict[str, Any],
        account: str | None,
        previous: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        event = event_object(event_type, obj, account, previous)
        self.events.append(event)
        return copy.deepcopy(event)
