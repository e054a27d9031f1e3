"""The public quote API: a priced basket, and every rule that refuses one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from psycopg import sql

from tests.tenants.catalog.helpers import add_product, park_today, set_day, set_mode
from vistapass.platform.app import create_app
from vistapass.platform.pricing_registry import get_mode
from vistapass.platform.tenancy.naming import schema_for

pytestmark = pytest.mark.usefixtures("flat_fee")


@pytest.fixture(scope="module")
def client(migrated) -> Iterator[TestClient]:
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as client:
        yield client


def ask(client: TestClient, slug: str, product: str, **body: Any) -> Any:
    payload = {
        "product": product,
        "date": (park_today() + timedelta(days=10)).isoformat(),
        "lines": [{"unit": "adult", "quantity": 2}],
        **body,
    }
    return client.post(f"/p/{slug}/api/v1/quotes", json=payload)


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


def test_a_basket_is_priced_itemised_with_entitlements(client, quote_park, db_run) -> None:
    code = db_run(
        lambda db: add_product(
            db,
            quote_park,
            config={"price": 12000},
            channels=("web", "window"),
            real_name_required=True,
        )
    )
    day = park_today() + timedelta(days=10)
    response = ask(
        client,
        quote_park,
        code,
        date=day.isoformat(),
        lines=[{"unit": "adult", "quantity": 2}, {"unit": "child", "quantity": 1, "ages": [6]}],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["product"] == code
    assert body["date"] == day.isoformat()
    assert body["channel"] == "web"
    assert body["currency"] == "CNY"
    assert body["day_kind"] in {"weekday", "weekend", "holiday"}
    assert body["lines"] == [
        {
            "unit": "adult",
            "quantity": 2,
            "base_price": 12000,
            "adjustments": [],
            "unit_price": 12000,
            "total": 24000,
        },
        {
            "unit": "child",
            "quantity": 1,
            "base_price": 12000,
            "adjustments": [],
            "unit_price": 12000,
            "total": 12000,
        },
    ]
    assert body["adjustments"] == []
    assert body["subtotal"] == body["total"] == 36000
    assert len(body["entitlements"]) == 3
    first = body["entitlements"][0]
    assert first["valid_from"] == first["valid_to"] == day.isoformat()
    assert first["entries_total"] == 1
    # The product asks for real names even though the mode does not.
    assert all(e["real_name_required"] for e in body["entitlements"])


def test_unknown_and_unsold_products_are_not_found(client, quote_park, db_run) -> None:
    assert_error(ask(client, quote_park, "no-such-product"), 404, "product_not_found")
    draft = db_run(lambda db: add_product(db, quote_park, status="draft"))
    assert_error(ask(client, quote_park, draft), 404, "product_not_found")


def test_channel_must_be_one_the_product_is_sold_on(client, quote_park, db_run) -> None:
    code = db_run(lambda db: add_product(db, quote_park, channels=("web",)))
    assert_error(ask(client, quote_park, code, channel="ota:ctrip"), 422, "channel_not_allowed")


def test_a_switched_off_or_absent_mode_refuses(client, quote_park, db_run) -> None:
    db_run(lambda db: set_mode(db, quote_park, "time_slot", False))
    built_in_off = db_run(lambda db: add_product(db, quote_park, mode="time_slot"))
    assert_error(ask(client, quote_park, built_in_off), 422, "mode_not_enabled")
    # Another party's mode is off until the park switches it on.
    unknown = db_run(lambda db: add_product(db, quote_park, mode="nobody_wrote_this"))
    assert_error(ask(client, quote_park, unknown), 422, "mode_not_enabled")
    db_run(lambda db: set_mode(db, quote_park, "nobody_wrote_this", True))
    assert_error(ask(client, quote_park, unknown), 422, "unknown_pricing_mode")


def test_sale_and_visit_windows(client, quote_park, db_run) -> None:
    today = park_today()
    ended = db_run(lambda db: add_product(db, quote_park, sale_to=today - timedelta(days=1)))
    assert_error(ask(client, quote_park, ended), 422, "not_on_sale_now")
    later = db_run(lambda db: add_product(db, quote_park, sale_from=today + timedelta(days=1)))
    assert_error(ask(client, quote_park, later), 422, "not_on_sale_now")
    open_today = db_run(lambda db: add_product(db, quote_park, sale_from=today, sale_to=today))
    assert ask(client, quote_park, open_today).status_code == 200
    short = db_run(lambda db: add_product(db, quote_park, visit_to=today + timedelta(days=5)))
    late = (today + timedelta(days=6)).isoformat()
    assert_error(ask(client, quote_park, short, date=late), 422, "outside_visit_window")
    assert ask(client, quote_park, short, date=today.isoformat()).status_code == 200


def test_past_dates_and_closed_days(client, quote_park, db_run) -> None:
    today = park_today()
    code = db_run(lambda db: add_product(db, quote_park))
    past = (today - timedelta(days=3)).isoformat()
    assert_error(ask(client, quote_park, code, date=past), 422, "date_in_past")
    closed = today + timedelta(days=30)
    db_run(lambda db: set_day(db, quote_park, closed, is_open=False, note="maintenance"))
    assert_error(ask(client, quote_park, code, date=closed.isoformat()), 422, "park_closed")


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        ([{"unit": "dragon", "quantity": 1}], "unknown_unit"),
        ([{"unit": "adult", "quantity": 0}], "invalid_quantity"),
        ([{"unit": "adult", "quantity": -2}], "invalid_quantity"),
        ([{"unit": "adult", "quantity": 100}], "invalid_quantity"),
        ([], "invalid_quantity"),
        ([{"unit": "adult", "quantity": 1}] * 51, "invalid_quantity"),
        ([{"unit": "adult", "quantity": 1}, {"unit": "adult", "quantity": 1}], "duplicate_unit"),
        ([{"unit": "child", "quantity": 2, "ages": [5]}], "invalid_ages"),
    ],
)
def test_bad_baskets_are_refused(client, quote_park, db_run, lines, code) -> None:
    product = db_run(lambda db: add_product(db, quote_park))
    assert_error(ask(client, quote_park, product, lines=lines), 422, code)


def test_the_modes_own_refusal_keeps_its_code(client, quote_park, db_run) -> None:
    broken = db_run(lambda db: add_product(db, quote_park, config={"price": -5}))
    response = ask(client, quote_park, broken)
    assert_error(response, 422, "invalid_config")
    assert response.json()["error"]["details"] == {"field": "price"}


def test_malformed_bodies_are_bad_requests(client, quote_park, db_run) -> None:
    product = db_run(lambda db: add_product(db, quote_park))
    assert ask(client, quote_park, product, date="next tuesday").status_code == 400


def snapshot(admin_conn, slug: str) -> dict[str, str]:
    schema = schema_for(slug)
    tables = [
        row[0]
        for row in admin_conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
        )
    ]
    state = {}
    for table in tables:
        query = sql.SQL(
            "SELECT count(*)::text || md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), ''))"
            " FROM {} t"
        ).format(sql.Identifier(schema, table))
        state[table] = admin_conn.execute(query).fetchone()[0]
    return state


def test_quoting_changes_nothing(client, quote_park, db_run, admin_conn) -> None:
    code = db_run(lambda db: add_product(db, quote_park))
    before = snapshot(admin_conn, quote_park)
    assert ask(client, quote_park, code).status_code == 200
    assert_error(ask(client, quote_park, code, channel="window"), 422, "channel_not_allowed")
    assert snapshot(admin_conn, quote_park) == before


def test_channels_share_a_price_unless_the_mode_has_channel_prices(
    client, quote_park, db_run
) -> None:
    flat = db_run(lambda db: add_product(db, quote_park, channels=("web", "window")))
    web = ask(client, quote_park, flat, channel="web").json()
    window = ask(client, quote_park, flat, channel="window").json()
    assert web["total"] == window["total"] == 16000
    assert (web["channel"], window["channel"]) == ("web", "window")


def test_per_visit_charges_the_channels_own_price(client, quote_park, db_run) -> None:
    config = get_mode("per_visit").validate_config(
        {
            "prices": {"adult": 10000, "child": 5000},
            "channel_prices": {"ota:ctrip": {"adult": 9000}},
        }
    )
    code = db_run(
        lambda db: add_product(
            db, quote_park, mode="per_visit", config=dict(config), channels=("web", "ota:ctrip")
        )
    )
    web = ask(client, quote_park, code, channel="web")
    ctrip = ask(client, quote_park, code, channel="ota:ctrip")
    assert web.status_code == ctrip.status_code == 200, (web.text, ctrip.text)
    assert web.json()["total"] == 20000
    assert ctrip.json()["total"] == 18000
