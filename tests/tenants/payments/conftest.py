"""The local Stripe stand-in and a gateway configured for it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.fakes.stripe_server import FakeStripe
from tests.tenants.payments.support import ACCOUNT, OTHER_ACCOUNT, SECRET
from vistapass.tenants.payments.stripe_gateway import (
    StripeConfig,
    StripeGateway,
)


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
