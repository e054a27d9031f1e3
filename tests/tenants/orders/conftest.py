"""A park with the demo catalog per test module, an app client, and a Selling."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.conftest import run, unique_slug
from tests.tenants.catalog.helpers import park_today
from vistapass.platform.app import create_app
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.tenants.catalog.demo import seed_demo_catalog


def open_weekday(days_ahead: int = 10) -> date:
    """A future Tuesday-to-Thursday, away from weekends, so prices are weekday prices."""
    day = park_today() + timedelta(days=days_ahead)
    while day.weekday() not in (1, 2, 3):
        day += timedelta(days=1)
    return day


@pytest.fixture(scope="module")
def sale_park(migrated: Settings) -> str:
    slug = unique_slug("sales")

    async def prepare(db: Any) -> None:
        await provision_tenant(db, slug, "Sales Park")
        await seed_demo_catalog(db, slug)

    run(migrated, prepare)
    return slug


@pytest.fixture(scope="module")
def client(migrated: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as client:
        yield client


def order_body(product: str, day: date, lines: list[dict[str, Any]], **extra: Any) -> dict:
    return {
        "product": product,
        "date": day.isoformat(),
        "lines": lines,
        "contact": {"name": "Li Lei", "email": "li.lei@example.com", "phone": "13800000000"},
        "payment": "test",
        **extra,
    }
