"""Shared by the Stripe gateway tests: accounts, and calls made through a fresh gateway."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from tests.fakes.stripe_server import FakeStripe
from tests.fakes.stripe_wire import ReceivedRequest
from vistapass.tenants.payments.stripe_gateway import (
    IntentResult,
    PaymentProviderError,
    RefundResult,
    StripeConfig,
    StripeGateway,
)

ACCOUNT = "acct_1VistapassAlpha"
OTHER_ACCOUNT = "acct_1VistapassBeta"
SECRET = "whsec_vistapass_test_endpoint"
T = TypeVar("T")


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
