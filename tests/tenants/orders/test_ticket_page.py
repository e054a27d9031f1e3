"""The buyer's e-ticket page: QR codes for valid tickets, rules in words, two languages,
and nothing at all for a link that is not the order's own."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import update

from tests.conftest import run
from tests.tenants.orders.conftest import open_weekday, order_body
from vistapass.platform.console.i18n import current_language, translations
from vistapass.platform.db import Database
from vistapass.platform.models.base import utcnow
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.models import Order, Ticket
from vistapass.tenants.orders import ticket_page as ticket_page_module
from vistapass.tenants.orders.ticket_page import OrderView, ticket_view

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def buy(client: TestClient, slug: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/p/{slug}/api/v1/orders", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def pay(client: TestClient, slug: str, order: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/p/{slug}/api/v1/orders/{order['code']}/payment?t={order['token']}")
    assert response.status_code == 200, response.text
    return response.json()["order"]


def page(client: TestClient, order: dict[str, Any], headers: dict[str, str] = EN) -> Any:
    # The very link the order API hands out and the confirmation mail sends.
    return client.get(order["ticket_page"], headers=headers)


def in_code(qr: str) -> str:
    """The QR text as the page's manual-entry fallback holds it, spaces and all."""
    return f"<code>{html.escape(qr, quote=False)}</code>"


def test_a_paid_order_shows_a_qr_code_and_rules_per_ticket(client, sale_park) -> None:
    day = open_weekday(days_ahead=12)
    order = pay(
        client,
        sale_park,
        buy(client, sale_park, order_body("day-ticket", day, [{"unit": "adult", "quantity": 2}])),
    )
    response = page(client, order)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    # The link is the key to the tickets: never cached, never passed on, never indexed.
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    body = response.text
    assert '<meta name="robots" content="noindex' in body
    assert body.count("<svg") == 2
    assert 'role="img" aria-label="QR code of ticket 1' in body
    assert order["code"] in body
    for ticket in order["tickets"]:
        assert in_code(ticket["qr"]) in body
    for text in (
        "Your tickets",
        "Paid",
        "Day ticket",
        "Adult",
        "Ticket 1 of 2",
        "Ticket 2 of 2",
        "¥240.00",
        "Ticket rules",
        "Valid on",
        str(day.year),
        "1 entry",
        "No re-entry",
        "All zones",
    ):
        assert text in body, text
    # Nothing is fetched from elsewhere: no script, no stylesheet link, no web font.
    assert "<script" not in body and "<link" not in body and "http" not in body.split("<main")[0]


def test_the_page_speaks_the_buyers_language(client, sale_park) -> None:
    body = order_body("day-ticket", open_weekday(days_ahead=13), [{"unit": "child", "quantity": 1}])
    order = pay(client, sale_park, buy(client, sale_park, body))
    chinese = page(client, order, ZH).text
    assert '<html lang="zh-CN">' in chinese
    expected = (
        "您的电子票",
        "已支付",
        "使用规则",
        "景区日票",
        "儿童",
        "可入园 1 次",
        "第 1 张，共 1 张",
    )
    for text in expected:
        assert text in chinese, text
    assert "Your tickets" not in chinese and "Ticket rules" not in chinese

    english = page(client, order, EN).text
    assert '<html lang="en">' in english
    assert "Your tickets" in english and "Child" in english and "您的电子票" not in english

    # The language switch's cookie wins over the browser's preference.
    client.cookies.set("lang", "en")
    try:
        assert "Your tickets" in page(client, order, ZH).text
    finally:
        client.cookies.delete("lang")
    # The page offers the switch back to itself, token included.
    assert "/lang/en?next=" in chinese and "English" in chinese


def test_an_unpaid_order_awaits_payment_and_shows_no_code(client, sale_park) -> None:
    body = order_body("day-ticket", open_weekday(days_ahead=14), [{"unit": "adult", "quantity": 1}])
    order = buy(client, sale_park, body)
    english = page(client, order).text
    assert "Awaiting payment" in english and "Pay by" in english
    assert "<svg" not in english and "<code>" not in english
    assert "The QR code appears here once the order is paid." in english
    chinese = page(client, order, ZH).text
    assert "待支付" in chinese and "<svg" not in chinese


