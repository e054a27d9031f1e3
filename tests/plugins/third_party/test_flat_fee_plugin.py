"""A third party's pricing mode, installed as pip would, priced through the public API."""

from __future__ import annotations

from datetime import timedelta

from litestar.testing import TestClient
from sqlalchemy import delete

from tests.plugins.third_party.installer import flat_fee_installed
from tests.tenants.catalog.helpers import add_product, park_today, set_mode
from vistapass.platform.app import create_app
from vistapass.platform.pricing_registry import pricing_modes
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.models import PricingModeSetting, Product


def test_an_installed_plugin_prices_once_the_park_enables_it(migrated, db_run, tmp_path) -> None:
    assert "flat_fee" not in pricing_modes()
    with flat_fee_installed(tmp_path):
        assert type(pricing_modes()["flat_fee"]).__module__ == "vistapass_pricing_flat"
        code = db_run(
            lambda db: add_product(db, "alpha", config={"price": 4200}, units=("adult", "child"))
        )
        body = {
            "product": code,
            "date": (park_today() + timedelta(days=7)).isoformat(),
            "lines": [{"unit": "adult", "quantity": 2}, {"unit": "child", "quantity": 1}],
        }
        try:
            with TestClient(create_app(migrated), base_url="http://vistapass.test") as client:
                refused = client.post("/p/alpha/api/v1/quotes", json=body)
                assert refused.status_code == 422, refused.text
                assert refused.json()["error"]["code"] == "mode_not_enabled"

                db_run(lambda db: set_mode(db, "alpha", "flat_fee", True))
                priced = client.post("/p/alpha/api/v1/quotes", json=body)
                assert priced.status_code == 200, priced.text
                quote = priced.json()
                assert [line["unit_price"] for line in quote["lines"]] == [4200, 4200]
                assert quote["total"] == 3 * 4200
                assert len(quote["entitlements"]) == 3
        finally:
            db_run(lambda db: _forget(db, code))
    assert "flat_fee" not in pricing_modes()


async def _forget(db, code: str) -> None:
    # alpha is shared by every test module: leave it as it was found.
    async with tenant_session(db, "alpha") as session:
        await session.execute(delete(Product).where(Product.code == code))
        await session.execute(
            delete(PricingModeSetting).where(PricingModeSetting.key == "flat_fee")
        )
