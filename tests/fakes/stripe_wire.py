"""Stripe's wire format as the local stand-in speaks it: ids, form decoding, the
requests it records, the errors it answers with, and the objects and events it makes."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

API_VERSION = "2026-10-28.endive"
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
ALPHABET = string.ascii_letters + string.digits


def stripe_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(length))


def decode_form(form: Mapping[str, str]) -> dict[str, Any]:
    """Stripe's bracketed form keys as nested values: `a[b]` a dict, `a[0]` a list."""
    root: dict[str, Any] = {}
    for key, value in form.items():
        head, _, rest = key.partition("[")
        if rest and not rest.endswith("]"):
            raise ValueError(f"malformed key {key!r}")
        parts = [head, *(rest[:-1].split("][") if rest else [])]
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"key {key!r} nests inside a plain value")
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise ValueError(f"key {key!r} is also used as a nested value")
        node[parts[-1]] = value
    return listify(root)


def listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: listify(v) for k, v in node.items()}
    indices = sorted(int(k) for k in items if k.isdigit())
    if items and len(indices) == len(items) and indices == list(range(len(items))):
        return [items[str(i)] for i in indices]
    return items


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    # Header names lower-cased: HTTP header names are case-insensitive.
    headers: dict[str, str]
    # The body exactly as sent: flat bracketed keys, string values.
    form: dict[str, str]
    query: dict[str, str]

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def params(self) -> dict[str, Any]:
        return decode_form(self.form or self.query)


class StripeApiError(Exception):
    """An error the fake answers with, in Stripe's `{"error": {...}}` envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type_, "message": message}
        if code is not None:
            self.body["code"] = code
            self.body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param is not None:
            self.body["param"] = param


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2).encode()


def redact(key: str) -> str:
    return f"{key[:8]}{'*' * max(len(key) - 12, 0)}{key[-4:]}" if len(key) > 12 else "****"


def missing(param: str) -> StripeApiError:
    return StripeApiError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def non_negative_int(params: Mapping[str, Any], name: str) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        raise missing(name)
    if not isinstance(raw, str) or not raw.isdigit():
        raise StripeApiError(
            400,
            f"Invalid integer: {raw}",
            code="parameter_invalid_integer",
            param=name,
        )
    return int(raw)


def positive_int(params: Mapping[str, Any], name: str) -> int:
    value = non_negative_int(params, name)
    if value <= 0:
        raise StripeApiError(
            400,
            "This value must be greater than or equal to 1.",
            code="parameter_invalid_integer",
            param=name,
        )
    return value


def new_intent(params: dict[str, Any], account: str | None) -> dict[str, Any]:
    """A PaymentIntent as Stripe creates it, or the StripeApiError it answers with."""
    amount = positive_int(params, "amount")
    currency = params.get("currency")
    if not currency:
        raise missing("currency")
    if len(currency) != 3 or not currency.isalpha():
        raise StripeApiError(
            400, f"Invalid currency: {currency}.", code="parameter_invalid", param="currency"
        )
    fee: int | None = None
    if "application_fee_amount" in params:
        fee = non_negative_int(params, "application_fee_amount")
        if account is None and "transfer_data" not in params:
            raise StripeApiError(
                400,
                "Can only apply an application_fee_amount when the PaymentIntent is "
                "attempting a direct payment (using an OAuth key or Stripe-Account header) "
                "or destination payment (using `transfer_data[destination]`).",
                param="application_fee_amount",
            )
        if fee > amount:
            raise StripeApiError(
                400,
                "The application fee amount cannot be greater than the amount.",
                code="parameter_invalid",
                param="application_fee_amount",
            )
    types = params.get("payment_method_types") or ["card"]
    if not isinstance(types, list):
        raise StripeApiError(
            400,
            "Invalid array",
            code="parameter_invalid",
            param="payment_method_types",
        )
    metadata = params.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise StripeApiError(400, "Invalid object", param="metadata")
    intent_id = stripe_id("pi_")
    intent = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": 0,
        "application": None,
        "application_fee_amount": fee,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": params.get("capture_method", "automatic"),
        "client_secret": f"{intent_id}_secret_{stripe_id('', 25)}",
        "confirmation_method": "automatic",
        "created": int(time.time()),
        "currency": currency.lower(),
        "customer": None,
        "description": params.get("description"),
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_options": params.get("payment_method_options") or {},
        "payment_method_types": types,
        "processing": None,
        "receipt_email": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }
    return intent


def event_object(
    event_type: str, obj: dict[str, Any], account: str | None, previous: dict[str, Any] | None
) -> dict[str, Any]:
    """The event Stripe sends about `obj`, as delivered to a Connect endpoint."""
    data: dict[str, Any] = {"object": copy.deepcopy(obj)}
    if previous:
        data["previous_attributes"] = previous
    event: dict[str, Any] = {
        "id": stripe_id("evt_"),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    # Connect events name the connected account; the platform's own events do not.
    if account is not None:
        event["account"] = account
    return event


def signed_event(
    event: Mapping[str, Any], secret: str, timestamp: int | None = None
) -> tuple[bytes, str]:
    """The delivery body and its `Stripe-Signature` header, signed as Stripe does.

    `v1` is HMAC-SHA256 of `"<t>.<body>"` under the endpoint's secret. Test-mode
    deliveries also carry a `v0` made with a key nobody has, which a verifier must
    ignore; including it catches verifiers that accept any scheme.
    """
    payload = json.dumps(event, indent=2).encode()
    t = int(time.time()) if timestamp is None else timestamp
    signed_payload = f"{t}.".encode() + payload
    v1 = hmac.new(secret.encode(), signed_payload, hashlib.sha256).hexdigest()
    v0 = hmac.new(secrets.token_bytes(32), signed_payload, hashlib.sha256).hexdigest()
    return payload, f"t={t},v1={v1},v0={v0}"


def new_charge(intent: dict[str, Any]) -> dict[str, Any]:
    """The charge of a PaymentIntent the customer paid in full."""
    return {
        "id": stripe_id("ch_"),
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": intent["amount"],
        "amount_refunded": 0,
        "application_fee_amount": intent["application_fee_amount"],
        "balance_transaction": stripe_id("txn_"),
        "captured": True,
        "created": int(time.time()),
        "currency": intent["currency"],
        "description": intent["description"],
        "livemode": False,
        "metadata": copy.deepcopy(intent["metadata"]),
        "paid": True,
        "payment_intent": intent["id"],
        "payment_method_details": {"type": intent["payment_method_types"][0]},
        "refunded": False,
        "status": "succeeded",
    }


def new_refund(
    charge: dict[str, Any],
    amount: int,
    reason: str | None,
    metadata: dict[str, Any],
    status: str,
) -> dict[str, Any]:
    """A refund of `amount` of the charge, as Stripe creates it (checks are the caller's)."""
    return {
        "id": stripe_id("re_"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": stripe_id("txn_"),
        "charge": charge["id"],
        "created": int(time.time()),
        "currency": charge["currency"],
        "destination_details": None,
        "metadata": metadata,
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
    }


def refund_page(refunds: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """A list of refunds as `GET /v1/refunds` pages it: newest first."""
    newest = sorted(refunds, key=lambda refund: refund["created"], reverse=True)
    return {
        "object": "list",
        "data": newest[:limit],
        "has_more": len(newest) > limit,
        "url": "/v1/refunds",
    }
