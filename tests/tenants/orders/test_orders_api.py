"""Buying through the order API: priced, held, paid, ticketed, and every refusal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from tests.conftest import run, sign_in
from tests.tenants.catalog.helpers import add_product, park_today, set_day
from tests.tenants.orders.conftest import open_weekday, order_body
from vistapass.platform.pricing_registry import get_mode
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.keys.signing import public_keys
from vistapass.tenants.models import Product
from vistapass.tenants.tickets.codec import TicketInvalid
from vistapass.tenants.tickets.verify import verify_ticket


def buy(client: TestClient, slug: str, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(f"/p/{slug}/api/v1/orders", json=body, headers=headers)


def pay(client: TestClient, slug: str, order: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/p/{slug}/api/v1/orders/{order['code']}/payment?t={order['token']}")
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


def keys_of(migrated: Any, slug: str) -> dict[int, bytes]:
    async def work(db: Any) -> dict[int, bytes]:
        async with tenant_session(db, slug) as session:
            return await public_keys(session)

    return run(migrated, work)


def test_an_order_is_held_then_paid_with_one_signed_ticket_per_person(
    client, sale_park, migrated
) -> None:
    day = open_weekday()
    body = order_body("day-ticket", day, [{"unit": "adult", "quantity": 2}])
    response = buy(client, sale_park, body)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "pending"
    assert order["total"] == 24000 and order["quote"]["total"] == 24000
    assert order["expires_at"] is not None
    assert [t["state"] for t in order["tickets"]] == ["unpaid", "unpaid"]
    assert all(t["qr"] is None for t in order["tickets"])

    paid = pay(client, sale_park, order)
    assert paid["outcome"] == "paid"
    tickets = paid["order"]["tickets"]
    assert paid["order"]["status"] == "paid"
    assert sum(t["price"] for t in tickets) == 24000
    keys = keys_of(migrated, sale_park)
    for ticket in tickets:
        payload = verify_ticket(ticket["qr"], keys, revoked=set())
        assert str(payload.ticket_id) == ticket["id"]
        assert payload.valid_from == payload.valid_to == day
        assert payload.entries_total == 1

    # Paying again changes nothing: the same tickets, no second payment.
    again = pay(client, sale_park, order)
    assert again["outcome"] == "duplicate"
    assert [t["qr"] for t in again["order"]["tickets"]] == [t["qr"] for t in tickets]

    # The buyer's link shows the order; a wrong token shows nothing.
    shown = client.get(f"/p/{sale_park}/api/v1/orders/{order['code']}?t={order['token']}")
    assert shown.status_code == 200 and shown.json()["status"] == "paid"
    assert_error(
        client.get(f"/p/{sale_park}/api/v1/orders/{order['code']}?t=wrong"),
        404,
        "order_not_found",
    )


def test_a_changed_byte_or_a_revocation_fails_verification(client, sale_park, migrated) -> None:
    body = order_body("day-ticket", open_weekday(), [{"unit": "adult", "quantity": 1}])
    order = pay(client, sale_park, buy(client, sale_park, body).json())["order"]
    qr = order["tickets"][0]["qr"]
    keys = keys_of(migrated, sale_park)
    payload = verify_ticket(qr, keys, revoked=set())
    for position in range(4, len(qr)):
        replacement = "0" if qr[position] != "0" else "1"
        altered = qr[:position] + replacement + qr[position + 1 :]
        with pytest.raises(TicketInvalid):
            verify_ticket(altered, keys, revoked=set())
    with pytest.raises(TicketInvalid) as refused:
        verify_ticket(qr, keys, revoked={payload.ticket_id})
    assert refused.value.code == "revoked"


def test_a_family_bundle_gives_each_member_a_ticket_summing_to_the_total(client, sale_park) -> None:
    body = order_body(
        "family-pack",
        open_weekday(),
        [{"unit": "adult", "quantity": 2}, {"unit": "child", "quantity": 2, "ages": [5, 9]}],
    )
    order = pay(client, sale_park, buy(client, sale_park, body).json())["order"]
    # 2 x 120 + 2 x 60 = 360 yuan, less 15 %: 306 yuan.
    assert order["total"] == 30600
    assert len(order["tickets"]) == 4
    assert sum(t["price"] for t in order["tickets"]) == 30600
    assert [t["unit"] for t in order["tickets"]] == ["adult", "adult", "child", "child"]


async def set_adult_price(db: Any, slug: str, price: int) -> None:
    async with tenant_session(db, slug) as session:
        product = await session.scalar(select(Product).where(Product.code == "day-ticket"))
        assert product is not None
        config = dict(product.pricing_config)
        config["prices"] = {**config["prices"], "adult": price}
        product.pricing_config = config


def test_a_price_change_never_alters_an_order_already_placed(client, sale_park, db_run) -> None:
    day = open_weekday(days_ahead=20)
    body = order_body("day-ticket", day, [{"unit": "adult", "quantity": 1}])
    order = pay(client, sale_park, buy(client, sale_park, body).json())["order"]
    assert order["total"] == 12000

    db_run(lambda db: set_adult_price(db, sale_park, 20000))
    try:
        shown = client.get(f"/p/{sale_park}/api/v1/orders/{order['code']}?t={order['token']}")
        kept = shown.json()
        assert kept["total"] == 12000
        assert kept["quote"]["lines"][0]["unit_price"] == 12000
        assert kept["tickets"][0]["price"] == 12000
        # New orders pay the new price.
        fresh = buy(client, sale_park, body).json()
        assert fresh["total"] == 20000
    finally:
        db_run(lambda db: set_adult_price(db, sale_park, 12000))


def test_idempotent_retries_get_the_first_answer(client, sale_park) -> None:
    body = order_body("day-ticket", open_weekday(), [{"unit": "child", "quantity": 1}])
    first = buy(client, sale_park, body, key="retry-me-1")
    second = buy(client, sale_park, body, key="retry-me-1")
    assert first.status_code == second.status_code == 201
    assert first.json()["code"] == second.json()["code"]
    assert second.headers["Idempotent-Replayed"] == "true"
    changed = {**body, "lines": [{"unit": "child", "quantity": 2}]}
    assert_error(buy(client, sale_park, changed, key="retry-me-1"), 422, "idempotency_key_reused")
    assert_error(buy(client, sale_park, body, key="x" * 300), 400, "invalid_idempotency_key")


def test_a_failed_request_frees_its_key_for_a_retry(client, sale_park, db_run) -> None:
    day = open_weekday(days_ahead=30)
    db_run(lambda db: set_day(db, sale_park, day, is_open=False))
    body = order_body("day-ticket", day, [{"unit": "adult", "quantity": 1}])
    assert_error(buy(client, sale_park, body, key="closed-then-open"), 422, "park_closed")
    db_run(lambda db: set_day(db, sale_park, day, is_open=True))
    assert buy(client, sale_park, body, key="closed-then-open").status_code == 201


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"product": "no-such-thing"}, 404, "product_not_found"),
        ({"lines": [{"unit": "adult", "quantity": 0}]}, 422, "invalid_quantity"),
        ({"lines": [{"unit": "adult", "quantity": 100000}]}, 422, "invalid_quantity"),
        ({"lines": [{"unit": "dragon", "quantity": 1}]}, 422, "unknown_unit"),
        ({"date": (park_today() - timedelta(days=1)).isoformat()}, 422, "date_in_past"),
        ({"payment": "gold-bars"}, 422, "invalid_payment_method"),
        ({"payment": "cash"}, 422, "invalid_payment_method"),
        ({"slot": "10:00"}, 422, "unknown_slot"),
        ({"slot": "x" * 300}, 422, "unknown_slot"),
    ],
)
def test_bad_orders_are_refused_with_a_code(client, sale_park, change, status, code) -> None:
    body = {**order_body("day-ticket", open_weekday(), [{"unit": "adult", "quantity": 1}])}
    body.update(change)
    assert_error(buy(client, sale_park, body), status, code)


def test_a_slot_that_does_not_exist_is_refused(client, sale_park) -> None:
    body = order_body("sunrise-slot", open_weekday(), [{"unit": "adult", "quantity": 1}])
    assert_error(buy(client, sale_park, {**body, "slot": "03:00"}), 422, "unknown_slot")


def test_a_malformed_body_is_a_400_not_a_500(client, sale_park) -> None:
    response = client.post(f"/p/{sale_park}/api/v1/orders", content=b"{not json")
    assert response.status_code == 400, response.text
    response = client.post(f"/p/{sale_park}/api/v1/orders", json={"product": "day-ticket"})
    assert response.status_code == 400, response.text


def test_cancelling_an_unpaid_order_gives_its_places_back(client, sale_park) -> None:
    day = open_weekday(days_ahead=12)
    body = order_body("sunrise-slot", day, [{"unit": "adult", "quantity": 3}], slot="08:00")
    url = f"/p/{sale_park}/api/v1/availability?product=sunrise-slot&from={day}&days=1"
    before = client.get(url).json()["days"][0]["slots"][0]["left"]
    order = buy(client, sale_park, body).json()
    assert client.get(url).json()["days"][0]["slots"][0]["left"] == before - 3
    cancelled = client.post(
        f"/p/{sale_park}/api/v1/orders/{order['code']}/cancel?t={order['token']}"
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.get(url).json()["days"][0]["slots"][0]["left"] == before
    assert_error(
        client.post(f"/p/{sale_park}/api/v1/orders/{order['code']}/payment?t={order['token']}"),
        422,
        "order_not_payable",
    )


def test_the_window_sells_for_cash_and_only_to_cashiers(
    client, sale_park, migrated, make_member
) -> None:
    body = {
        "product": "sunrise-slot",
        "date": open_weekday().isoformat(),
        "slot": "14:00",
        "lines": [{"unit": "adult", "quantity": 1}, {"unit": "child", "quantity": 1}],
        "payment": "cash",
    }
    url = f"/p/{sale_park}/api/v1/window/sales"
    client.cookies.clear()
    assert client.post(url, json=body).status_code == 401
    viewer = make_member(sale_park, "viewer")
    sign_in(client, migrated, viewer)
    client.cookies.set("csrftoken", "t")
    headers = {"x-csrftoken": "t"}
    assert client.post(url, json=body, headers=headers).status_code == 403
    cashier = make_member(sale_park, "cashier")
    sign_in(client, migrated, cashier)
    client.cookies.set("csrftoken", "t")
    sold = client.post(url, json=body, headers=headers)
    assert sold.status_code == 201, sold.text
    order = sold.json()
    assert order["status"] == "paid" and order["channel"] == "window"
    assert order["payment"]["provider"] == "cash"
    assert all(t["state"] == "valid" and t["qr"] for t in order["tickets"])
    assert_error(
        client.post(url, json={**body, "payment": "test"}, headers=headers),
        422,
        "invalid_payment_method",
    )
    client.cookies.clear()


def test_real_name_tickets_need_a_valid_id_and_one_per_day(client, sale_park) -> None:
    day = open_weekday(days_ahead=15)
    holder = {"name": "韩梅梅", "document_type": "cn_id", "document_number": "11010519491231002X"}
    body = order_body("annual-card", day, [{"unit": "adult", "quantity": 1}])
    assert_error(buy(client, sale_park, body), 422, "holders_required")
    bad = {**holder, "document_number": "110105194912310021"}
    assert_error(buy(client, sale_park, {**body, "holders": [bad]}), 422, "invalid_check_digit")
    first = buy(client, sale_park, {**body, "holders": [holder]})
    assert first.status_code == 201, first.text
    assert first.json()["tickets"][0]["real_name"] is True
    # The same document cannot hold a second ticket that day, in lower case or not.
    again = {**holder, "document_number": "11010519491231002x"}
    assert_error(buy(client, sale_park, {**body, "holders": [again]}), 409, "id_limit_reached")
    other_day = {**body, "date": (day + timedelta(days=1)).isoformat(), "holders": [holder]}
    assert buy(client, sale_park, other_day).status_code == 201
    # Cancelling the first order frees the document for that day.
    order = first.json()
    client.post(f"/p/{sale_park}/api/v1/orders/{order['code']}/cancel?t={order['token']}")
    assert buy(client, sale_park, {**body, "holders": [holder]}).status_code == 201


def test_a_free_order_is_paid_at_once_with_its_tickets(client, sale_park, db_run) -> None:
    config = dict(get_mode("per_visit").validate_config({"prices": {"adult": 0}}))
    product = db_run(
        lambda db: add_product(db, sale_park, mode="per_visit", config=config, units=("adult",))
    )
    body = order_body(product, open_weekday(), [{"unit": "adult", "quantity": 2}])
    response = buy(client, sale_park, {**body, "payment": "stripe"})
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "paid" and order["total"] == 0
    assert order["payment"]["provider"] == "free"
    assert all(t["state"] == "valid" and t["qr"] for t in order["tickets"])


@pytest.mark.parametrize(
    "change",
    [
        {"locale": "x" * 30},
        {"contact": {"name": "Li", "email": "not-an-email"}},
        {"contact": {"name": "Li" * 100, "email": "li@example.com"}},
        {"contact": {"name": "Li", "email": "li@example.com", "phone": "call me"}},
        {"payment": "p" * 100},
    ],
)
def test_out_of_bounds_fields_are_a_400_naming_the_field(client, sale_park, change) -> None:
    body = {**order_body("day-ticket", open_weekday(), [{"unit": "adult", "quantity": 1}])}
    body.update(change)
    response = buy(client, sale_park, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"
