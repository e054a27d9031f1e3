"""Annual-card members: signing in without an account, "My card", member prices on every
quote path, and dates kept for members."""

from __future__ import annotations

import re
import secrets
import time
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
import redis
from litestar.testing import TestClient
from sqlalchemy import select, update

from tests.conftest import run, unique_slug
from tests.tenants.booking.conftest import EN, ZH, csrf_of, form_fields, pay_by_test, query_of
from tests.tenants.catalog.helpers import park_today
from tests.tenants.orders.conftest import open_weekday, order_body
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.tenants.catalog.demo import seed_demo_catalog
from vistapass.tenants.catalog.membership import MEMBER_COOKIE, member_pass
from vistapass.tenants.models import Admission, Order, Payment, Product

HOLDER = {"name": "李雷", "document_type": "cn_id", "document_number": "11010519491231002X"}
# The demo card: 10% off other products; the demo day ticket is 120.00 on a weekday.
DAY_ADULT = 12000
MEMBER_DAY_ADULT = 10800
# Far enough ahead that no other test of the module quotes it.
MEMBER_DAY = open_weekday(days_ahead=24)


@pytest.fixture(scope="module")
def member_park(migrated: Settings) -> str:
    """The demo park, its annual card keeping one weekday for members."""
    slug = unique_slug("member")

    async def prepare(db: Any) -> None:
        await provision_tenant(db, slug, "Member Park")
        await seed_demo_catalog(db, slug)
        async with tenant_session(db, slug) as session:
            card = await session.scalar(select(Product).where(Product.code == "annual-card"))
            assert card is not None
            config = {**card.pricing_config, "member_only_dates": [MEMBER_DAY.isoformat()]}
            await session.execute(
                update(Product).where(Product.id == card.id).values(pricing_config=config)
            )

    run(migrated, prepare)
    return slug


@pytest.fixture(autouse=True)
def fresh_visitor(client: TestClient, migrated: Settings) -> Any:
    """Each test starts as a new visitor, with the sign-in tries of its address unused."""
    key = f"{migrated.redis_namespace}:booking:find:testclient"
    tries = redis.Redis.from_url(migrated.redis_url)
    tries.delete(key)
    client.cookies.clear()
    yield
    tries.delete(key)
    tries.close()


def passport() -> dict[str, str]:
    """A holder of their own, so no two cards meet the one-card-per-ID-per-day rule."""
    return {
        "name": "Jim Green",
        "document_type": "passport",
        "document_number": f"E{secrets.randbelow(10**8):08d}",
    }


def buy_card(
    client: TestClient, slug: str, day: date, holder: dict[str, str]
) -> tuple[dict[str, Any], str]:
    """A paid annual card bought through the API: (order, its ticket id)."""
    body = order_body("annual-card", day, [{"unit": "adult", "quantity": 1}], holders=[holder])
    placed = client.post(f"/p/{slug}/api/v1/orders", json=body)
    assert placed.status_code == 201, placed.text
    code, token = placed.json()["code"], placed.json()["token"]
    paid = client.post(f"/p/{slug}/api/v1/orders/{code}/payment?t={token}")
    assert paid.status_code == 200, paid.text
    order = paid.json()["order"]
    return order, order["tickets"][0]["id"]


def sign_in(client: TestClient, slug: str, headers: dict[str, str] = EN, **fields: str) -> Any:
    page = client.get(f"/p/{slug}/member", headers=headers)
    assert page.status_code == 200, page.text
    data = {"_csrf_token": csrf_of(page.text), **fields}
    return client.post(
        f"/p/{slug}/member/sign-in", data=data, headers=headers, follow_redirects=False
    )


def quote(client: TestClient, slug: str, product: str, day: date, **extra: Any) -> Any:
    body = {
        "product": product,
        "date": day.isoformat(),
        "lines": extra.pop("lines", [{"unit": "adult", "quantity": 1}]),
        **extra,
    }
    return client.post(f"/p/{slug}/api/v1/quotes", json=body)


def member_discounts(answer: dict[str, Any]) -> list[int]:
    return [a["amount"] for a in answer["adjustments"] if a["code"] == "member_discount"]


