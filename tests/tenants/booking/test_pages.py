"""The front page and step 1, in both languages, on the platform path and the park's host."""

from __future__ import annotations

import json
import re

import pytest

from tests.tenants.booking.conftest import EN, ZH, form_fields


def quantity_of(page: str, unit: str) -> str:
    return dict(form_fields(page, "choose"))[f"qty_{unit}"]


PRODUCTS = ("day-ticket", "sunrise-slot", "family-pack", "annual-card")


def test_the_front_page_shows_products_prices_hours_and_the_way_back(client, booking_park):
    response = client.get(f"/p/{booking_park}/", headers=EN)
    assert response.status_code == 200
    page = response.text
    assert '<html lang="en">' in page
    assert "<h1>Booking Park</h1>" in page
    for name in ("Day ticket", "Timed entry", "Family pack", "Annual card"):
        assert name in page
    for code in PRODUCTS:
        assert f'href="/p/{booking_park}/buy/{code}"' in page
    # "From" the lowest price: the senior's annual card, whatever the day.
    assert "From ¥199.00" in page
    assert page.count("From ¥") == 4
    assert "Opening hours this week" in page
    assert page.count('<th scope="row">') == 7
    assert "Free refund until 24 hours before the visit" in page
    assert f'href="/p/{booking_park}/find"' in page
    assert "Content-Security-Policy" in response.headers
    assert "script-src 'self';" in response.headers["content-security-policy"]


def test_the_front_page_speaks_chinese_to_a_chinese_browser(client, booking_park):
    page = client.get(f"/p/{booking_park}/", headers=ZH).text
    assert '<html lang="zh-CN">' in page
    for name in ("景区日票", "分时段入园", "亲子家庭套票", "年卡"):
        assert name in page
    assert "¥199.00 起" in page
    assert "本周开放时间" in page
    assert "查询订单" in page
    # The switch names the other language in itself and comes back to this page.
    assert f'href="/lang/en?next=%2Fp%2F{booking_park}"' in page


def test_the_language_cookie_wins_over_the_browser(client, booking_park):
    client.cookies.set("lang", "en")
    try:
        page = client.get(f"/p/{booking_park}/", headers=ZH).text
    finally:
        client.cookies.delete("lang")
    assert '<html lang="en">' in page


def test_on_the_parks_own_host_links_leave_out_the_platform_path(client, booking_park):
    host = {"Host": f"{booking_park}.vistapass.test", **EN}
    page = client.get("/", headers=host).text
    assert 'href="/buy/day-ticket"' in page
    assert "/p/" not in page.replace("/lang/", "")
    step = client.get("/buy/day-ticket", headers=host).text
    assert 'action="/buy/day-ticket"' in step
    assert 'formaction="/buy/day-ticket/who"' in step
    assert '"quotesUrl": "/api/v1/quotes"' in step
    assert 'href="/lang/zh-CN?next=%2Fbuy%2Fday-ticket"' in step


@pytest.mark.parametrize("headers", [EN, ZH], ids=["en", "zh"])
@pytest.mark.parametrize("product", PRODUCTS)
def test_step_one_renders_every_product_with_a_price(client, booking_park, product, headers):
    response = client.get(f"/p/{booking_park}/buy/{product}", headers=headers)
    assert response.status_code == 200, response.text
    page = response.text
    assert page.count('type="radio" name="date"') >= 28  # five weeks from today
    assert 'id="quote-error"' not in page, re.search(r'quote-error">([^<]*)', page)
    assert re.search(r"<strong>¥\d+\.\d\d</strong>", page)
    assert '<script src="/static/booking/step1.js" defer></script>' in page
    data = json.loads(re.search(r'id="booking-data">(.*?)</script>', page, re.S).group(1))
    assert data["product"] == product
    assert data["days"]
    if product == "sunrise-slot":
        assert page.count('name="slot"') == 3
    if product == "family-pack":
        # The pack's smallest shape, with a child's age asked for.
        assert quantity_of(page, "adult") == "2"
        assert page.count('name="age_child"') == 1


def test_step_one_in_chinese_says_the_units_and_states_in_chinese(client, booking_park):
    page = client.get(f"/p/{booking_park}/buy/day-ticket", headers=ZH).text
    for text in ("游玩日期", "成人", "儿童", "长者", "18 至 59 周岁", "总价", "继续", "可订"):
        assert text in page, text


def test_a_stepper_without_scripts_comes_back_with_the_new_count(client, booking_park):
    page = client.get(
        f"/p/{booking_park}/buy/day-ticket?qty_adult=1&qty_child=0&qty_senior=0&step=adult:%2B1",
        headers=EN,
    ).text
    assert quantity_of(page, "adult") == "2"
    assert "Adult × 2" in page


def test_a_pack_of_the_wrong_shape_is_explained_in_the_visitors_language(client, booking_park):
    query = "qty_adult=1&qty_child=1&age_child=5"
    en = client.get(f"/p/{booking_park}/buy/family-pack?{query}", headers=EN).text
    assert "This pack takes exactly 2 × Adult; you chose 1." in en
    zh = client.get(f"/p/{booking_park}/buy/family-pack?{query}", headers=ZH).text
    assert "本套票须含 2 位成人，您选择了 1 位。" in zh


def test_a_child_too_old_for_the_pack_is_told_so(client, booking_park):
    query = "qty_adult=2&qty_child=1&age_child=13"
    page = client.get(f"/p/{booking_park}/buy/family-pack?{query}", headers=EN).text
    assert "Each Child in this pack must be 12 or younger." in page
    assert 'name="age_child" inputmode="numeric" min="0" max="12" value="13"' in page


def test_a_closed_or_mangled_date_is_explained_not_crashed(client, booking_park):
    page = client.get(f"/p/{booking_park}/buy/day-ticket?date=2020-01-01", headers=EN).text
    assert "That date has passed. Choose another day." in page
    page = client.get(f"/p/{booking_park}/buy/day-ticket?date=tomorrow&qty_adult=x", headers=EN)
    assert page.status_code == 200
    assert "Choose a visit date." in page.text


def test_an_unknown_product_is_a_page_not_json(client, booking_park):
    response = client.get(f"/p/{booking_park}/buy/no-such-thing", headers=EN)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "This ticket is not on sale online." in response.text


def test_the_booking_script_and_style_are_served_and_small(client, booking_park):
    total = 0
    for name in ("booking.css", "step1.js", "step2.js", "pay.js"):
        response = client.get(f"/static/booking/{name}")
        assert response.status_code == 200
        total += len(response.content)
    page = client.get(f"/p/{booking_park}/buy/family-pack", headers=EN)
    # The heaviest first load (step 1: page, style, script) stays far below 150 KB.
    assert total + len(page.content) < 150 * 1024
