"""Renewing an annual card: the renewal price, dates that carry on, its own holder only."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from litestar.testing import TestClient

from tests.tenants.orders.conftest import open_weekday, order_body

HOLDER = {"name": "李雷", "document_type": "cn_id", "document_number": "11010519491231002X"}
OTHER = {"name": "Jim Green", "document_type": "passport", "document_number": "E12345678"}


def paid_card(client: TestClient, slug: str, day: date, holder: dict[str, str]) -> dict[str, Any]:
    body = order_body("annual-card", day, [{"unit": "adult", "quantity": 1}], holders=[holder])
    order = client.post(f"/p/{slug}/api/v1/orders", json=body)
    assert order.status_code == 201, order.text
    code, token = order.json()["code"], order.json()["token"]
    paid = client.post(f"/p/{slug}/api/v1/orders/{code}/payment?t={token}")
    assert paid.status_code == 200, paid.text
    return paid.json()["order"]


def quote(client: TestClient, slug: str, day: date, **extra: Any) -> Any:
    body = {
        "product": "annual-card",
        "date": day.isoformat(),
        "lines": [{"unit": "adult", "quantity": 1}],
        **extra,
    }
    return client.post(f"/p/{slug}/api/v1/quotes", json=body)


def test_a_card_renews_at_its_renewal_price_from_the_day_after_it_ends(client, sale_park) -> None:
    bought = open_weekday(days_ahead=3)
    card = paid_card(client, sale_park, bought, HOLDER)["tickets"][0]
    assert card["valid_to"] == (bought + timedelta(days=364)).isoformat()

    renew_on = bought + timedelta(days=40)
    answer = quote(client, sale_park, renew_on, renewal_of=card["id"])
    assert answer.status_code == 200, answer.text
    priced = answer.json()
    assert priced["total"] == 29800
    [line] = priced["lines"]
    assert line["base_price"] == 39800
    assert [a["code"] for a in line["adjustments"]] == ["renewal"]
    [entitlement] = priced["entitlements"]
    assert entitlement["valid_from"] == (bought + timedelta(days=365)).isoformat()
    assert entitlement["valid_to"] == (bought + timedelta(days=729)).isoformat()
    # Without the card, the same basket costs the full price.
    assert quote(client, sale_park, renew_on).json()["total"] == 39800

    # Only the card's own holder renews it; then the new card is sold.
    body = order_body(
        "annual-card",
        renew_on,
        [{"unit": "adult", "quantity": 1}],
        holders=[OTHER],
        renewal_of=card["id"],
    )
    refused = client.post(f"/p/{sale_park}/api/v1/orders", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "renewal_holder_mismatch"
    renewed = client.post(f"/p/{sale_park}/api/v1/orders", json={**body, "holders": [HOLDER]})
    assert renewed.status_code == 201, renewed.text
    assert renewed.json()["total"] == 29800


def test_renewals_are_refused_with_a_reason(client, sale_park) -> None:
    bought = open_weekday(days_ahead=4)
    card = paid_card(client, sale_park, bought, OTHER)["tickets"][0]

    late = bought + timedelta(days=364 + 31)
    closed = quote(client, sale_park, late, renewal_of=card["id"])
    assert closed.status_code == 422
    assert closed.json()["error"]["code"] == "renewal_window_closed"

    unknown = quote(client, sale_park, bought, renewal_of=str(uuid.uuid4()))
    assert unknown.json()["error"]["code"] == "unknown_card"

    two = quote(
        client,
        sale_park,
        bought,
        renewal_of=card["id"],
        lines=[{"unit": "adult", "quantity": 2}],
    )
    assert two.json()["error"]["code"] == "renewal_basket"

    day_ticket = client.post(
        f"/p/{sale_park}/api/v1/quotes",
        json={
            "product": "day-ticket",
            "date": bought.isoformat(),
            "lines": [{"unit": "adult", "quantity": 1}],
            "renewal_of": card["id"],
        },
    )
    assert day_ticket.status_code == 422
    assert day_ticket.json()["error"]["code"] == "renewal_not_supported"
