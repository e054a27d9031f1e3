"""After buying: finding an order again, the calendar file, and the buyer's refund page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import redis

from tests.tenants.booking.conftest import EN, ZH, csrf_of, pay_by_test, place, query_of
from tests.tenants.orders.conftest import open_weekday


@pytest.fixture
def find_tries(migrated):
    """The client address's find-my-order counter, cleared before and after."""
    key = f"{migrated.redis_namespace}:booking:find:testclient"
    client = redis.Redis.from_url(migrated.redis_url)
    client.delete(key)
    yield
    client.delete(key)
    client.close()


def find(client, slug, email, code, headers=EN):
    form = client.get(f"/p/{slug}/find", headers=headers)
    assert form.status_code == 200
    return client.post(
        f"/p/{slug}/find",
        data={"_csrf_token": csrf_of(form.text), "email": email, "code": code},
        headers=headers,
        follow_redirects=False,
    )


def paid_order(client, slug, query, product="day-ticket"):
    pay_path = place(client, slug, product, query)
    return pay_path, pay_by_test(client, pay_path)


def code_of(path: str) -> str:
    return re.search(r"/(?:pay|orders)/([0-9A-Z]{10})", path).group(1)


def test_find_my_order_leads_to_the_tickets_and_says_nothing_about_a_wrong_pair(
    client, booking_park, find_tries
):
    _, tickets = paid_order(client, booking_park, f"date={open_weekday(20)}&qty_adult=1")
    code = code_of(tickets)
    # Any case and spacing: people copy codes from mails and type addresses by hand.
    found = find(client, booking_park, " Li.Lei@Example.com ", code.lower())
    assert found.status_code == 303
    assert found.headers["location"] == tickets
    for email, wrong_code in (("li.lei@example.com", "0000000000"), ("x@example.com", code)):
        response = find(client, booking_park, email, wrong_code)
        assert response.status_code == 404
        assert "No order matches that e-mail address and order code." in response.text
        assert f'value="{wrong_code}"' in response.text
    zh = find(client, booking_park, "x@example.com", code, ZH)
    assert "没有与此电子邮箱和订单号匹配的订单" in zh.text


def test_find_my_order_sends_an_unpaid_order_to_its_payment(client, booking_park, find_tries):
    pay_path = place(client, booking_park, "day-ticket", f"date={open_weekday(20)}&qty_adult=1")
    found = find(client, booking_park, "li.lei@example.com", code_of(pay_path))
    assert found.status_code == 303 and found.headers["location"] == pay_path


def test_find_my_order_is_limited_per_client_address(client, booking_park, find_tries):
    for _ in range(10):
        assert find(client, booking_park, "nobody@example.com", "AAAAAAAAAA").status_code == 404
    response = find(client, booking_park, "nobody@example.com", "AAAAAAAAAA")
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "Too many tries. Try again in 10 minutes." in response.text


def test_the_calendar_file_holds_the_visit_and_the_ticket_link(client, booking_park):
    day = open_weekday(21)
    _, tickets = paid_order(client, booking_park, f"date={day}&qty_adult=1")
    token = query_of(tickets)["t"]
    path = f"/p/{booking_park}/orders/{code_of(tickets)}/calendar.ics?t={token}"
    response = client.get(path, headers=EN)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert response.headers["cache-control"] == "no-store"
    text = response.text
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert text.count("BEGIN:VEVENT") == 1
    unfolded = text.replace("\r\n ", "")
    assert f"DTSTART;VALUE=DATE:{day:%Y%m%d}" in unfolded
    assert f"DTEND;VALUE=DATE:{day + timedelta(days=1):%Y%m%d}" in unfolded
    assert f"URL:http://vistapass.test{tickets}" in unfolded
    assert "SUMMARY:Booking Park · Day ticket" in unfolded
    assert "STATUS:CONFIRMED" in unfolded
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    wrong = client.get(path.replace(token, "nope"), headers=EN)
    assert wrong.status_code == 404


def test_a_timed_entry_goes_into_the_calendar_at_its_slot(client, booking_park):
    day = open_weekday(21)
    pay_path = place(client, booking_park, "sunrise-slot", f"date={day}&slot=10:00&qty_adult=1")
    path = pay_path.replace("/buy/pay/", "/orders/").replace("?t=", "/calendar.ics?t=")
    unfolded = client.get(path, headers=ZH).text.replace("\r\n ", "")
    # 10:00 to 12:00 in Shanghai is 02:00 to 04:00 UTC; unpaid is tentative.
    assert f"DTSTART:{day:%Y%m%d}T020000Z" in unfolded
    assert f"DTEND:{day:%Y%m%d}T040000Z" in unfolded
    assert "STATUS:TENTATIVE" in unfolded
    assert "SUMMARY:Booking Park · 分时段入园" in unfolded


def test_the_buyer_refunds_one_ticket_within_the_policy(client, booking_park):
    _, tickets = paid_order(client, booking_park, f"date={open_weekday(22)}&qty_adult=2")
    refund_path = tickets.replace("?t=", "/refund?t=")
    page = client.get(refund_path, headers=EN)
    assert page.status_code == 200
    assert page.text.count('type="checkbox" name="ticket"') == 2
    assert "you get back ¥120.00 of ¥120.00" in page.text
    first = re.search(r'name="ticket" value="([0-9a-f-]{36})"', page.text).group(1)
    nothing = client.post(
        refund_path, data={"_csrf_token": csrf_of(page.text)}, headers=EN, follow_redirects=False
    )
    assert nothing.status_code == 422
    assert "Choose at least one ticket to refund." in nothing.text
    form = {"_csrf_token": csrf_of(page.text), "ticket": first}
    done = client.post(refund_path, data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == tickets
    # A second tap on the same ticket changes nothing and lands on the tickets too.
    again = client.post(refund_path, data=form, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == tickets
    after = client.get(refund_path, headers=ZH).text
    assert after.count('type="checkbox" name="ticket"') == 1
    assert "已退款" in after
    assert "status-partially_refunded" in client.get(tickets, headers=ZH).text


def test_an_unpaid_order_cannot_be_refunded_from_its_page(client, booking_park):
    pay_path = place(client, booking_park, "day-ticket", f"date={open_weekday(22)}&qty_adult=1")
    path = pay_path.replace("/buy/pay/", "/orders/").replace("?t=", "/refund?t=")
    page = client.get(path, headers=EN)
    assert page.status_code == 200
    assert "Only a paid order can be refunded." in page.text
    assert 'name="ticket"' not in page.text
