"""The catalogue API: products of every mode, validation, units, modes, the calendar,
who may write, and the audit trail."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.conftest import sign_in
from tests.tenants.catalog.catalog_support import (  # noqa: F401 (fixtures)
    FAKE,
    audit,
    csrf,
    enable_fake,
    fixture_client,
    fixture_fake_mode,
    fixture_slug,
)
from vistapass.platform import pricing_registry

API = "/p/{slug}/api/v1/catalog"


def api(slug: str, path: str) -> str:
    return API.format(slug=slug) + path


def create(client: TestClient, slug: str, **fields: Any) -> Any:
    return client.post(api(slug, "/products"), json=fields, headers=csrf(client))


def error(response: Any) -> dict[str, Any]:
    return response.json()["error"]


def test_a_manager_creates_a_product_of_each_mode(
    client, migrated, slug, make_member, fake_mode
) -> None:
    sign_in(client, migrated, make_member(slug, "manager"))
    enable_fake(client, slug)
    listed = client.get(api(slug, "/pricing-modes")).json()["items"]
    assert {m["key"] for m in listed} == set(pricing_registry.pricing_modes())
    fake = next(m for m in listed if m["key"] == FAKE)
    assert fake["enabled"] is True and fake["built_in"] is False
    assert [f["name"] for f in fake["config_fields"]] == [
        "price",
        "peak",
        "tier",
        "blackout",
        "prices",
    ]
    assert fake["config_fields"][2] == {
        "name": "tier",
        "kind": "choice",
        "label_zh": "档位",
        "label_en": "Tier",
        "required": False,
        "default": "a",
        "choices": ["a", "b"],
        "help_zh": "",
        "help_en": "",
    }

    for mode in listed:
        code = "each-" + mode["key"].replace("_", "-")
        response = create(
            client, slug, code=code, name_zh="票", name_en="Ticket", pricing_mode=mode["key"]
        )
        assert response.status_code == 201, response.text
        assert response.json()["pricing_mode"] == mode["key"]
        assert response.json()["status"] == "draft"
    codes = {p["code"] for p in client.get(api(slug, "/products")).json()["items"]}
    assert {"each-" + m["key"].replace("_", "-") for m in listed} <= codes

    response = create(
        client,
        slug,
        code="fake-full",
        name_zh="全票",
        name_en="Full",
        pricing_mode=FAKE,
        pricing_config={
            "price": 12000,
            "prices": {"adult": 12000},
            "blackout": ["2026-10-02", "2026-10-01"],
        },
        channels=["ota:ctrip", "web"],
        sale_from="2026-01-01",
        sale_to="2026-12-31",
        tax_rate_bp=600,
        refund_policy={"kind": "free_until", "hours": 24},
        real_name_required=True,
        status="on_sale",
    )
    assert response.status_code == 201, response.text
    product = response.json()
    assert product["pricing_config"] == {
        "price": 12000,
        "peak": False,
        "tier": "a",
        "blackout": ["2026-10-01", "2026-10-02"],
        "prices": {"adult": 12000},
    }
    assert product["channels"] == ["web", "ota:ctrip"]  # in the canonical order
    assert product["refund_policy"] == {"kind": "free_until", "hours": 24}
    assert product["sale_to"] == "2026-12-31" and product["real_name_required"] is True


def test_bad_products_are_refused_with_the_rule_they_break(
    client, migrated, slug, make_member, fake_mode
) -> None:
    sign_in(client, migrated, make_member(slug, "owner"))
    enable_fake(client, slug)
    base = {"code": "bad-one", "name_zh": "票", "name_en": "Ticket", "pricing_mode": FAKE}
    cases = [
        ({"pricing_config": {"price": -1}}, 422, "invalid_price", "price"),
        ({"pricing_config": {"price": 1, "prices": []}}, 422, "invalid_prices", "prices"),
        ({"pricing_mode": "no_such_mode"}, 422, "unknown_pricing_mode", "pricing_mode"),
        ({"code": "Bad Code"}, 422, "invalid_code", "code"),
        ({"name_en": "  "}, 422, "name_required", "name_en"),
        ({"channels": ["web", "ota:taobao"]}, 422, "invalid_channel", "channels"),
        ({"sale_from": "2026-05-02", "sale_to": "2026-05-01"}, 422, "invalid_window", "sale_to"),
        ({"visit_from": "2026-05-02", "visit_to": "2026-05-01"}, 422, "invalid_window", "visit_to"),
        ({"tax_rate_bp": 10001}, 422, "invalid_tax_rate", "tax_rate_bp"),
        (
            {"refund_policy": {"kind": "fee", "percent": 101}},
            422,
            "invalid_refund_policy",
            "refund_policy",
        ),
        (
            {"refund_policy": {"kind": "free_until", "hours": 721}},
            422,
            "invalid_refund_policy",
            "refund_policy",
        ),
        ({"status": "sold_out"}, 422, "invalid_status", "status"),
    ]
    for change, status, code, field in cases:
        response = create(client, slug, **{**base, **change})
        assert response.status_code == status, (change, response.text)
        assert error(response)["code"] == code, change
        assert error(response)["details"]["field"] == field, change

    assert create(client, slug, **base).status_code == 201
    taken = create(client, slug, **base)
    assert taken.status_code == 409 and error(taken)["code"] == "product_code_taken"
    missing = client.get(api(slug, "/products/no-such"))
    assert missing.status_code == 404 and error(missing)["code"] == "product_not_found"

    # Selling needs a configuration the mode accepts.
    on_sale = client.patch(
        api(slug, "/products/bad-one"), json={"status": "on_sale"}, headers=csrf(client)
    )
    assert on_sale.status_code == 422 and error(on_sale)["details"]["field"] == "price"


def test_units_are_replaced_in_one_go(client, migrated, slug, make_member, fake_mode) -> None:
    sign_in(client, migrated, make_member(slug, "manager"))
    enable_fake(client, slug)
    assert create(client, slug, code="units", name_zh="票", name_en="T", pricing_mode=FAKE)
    url = api(slug, "/products/units/units")
    adult = {"unit": "adult", "label_zh": "成人票", "label_en": "Adult", "min_age": 18}
    child = {
        "unit": "child",
        "label_zh": "儿童票",
        "label_en": "Child",
        "min_age": 6,
        "max_age": 17,
        "min_height_cm": 120,
        "max_height_cm": 150,
        "eligibility_zh": "6-17 岁",
        "eligibility_en": "Aged 6 to 17",
    }
    saved = client.put(url, json={"units": [adult, child]}, headers=csrf(client))
    assert saved.status_code == 200, saved.text
    assert [u["unit"] for u in saved.json()["units"]] == ["adult", "child"]
    assert saved.json()["units"][1]["max_height_cm"] == 150

    bad = [
        ([{**child, "min_age": 18}], 0, "max_age"),
        ([{**adult, "min_age": 121}], 0, "min_age"),
        ([adult, {**child, "max_height_cm": 251}], 1, "max_height_cm"),
        ([{**adult, "unit": "pet"}], 0, "unit"),
        ([{**adult, "label_en": ""}], 0, "label_en"),
        ([adult, adult], 1, "unit"),
    ]
    for units, index, field in bad:
        response = client.put(url, json={"units": units}, headers=csrf(client))
        assert response.status_code == 422, units
        assert error(response)["code"] == "invalid_unit"
        assert error(response)["details"] == {"index": index, "field": field}
    kept = client.get(api(slug, "/products/units")).json()["units"]
    assert [u["unit"] for u in kept] == ["adult", "child"]

    only = client.put(url, json={"units": [child]}, headers=csrf(client))
    assert [u["unit"] for u in only.json()["units"]] == ["child"]


def test_viewers_and_cashiers_read_but_cannot_write(
    client, migrated, slug, make_member, fake_mode
) -> None:
    for role in ("viewer", "cashier"):
        sign_in(client, migrated, make_member(slug, role))
        assert client.get(api(slug, "/products")).status_code == 200
        assert client.get(api(slug, "/pricing-modes")).status_code == 200
        assert client.get(api(slug, "/opening-hours")).status_code == 200
        writes = [
            create(client, slug, code="nope", name_zh="票", name_en="T", pricing_mode=FAKE),
            client.patch(api(slug, "/products/x"), json={}, headers=csrf(client)),
            client.put(api(slug, "/products/x/units"), json={"units": []}, headers=csrf(client)),
            client.put(api(slug, "/pricing-modes"), json={"modes": {}}, headers=csrf(client)),
            client.put(api(slug, "/opening-hours"), json={"days": []}, headers=csrf(client)),
            client.put(api(slug, "/calendar/2026-10-01"), json={}, headers=csrf(client)),
            client.delete(api(slug, "/calendar/2026-10-01"), headers=csrf(client)),
        ]
        for response in writes:
            assert response.status_code == 403, (role, response.request.url)
            assert error(response)["code"] == "forbidden"


def test_changes_are_audited(client, migrated, slug, make_member, fake_mode) -> None:
    sign_in(client, migrated, make_member(slug, "owner"))
    enable_fake(client, slug)
    assert (
        create(
            client,
            slug,
            code="audited",
            name_zh="票",
            name_en="T",
            pricing_mode=FAKE,
            pricing_config={"price": 100},
        ).status_code
        == 201
    )
    created = audit(client, slug, "product.created")[0]
    assert created["target"] == "product:audited" and created["after"]["name_en"] == "T"

    changed = client.patch(
        api(slug, "/products/audited"),
        json={"name_en": "Day ticket", "status": "on_sale", "name_zh": "票"},
        headers=csrf(client),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["changed"] == ["name_en", "status"]
    updated = audit(client, slug, "product.updated")[0]
    assert updated["target"] == "product:audited"
    assert updated["before"] == {"name_en": "T"} and updated["after"] == {"name_en": "Day ticket"}
    status = audit(client, slug, "product.status_changed")[0]
    assert (status["before"], status["after"]) == ({"status": "draft"}, {"status": "on_sale"})

    off = client.put(
        api(slug, "/pricing-modes"), json={"modes": {FAKE: False}}, headers=csrf(client)
    )
    assert off.status_code == 200
    assert next(m for m in off.json()["items"] if m["key"] == FAKE)["enabled"] is False
    assert audit(client, slug, "pricing_mode.disabled")[0]["target"] == f"pricing_mode:{FAKE}"
    refused = create(client, slug, code="while-off", name_zh="票", name_en="T", pricing_mode=FAKE)
    assert refused.status_code == 422 and error(refused)["code"] == "pricing_mode_disabled"
    enable_fake(client, slug)
    assert audit(client, slug, "pricing_mode.enabled")[0]["after"] == {"enabled": True}
    unknown = client.put(
        api(slug, "/pricing-modes"), json={"modes": {"nope": True}}, headers=csrf(client)
    )
    assert unknown.status_code == 422 and error(unknown)["code"] == "unknown_pricing_mode"


def test_opening_hours_and_calendar_overrides(client, migrated, slug, make_member) -> None:
    sign_in(client, migrated, make_member(slug, "manager"))
    week = client.get(api(slug, "/opening-hours")).json()["days"]
    assert [d["weekday"] for d in week] == list(range(7))
    saved = client.put(
        api(slug, "/opening-hours"),
        json={
            "days": [
                {"weekday": 0, "is_open": False},
                {"weekday": 5, "opens_at": "07:00", "closes_at": "19:00"},
            ]
        },
        headers=csrf(client),
    )
    assert saved.status_code == 200, saved.text
    days = saved.json()["days"]
    assert days[0]["is_open"] is False
    assert (days[5]["opens_at"], days[5]["closes_at"]) == ("07:00", "19:00")
    backwards = client.put(
        api(slug, "/opening-hours"),
        json={"days": [{"weekday": 1, "opens_at": "18:00", "closes_at": "08:00"}]},
        headers=csrf(client),
    )
    assert backwards.status_code == 422 and error(backwards)["code"] == "invalid_hours"
    assert audit(client, slug, "calendar.updated")[0]["target"] == "opening_hours"

    url = api(slug, "/calendar/2026-10-08")
    put = client.put(
        url, json={"is_open": True, "kind": "holiday", "note": "Golden week"}, headers=csrf(client)
    )
    assert put.status_code == 200, put.text
    assert client.get(url).json() == {
        "day": "2026-10-08",
        "is_open": True,
        "opens_at": None,
        "closes_at": None,
        "kind": "holiday",
        "note": "Golden week",
    }
    assert audit(client, slug, "calendar.updated")[0]["target"] == "calendar:2026-10-08"
    bad_kind = client.put(url, json={"kind": "festival"}, headers=csrf(client))
    assert bad_kind.status_code == 422 and error(bad_kind)["details"]["field"] == "kind"
    bad_day = client.get(api(slug, "/calendar/x"))
    assert bad_day.status_code == 422 and error(bad_day)["code"] == "invalid_date"
    assert client.delete(url, headers=csrf(client)).status_code == 204
    gone = client.get(url)
    assert gone.status_code == 404 and error(gone)["code"] == "calendar_day_not_found"
