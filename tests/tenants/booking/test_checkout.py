"""Buying without scripts: step 1 → step 2 → the order → the test payment → the tickets,
and everything that goes wrong on the way, each said in the visitor's language."""

from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select, update

from tests.conftest import run
from tests.tenants.booking.conftest import (
    CONTACT,
    EN,
    ID_A,
    ID_B,
    ID_C,
    ZH,
    as_form,
    csrf_of,
    form_fields,
    pay_by_test,
    place,
    query_of,
    submit_who,
    who_form,
)
from tests.tenants.orders.conftest import open_weekday, order_body
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.booking.checkout import payment_provider
from vistapass.tenants.models import Order, Product


def orders_for(settings, slug: str, email: str) -> int:
    async def count(db) -> int:
        async with tenant_session(db, slug) as session:
            return await session.scalar(
                select(func.count()).select_from(Order).where(Order.contact_email == email)
            )

    return run(settings, count)


def holder_fields(*holders: tuple[str, str]) -> list[tuple[str, str]]:
    fields = list(CONTACT.items())
    for name, number in holders:
        fields += [("holder_name", name), ("holder_type", "cn_id"), ("holder_number", number)]
    return fields


@pytest.mark.parametrize("headers", [EN, ZH], ids=["en", "zh"])
def test_a_day_ticket_is_bought_in_three_steps_without_scripts(client, booking_park, headers):
    # Step 1: the page's own defaults (first open day, one adult), sent on as a browser would.
    step1 = client.get(f"/p/{booking_park}/buy/day-ticket", headers=headers)
    assert step1.status_code == 200
    query = urlencode(form_fields(step1.text, "choose"))
    assert "date=" in query and "qty_adult=1" in query
    # Step 2: contact, then the order; the answer is the payment page.
    page, fields = who_form(client, booking_park, "day-ticket", query, headers)
    assert 'name="key"' in page and 'name="holder_name"' not in page
    response = submit_who(
        client, booking_park, "day-ticket", fields, list(CONTACT.items()), headers
    )
    assert response.status_code == 303, response.text
    pay_path = response.headers["location"]
    assert re.fullmatch(rf"/p/{booking_park}/buy/pay/[0-9A-Z]{{10}}\?t=[\w-]+", pay_path)
    # Step 3: the order, its hold, the test payment; then the e-ticket page.
    pay_page = client.get(pay_path, headers=headers)
    assert pay_page.headers["cache-control"] == "no-store"
    assert 'id="hold" data-seconds="' in pay_page.text
    assert "/calendar.ics?t=" in pay_page.text
    tickets_path = pay_by_test(client, pay_path, headers)
    code = pay_path.split("/")[-1].split("?")[0]
    assert tickets_path == f"/p/{booking_park}/orders/{code}?t={query_of(pay_path)['t']}"
    tickets = client.get(tickets_path, headers=headers)
    assert tickets.status_code == 200
    assert tickets.text.count("<svg") == 1
    # Paid: the payment page now sends the buyer straight to the tickets.
    again = client.get(pay_path, headers=headers, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == tickets_path


def test_a_form_sent_twice_places_one_order(client, booking_park, migrated):
    email = "twice@example.com"
    day = open_weekday(14)
    query = f"date={day}&qty_adult=2&qty_child=0&qty_senior=0"
    _, fields = who_form(client, booking_park, "day-ticket", query)
    contact = [("contact_name", "Twice"), ("contact_email", email)]
    first = submit_who(client, booking_park, "day-ticket", fields, contact)
    second = submit_who(client, booking_park, "day-ticket", fields, contact)
    # The back button and "send" with something changed: still that first order.
    changed = submit_who(
        client, booking_park, "day-ticket", fields, [("contact_name", "Other"), *contact[1:]]
    )
    assert first.status_code == second.status_code == changed.status_code == 303
    path = first.headers["location"]
    assert second.headers["location"] == changed.headers["location"] == path + "&again=1"
    assert orders_for(migrated, booking_park, email) == 1
    notice = client.get(second.headers["location"], headers=EN).text
    assert "no second order was placed" in notice


def test_an_invalid_id_number_is_explained_and_kept(client, booking_park):
    day = open_weekday(15)
    query = f"date={day}&qty_adult=1&qty_senior=0"
    bad = ID_A[:-1] + "1"  # one wrong check digit
    for headers, text in (
        (EN, "The last character of this ID number does not match the rest"),
        (ZH, "身份证号码最后一位与前面不符"),
    ):
        page, fields = who_form(client, booking_park, "annual-card", query, headers)
        assert 'name="holder_number"' in page
        response = submit_who(
            client, booking_park, "annual-card", fields, holder_fields(("张三", bad)), headers
        )
        assert response.status_code == 422
        body = response.text
        assert text in body
        assert f'value="{bad}"' in body and 'value="张三"' in body
        assert 'value="li.lei@example.com"' in body
        assert 'id="holder_number_0" name="holder_number" type="text"' in body
        assert 'aria-invalid="true"' in body


def test_contact_details_are_checked_and_kept(client, booking_park):
    query = f"date={open_weekday(15)}&qty_adult=1"
    _, fields = who_form(client, booking_park, "day-ticket", query)
    response = submit_who(
        client,
        booking_park,
        "day-ticket",
        fields,
        [("contact_name", ""), ("contact_email", "not-an-address"), ("contact_phone", "abc")],
    )
    assert response.status_code == 422
    for text in ("Give your name.", "Give an e-mail address", "Give a phone number in digits"):
        assert text in response.text
    assert 'value="not-an-address"' in response.text


def test_a_second_ticket_for_the_same_id_on_the_same_day_is_refused_at_that_ticket(
    client, booking_park
):
    day = open_weekday(16)
    query = f"date={day}&qty_adult=1&qty_senior=0"
    place(client, booking_park, "annual-card", query, holder_fields(("Wang Wu", ID_B)))
    _, fields = who_form(client, booking_park, "annual-card", query, ZH)
    response = submit_who(
        client, booking_park, "annual-card", fields, holder_fields(("Wang Wu", ID_B)), ZH
    )
    assert response.status_code == 409
    error = re.search(r'id="holder_number_0-error"[^>]*>([^<]*)<', response.text).group(1)
    assert error == "此证件在当天的购票数量已达上限。"
    assert f'value="{ID_B}"' in response.text
    # The same document twice in one order: refused at the second ticket.
    query2 = f"date={day}&qty_adult=2&qty_senior=0"
    _, fields = who_form(client, booking_park, "annual-card", query2)
    response = submit_who(
        client,
        booking_park,
        "annual-card",
        fields,
        holder_fields(("Zhao Liu", ID_C), ("Zhao Liu", ID_C)),
    )
    assert response.status_code == 409
    error = re.search(r'id="holder_number_1-error"[^>]*>([^<]*)<', response.text).group(1)
    assert error == "This ID document already has the most tickets allowed for that day."


def test_sold_out_while_on_step_two_says_so_and_keeps_the_form(client, booking_park, migrated):
    day = open_weekday(30)

    async def capacity(db, value) -> None:
        async with tenant_session(db, booking_park) as session:
            await session.execute(
                update(Product).where(Product.code == "day-ticket").values(daily_capacity=value)
            )

    run(migrated, lambda db: capacity(db, 1))
    try:
        query = f"date={day}&qty_adult=1&qty_child=0&qty_senior=0"
        _, fields = who_form(client, booking_park, "day-ticket", query)
        # Someone else takes the last place meanwhile.
        other = client.post(
            f"/p/{booking_park}/api/v1/orders",
            json=order_body("day-ticket", day, [{"unit": "adult", "quantity": 1}]),
        )
        assert other.status_code == 201, other.text
        response = submit_who(client, booking_park, "day-ticket", fields, list(CONTACT.items()), EN)
    finally:
        run(migrated, lambda db: capacity(db, None))
    assert response.status_code == 409
    assert "Sold out: no places are left for that date and time." in response.text
    assert f'href="/p/{booking_park}/buy/day-ticket?date={day}' in response.text
    assert "Choose another date or time" in response.text
    assert 'value="li.lei@example.com"' in response.text


def test_step_two_sends_a_basket_that_cannot_be_priced_back_to_step_one(client, booking_park):
    query = f"date={open_weekday(12)}&qty_adult=0&qty_child=0&qty_senior=0"
    response = client.get(f"/p/{booking_park}/buy/day-ticket/who?{query}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/p/{booking_park}/buy/day-ticket?{query}"
    back = client.get(response.headers["location"], headers=EN).text
    assert "Choose at least one ticket." in back


def test_a_family_pack_gives_one_ticket_each(client, booking_park):
    query = f"date={open_weekday(12)}&qty_adult=2&qty_child=2&age_child=4&age_child=9"
    pay_path = place(client, booking_park, "family-pack", query)
    tickets = client.get(pay_by_test(client, pay_path), headers=EN).text
    assert tickets.count("<svg") == 4


def test_a_paid_link_for_someone_else_is_not_found(client, booking_park):
    pay_path = place(client, booking_park, "day-ticket", f"date={open_weekday(12)}&qty_adult=1")
    wrong = re.sub(r"t=[\w-]+", "t=nope", pay_path)
    response = client.get(wrong, headers=EN)
    assert response.status_code == 404
    assert "This link does not open an order." in response.text
    assert client.post(wrong, data={}).status_code in (403, 404)


def test_a_hold_that_ended_offers_the_same_choice_again(client, booking_park, migrated):
    day = open_weekday(13)
    pay_path = place(
        client, booking_park, "sunrise-slot", f"date={day}&slot=14:00&qty_adult=2&qty_child=1"
    )
    code = pay_path.split("/")[-1].split("?")[0]

    async def expire(db) -> None:
        async with tenant_session(db, booking_park) as session:
            # A minute ago, by the database's clock (the one `is_expired` compares with).
            ago = func.now() - func.make_interval(0, 0, 0, 0, 0, 1)
            await session.execute(update(Order).where(Order.code == code).values(expires_at=ago))

    run(migrated, expire)
    page = client.get(pay_path, headers=EN)
    assert page.status_code == 200
    assert "Your hold ended" in page.text
    assert "Test payment" not in page.text
    retry = re.search(r'href="([^"]*)">Choose again with the same tickets', page.text).group(1)
    assert retry.startswith(f"/p/{booking_park}/buy/sunrise-slot?")
    assert f"date={day}" in retry and "slot=14%3A00" in retry
    assert "qty_adult=2" in retry and "qty_child=1" in retry
    # A late tap on the test payment pays nothing; the page says why.
    csrf = client.cookies.get("csrftoken")
    late = client.post(pay_path, data={"_csrf_token": csrf}, follow_redirects=False)
    assert late.status_code == 303 and late.headers["location"] == pay_path


def test_with_stripe_connected_the_payment_page_mounts_stripe(
    client, booking_park, migrated, monkeypatch
):
    pay_path = place(client, booking_park, "day-ticket", f"date={open_weekday(12)}&qty_adult=1")
    code = pay_path.split("/")[-1].split("?")[0]

    async def to_stripe(db) -> None:
        async with tenant_session(db, booking_park) as session:
            await session.execute(update(Order).where(Order.code == code).values(provider="stripe"))

    run(migrated, to_stripe)

    async def started(selling, slug, order_code):
        return {"client_secret": "pi_1_secret_2", "stripe_account": "acct_123"}

    monkeypatch.setattr("vistapass.tenants.booking.pay.start_stripe_payment", started)
    response = client.get(pay_path, headers=EN)
    assert response.status_code == 200
    page = response.text
    assert '<script src="https://js.stripe.com/v3/"></script>' in page
    assert '"clientSecret": "pi_1_secret_2"' in page and '"stripeAccount": "acct_123"' in page
    assert "Test payment" not in page
    assert "https://js.stripe.com" in response.headers["content-security-policy"]
    # Only this page may load it.
    home = client.get(f"/p/{booking_park}/", headers=EN)
    assert "stripe" not in home.headers["content-security-policy"]


def test_the_payment_method_follows_the_parks_setup() -> None:
    def selling(stripe: object, production: bool, key: str = "pk_test_1") -> SimpleNamespace:
        settings = SimpleNamespace(is_production=production, stripe_publishable_key=key)
        return SimpleNamespace(stripe=stripe, settings=settings)

    connected = SimpleNamespace(stripe_account_id="acct_1")
    alone = SimpleNamespace(stripe_account_id=None)
    assert payment_provider(selling(object(), True), connected) == "stripe"
    assert payment_provider(selling(object(), False), alone) == "test"
    assert payment_provider(selling(None, False), connected) == "test"
    assert payment_provider(selling(None, True), connected) is None
    assert payment_provider(selling(object(), True, key=""), connected) is None


def test_a_payment_that_failed_at_stripe_is_said_and_the_order_stays_payable(client, booking_park):
    pay_path = place(client, booking_park, "day-ticket", f"date={open_weekday(12)}&qty_adult=1")
    page = client.get(pay_path + "&redirect_status=failed", headers=ZH).text
    assert "付款未成功。请重试，或选择其他付款方式。" in page
    assert 'id="test-pay"' in page


def test_on_the_parks_own_host_every_step_stays_on_it(client, booking_park):
    host = {"Host": f"{booking_park}.vistapass.test", **EN}
    query = f"date={open_weekday(18)}&qty_adult=1"
    page = client.get(f"/buy/day-ticket/who?{query}", headers=host)
    assert page.status_code == 200
    assert 'action="/buy/day-ticket/who"' in page.text
    assert f'href="/buy/day-ticket?{query.replace("&", "&amp;")}' in page.text
    fields = [(n, v) for n, v in form_fields(page.text, "who") if not n.startswith("contact_")]
    placed = client.post(
        "/buy/day-ticket/who",
        data=as_form(fields + list(CONTACT.items())),
        headers=host,
        follow_redirects=False,
    )
    assert placed.status_code == 303
    pay_path = placed.headers["location"]
    assert pay_path.startswith("/buy/pay/")
    pay = client.get(pay_path, headers=host).text
    assert f'action="{pay_path}"' in pay and 'href="/orders/' in pay
    paid = client.post(
        pay_path,
        data={"_csrf_token": csrf_of(pay)},
        headers=host,
        follow_redirects=False,
    )
    assert paid.status_code == 303 and paid.headers["location"].startswith("/orders/")
    assert client.get(paid.headers["location"], headers=host).text.count("<svg") == 1
