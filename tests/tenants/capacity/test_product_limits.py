"""The product's selling limits in the catalogue editor and the JSON API: daily
capacity, shared pools (unknown ones refused), the ID limit per day, the flash-sale gate."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import sign_in
from tests.tenants.orders.conftest import open_weekday, order_body
from tests.tenants.orders_console.support import audit_entries, csrf, form_fields, html


def api(slug: str, code: str = "") -> str:
    return f"/p/{slug}/api/v1/catalog/products" + (f"/{code}" if code else "")


def headers(client: Any) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken") or ""}


@pytest.fixture
def manager(client, sale_park, migrated, make_member) -> None:
    sign_in(client, migrated, make_member(sale_park, "manager"))
    client.get("/healthz")  # the CSRF cookie


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"pool_codes": ["park-daily", "nowhere"]}, "unknown_pool"),
        ({"pool_codes": "park-daily"}, "invalid_pool"),
        ({"pool_codes": [3]}, "invalid_pool"),
        ({"daily_capacity": -1}, "invalid_capacity"),
        ({"daily_capacity": 1_000_001}, "invalid_capacity"),
        ({"daily_capacity": True}, "invalid_capacity"),
        ({"daily_capacity": "100"}, "invalid_capacity"),
        ({"id_limit_per_day": 0}, "invalid_id_limit"),
        ({"id_limit_per_day": 21}, "invalid_id_limit"),
        ({"flash_sale": "yes"}, "invalid_value"),
    ],
)
def test_the_api_refuses_bad_limits(client, sale_park, manager, change, code) -> None:
    before = client.get(api(sale_park, "day-ticket")).json()
    response = client.patch(api(sale_park, "day-ticket"), json=change, headers=headers(client))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["details"]["field"] == next(iter(change))
    if code == "unknown_pool":
        assert error["details"]["unknown"] == ["nowhere"]
    assert client.get(api(sale_park, "day-ticket")).json() == before


def test_the_api_sets_and_clears_limits_audited(client, sale_park, migrated, manager) -> None:
    shown = client.get(api(sale_park, "family-pack")).json()
    assert shown["pool_codes"] == ["park-daily"] and shown["daily_capacity"] is None
    assert shown["id_limit_per_day"] == 1 and shown["flash_sale"] is False
    change = {
        "daily_capacity": 300,
        "pool_codes": ["park-daily", "park-daily"],
        "id_limit_per_day": 3,
        "flash_sale": True,
    }
    response = client.patch(api(sale_park, "family-pack"), json=change, headers=headers(client))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["changed"] == ["daily_capacity", "flash_sale", "id_limit_per_day"]
    assert body["pool_codes"] == ["park-daily"]  # each pool once
    assert (body["daily_capacity"], body["id_limit_per_day"], body["flash_sale"]) == (300, 3, True)
    entry = [
        e
        for e in audit_entries(migrated, sale_park, "product.updated")
        if e.target == "product:family-pack"
    ][-1]
    assert entry.before == {"daily_capacity": None, "id_limit_per_day": 1, "flash_sale": False}
    assert entry.after == {"daily_capacity": 300, "id_limit_per_day": 3, "flash_sale": True}

    cleared = client.patch(
        api(sale_park, "family-pack"),
        json={"daily_capacity": None, "pool_codes": []},
        headers=headers(client),
    )
    assert cleared.status_code == 200
    assert cleared.json()["daily_capacity"] is None and cleared.json()["pool_codes"] == []

    new = {
        "code": "pool-pass",
        "name_zh": "池票",
        "name_en": "Pool pass",
        "pricing_mode": "per_visit",
    }
    refused = client.post(
        api(sale_park), json={**new, "pool_codes": ["nowhere"]}, headers=headers(client)
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "unknown_pool"
    made = client.post(
        api(sale_park), json={**new, "pool_codes": ["park-daily"]}, headers=headers(client)
    )
    assert made.status_code == 201 and made.json()["pool_codes"] == ["park-daily"]


def test_the_editor_shows_and_saves_the_limits(client, sale_park, migrated, manager) -> None:
    editor_url = f"/p/{sale_park}/console/catalog/annual-card"
    page = client.get(editor_url, headers=html("en"))
    assert page.status_code == 200 and "Capacity and selling limits" in page.text
    assert '<input type="checkbox" name="pool_codes" value="park-daily">' in page.text
    assert (
        'id="id_limit_per_day" name="id_limit_per_day" inputmode="numeric" value="1"' in page.text
    )
    zh = client.get(editor_url, headers=html("zh-CN"))
    assert "容量与销售限制" in zh.text and "热门产品：前置 Redis 闸门" in zh.text

    form = form_fields(page.text, editor_url)
    assert form["pool_codes"] == [""]  # only the hidden field: no pool ticked
    form.update(daily_capacity=["abc"], id_limit_per_day=["2"], pool_codes=["", "park-daily"])
    refused = client.post(editor_url, data=form, headers=csrf(client, "zh-CN"))
    assert refused.status_code == 422
    assert 'id="daily_capacity-error" data-code="invalid_capacity"' in refused.text
    assert "日容量留空（不限量）或填写" in refused.text
    assert 'value="abc"' in refused.text  # what was typed stays
    assert '<input type="checkbox" name="pool_codes" value="park-daily" checked' in refused.text

    tampered = client.post(
        editor_url,
        data={**form, "daily_capacity": [""], "pool_codes": ["", "nowhere"]},
        headers=csrf(client),
    )
    assert tampered.status_code == 422
    assert 'data-code="unknown_pool">Unknown pool: choose from the park\'s pools.' in tampered.text

    saved = client.post(
        editor_url,
        data={**form, "daily_capacity": ["50"], "flash_sale": ["on"]},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    stored = client.get(api(sale_park, "annual-card")).json()
    assert stored["daily_capacity"] == 50 and stored["pool_codes"] == ["park-daily"]
    assert stored["id_limit_per_day"] == 2 and stored["flash_sale"] is True

    again = form_fields(client.get(editor_url, headers=html("en")).text, editor_url)
    assert again["daily_capacity"] == ["50"] and again["pool_codes"] == ["", "park-daily"]
    assert again["flash_sale"] == ["on"]
    # Unticking everything clears: no pools, no gate, no limit of its own.
    del again["flash_sale"]
    again.update(daily_capacity=[""], pool_codes=[""])
    assert client.post(editor_url, data=again, headers=csrf(client)).status_code == 200
    stored = client.get(api(sale_park, "annual-card")).json()
    assert stored["daily_capacity"] is None and stored["pool_codes"] == []
    assert stored["flash_sale"] is False


def test_a_daily_capacity_set_in_the_editor_limits_sales(client, sale_park, manager) -> None:
    editor_url = f"/p/{sale_park}/console/catalog/day-ticket"
    form = form_fields(client.get(editor_url, headers=html("en")).text, editor_url)
    form["daily_capacity"] = ["2"]
    saved = client.post(editor_url, data=form, headers=csrf(client), follow_redirects=False)
    assert saved.status_code == 303, saved.text
    day = open_weekday(60)
    fits = client.post(
        f"/p/{sale_park}/api/v1/orders",
        json=order_body("day-ticket", day, [{"unit": "adult", "quantity": 2}]),
    )
    assert fits.status_code == 201, fits.text
    one_more = client.post(
        f"/p/{sale_park}/api/v1/orders",
        json=order_body("day-ticket", day, [{"unit": "child", "quantity": 1}]),
    )
    assert one_more.status_code == 409 and one_more.json()["error"]["code"] == "sold_out"
