"""Catalogue test helpers: a park of its own, a client, and a pricing mode of the
tests' own, installed by patching the registry, so the tests do not depend on
what the shipped modes accept. Test modules import the fixtures (not a conftest),
so another suite's conftest in this folder cannot collide with them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.platform.audit.conftest import new_park
from vistapass.platform import pricing_registry
from vistapass.platform.app import create_app
from vistapass.platform.plugin_api import (
    BasketRejected,
    ConfigField,
    FieldKind,
    InvalidConfig,
    Quote,
    QuoteRequest,
)
from vistapass.platform.settings import Settings

FAKE = "fake_mode"


class FakeMode:
    """A third party's mode: a price, a flag, a choice, dates and per-unit JSON."""

    key = FAKE
    name_zh = "测试计价"
    name_en = "Test pricing"
    config_fields = (
        ConfigField("price", FieldKind.MONEY, "价格", "Price", required=True),
        ConfigField("peak", FieldKind.BOOLEAN, "高峰", "Peak", default=False),
        ConfigField("tier", FieldKind.CHOICE, "档位", "Tier", default="a", choices=("a", "b")),
        ConfigField("blackout", FieldKind.DATES, "不可用日期", "Blackout dates"),
        ConfigField("prices", FieldKind.JSON, "各票种价格", "Prices per unit", default={}),
    )

    def validate_config(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        price = raw.get("price")
        if isinstance(price, bool) or not isinstance(price, int) or price < 0:
            raise InvalidConfig(
                "The price is a whole number of fen, 0 or more.",
                code="invalid_price",
                details={"field": "price"},
            )
        prices = raw.get("prices", {})
        if not isinstance(prices, dict) or not all(
            isinstance(v, int) and v >= 0 for v in prices.values()
        ):
            raise InvalidConfig(
                "Prices per unit map a unit to fen.",
                code="invalid_prices",
                details={"field": "prices"},
            )
        tier = raw.get("tier", "a")
        if tier not in ("a", "b"):
            raise InvalidConfig("Tier a or b.", code="invalid_tier", details={"field": "tier"})
        return {
            "price": price,
            "peak": bool(raw.get("peak", False)),
            "tier": tier,
            "blackout": sorted(raw.get("blackout", [])),
            "prices": prices,
        }

    def validate_basket(self, request: QuoteRequest) -> None:
        if not request.lines:
            raise BasketRejected("A basket needs at least one line.", code="empty_basket")

    def quote(self, request: QuoteRequest) -> Quote:
        return Quote(request.currency, ())

    def entitlements(self, request: QuoteRequest) -> tuple[()]:
        return ()


@pytest.fixture(name="fake_mode")
def fixture_fake_mode(monkeypatch: pytest.MonkeyPatch) -> FakeMode:
    installed = dict(pricing_registry.pricing_modes())
    mode = FakeMode()
    monkeypatch.setattr(pricing_registry, "pricing_modes", lambda: {**installed, FAKE: mode})
    return mode


@pytest.fixture(name="slug", scope="module")
def fixture_slug(migrated: Settings) -> str:
    return new_park(migrated, "catalog")


@pytest.fixture(name="client")
def fixture_client(migrated: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as test_client:
        test_client.get("/healthz")  # the CSRF cookie
        yield test_client


def csrf(client: TestClient, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken") or "", **(extra or {})}


def enable_fake(client: TestClient, slug: str) -> None:
    response = client.put(
        f"/p/{slug}/api/v1/catalog/pricing-modes",
        json={"modes": {FAKE: True}},
        headers=csrf(client),
    )
    assert response.status_code == 200, response.text


def audit(client: TestClient, slug: str, action: str) -> list[dict[str, Any]]:
    response = client.get(f"/p/{slug}/api/v1/audit", params={"action": action, "limit": 200})
    assert response.status_code == 200, response.text
    return response.json()["items"]
