"""The orders console: the list and its filters, one order, staff refunds and
cancellations from the page (audited), and the day's reconciled report."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import sign_in
from tests.tenants.catalog.helpers import park_today
from tests.tenants.orders.conftest import open_weekday
from tests.tenants.orders_console.support import audit_entries, buy, csrf, html
from vistapass.tenants.orders_console import queries


def orders_url(slug: str, path: str = "") -> str:
    return f"/p/{slug}/console/orders{path}"


def staff_view(client: Any, slug: str, code: str) -> dict[str, Any]:
    response = client.get(f"/p/{slug}/api/v1/staff/orders/{code}")
    assert response.status_code == 200, response.text
    return response.json()


def test_a_viewer_lists_and_opens_orders_in_both_languages_but_cannot_refund(
    client, sale_park, migrated, make_member
) -> None:
    order = buy(client, sale_park, "day-ticket", open_weekday(), [{"unit": "adult", "quantity": 2}])
    sign_in(client, migrated, make_member(sale_park, "viewer"))

    english = client.get(orders_url(sale_park), headers=html("en"))
    assert english.status_code == 200 and english.headers["content-type"].startswith("text/html")
    assert "<h1>Orders</h1>" in english.text
    assert f'href="/p/{sale_park}/console/orders"' in english.text  # in the nav
    row = re.search(
        rf'<tr data-code="{order["code"]}" data-status="paid">(.*?)</tr>', english.text, re.S
    )
    assert row is not None
    assert "Day ticket" in row[1] and "¥240.00" in row[1] and order["date"] in row[1]
    chinese = client.get(orders_url(sale_park), headers=html("zh-CN"))
    assert (
        "<h1>订单</h1>" in chinese.text and "已支付" in chinese.text and "景区日票" in chinese.text
    )

    page = client.get(orders_url(sale_park, f"/{order['code']}"), headers=html("en"))
    assert page.status_code == 200
    assert f"<h1>Order {order['code']}</h1>" in page.text
    assert (
        "Li Lei" in page.text and "li.lei@example.com" in page.text and "13800000000" in page.text
    )
    assert f"test_{order['code']}" in page.text  # the provider's reference
    assert 'data-unit="adult"' in page.text and "¥120.00" in page.text  # the quote as sold
    assert page.text.count('data-state="valid"') == 2
    assert 'data-kind="sale"' in page.text and 'data-kind="charge"' in page.text
    assert 'id="refund"' not in page.text and 'id="cancel"' not in page.text
    zh_page = client.get(orders_url(sale_park, f"/{order['code']}"), headers=html("zh-CN"))
    assert f"<h1>订单 {order['code']}</h1>" in zh_page.text and "成交价格" in zh_page.text

    refused = client.post(
        orders_url(sale_park, f"/{order['code']}/refund"),
        data={"scope": "all", "reason": "asked"},
        headers=csrf(client),
    )
    assert refused.status_code == 403
    assert staff_view(client, sale_park, order["code"])["status"] == "paid"


def test_filters_find_orders_by_code_contact_date_status_and_product(
    client, sale_park, migrated, make_member
) -> None:
    day = open_weekday(20)
    slot_order = buy(
        client,
        sale_park,
        "sunrise-slot",
        day,
        [{"unit": "adult", "quantity": 1}],
        slot="08:00",
        contact={"name": "Han Meimei", "email": "han@example.com", "phone": "13911112222"},
    )
    pending = buy(
        client, sale_park, "day-ticket", day, [{"unit": "child", "quantity": 1}], paid=False
    )
    sign_in(client, migrated, make_member(sale_park, "cashier"))

    def codes(**params: str) -> list[str]:
        response = client.get(orders_url(sale_park), params=params, headers=html("en"))
        assert response.status_code == 200, response.text
        return re.findall(r'<tr data-code="(\w+)"', response.text)

    assert codes(q=slot_order["code"].lower()) == [slot_order["code"]]
    assert codes(q="meimei") == [slot_order["code"]]
    assert codes(q="1391111") == [slot_order["code"]]
    assert codes(q="HAN@EXAMPLE") == [slot_order["code"]]
    assert codes(q="100%_nobody") == []
    # Newest first.
    assert codes(visit=day.isoformat()) == [pending["code"], slot_order["code"]]
    assert codes(visit=day.isoformat(), status="pending") == [pending["code"]]
    assert codes(visit=day.isoformat(), product="sunrise-slot") == [slot_order["code"]]
    assert codes(visit=day.isoformat(), channel="window") == []

    shown = client.get(orders_url(sale_park), params={"visit": day.isoformat()}, headers=html("en"))
    assert "08:00" in shown.text and f'value="{day.isoformat()}"' in shown.text

    bad = client.get(
        orders_url(sale_park), params={"visit": "someday", "q": "han"}, headers=html("zh-CN")
    )
    assert bad.status_code == 422
    assert "日期格式如 2026-05-01。" in bad.text
    assert 'value="someday"' in bad.text and 'value="han"' in bad.text  # what was typed stays
    assert (
        client.get(orders_url(sale_park), params={"status": "lost"}, headers=html("en")).status_code
        == 422
    )

    missing = client.get(orders_url(sale_park, "/NOSUCHCODE"), headers=html("en"))
    assert missing.status_code == 404 and "No order has this code." in missing.text


def test_pages_of_orders_newest_first(
    client, sale_park, migrated, make_member, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = open_weekday(30)
    contact = {"name": "Pager", "email": "pager@example.com", "phone": ""}
    placed = [
        buy(
            client,
            sale_park,
            "day-ticket",
            day,
            [{"unit": "adult", "quantity": 1}],
            contact=contact,
        )["code"]
        for _ in range(3)
    ]
    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    sign_in(client, migrated, make_member(sale_park, "finance"))
    first = client.get(orders_url(sale_park), params={"q": "pager"}, headers=html("en"))
    assert re.findall(r'<tr data-code="(\w+)"', first.text) == placed[:0:-1]
    older = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert older is not None and 'rel="prev"' not in first.text
    second = client.get(older[1].replace("&amp;", "&"), headers=html("en"))
    assert re.findall(r'<tr data-code="(\w+)"', second.text) == placed[:1]
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text


def test_a_cashier_refunds_chosen_tickets_then_the_rest_from_the_page(
    client, sale_park, migrated, make_member
) -> None:
    order = buy(client, sale_park, "day-ticket", open_weekday(), [{"unit": "adult", "quantity": 3}])
    cashier = make_member(sale_park, "cashier")
    sign_in(client, migrated, cashier)
    url = orders_url(sale_park, f"/{order['code']}")
    page = client.get(url, headers=html("en"))
    assert 'id="refund"' in page.text and 'name="_csrf_token"' in page.text
    first, second, third = (t["id"] for t in order["tickets"])

    nothing_ticked = client.post(
        f"{url}/refund", data={"scope": "chosen", "reason": "rain"}, headers=csrf(client, "zh-CN")
    )
    assert nothing_ticked.status_code == 422
    assert (
        "请勾选要退款的门票。" in nothing_ticked.text and ">rain</textarea>" in nothing_ticked.text
    )
    no_reason = client.post(
        f"{url}/refund", data={"scope": "chosen", "tickets": [first]}, headers=csrf(client)
    )
    assert no_reason.status_code == 422 and "Give a reason for the refund." in no_reason.text
    assert f'value="{first}" checked' in no_reason.text  # the ticked ticket stays ticked
    assert audit_entries(migrated, sale_park, "order.refunded") == []

    one = client.post(
        f"{url}/refund",
        data={"scope": "chosen", "tickets": [first], "reason": "one guest is ill"},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert one.status_code == 303, one.text
    assert one.headers["location"] == f"{url}?done=refund"
    view = staff_view(client, sale_park, order["code"])
    assert view["status"] == "partially_refunded" and view["refunded"] == 12000
    assert [t["state"] for t in view["tickets"]] == ["refunded", "valid", "valid"]
    shown = client.get(f"{url}?done=refund", headers=html("en"))
    assert "The refund was made." in shown.text and 'data-kind="refund"' in shown.text
    assert f'value="{first}"' not in shown.text  # a refunded ticket is no longer offered

    again = client.post(
        f"{url}/refund",
        data={"scope": "chosen", "tickets": [first], "reason": "twice"},
        headers=csrf(client),
    )
    assert again.status_code == 422 and "These tickets were already refunded." in again.text

    rest = client.post(
        f"{url}/refund",
        data={"scope": "all", "reason": "family cancelled"},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert rest.status_code == 303
    view = staff_view(client, sale_park, order["code"])
    assert view["status"] == "refunded" and view["refunded"] == 36000
    assert {t["id"] for t in view["tickets"] if t["state"] == "refunded"} == {first, second, third}
    final = client.get(url, headers=html("en"))
    assert 'id="refund"' not in final.text  # nothing left to refund

    entries = [
        e
        for e in audit_entries(migrated, sale_park, "order.refunded")
        if e.target == f"order:{order['code']}"
    ]
    assert [e.after["amount"] for e in entries] == [12000, 24000]
    assert (
        entries[0].after["tickets"] == [first] and entries[0].after["reason"] == "one guest is ill"
    )
    assert entries[0].before == {"status": "paid", "refunded": 0}
    assert entries[1].after["status"] == "refunded"
    assert all(e.actor_id == cashier.user_id for e in entries)


def test_staff_cancel_an_unpaid_order_and_a_paid_one_is_refused(
    client, sale_park, migrated, make_member
) -> None:
    pending = buy(
        client,
        sale_park,
        "day-ticket",
        open_weekday(),
        [{"unit": "adult", "quantity": 1}],
        paid=False,
    )
    sign_in(client, migrated, make_member(sale_park, "manager"))
    url = orders_url(sale_park, f"/{pending['code']}")
    page = client.get(url, headers=html("en"))
    assert 'id="cancel"' in page.text and 'id="refund"' not in page.text
    done = client.post(f"{url}/cancel", headers=csrf(client), follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"{url}?done=cancel"
    assert staff_view(client, sale_park, pending["code"])["status"] == "cancelled"
    entries = audit_entries(migrated, sale_park, "order.cancelled")
    assert [(e.target, e.before, e.after) for e in entries][-1] == (
        f"order:{pending['code']}",
        {"status": "pending"},
        {"status": "cancelled"},
    )
    twice = client.post(f"{url}/cancel", headers=csrf(client, "zh-CN"))
    assert twice.status_code == 422 and "只有未支付的订单才能取消。" in twice.text
    assert len(audit_entries(migrated, sale_park, "order.cancelled")) == len(entries)


def test_the_daily_report_page_balances_and_is_for_report_readers(
    client, sale_park, migrated, make_member
) -> None:
    order = buy(client, sale_park, "day-ticket", open_weekday(), [{"unit": "child", "quantity": 1}])
    sign_in(client, migrated, make_member(sale_park, "manager"))
    refund = client.post(
        orders_url(sale_park, f"/{order['code']}/refund"),
        data={"scope": "all", "reason": "report check"},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert refund.status_code == 303
    today = park_today().isoformat()
    sign_in(client, migrated, make_member(sale_park, "finance"))
    report = client.get(orders_url(sale_park, "/day"), params={"date": today}, headers=html("en"))
    assert report.status_code == 200, report.text
    assert "<h1>Daily report</h1>" in report.text
    assert 'id="balance" data-balanced="true"' in report.text and "Balanced" in report.text
    assert report.text.count('data-ok="true"') == 3 and 'data-ok="false"' not in report.text
    assert 'data-kind="sale" data-provider="test"' in report.text
    assert 'data-kind="refund" data-provider="test"' in report.text
    assert 'data-provider="test"><td>' in report.text  # the payout row
    default = client.get(orders_url(sale_park, "/day"), headers=html("zh-CN"))
    assert "<h1>日报</h1>" in default.text and "账目平衡" in default.text
    assert f'value="{today}"' in default.text

    bad = client.get(orders_url(sale_park, "/day"), params={"date": "31/12"}, headers=html("en"))
    assert bad.status_code == 422 and 'value="31/12"' in bad.text and 'id="balance"' not in bad.text

    sign_in(client, migrated, make_member(sale_park, "cashier"))  # orders, but no reports
    assert client.get(orders_url(sale_park, "/day"), headers=html("en")).status_code == 403
    listing = client.get(orders_url(sale_park), headers=html("en"))
    assert "Daily report" not in listing.text


@pytest.mark.parametrize(
    ("role", "read", "refund"),
    [
        ("owner", 200, 303),
        ("manager", 200, 303),
        ("cashier", 200, 303),
        ("finance", 200, 303),
        ("viewer", 200, 403),
        ("gate_staff", 403, 403),
    ],
)
def test_who_may_read_and_refund(
    client, sale_park, migrated, make_member, role: str, read: int, refund: int
) -> None:
    order = buy(client, sale_park, "day-ticket", open_weekday(), [{"unit": "adult", "quantity": 1}])
    sign_in(client, migrated, make_member(sale_park, role))
    url = orders_url(sale_park, f"/{order['code']}")
    assert client.get(url, headers=html("en")).status_code == read
    assert client.get(orders_url(sale_park), headers=html("en")).status_code == read
    answer = client.post(
        f"{url}/refund",
        data={"scope": "all", "reason": f"by {role}"},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert answer.status_code == refund
    status = "refunded" if refund == 303 else "paid"
    sign_in(client, migrated, make_member(sale_park, "owner"))
    assert staff_view(client, sale_park, order["code"])["status"] == status
