"""The window sale page as plain forms: sell, sell once per key, errors kept in the form."""

from __future__ import annotations

import re
from urllib.parse import urlparse

from sqlalchemy import func, select

from tests.conftest import run, sign_in
from tests.tenants.checkin.support import client, cn_id, csrf, open_weekday, sale_park
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.models import Order
from vistapass.tenants.orders.service import load_order

__all__ = ["client", "sale_park"]
HTML = "text/html"


def page_url(slug: str, rest: str = "") -> str:
    return f"/p/{slug}/console/window{rest}"


def form_key(html: str) -> str:
    found = re.search(r'name="key" value="([^"]+)"', html)
    assert found, html[:1500]
    return found.group(1)


def error_of(html: str) -> str:
    found = re.search(r'<p id="sale-error" class="error" role="alert">([^<]*)</p>', html)
    assert found, html[:3000]
    return found.group(1)


def test_the_page_lists_window_products_in_both_languages(
    client, migrated, sale_park, make_member
) -> None:
    sign_in(client, migrated, make_member(sale_park, "cashier"))
    client.cookies.set("lang", "zh-CN")
    chinese = client.get(page_url(sale_park), headers={"accept": HTML})
    assert chinese.status_code == 200
    for text in ("<h1>窗口售票</h1>", "景区日票", "分时段入园", "年卡", "现金", "刷卡终端", "售出"):
        assert text in chinese.text, text
    client.cookies.set("lang", "en")
    day = open_weekday(24)
    slots = client.get(
        page_url(sale_park), params={"product": "sunrise-slot", "day": day.isoformat()}
    )
    assert "Timed entry" in slots.text and 'name="slot" value="10:00"' in slots.text
    assert f'value="{day.isoformat()}"' in slots.text and "1200 left" in slots.text
    named = client.get(page_url(sale_park), params={"product": "annual-card"})
    assert "Ticket holders (real name)" in named.text and 'name="holder_number_0"' in named.text


def test_sell_for_cash_show_change_and_tickets_once_per_key(
    client, migrated, sale_park, make_member
) -> None:
    cashier = make_member(sale_park, "cashier")
    sign_in(client, migrated, cashier)
    client.cookies.set("lang", "en")
    day = open_weekday(25)
    key = form_key(client.get(page_url(sale_park), params={"product": "day-ticket"}).text)
    form = {
        "key": key,
        "product": "day-ticket",
        "date": day.isoformat(),
        "qty_adult": "2",
        "qty_child": "1",
        "qty_senior": "",
        "payment": "cash",
        "tendered": "400",
        "action": "sell",
    }
    sold = client.post(
        page_url(sale_park), data=form, headers=csrf(client, HTML), follow_redirects=False
    )
    assert sold.status_code == 303, sold.text[:2000]
    target = sold.headers["location"]
    assert urlparse(target).path.startswith(page_url(sale_park, "/sales/"))
    again = client.post(
        page_url(sale_park), data=form, headers=csrf(client, HTML), follow_redirects=False
    )
    assert again.status_code == 303 and again.headers["location"] == target  # sold once
    code = urlparse(target).path.rsplit("/", 1)[1]
    tickets = client.get(target, headers={"accept": HTML})
    assert tickets.status_code == 200
    # Weekday prices: 2 x 120 + 60 = 300 yuan; 400 received.
    assert "¥300.00" in tickets.text and 'id="change-due">¥100.00<' in tickets.text
    assert tickets.text.count('class="qr-code"') == 3 and "Print tickets" in tickets.text
    assert "@media print" not in tickets.text  # the print rules live in the stylesheet

    async def check(db):
        async with tenant_session(db, sale_park) as session:
            order = await load_order(session, code)
            count = await session.scalar(
                select(func.count()).select_from(Order).where(Order.sold_by == cashier.user_id)
            )
            return order, count

    order, count = run(migrated, check)
    assert (order.channel, order.provider, order.status, order.total) == (
        "window",
        "cash",
        "paid",
        30000,
    )
    assert order.sold_by == cashier.user_id and count == 1


def test_errors_keep_what_was_typed_in_the_cashiers_language(
    client, migrated, sale_park, make_member
) -> None:
    sign_in(client, migrated, make_member(sale_park, "cashier"))
    client.cookies.set("lang", "zh-CN")
    day = open_weekday(26)
    base = {
        "key": "k-" + day.isoformat(),
        "product": "day-ticket",
        "date": day.isoformat(),
        "qty_adult": "1",
        "payment": "cash",
        "contact_name": "刘洋",
    }
    short = client.post(
        page_url(sale_park), data={**base, "tendered": "50"}, headers=csrf(client, HTML)
    )
    assert short.status_code == 422 and error_of(short.text) == "实收现金少于合计金额。"
    assert 'value="刘洋"' in short.text and 'name="qty_adult" value="1"' in short.text
    assert 'id="total" aria-live="polite">¥120.00<' in short.text
    nobody = client.post(
        page_url(sale_park), data={**base, "qty_adult": "0"}, headers=csrf(client, HTML)
    )
    assert nobody.status_code == 422 and error_of(nobody.text) == "请至少添加一位游客。"
    bad = client.post(
        page_url(sale_park), data={**base, "qty_adult": "lots"}, headers=csrf(client, HTML)
    )
    assert bad.status_code == 422 and error_of(bad.text) == "人数应为 0 到 99 的整数。"
    priced = client.post(
        page_url(sale_park),
        data={**base, "qty_adult": "3", "action": "quote"},
        headers=csrf(client, HTML),
    )
    assert priced.status_code == 200 and 'id="total" aria-live="polite">¥360.00<' in priced.text


def test_real_name_products_need_a_holder_per_ticket(
    client, migrated, sale_park, make_member
) -> None:
    sign_in(client, migrated, make_member(sale_park, "cashier"))
    client.cookies.set("lang", "en")
    day = open_weekday(27)
    base = {
        "key": "named-" + day.isoformat(),
        "product": "annual-card",
        "date": day.isoformat(),
        "qty_adult": "1",
        "payment": "card_terminal",
        "holder_name_0": "Qian Li",
        "holder_type_0": "cn_id",
    }
    typo = client.post(
        page_url(sale_park),
        data={**base, "holder_number_0": "110101199003071230"},
        headers=csrf(client, HTML),
    )
    assert typo.status_code == 422 and "last character does not match" in error_of(typo.text)
    assert 'value="Qian Li"' in typo.text and 'value="110101199003071230"' in typo.text
    sold = client.post(
        page_url(sale_park),
        data={**base, "holder_number_0": cn_id(serial="915")},
        headers=csrf(client, HTML),
        follow_redirects=False,
    )
    assert sold.status_code == 303, error_of(sold.text)
    tickets = client.get(sold.headers["location"], headers={"accept": HTML})
    assert "Annual card" in tickets.text and tickets.text.count('class="qr-code"') == 1
    assert "Card terminal" in tickets.text and "change-due" not in tickets.text
