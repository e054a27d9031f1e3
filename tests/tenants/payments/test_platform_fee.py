"""The gateway's configuration and the platform's fee per payment."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.tenants.payments.support import (
    SECRET,
)
from vistapass.tenants.payments.stripe_gateway import (
    StripeConfig,
    StripeGateway,
    platform_fee,
)

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