def test_a_member_quote_takes_the_discount_after_the_pricing_mode(
    client: TestClient, member_park: str
) -> None:
    order, _ = buy_card(client, member_park, park_today(), passport())
    visit = open_weekday(days_ahead=5)
    assert quote(client, member_park, "day-ticket", visit).json()["total"] == DAY_ADULT

    signed = sign_in(client, member_park, code=order["code"], email="li.lei@example.com")
    assert signed.status_code == 303, signed.text
    cookie = signed.headers["set-cookie"]
    assert f"{MEMBER_COOKIE}=" in cookie and "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie

    day = quote(client, member_park, "day-ticket", visit).json()
    assert day["total"] == MEMBER_DAY_ADULT
    assert member_discounts(day) == [-1200]
    # The lines keep the mode's own price; the discount is one itemised basket line.
    assert day["lines"][0]["unit_price"] == DAY_ADULT
    assert day["subtotal"] == DAY_ADULT

    # A family pack: the mode's 15% pack discount first, then 10% off what that left.
    family = quote(
        client,
        member_park,
        "family-pack",
        visit,
        lines=[{"unit": "adult", "quantity": 2}, {"unit": "child", "quantity": 1, "ages": [8]}],
    ).json()
    assert family["total"] == 22950
    assert family["adjustments"][-1]["code"] == "member_discount"
    assert member_discounts(family) == [-2550]

    slot = quote(client, member_park, "sunrise-slot", visit, slot="08:00").json()
    assert slot["total"] == 7200

    # Not on the card itself, not off the web: the window sells at the window's price.
    assert member_discounts(quote(client, member_park, "annual-card", visit).json()) == []
    window = quote(client, member_park, "day-ticket", visit, channel="window").json()
    assert window["total"] == DAY_ADULT

    # The pass works as the body's `member` for a client without the cookie.
    value = client.cookies.get(MEMBER_COOKIE)
    client.cookies.clear()
    assert quote(client, member_park, "day-ticket", visit).json()["total"] == DAY_ADULT
    explicit = quote(client, member_park, "day-ticket", visit, member=value).json()
    assert explicit["total"] == MEMBER_DAY_ADULT


def test_forged_expired_and_refunded_cards_give_no_discount(
    client: TestClient, member_park: str, migrated: Settings
) -> None:
    visit = open_weekday(days_ahead=12)
    day_order = client.post(
        f"/p/{member_park}/api/v1/orders",
        json=order_body("day-ticket", visit, [{"unit": "adult", "quantity": 1}]),
    ).json()
    _, card_id = buy_card(client, member_park, park_today(), passport())
    now = int(time.time())

    def priced(member: str) -> int:
        return quote(client, member_park, "day-ticket", visit, member=member).json()["total"]

    genuine = member_pass(migrated, member_park, uuid.UUID(card_id), now)
    assert priced(genuine) == MEMBER_DAY_ADULT
    ticket_hex, stamp, signature = genuine.split(".")
    forged = {
        "altered signature": f"{ticket_hex}.{stamp}.{signature[::-1]}",
        "another card named": f"{uuid.uuid4().hex}.{stamp}.{signature}",
        "another park's pass": member_pass(migrated, "alpha", uuid.UUID(card_id), now),
        "a stale pass": member_pass(migrated, member_park, uuid.UUID(card_id), now - 31 * 86400),
        "a day ticket, not a card": member_pass(
            migrated, member_park, uuid.UUID(day_order["tickets"][0]["id"]), now
        ),
        "not a pass": "garbage",
    }
    for why, value in forged.items():
        assert priced(value) == DAY_ADULT, why

    # Expired: first used more than 365 days ago, as the admissions history says.
    _, old_id = buy_card(client, member_park, park_today(), passport())

    async def first_entry_long_ago(db: Any) -> None:
        async with tenant_session(db, member_park) as session:
            session.add(
                Admission(
                    ticket_id=uuid.UUID(old_id),
                    direction="entry",
                    code="ok",
                    ok=True,
                    counted=True,
                    day=park_today() - timedelta(days=400),
                    device="test",
                )
            )

    run(migrated, first_entry_long_ago)
    assert priced(member_pass(migrated, member_park, uuid.UUID(old_id), now)) == DAY_ADULT

    # Refunded: a card for a later start, refunded by its buyer, counts no more.
    later = open_weekday(days_ahead=4)
    refunded, refunded_id = buy_card(client, member_park, later, passport())
    signed_pass = member_pass(migrated, member_park, uuid.UUID(refunded_id), now)
    assert priced(signed_pass) == MEMBER_DAY_ADULT
    answer = client.post(
        f"/p/{member_park}/api/v1/orders/{refunded['code']}/refunds?t={refunded['token']}",
        json={},
    )
    assert answer.status_code == 200, answer.text
    assert priced(signed_pass) == DAY_ADULT
    # And the member page no longer shows it: the visitor is asked to sign in again.
    client.cookies.set(MEMBER_COOKIE, signed_pass, path=f"/p/{member_park}")
    page = client.get(f"/p/{member_park}/member", headers=EN)
    assert "With the order that bought the card" in page.text


