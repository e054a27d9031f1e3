"""The demo park sells one product of each built-in mode, priced through the quote API."""

from __future__ import annotations

from datetime import date, timedelta

import holidays
from litestar.testing import TestClient

from tests.conftest import unique_slug
from vistapass.platform.app import create_app
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.tenants.catalog.demo import PRODUCTS, seed_demo_catalog


def a_quiet_wednesday() -> date:
    """A Wednesday a few weeks ahead that is no public holiday in China."""
    day = date.today() + timedelta(days=21)
    while day.weekday() != 2 or day in holidays.China(years=day.year):
        day += timedelta(days=1)
    return day


def test_each_demo_product_quotes(migrated, db_run) -> None:
    slug = unique_slug("demo")
    db_run(lambda db: provision_tenant(db, slug, "Demo"))
    assert db_run(lambda db: seed_demo_catalog(db, slug)) == len(PRODUCTS)
    assert db_run(lambda db: seed_demo_catalog(db, slug)) == 0  # idempotent
    visit = a_quiet_wednesday().isoformat()
    baskets = {
        "day-ticket": (
            {"lines": [{"unit": "adult", "quantity": 2}, {"unit": "child", "quantity": 1}]},
            30000,
        ),
        "sunrise-slot": ({"slot": "10:00", "lines": [{"unit": "adult", "quantity": 1}]}, 12000),
        "family-pack": (
            {
                "lines": [
                    {"unit": "adult", "quantity": 2},
                    {"unit": "child", "quantity": 1, "ages": [8]},
                ]
            },
            25500,
        ),
        "annual-card": ({"lines": [{"unit": "adult", "quantity": 1}]}, 39800),
    }
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as client:
        for code, (basket, expected_total) in baskets.items():
            response = client.post(
                f"/p/{slug}/api/v1/quotes", json={"product": code, "date": visit, **basket}
            )
            assert response.status_code == 200, (code, response.text)
            body = response.json()
            assert (body["currency"], body["total"]) == ("CNY", expected_total), (code, body)
            persons = sum(line["quantity"] for line in basket["lines"])
            assert len(body["entitlements"]) == persons
