"""The check-in API: who may scan, the answers in the staff's language, search, frames."""

from __future__ import annotations

import uuid

from tests.conftest import sign_in
from tests.tenants.catalog.helpers import park_today
from tests.tenants.checkin.support import (
    client,
    csrf,
    open_weekday,
    qr_png,
    sale_park,
    sell,
    with_selling,
)

__all__ = ["client", "sale_park"]


def sold(migrated, slug: str, product: str = "day-ticket", **lines: int) -> dict:
    """A paid window order for today, in the park's calendar (day tickets scan today)."""
    return with_selling(
        migrated, lambda selling: sell(selling, slug, product, park_today(), lines or {"adult": 1})
    )


def scan(client, slug: str, code: str, **extra):
    return client.post(
        f"/p/{slug}/api/v1/checkin/scans", json={"code": code, **extra}, headers=csrf(client)
    )


def test_gate_staff_scan_and_cashiers_do_not(client, migrated, sale_park, make_member) -> None:
    order = sold(migrated, sale_park)
    code = order["tickets"][0]["qr"]
    sign_in(client, migrated, make_member(sale_park, "cashier"))
    refused = scan(client, sale_park, code)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    sign_in(client, migrated, make_member(sale_park, "gate_staff"))
    nonce = str(uuid.uuid4())
    client.cookies.set("lang", "en")
    first = scan(client, sale_park, code, nonce=nonce, device="gate-tablet")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["ok"] is True and body["code"] == "ok" and body["message"] == "Entry accepted."
    assert (
        body["ticket"]["order"] == order["code"] and body["ticket"]["product_name"] == "Day ticket"
    )
    retry = scan(client, sale_park, code, nonce=nonce).json()
    assert retry["replayed"] is True and retry["admission"] == body["admission"] and retry["ok"]
    client.cookies.set("lang", "zh-CN")
    again = scan(client, sale_park, code).json()
    assert (again["ok"], again["code"], again["message"]) == (False, "already_used", "已使用。")
    assert again["ticket"]["product_name"] == "景区日票"
    out = scan(client, sale_park, code, direction="exit").json()
    assert (out["ok"], out["direction"], out["message"]) == (True, "exit", "已登记出园。")


def test_a_scan_without_the_csrf_header_or_with_bad_fields(
    client, migrated, sale_park, make_member
) -> None:
    sign_in(client, migrated, make_member(sale_park, "gate_staff"))
    url = f"/p/{sale_park}/api/v1/checkin/scans"
    no_csrf = client.post(url, json={"code": "x"}, headers={"accept": "application/json"})
    assert no_csrf.status_code == 403
    sideways = scan(client, sale_park, "VP1:X", direction="sideways")
    assert sideways.status_code == 422 and sideways.json()["error"]["code"] == "invalid_direction"
    half = scan(client, sale_park, "VP1:X", document_type="cn_id")
    assert half.status_code == 422 and half.json()["error"]["code"] == "invalid_document"
    typo = scan(
        client, sale_park, "VP1:X", document_type="cn_id", document_number="110101199003071230"
    )
    assert typo.status_code == 422 and typo.json()["error"]["code"] == "invalid_check_digit"
    junk = scan(client, sale_park, "hello")
    assert junk.status_code == 200 and junk.json()["code"] == "malformed"
    too_long = scan(client, sale_park, "VP1:X", device="d" * 500)
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "invalid_request"


def test_search_by_order_code_name_or_phone(client, migrated, sale_park, make_member) -> None:
    order = sold(migrated, sale_park, adult=2)
    sign_in(client, migrated, make_member(sale_park, "gate_staff"))
    client.cookies.set("lang", "en")
    scan(client, sale_park, order["tickets"][0]["qr"])
    url = f"/p/{sale_park}/api/v1/checkin/search"
    for query in (order["code"].lower(), "wang fa", "1391234"):
        found = client.get(url, params={"q": query}, headers=csrf(client)).json()["orders"]
        assert order["code"] in [o["code"] for o in found], query
    match = next(
        o
        for o in client.get(url, params={"q": order["code"]}).json()["orders"]
        if o["code"] == order["code"]
    )
    first, second = match["tickets"]
    assert (first["entries_used"], first["inside"], first["state"]) == (1, True, "valid")
    assert (second["entries_used"], second["inside"]) == (0, False)
    assert second["qr"] == order["tickets"][1]["qr"] and match["product_name"] == "Day ticket"
    assert client.get(url, params={"q": "zz-nobody-zz"}).json()["orders"] == []
    assert client.get(url, params={"q": "%"}).json()["orders"] == []


def test_frames_read_qr_codes_from_pictures(client, migrated, sale_park, make_member) -> None:
    sign_in(client, migrated, make_member(sale_park, "gate_staff"))
    url = f"/p/{sale_park}/api/v1/checkin/frames"
    text = "VP1:TEST-FRAME"
    found = client.post(
        url, content=qr_png(text), headers={**csrf(client), "content-type": "image/png"}
    )
    assert found.status_code == 200 and found.json() == {"codes": [text]}
    blank = client.post(url, content=qr_png("x")[:0], headers=csrf(client))
    assert blank.status_code == 422 and blank.json()["error"]["code"] == "invalid_image"
    junk = client.post(url, content=b"GIF89a not really", headers=csrf(client))
    assert junk.status_code == 422 and junk.json()["error"]["code"] == "invalid_image"
    sign_in(client, migrated, make_member(sale_park, "cashier"))
    assert client.post(url, content=qr_png(text), headers=csrf(client)).status_code == 403


def test_cashiers_sell_at_the_window_and_gate_staff_do_not(
    client, migrated, sale_park, make_member
) -> None:
    body = {
        "product": "day-ticket",
        "date": open_weekday(23).isoformat(),
        "lines": [{"unit": "adult", "quantity": 1}],
        "payment": "cash",
    }
    url = f"/p/{sale_park}/api/v1/window/sales"
    sign_in(client, migrated, make_member(sale_park, "gate_staff"))
    assert client.post(url, json=body, headers=csrf(client)).status_code == 403
    assert (
        client.get(f"/p/{sale_park}/console/window", headers=csrf(client, "text/html")).status_code
        == 403
    )
    sign_in(client, migrated, make_member(sale_park, "cashier"))
    sold_now = client.post(url, json=body, headers=csrf(client))
    assert sold_now.status_code == 201 and sold_now.json()["status"] == "paid"
    assert (
        client.get(f"/p/{sale_park}/console/checkin", headers=csrf(client, "text/html")).status_code
        == 403
    )