def test_an_order_placed_as_a_member_keeps_and_charges_the_member_price(
    client: TestClient, member_park: str, migrated: Settings
) -> None:
    holder = passport()
    buy_card(client, member_park, park_today(), holder)
    signed = sign_in(
        client,
        member_park,
        document_type=holder["document_type"],
        number=holder["document_number"],
    )
    assert signed.status_code == 303, signed.text
    visit = open_weekday(days_ahead=6)
    query = f"date={visit.isoformat()}&qty_adult=2&qty_child=0&qty_senior=0"

    # Step 1 shows the member price beside the normal one.
    step1 = client.get(f"/p/{member_park}/buy/day-ticket?{query}", headers=EN)
    assert step1.status_code == 200
    assert "Member price" in step1.text and "Normal price ¥240.00" in step1.text
    assert "¥216.00" in step1.text and "Member discount" in step1.text

    # Step 2 and the order: the same price, kept on the order and charged.
    who = client.get(f"/p/{member_park}/buy/day-ticket/who?{query}", headers=EN)
    assert who.status_code == 200, who.text
    assert "¥216.00" in who.text
    fields = [
        (name, value)
        for name, value in form_fields(who.text, "who")
        if not name.startswith("contact_")
    ]
    fields += [
        ("contact_name", "Li Lei"),
        ("contact_email", "li.lei@example.com"),
        ("contact_phone", "13800000000"),
    ]
    placed = client.post(
        f"/p/{member_park}/buy/day-ticket/who",
        data={name: value for name, value in fields},
        headers=EN,
        follow_redirects=False,
    )
    assert placed.status_code == 303, placed.text
    pay_path = placed.headers["location"]
    code = pay_path.split("/")[-1].split("?")[0]
    pay_by_test(client, pay_path)

    async def stored(db: Any) -> tuple[Order, list[Payment]]:
        async with tenant_session(db, member_park) as session:
            order = await session.scalar(select(Order).where(Order.code == code))
            assert order is not None
            payments = list(
                await session.scalars(select(Payment).where(Payment.order_id == order.id))
            )
            return order, payments

    order, payments = run(migrated, stored)
    assert order.total == 2 * MEMBER_DAY_ADULT
    assert order.subtotal == 2 * DAY_ADULT
    assert order.quote["adjustments"][-1]["code"] == "member_discount"
    assert order.quote["adjustments"][-1]["amount"] == -2400
    assert [p.amount for p in payments if p.kind == "charge"] == [2 * MEMBER_DAY_ADULT]

    # The order API with the same pass charges the same price.
    api = client.post(
        f"/p/{member_park}/api/v1/orders",
        json=order_body("day-ticket", visit, [{"unit": "adult", "quantity": 1}]),
    )
    assert api.status_code == 201, api.text
    assert api.json()["total"] == MEMBER_DAY_ADULT


def test_a_member_only_date_is_refused_to_others_and_sold_to_members(
    client: TestClient, member_park: str
) -> None:
    refused = quote(client, member_park, "day-ticket", MEMBER_DAY)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "members_only"
    order = client.post(
        f"/p/{member_park}/api/v1/orders",
        json=order_body("day-ticket", MEMBER_DAY, [{"unit": "adult", "quantity": 1}]),
    )
    assert order.status_code == 422
    assert order.json()["error"]["code"] == "members_only"
    # The window is not a members' channel; a card itself is never members-only.
    assert quote(client, member_park, "day-ticket", MEMBER_DAY, channel="window").status_code == 200
    assert quote(client, member_park, "annual-card", MEMBER_DAY).status_code == 200

    # The calendar says so, and step 1 explains it in the visitor's language.
    query = f"date={MEMBER_DAY.isoformat()}&qty_adult=1"
    page = client.get(f"/p/{member_park}/buy/day-ticket?{query}", headers=ZH)
    assert re.search(
        rf'class="day state-members_only">\s*<input[^>]*value="{MEMBER_DAY}"', page.text
    )
    assert "该日期为年卡会员专享日" in page.text

    holder = passport()
    card_order, _ = buy_card(client, member_park, park_today(), holder)
    assert (
        sign_in(
            client, member_park, code=card_order["code"], email="li.lei@example.com"
        ).status_code
        == 303
    )
    sold = quote(client, member_park, "day-ticket", MEMBER_DAY)
    assert sold.status_code == 200, sold.text
    assert sold.json()["total"] == MEMBER_DAY_ADULT
    placed = client.post(
        f"/p/{member_park}/api/v1/orders",
        json=order_body("day-ticket", MEMBER_DAY, [{"unit": "adult", "quantity": 1}]),
    )
    assert placed.status_code == 201, placed.text
    page = client.get(f"/p/{member_park}/buy/day-ticket?{query}", headers=EN)
    assert 'class="day state-members_only"' not in page.text