def test_a_refunded_ticket_loses_its_code(client, sale_park) -> None:
    body = order_body("day-ticket", open_weekday(days_ahead=15), [{"unit": "adult", "quantity": 2}])
    order = pay(client, sale_park, buy(client, sale_park, body))
    refunded, kept = order["tickets"]
    response = client.post(
        f"/p/{sale_park}/api/v1/orders/{order['code']}/refunds?t={order['token']}",
        json={"tickets": [refunded["id"]]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["order"]["status"] == "partially_refunded"

    english = page(client, order).text
    assert english.count("<svg") == 1
    assert "Partly refunded" in english
    assert english.count("Refunded — not valid") == 1
    assert refunded["qr"] not in english
    assert in_code(kept["qr"]) in english
    assert "已退款 — 不可使用" in page(client, order, ZH).text


def test_a_timed_ticket_states_its_entry_window(client, sale_park) -> None:
    body = order_body(
        "sunrise-slot",
        open_weekday(days_ahead=16),
        [{"unit": "adult", "quantity": 1}],
        slot="10:00",
    )
    english = page(client, pay(client, sale_park, buy(client, sale_park, body))).text
    assert "Time slot" in english and "10:00–12:00" in english
    assert "Enter between 10:00 and 12:00" in english


def test_a_named_ticket_says_so_but_never_shows_the_holder(client, sale_park) -> None:
    holder = {"name": "韩梅梅", "document_type": "cn_id", "document_number": "11010519491231002X"}
    day = open_weekday(days_ahead=17) + timedelta(days=7)
    body = order_body("annual-card", day, [{"unit": "adult", "quantity": 1}], holders=[holder])
    order = pay(client, sale_park, buy(client, sale_park, body))
    english = page(client, order).text
    assert english.count("<svg") == 1
    for text in (
        "Named ticket",
        "Real-name ticket",
        "Valid for 365 days from your first entry",
        "Priority lane",
    ):
        assert text in english, text
    chinese = page(client, order, ZH).text
    assert "实名票" in chinese
    for page_text in (english, chinese):
        assert holder["name"] not in page_text
        assert "11010519491231002" not in page_text
        assert "Li Lei" not in page_text and "li.lei@example.com" not in page_text


def test_a_wrong_link_finds_nothing_and_says_nothing(client, sale_park) -> None:
    body = order_body("day-ticket", open_weekday(days_ahead=18), [{"unit": "adult", "quantity": 1}])
    order = pay(client, sale_park, buy(client, sale_park, body))
    base = f"/p/{sale_park}/orders"
    wrong = client.get(f"{base}/{order['code']}?t=wrong", headers=EN)
    missing = client.get(f"{base}/{order['code']}", headers=EN)
    unknown = client.get(f"{base}/NOSUCHCODE?t={order['token']}", headers=EN)
    # A mangled link with non-ASCII in the token is just as unknown, not a server error.
    mangled = client.get(f"{base}/{order['code']}?t=%E7%A5%A8", headers=EN)
    for response in (wrong, missing, unknown, mangled):
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-store"
        assert "Tickets not found" in response.text
        for secret in (order["code"], order["token"], order["tickets"][0]["qr"], "Day ticket"):
            assert secret not in response.text
        assert "<svg" not in response.text and "¥" not in response.text
    # Whether the code exists or not, the answer is the same page.
    assert wrong.text == missing.text == unknown.text == mangled.text


def test_an_order_past_its_hold_reads_expired(client, sale_park, migrated) -> None:
    body = order_body("day-ticket", open_weekday(days_ahead=19), [{"unit": "adult", "quantity": 1}])
    order = buy(client, sale_park, body)

    async def end_hold(db: Database) -> None:
        # Only the clock has run out: the sweeper that marks it expired has not run yet.
        async with tenant_session(db, sale_park) as session:
            await session.execute(
                update(Order)
                .where(Order.code == order["code"])
                .values(expires_at=utcnow() - timedelta(minutes=1))
            )

    run(migrated, end_hold)
    english = page(client, order).text
    assert "Expired" in english and "not paid in time" in english
    assert "Awaiting payment" not in english and "<svg" not in english


def render(client: TestClient, order: OrderView, language: str) -> str:
    """The page's template alone, for rules no demo product has."""
    token = current_language.set(language)
    try:
        template = client.app.template_engine.get_template("orders/tickets.html")
        return template.render(
            park=SimpleNamespace(display_name="Lake Park"),
            slug="lake",
            lang=language,
            logo_url="/storage/t/lake/branding/logo.png?sig=x",
            brand_primary="#0b5a8c",
            brand_accent="#b35c00",
            order=order,
            switch_url=None,
        )
    finally:
        current_language.reset(token)


def test_every_rule_is_put_into_words(client) -> None:
    entitlement = {
        "unit": "adult",
        "valid_from": "2027-05-04",
        "valid_to": "2027-05-06",
        "slot": "east-am",
        "entries_per_day": 2,
        "entries_total": 3,
        "zones": ["east", "lake"],
        "real_name_required": False,
        "face_required": True,
        "reentry_allowed": True,
        "extras": {},
    }
    ticket = Ticket(
        position=0,
        unit="adult",
        valid_from=date(2027, 5, 4),
        valid_to=date(2027, 5, 6),
        slot="east-am",
        entitlement=entitlement,
        qr=None,
        holder_id=None,
        revoked_at=utcnow(),
        revoked_reason="cancelled",
    )
    view = ticket_view(ticket, "Adult", "en")
    assert view.state == "revoked" and view.qr_svg is None
    order = OrderView(
        code="TESTCODE",
        status="paid",
        product_name="Three-day pass",
        product_description="",
        visit_date="Tuesday, May 4, 2027",
        slot="east-am",
        slot_start=None,
        slot_end=None,
        total="¥1.00",
        refunded=None,
        expires_at=None,
        tickets=[view],
    )
    english = render(client, order, "en")
    for text in (
        "Valid from Tuesday, May 4, 2027 to Thursday, May 6, 2027",
        "Time slot: east-am",
        "3 entries in total",
        "2 entries per day",
        "Re-entry allowed",
        "Face recognition at the gate",
        "Zones: east, lake",
        "Cancelled — not valid",
        '<img src="/storage/t/lake/branding/logo.png?sig=x" alt="">',
        "--brand: #0b5a8c",
    ):
        assert text in english, text
    assert "<svg" not in english and "Named ticket" not in english
    chinese = render(
        client, replace(order, tickets=[ticket_view(ticket, "成人", "zh-CN")]), "zh-CN"
    )
    for text in ("共可入园 3 次", "每天可入园 2 次", "可游览区域：east、lake", "已作废 — 不可使用"):
        assert text in chinese, text


def test_every_text_on_the_pages_has_a_chinese_translation() -> None:
    folder = Path(ticket_page_module.__file__).with_name("templates") / "orders"
    messages = {
        match[2]
        for template in folder.glob("*.html")
        for match in re.finditer(r"""_\((["'])(.*?)\1""", template.read_text(encoding="utf-8"))
    }
    assert len(messages) > 40
    chinese = translations("zh-CN")
    missing = [message for message in messages if chinese.gettext(message) == message]
    assert missing == []
