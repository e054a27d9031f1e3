"""The catalogue console: the new-product form, the editor with its mode-built
configuration form and units table, and the calendar page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.conftest import sign_in
from tests.tenants.catalog.catalog_support import (  # noqa: F401 (fixtures)
    FAKE,
    csrf,
    enable_fake,
    fixture_client,
    fixture_fake_mode,
    fixture_slug,
)

HTML = {"accept": "text/html", "accept-language": "en"}


def page_url(slug: str, path: str = "") -> str:
    return f"/p/{slug}/console/{path}"


def product(client, slug: str, code: str) -> dict:
    response = client.get(f"/p/{slug}/api/v1/catalog/products/{code}")
    assert response.status_code == 200, response.text
    return response.json()


def edit_form(**changes: str) -> dict[str, object]:
    form: dict[str, object] = {
        "name_zh": "日票",
        "name_en": "Day ticket",
        "description_zh": "",
        "description_en": "",
        "status": "draft",
        "pricing_mode": FAKE,
        "channels": ["web", "window"],
        "sale_from": "2026-01-01",
        "sale_to": "2026-12-31",
        "visit_from": "",
        "visit_to": "",
        "tax_rate_bp": "600",
        "refund_kind": "fee",
        "refund_hours": "",
        "refund_percent": "10",
        "real_name_required": "on",
        "sort_order": "3",
        "cfg.price": "8000",
        "cfg.peak": "on",
        "cfg.tier": "b",
        "cfg.blackout": "2026-10-01\n2026-10-02",
        "cfg.prices": '{"adult": 8000, "child": 4000}',
    }
    form.update(changes)
    return form


def test_new_product_and_edit_round_trip(client, migrated, slug, make_member, fake_mode) -> None:
    sign_in(client, migrated, make_member(slug, "manager"))
    enable_fake(client, slug)
    listing = client.get(page_url(slug, "catalog"), headers=HTML)
    assert listing.status_code == 200 and listing.headers["content-type"].startswith("text/html")
    assert 'name="_csrf_token"' in listing.text and f'<option value="{FAKE}"' in listing.text
    chinese = client.get(page_url(slug, "catalog"), headers={"accept-language": "zh-CN"})
    assert "新建产品" in chinese.text and "计价方式" in chinese.text

    new = {"code": "console-day", "name_zh": "日票", "name_en": "Day", "pricing_mode": FAKE}
    unprotected = client.post(page_url(slug, "catalog/"), data=new, headers=HTML)
    assert unprotected.status_code == 403  # no CSRF token, nothing created
    created = client.post(
        page_url(slug, "catalog/"), data=new, headers=csrf(client, HTML), follow_redirects=False
    )
    assert created.status_code == 303, created.text
    assert created.headers["location"] == f"/p/{slug}/console/catalog/console-day"
    again = client.post(page_url(slug, "catalog/"), data=new, headers=csrf(client, HTML))
    assert again.status_code == 409 and "already called" in again.text

    editor = client.get(page_url(slug, "catalog/console-day"), headers=HTML)
    assert editor.status_code == 200
    # The configuration form comes from the mode's config_fields, one control per kind.
    fields = re.findall(r'data-field="(\w+)" data-kind="(\w+)"', editor.text)
    assert fields == [
        ("price", "money"),
        ("peak", "boolean"),
        ("tier", "choice"),
        ("blackout", "dates"),
        ("prices", "json"),
    ]
    assert '<input id="cfg.price" name="cfg.price"' in editor.text
    assert 'type="checkbox" id="cfg.peak" name="cfg.peak"' in editor.text
    assert '<select id="cfg.tier" name="cfg.tier"' in editor.text
    assert '<textarea id="cfg.prices" name="cfg.prices"' in editor.text
    assert "Prices per unit" in editor.text

    saved = client.post(
        page_url(slug, "catalog/console-day"),
        data=edit_form(),
        headers=csrf(client, HTML),
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    stored = product(client, slug, "console-day")
    assert stored["pricing_config"] == {
        "price": 8000,
        "peak": True,
        "tier": "b",
        "blackout": ["2026-10-01", "2026-10-02"],
        "prices": {"adult": 8000, "child": 4000},
    }
    assert stored["name_en"] == "Day ticket" and stored["channels"] == ["web", "window"]
    assert stored["refund_policy"] == {"kind": "fee", "percent": 10}
    assert stored["tax_rate_bp"] == 600 and stored["real_name_required"] is True
    assert stored["face_required"] is False and stored["sort_order"] == 3
    shown = client.get(page_url(slug, "catalog/console-day"), headers=HTML).text
    assert "&#34;child&#34;: 4000" in shown or '"child": 4000' in shown


def test_config_errors_show_next_to_their_field(
    client, migrated, slug, make_member, fake_mode
) -> None:
    sign_in(client, migrated, make_member(slug, "owner"))
    enable_fake(client, slug)
    new = {"code": "console-errors", "name_zh": "票", "name_en": "T", "pricing_mode": FAKE}
    assert client.post(page_url(slug, "catalog/"), data=new, headers=csrf(client, HTML))
    url = page_url(slug, "catalog/console-errors")

    unreadable = client.post(
        url, data=edit_form(**{"cfg.prices": "{adult"}), headers=csrf(client, HTML)
    )
    assert unreadable.status_code == 422
    assert '<p class="error" id="cfg.prices-error">Valid JSON.</p>' in unreadable.text
    assert "{adult" in unreadable.text  # what was typed is kept

    refused = client.post(url, data=edit_form(**{"cfg.price": "-5"}), headers=csrf(client, HTML))
    assert refused.status_code == 422
    assert 'id="cfg.price-error">The price is a whole number of fen' in refused.text
    window = client.post(url, data=edit_form(sale_to="2025-01-01"), headers=csrf(client, HTML))
    assert window.status_code == 422 and 'id="sale_to-error"' in window.text
    assert product(client, slug, "console-errors")["pricing_config"] == {}


def test_units_table_editor(client, migrated, slug, make_member, fake_mode) -> None:
    sign_in(client, migrated, make_member(slug, "manager"))
    enable_fake(client, slug)
    new = {"code": "console-units", "name_zh": "票", "name_en": "T", "pricing_mode": FAKE}
    assert client.post(page_url(slug, "catalog/"), data=new, headers=csrf(client, HTML))
    url = page_url(slug, "catalog/console-units/units")
    rows = {
        "rows": "3",
        "units-0-unit": "adult",
        "units-0-label_zh": "成人",
        "units-0-label_en": "Adult",
        "units-1-unit": "child",
        "units-1-label_zh": "儿童",
        "units-1-label_en": "Child",
        "units-1-min_age": "6",
        "units-1-max_age": "17",
        "units-2-unit": "",
    }
    saved = client.post(url, data=rows, headers=csrf(client, HTML), follow_redirects=False)
    assert saved.status_code == 303, saved.text
    units = product(client, slug, "console-units")["units"]
    assert [(u["unit"], u["min_age"], u["max_age"]) for u in units] == [
        ("adult", None, None),
        ("child", 6, 17),
    ]
    bad = client.post(url, data={**rows, "units-1-max_age": "3"}, headers=csrf(client, HTML))
    assert bad.status_code == 422 and "is below" in bad.text


def test_a_viewer_sees_no_forms(client, migrated, slug, make_member) -> None:
    sign_in(client, migrated, make_member(slug, "viewer"))
    listing = client.get(page_url(slug, "catalog"), headers=HTML)
    assert listing.status_code == 200 and "Create product" not in listing.text
    refused = client.post(
        page_url(slug, "catalog/"),
        data={"code": "v"},
        headers=csrf(client, {"accept": "application/json"}),
    )
    assert refused.status_code == 403


def test_a_calendar_override_set_by_api_shows_on_the_calendar(
    client, migrated, slug, make_member
) -> None:
    sign_in(client, migrated, make_member(slug, "manager"))
    day = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    response = client.put(
        f"/p/{slug}/api/v1/catalog/calendar/{day}",
        json={"is_open": False, "kind": "holiday", "note": "Maintenance"},
        headers=csrf(client),
    )
    assert response.status_code == 200, response.text
    page = client.get(page_url(slug, "calendar"), headers=HTML)
    assert page.status_code == 200
    assert f'data-override="{day}"' in page.text and "Maintenance" in page.text
    row = re.search(rf'<tr data-day="{day}">(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert "holiday" in row[1] and "Closed" in row[1] and "Override" in row[1]

    removed = client.post(
        page_url(slug, f"calendar/days/{day}/delete"),
        headers=csrf(client, HTML),
        follow_redirects=False,
    )
    assert removed.status_code == 303
    assert f'data-override="{day}"' not in client.get(page_url(slug, "calendar")).text


def test_calendar_forms_save_hours_and_overrides(client, migrated, slug, make_member) -> None:
    sign_in(client, migrated, make_member(slug, "owner"))
    form = {f"wd-{d}-open": "on" for d in range(6)}
    form.update({f"wd-{d}-opens_at": "09:00" for d in range(7)})
    form.update({f"wd-{d}-closes_at": "18:00" for d in range(7)})
    saved = client.post(
        page_url(slug, "calendar/hours"),
        data=form,
        headers=csrf(client, HTML),
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    week = client.get(f"/p/{slug}/api/v1/catalog/opening-hours").json()["days"]
    assert [d["is_open"] for d in week] == [True] * 6 + [False]
    # A post without the times is not the page's form: it must not close the week.
    partial = client.post(
        page_url(slug, "calendar/hours"), data={"wd-0-open": "on"}, headers=csrf(client, HTML)
    )
    assert partial.status_code == 422
    assert client.get(f"/p/{slug}/api/v1/catalog/opening-hours").json()["days"] == week
    assert week[2]["opens_at"] == "09:00"

    bad = client.post(
        page_url(slug, "calendar/days"),
        data={"day": "2026-02-30", "is_open": "closed", "kind": "", "note": ""},
        headers=csrf(client, HTML),
    )
    assert bad.status_code == 422 and "is not a date" in bad.text
    good = client.post(
        page_url(slug, "calendar/days"),
        data={
            "day": "2027-02-01",
            "is_open": "open",
            "opens_at": "10:00",
            "closes_at": "16:00",
            "kind": "weekend",
            "note": "Lantern fair",
        },
        headers=csrf(client, HTML),
        follow_redirects=False,
    )
    assert good.status_code == 303, good.text
    stored = client.get(f"/p/{slug}/api/v1/catalog/calendar/2027-02-01").json()
    assert stored["kind"] == "weekend" and stored["opens_at"] == "10:00"
