"""The check-in page as plain forms (no script): scan, search, photo, in Chinese and English."""

from __future__ import annotations

import io
import re

from PIL import Image

from tests.conftest import sign_in
from tests.tenants.catalog.helpers import park_today
from tests.tenants.checkin.support import client, csrf, qr_png, sale_park, sell, with_selling

__all__ = ["client", "sale_park"]
HTML = "text/html"


def page_url(slug: str) -> str:
    return f"/p/{slug}/console/checkin"


def result_of(html: str) -> tuple[str, str]:
    """(class of the answer box, its reason)."""
    box = re.search(r'<section id="result" class="result ([a-z]+)"', html)
    reason = re.search(r'<p class="reason"[^>]*>([^<]*)</p>', html)
    assert box and reason, html[:2000]
    return box.group(1), reason.group(1)


def test_the_page_in_both_languages(client, migrated, sale_park, make_member) -> None:
    sign_in(client, migrated, make_member(sale_park, "gate_staff"))
    client.cookies.set("lang", "zh-CN")
    chinese = client.get(page_url(sale_park), headers={"accept": HTML})
    assert chinese.status_code == 200 and chinese.headers["content-type"].startswith("text/html")
    for text in ("<h1>检票</h1>", "入园", "出园", "票码、订单号、姓名或电话", "最近核验"):
        assert text in chinese.text, text
    assert 'name="_csrf_token"' in chinese.text and "/static/checkin/checkin.js" in chinese.text
    client.cookies.set("lang", "en")
    english = client.get(page_url(sale_park) + "?direction=exit", headers={"accept": HTML})
    assert "<h1>Check-in</h1>" in english.text and "Photo of a ticket" in english.text
    assert re.search(r'data-direction="exit" aria-current="true"', english.text)
    assert f'href="/p/{sale_park}/console/checkin"' in english.text  # in the nav


def test_check_in_and_out_by_typing_the_code(client, migrated, sale_park, make_member) -> None:
    order = with_selling(
        migrated, lambda s: sell(s, sale_park, "day-ticket", park_today(), {"adult": 1})
    )
    code = order["tickets"][0]["qr"]
    sign_in(client, migrated, make_member(sale_park, "gate_staff"))
    client.cookies.set("lang", "en")
    headers = csrf(client, HTML)
    admitted = client.post(
        page_url(sale_park), data={"code": code, "direction": "entry"}, headers=headers
    )
    assert admitted.status_code == 200
    assert result_of(admitted.text) == ("ok", "Entry accepted.")
    assert order["code"] in admitted.text and "Day ticket" in admitted.text
    client.cookies.set("lang", "zh-CN")
    twice = client.post(
        page_url(sale_park), data={"code": code, "direction": "entry"}, headers=headers
    )
    assert result_of(twice.text) == ("refused", "已使用。")
    out = client.post(
        page_url(sale_park), data={"code": code, "direction": "exit"}, headers=headers
    )
    assert result_of(out.text) == ("ok", "已登记出园。")
    # The last scans list shows all three, newest first.
    recent = re.search(r'<ol id="recent"(.*?)</ol>', out.text, re.S)
    assert recent and recent.group(1).index("已登记出园") < recent.group(1).index("已使用")


def test_search_then_check_a_ticket_in_from_the_results(
    client, migrated, sale_park, make_member
) -> None:
    order = with_selling(
        migrated, lambda s: sell(s, sale_park, "day-ticket", park_today(), {"child": 2})
    )
    sign_in(client, migrated, make_member(sale_park, "gate_staff"))
    client.cookies.set("lang", "en")
    found = client.post(
        page_url(sale_park), data={"code": order["code"]}, headers=csrf(client, HTML)
    )
    assert found.status_code == 200 and "Orders found" in found.text
    assert found.text.count('data-label-entry="Check in"') >= 2 and order["code"] in found.text
    listed = client.get(page_url(sale_park), params={"q": "Wang Fang"}, headers={"accept": HTML})
    assert order["code"] in listed.text
    admitted = client.post(
        page_url(sale_park),
        data={"code": order["tickets"][1]["qr"], "q": order["code"], "direction": "entry"},
        headers=csrf(client, HTML),
    )
    assert result_of(admitted.text)[0] == "ok"
    assert "Inside now" in admitted.text  # the search is shown again, updated
    nothing = client.get(
        page_url(sale_park), params={"q": "nobody-like-this"}, headers={"accept": HTML}
    )
    assert "No orders found." in nothing.text


def test_a_photo_of_a_ticket(client, migrated, sale_park, make_member) -> None:
    order = with_selling(
        migrated, lambda s: sell(s, sale_park, "day-ticket", park_today(), {"senior": 1})
    )
    sign_in(client, migrated, make_member(sale_park, "gate_staff"))
    client.cookies.set("lang", "en")
    photo = client.post(
        page_url(sale_park),
        data={"direction": "entry"},
        files={"photo": ("ticket.png", qr_png(order["tickets"][0]["qr"]), "image/png")},
        headers=csrf(client, HTML),
    )
    assert photo.status_code == 200 and result_of(photo.text) == ("ok", "Entry accepted.")
    blank = client.post(
        page_url(sale_park),
        data={"direction": "entry"},
        files={"photo": ("blank.png", qr_png("plain text, no ticket")[:80], "image/png")},
        headers=csrf(client, HTML),
    )
    assert blank.status_code == 422 and result_of(blank.text)[0] == "refused"
    client.cookies.set("lang", "zh-CN")
    no_code = client.post(
        page_url(sale_park),
        data={"direction": "entry"},
        files={"photo": ("white.png", _white_png(), "image/png")},
        headers=csrf(client, HTML),
    )
    assert no_code.status_code == 422 and result_of(no_code.text) == (
        "refused",
        "图片中没有找到二维码。",
    )


def _white_png() -> bytes:
    out = io.BytesIO()
    Image.new("L", (200, 200), 255).save(out, "PNG")
    return out.getvalue()
