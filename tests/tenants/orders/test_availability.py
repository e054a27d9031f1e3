"""The calendar a buyer sees: available, limited, sold out, closed, kept fresh."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.tenants.catalog.helpers import add_product, set_day
from tests.tenants.orders.conftest import open_weekday, order_body
from vistapass.platform.pricing_registry import get_mode


def slot_product(db: Any, slug: str, capacity: int) -> Any:
    config = {
        "prices": {"adult": 5000},
        "slots": [
            {"code": "09:00", "start": "09:00", "end": "11:00", "capacity": capacity},
            {"code": "13:00", "start": "13:00", "end": "15:00", "capacity": 100},
        ],
    }
    stored = dict(get_mode("time_slot").validate_config(config))
    return add_product(db, slug, mode="time_slot", config=stored, units=("adult",))


def states(client: Any, slug: str, product: str, day: Any, days: int = 1) -> list[dict]:
    response = client.get(
        f"/p/{slug}/api/v1/availability",
        params={"product": product, "from": day.isoformat(), "days": days},
    )
    assert response.status_code == 200, response.text
    return response.json()["days"]


def test_a_slot_goes_from_available_to_limited_to_sold_out(client, sale_park, db_run) -> None:
    product = db_run(lambda db: slot_product(db, sale_park, 10))
    day = open_weekday(days_ahead=14)
    [first] = states(client, sale_park, product, day)
    assert first["state"] == "available"
    assert [(s["code"], s["state"], s["left"]) for s in first["slots"]] == [
        ("09:00", "available", 10),
        ("13:00", "available", 100),
    ]

    def buy(quantity: int) -> Any:
        body = order_body(product, day, [{"unit": "adult", "quantity": quantity}], slot="09:00")
        return client.post(f"/p/{sale_park}/api/v1/orders", json=body)

    assert buy(9).status_code == 201
    # The cache was dropped by the sale: the next read is fresh.
    [after] = states(client, sale_park, product, day)
    assert (after["slots"][0]["state"], after["slots"][0]["left"]) == ("limited", 1)
    assert buy(1).status_code == 201
    [full] = states(client, sale_park, product, day)
    assert (full["slots"][0]["state"], full["slots"][0]["left"]) == ("sold_out", 0)
    # One slot full, another open: the day is still for sale.
    assert full["state"] == "available"
    refused = buy(1)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "sold_out"


def test_closed_days_and_bad_questions(client, sale_park, db_run) -> None:
    day = open_weekday(days_ahead=16)
    db_run(lambda db: set_day(db, sale_park, day, is_open=False))
    answers = states(client, sale_park, "day-ticket", day - timedelta(days=1), days=3)
    assert [a["state"] for a in answers] == ["available", "closed", "available"]
    unknown = client.get(
        f"/p/{sale_park}/api/v1/availability",
        params={"product": "nope", "from": day.isoformat()},
    )
    assert unknown.status_code == 404
    too_many = client.get(
        f"/p/{sale_park}/api/v1/availability",
        params={"product": "day-ticket", "from": day.isoformat(), "days": 500},
    )
    assert too_many.status_code == 400


def test_a_retry_after_the_sell_out_still_gets_its_first_answer(client, sale_park, db_run) -> None:
    product = db_run(lambda db: slot_product(db, sale_park, 2))
    day = open_weekday(days_ahead=45)
    body = order_body(product, day, [{"unit": "adult", "quantity": 2}], slot="09:00")
    url = f"/p/{sale_park}/api/v1/orders"
    first = client.post(url, json=body, headers={"Idempotency-Key": "last-two"})
    assert first.status_code == 201
    refused = client.post(url, json=body, headers={"Idempotency-Key": "too-late"})
    assert refused.status_code == 409
    # The sold-out answer now comes from Redis, yet the first buyer's retry is replayed.
    again = client.post(url, json=body, headers={"Idempotency-Key": "last-two"})
    assert again.status_code == 201, again.text
    assert again.json()["code"] == first.json()["code"]
    assert again.headers["Idempotent-Replayed"] == "true"
