"""Stripe as the parks' payment provider: a thin adapter over stripe-python's `StripeClient`.

Charge type: *direct charges*. Every PaymentIntent and refund is created on the park's
connected account (the `Stripe-Account` header, `options={"stripe_account": ...}`), so the
park is the merchant of record and carries Stripe's fees, refunds and disputes, and the
platform's cut travels as `application_fee_amount`, which Stripe moves to the platform's
balance when the payment succeeds. Destination charges would make the platform the
merchant of record, liable for every park's disputes; that is not the business we are in.
Consequences callers must know about:

- the browser initialises Stripe.js with `{stripeAccount: <connected account>}`, or the
  client secret will not be found;
- the intent, its charge and its refunds exist only on the connected account, so every
  later call names that account too;
- the webhook endpoint must be a *Connect* endpoint ("events on connected accounts"); its
  events carry the park's account id in `account`, and its signing secret is its own.

Only the async half of the client is used: the gateway builds `stripe.HTTPXClient`
itself, which needs `httpx` (and `anyio`, which httpx brings) at runtime. Its connection
pool belongs to the event loop that first uses it, so one gateway serves one loop and is
closed with `aclose()` (or `async with`) when that loop is done.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Self

import stripe

from vistapass.platform.errors import VistapassError

PAYMENT_METHOD_TYPES: Final = ("card", "wechat_pay", "alipay")
# Stripe's own default tolerance; a replayed delivery older than this is refused.
WEBHOOK_TOLERANCE_SECONDS: Final = 300
BASIS_POINTS: Final = 10_000
METADATA_TENANT: Final = "vistapass_tenant"
METADATA_ORDER_ID: Final = "vistapass_order_id"
METADATA_ORDER_CODE: Final = "vistapass_order_code"
# On a refund Vistapass asked for; a refund without it was made elsewhere (the dashboard).
METADATA_REFUND_ID: Final = "vistapass_refund_id"
# More refunds than this on one payment would need paging; a ticket order has a few.
REFUND_LIST_LIMIT: Final = 100


@dataclass(frozen=True)
class StripeConfig:
    # Kept out of repr so that logging a config never writes a secret key to the logs.
    api_key: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    api_base: str | None = None
    platform_fee_bp: int = 0
    platform_fee_fixed: int = 0
    # Every request carries an idempotency key, so retrying a timeout, a 409 or a 5xx
    # cannot charge twice; two retries ride out a blip without holding a checkout for long.
    max_network_retries: int = 2
    # stripe-python's default is 80 s; a customer at a checkout gives up long before that.
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class IntentResult:
    id: str
    client_secret: str | None
    status: str
    amount: int
    amount_received: int
    currency: str
    application_fee_amount: int
    latest_charge: str | None
    metadata: dict[str, str]


@dataclass(frozen=True)
class RefundResult:
    id: str
    status: str
    amount: int
    # Ours: the refund id Vistapass gave it; None for a refund made outside Vistapass.
    vistapass_refund_id: str | None = None


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    # The connected account the event happened on; None for the platform's own events.
    account: str | None
    created: int
    livemode: bool
    object: dict[str, Any]


class WebhookRejected(VistapassError):
    status_code = 400
    code = "invalid_signature"


class PaymentProviderError(VistapassError):
    """Stripe refused or could not complete a call.

    `code` is Stripe's own error code when it gave one (`amount_too_large`,
    `charge_already_refunded`, `card_declined`, `resource_missing`, ...), so callers can
    branch on it. The status says whose problem it is:

    - 402: the customer's payment method was declined;
    - 409: the request contradicts the payment's state on Stripe (refunding more than was
      received, an idempotency key reused with other parameters);
    - 404: the intent or refund is not on the park's connected account;
    - 502: Stripe refuses our credentials or the account link (configuration, not caller);
    - 503: Stripe could not be reached or failed; `retryable` is set.
    """

    status_code = 409
    code = "payment_provider_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        retryable: bool = False,
        request_id: str | None = None,
    ) -> None:
        super().__init__(
            message,
            code=code,
            status_code=status_code,
            details={"provider": "stripe", "request_id": request_id} if request_id else None,
        )
        self.retryable = retryable
        self.request_id = request_id


def platform_fee(amount: int, bp: int, fixed: int) -> int:
    """The platform's fee on a payment of `amount` minor units.

    `bp` basis points of the amount, rounded half up to a whole minor unit, plus `fixed`
    minor units, capped at the amount: Stripe refuses an application fee larger than the
    payment, and a fee equal to it leaves the park nothing rather than a debt.
    """
    if amount < 0:
        raise ValueError(f"amount must not be negative, got {amount}")
    if not 0 <= bp <= BASIS_POINTS:
        raise ValueError(f"platform fee must be 0..{BASIS_POINTS} basis points, got {bp}")
    if fixed < 0:
        raise ValueError(f"fixed platform fee must not be negative, got {fixed}")
    proportional = (amount * bp + BASIS_POINTS // 2) // BASIS_POINTS
    return min(amount, proportional + fixed)


class StripeGateway:
    def __init__(self, config: StripeConfig) -> None:
        # Checked now so that a bad fee setting stops the process at boot, not a checkout.
        platform_fee(0, config.platform_fee_bp, config.platform_fee_fixed)
        if not config.webhook_secret:
            raise ValueError("a Stripe webhook signing secret is required")
        self._config = config
        # Async only: a sync call on this client raises instead of quietly blocking the
        # event loop through a fallback HTTP library.
        self._http = stripe.HTTPXClient(timeout=config.timeout_seconds)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client = stripe.StripeClient(
            config.api_key,
            base_addresses={"api": config.api_base} if config.api_base else None,
            max_network_retries=config.max_network_retries,
            http_client=self._http,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.close_async()

    def _check_loop(self) -> None:
        """Refuse a call from any event loop but the one the gateway first served.

        httpx's pool keeps connections made on the first loop; from another loop they
        fail as "network errors" that stripe would retry and report as an outage. A
        second loop is a wiring mistake, so it is refused plainly instead.
        """
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError(
                "this StripeGateway belongs to another event loop; make one per loop"
            )

    def platform_fee(self, amount: int) -> int:
        return platform_fee(amount, self._config.platform_fee_bp, self._config.platform_fee_fixed)

    async def create_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        connected_account: str,
        order_code: str,
        tenant: str,
        order_id: str,
        idempotency_key: str,
        description: str,
    ) -> IntentResult:
        if amount <= 0:
            raise ValueError(f"a payment must be for a positive amount, got {amount}")
        params: stripe.params.PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency.lower(),
            "description": description,
            "payment_method_types": list(PAYMENT_METHOD_TYPES),
            # WeChat Pay needs to know where the QR code or redirect will be shown.
            "payment_method_options": {"wechat_pay": {"client": "web"}},
            "metadata": {
                METADATA_TENANT: tenant,
                METADATA_ORDER_ID: order_id,
                METADATA_ORDER_CODE: order_code,
            },
        }
        fee = self.platform_fee(amount)
        # Stripe wants a positive integer here; a fee-free park sends no fee at all.
        if fee > 0:
            params["application_fee_amount"] = fee
        self._check_loop()
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params,
                {"stripe_account": connected_account, "idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _provider_error(exc) from exc
        return _intent_result(intent.to_dict())

    async def retrieve_payment_intent(self, intent_id: str, connected_account: str) -> IntentResult:
        self._check_loop()
        try:
            intent = await self._client.v1.payment_intents.retrieve_async(
                intent_id, options={"stripe_account": connected_account}
            )
        except stripe.StripeError as exc:
            raise _provider_error(exc) from exc
        return _intent_result(intent.to_dict())

    async def refund(
        self,
        *,
        payment_intent: str,
        amount: int,
        connected_account: str,
        idempotency_key: str,
        reason: str = "requested_by_customer",
        refund_application_fee: bool = False,
        vistapass_refund_id: str | None = None,
    ) -> RefundResult:
        """Refund `amount` of a succeeded payment on the park's account.

        With direct charges Stripe keeps the platform's application fee unless
        `refund_application_fee` is set, in which case it returns the fee in proportion
        to the amount refunded; whether the platform keeps its cut is a policy decision
        left to the caller.
        """
        if amount <= 0:
            raise ValueError(f"a refund must be for a positive amount, got {amount}")
        params: stripe.params.RefundCreateParams = {
            "payment_intent": payment_intent,
            "amount": amount,
            "reason": reason,
        }
        if refund_application_fee:
            params["refund_application_fee"] = True
        if vistapass_refund_id is not None:
            params["metadata"] = {METADATA_REFUND_ID: vistapass_refund_id}
        self._check_loop()
        try:
            refund = await self._client.v1.refunds.create_async(
                params,
                {"stripe_account": connected_account, "idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _provider_error(exc) from exc
        return refund_result(refund.to_dict())

    async def refunds_of(self, payment_intent: str, connected_account: str) -> list[RefundResult]:
        """Every refund of a payment as Stripe has it now, ours and those made elsewhere."""
        self._check_loop()
        try:
            page = await self._client.v1.refunds.list_async(
                {"payment_intent": payment_intent, "limit": REFUND_LIST_LIMIT},
                {"stripe_account": connected_account},
            )
        except stripe.StripeError as exc:
            raise _provider_error(exc) from exc
        return [refund_result(refund.to_dict()) for refund in page.data]

    def parse_webhook(self, payload: bytes, signature_header: str | None) -> WebhookEvent:
        """Verify a delivery's `Stripe-Signature` and return the event it carries.

        `payload` must be the request body exactly as received: the signature covers the
        bytes, and re-serialised JSON would not match.
        """
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature_header, self._config.webhook_secret, WEBHOOK_TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as exc:
            raise WebhookRejected(f"Stripe webhook refused: {exc.user_message or exc}") from exc
        except UnicodeDecodeError as exc:
            # The verifier decodes the body before it looks at the signature.
            raise WebhookRejected("Stripe webhook refused: the body is not UTF-8") from exc
        try:
            data = json.loads(payload)
            if data["object"] != "event":
                raise ValueError(f"object is {data['object']!r}")
            return WebhookEvent(
                id=str(data["id"]),
                type=str(data["type"]),
                account=data.get("account"),
                created=int(data["created"]),
                livemode=bool(data.get("livemode", False)),
                object=dict(data["data"]["object"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            # Correctly signed but not a snapshot event we can read (a thin v2 event
            # notification, say): the endpoint is configured wrongly, not attacked.
            raise WebhookRejected(
                "Stripe webhook refused: the body is not a Stripe event", code="invalid_payload"
            ) from exc


def _intent_result(data: dict[str, Any]) -> IntentResult:
    charge = data.get("latest_charge")
    if isinstance(charge, dict):
        # Expanded on request, an id otherwise; callers only ever need the id.
        charge = charge.get("id")
    return IntentResult(
        id=data["id"],
        client_secret=data.get("client_secret"),
        status=data["status"],
        amount=data["amount"],
        amount_received=data.get("amount_received") or 0,
        currency=data["currency"],
        application_fee_amount=data.get("application_fee_amount") or 0,
        latest_charge=charge,
        metadata=dict(data.get("metadata") or {}),
    )


def refund_result(data: dict[str, Any]) -> RefundResult:
    metadata = data.get("metadata") or {}
    return RefundResult(
        id=data["id"],
        status=data["status"],
        amount=data["amount"],
        vistapass_refund_id=metadata.get(METADATA_REFUND_ID),
    )


def _provider_error(exc: stripe.StripeError) -> PaymentProviderError:
    message = exc.user_message or str(exc) or type(exc).__name__
    request_id = exc.request_id
    if isinstance(exc, stripe.CardError):
        return PaymentProviderError(
            message, code=exc.code or "card_declined", status_code=402, request_id=request_id
        )
    if isinstance(exc, stripe.RateLimitError):
        return PaymentProviderError(
            message,
            code="payment_provider_busy",
            status_code=503,
            retryable=True,
            request_id=request_id,
        )
    if isinstance(exc, stripe.IdempotencyError):
        return PaymentProviderError(
            message, code="idempotency_conflict", status_code=409, request_id=request_id
        )
    if isinstance(exc, stripe.InvalidRequestError):
        # 404 is Stripe's `resource_missing`: an id that is not on this park's account.
        status = 404 if exc.http_status == 404 else 409
        return PaymentProviderError(
            message, code=exc.code or "invalid_request", status_code=status, request_id=request_id
        )
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return PaymentProviderError(
            message,
            code="payment_provider_misconfigured",
            status_code=502,
            request_id=request_id,
        )
    # Connection failures and Stripe's own 5xx: nothing wrong with the request itself.
    return PaymentProviderError(
        message,
        code="payment_provider_unavailable",
        status_code=503,
        retryable=True,
        request_id=request_id,
    )