def test_my_card_page_shows_the_card_and_signs_in_and_out(
    client: TestClient, member_park: str, migrated: Settings
) -> None:
    today = park_today()
    order, card_id = buy_card(client, member_park, today, HOLDER)

    blank = client.get(f"/p/{member_park}/member", headers=EN)
    assert blank.status_code == 200
    assert "With the card holder's ID document" in blank.text
    assert blank.headers["cache-control"] == "no-store"

    wrong = sign_in(client, member_park, code=order["code"], email="someone@example.com")
    assert wrong.status_code == 404
    assert "No valid annual card matches" in wrong.text
    assert MEMBER_COOKIE not in client.cookies

    signed = sign_in(
        client, member_park, headers=ZH, document_type="cn_id", number="11010519491231002x"
    )
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == f"/p/{member_park}/member"
    zh = client.get(f"/p/{member_park}/member", headers=ZH)
    assert "年卡" in zh.text and "李*" in zh.text and "李雷" not in zh.text
    assert "首次入园时生效" in zh.text and "自首次入园起 365 天有效" in zh.text
    assert "立减 10%" in zh.text

    en = client.get(f"/p/{member_park}/member", headers=EN)
    assert "Starts on first entry" in en.text
    assert "Entries used" in en.text
    assert "10% off other tickets bought online" in en.text
    assert MEMBER_DAY.strftime("%B") in en.text  # the upcoming members' day is listed
    assert "Renew my card" not in en.text  # a card not started yet has nothing to renew

    # After a first entry the window is fixed: dates and the days left, from the history.
    async def entered(db: Any) -> None:
        async with tenant_session(db, member_park) as session:
            session.add(
                Admission(
                    ticket_id=uuid.UUID(card_id),
                    direction="entry",
                    code="ok",
                    ok=True,
                    counted=True,
                    day=today - timedelta(days=5),
                    device="test",
                )
            )

    run(migrated, entered)
    used = client.get(f"/p/{member_park}/member", headers=EN).text
    assert "360 days left" in used
    assert re.search(r"<dt>Entries used</dt><dd>1</dd>", used)
    assert "Renew my card" in used
    renew = re.search(r'href="([^"]*/buy/annual-card\?renew=1[^"]*)"', used)
    assert renew, used
    # The link renews this very card, at the renewal price, on step 1 and step 2 alike.
    step1 = client.get(renew.group(1).replace("&amp;", "&"), headers=EN)
    assert step1.status_code == 200
    assert "Renewing your annual card" in step1.text
    assert "¥298.00" in step1.text and "renewal" in step1.text.lower()
    assert '<input type="hidden" name="renew" value="1">' in step1.text
    assert f'"renewalOf": "{card_id}"' in step1.text
    query = "&".join(f"{name}={value}" for name, value in form_fields(step1.text, "choose"))
    who = client.get(f"/p/{member_park}/buy/annual-card/who?{query}", headers=EN)
    assert who.status_code == 200, who.text
    assert "¥298.00" in who.text

    home = client.get(f"/p/{member_park}/", headers=EN)
    # Each product's "from" price with the member's beside it (cards themselves excepted).
    prices = re.findall(
        r'From ¥([0-9.]+) <span class="member-price">Member price from ¥([0-9.]+)', home.text
    )
    assert len(prices) == 3, home.text
    for normal, member in prices:
        fen = round(float(normal) * 100)
        assert round(float(member) * 100) == fen - fen * 10 // 100
    assert "My annual card" in home.text

    out = client.post(
        f"/p/{member_park}/member/sign-out",
        data={"_csrf_token": csrf_of(used)},
        follow_redirects=False,
    )
    assert out.status_code == 303
    assert MEMBER_COOKIE not in client.cookies
    again = client.get(f"/p/{member_park}/member", headers=EN)
    assert "With the order that bought the card" in again.text
    assert "Member price from" not in client.get(f"/p/{member_park}/", headers=EN).text
    assert query_of(signed.headers["location"]) == {}
