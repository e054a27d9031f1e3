"""The product editor's image upload and its quote preview."""

from __future__ import annotations

import re
import struct
import zlib
from datetime import date, timedelta
from urllib.parse import urlsplit

import pytest

from tests.conftest import sign_in
from tests.tenants.catalog.catalog_support import (  # noqa: F401 (fixtures)
    audit,
    csrf,
    fixture_client,
    fixture_slug,
)
from tests.tenants.catalog.helpers import add_product, park_today, set_day
from vistapass.platform.console.i18n import translations
from vistapass.platform.pricing_registry import get_mode
from vistapass.platform.storage import storage_from_settings

HTML = {"accept": "text/html", "accept-language": "en"}
JSON = {"accept": "application/json"}
# A lossless 1x1 WebP: RIFF header, then one VP8L chunk.
WEBP = (
    b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00"
    b"\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
)


def tiny_png() -> bytes:
    """A valid 1x1 PNG, built by hand so the test needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x1f\x6f\x43")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def product_json(client, slug: str, code: str) -> dict:
    response = client.get(f"/p/{slug}/api/v1/catalog/products/{code}")
    assert response.status_code == 200, response.text
    return response.json()


def upload(client, slug: str, code: str, name: str, data: bytes, accept: dict[str, str]):
    return client.post(
        f"/p/{slug}/console/catalog/{code}/image",
        files={"image": (name, data, "application/octet-stream")},
        headers=csrf(client, accept),
        follow_redirects=False,
    )


def test_an_image_is_stored_shown_downloadable_and_replaced(
    client, migrated, slug, make_member, db_run
) -> None:
    manager = make_member(slug, "manager")
    sign_in(client, migrated, manager)
    code = db_run(lambda db: add_product(db, slug, mode="per_visit", status="draft"))
    assert product_json(client, slug, code)["image_url"] is None
    png = tiny_png()

    response = upload(client, slug, code, "photo.bin", png, HTML)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/p/{slug}/console/catalog/{code}?saved=1"
    signed = urlsplit(product_json(client, slug, code)["image_url"])
    key = signed.path.removeprefix("/storage/")
    assert key.startswith(f"t/{slug}/products/{code}-") and key.endswith(".png")
    download = client.get(f"{signed.path}?{signed.query}")
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png" and download.content == png
    page = client.get(f"/p/{slug}/console/catalog/{code}", headers=HTML)
    assert f"/storage/{key}?" in page.text and 'enctype="multipart/form-data"' in page.text

    entry = audit(client, slug, "product.image_updated")[0]
    assert entry["target"] == f"product:{code}" and entry["actor"] == manager.email
    assert entry["before"] == {"image_key": None} and entry["after"]["image_key"] == key

    # A new image replaces the old file once the change has committed.
    assert upload(client, slug, code, "photo.webp", WEBP, JSON).status_code == 303
    new_key = urlsplit(product_json(client, slug, code)["image_url"]).path.removeprefix("/storage/")
    assert new_key.endswith(".webp")
    storage = storage_from_settings(migrated)
    assert storage.exists(new_key) and not storage.exists(key)


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("fake.png", b"just some text, not an image\n" * 4, "invalid_image"),
        ("x.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "invalid_image"),
        ("big.png", tiny_png() + b"\x00" * (2 * 1024 * 1024), "image_too_large"),
    ],
)
def test_bad_or_large_images_are_refused(
    client, migrated, slug, make_member, db_run, name, data, code
) -> None:
    sign_in(client, migrated, make_member(slug, "owner"))
    product = db_run(lambda db: add_product(db, slug, mode="per_visit", status="draft"))
    api = upload(client, slug, product, name, data, JSON)
    assert api.status_code == 422 and api.json()["error"]["code"] == code
    page = upload(client, slug, product, name, data, HTML)
    assert page.status_code == 422 and f'data-code="{code}"' in page.text
    assert product_json(client, slug, product)["image_url"] is None
    assert not [e for e in audit(client, slug, "product.image_updated") if product in e["target"]]


def test_a_viewer_cannot_upload_but_sees_no_form(
    client, migrated, slug, make_member, db_run
) -> None:
    sign_in(client, migrated, make_member(slug, "viewer"))
    code = db_run(lambda db: add_product(db, slug, mode="per_visit", status="draft"))
    response = upload(client, slug, code, "photo.png", tiny_png(), JSON)
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    page = client.get(f"/p/{slug}/console/catalog/{code}", headers=HTML)
    assert page.status_code == 200 and f"/catalog/{code}/image" not in page.text
    assert f"/catalog/{code}/preview" in page.text
    chinese = translations("zh-CN")
    assert chinese.gettext("Quote preview") == "报价预览"
    assert chinese.gettext("Product image") == "产品图片"


def next_weekday(start: date, weekday: int) -> date:
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def preview(client, slug: str, code: str, day: date, **quantities: str):
    form = {"date": day.isoformat(), "slot": "", "channel": "web"}
    form.update({f"qty_{unit}": n for unit, n in quantities.items()})
    return client.post(
        f"/p/{slug}/console/catalog/{code}/preview", data=form, headers=csrf(client, HTML)
    )


def cell(text: str, unit: str, name: str) -> str:
    row = re.search(rf'<tr data-unit="{unit}">(.*?)</tr>', text, re.S)
    assert row, text
    found = re.search(rf'class="{name}">([^<]*)<', row.group(1))
    assert found, row.group(1)
    return found.group(1)


def test_preview_itemises_weekend_and_weekday_prices(
    client, migrated, slug, make_member, db_run
) -> None:
    # A viewer may preview: reading prices changes nothing.
    sign_in(client, migrated, make_member(slug, "viewer"))
    config = get_mode("per_visit").validate_config(
        {"prices": {"adult": 10000, "child": 5000}, "weekend_prices": {"adult": 14000}}
    )
    code = db_run(lambda db: add_product(db, slug, mode="per_visit", config=dict(config)))
    # Kinds set explicitly, so a statutory holiday or 调休 day cannot change the answer.
    saturday = next_weekday(park_today() + timedelta(days=7), 5)
    wednesday = saturday + timedelta(days=4)
    db_run(lambda db: set_day(db, slug, saturday, is_open=True, kind="weekend"))
    db_run(lambda db: set_day(db, slug, wednesday, is_open=True, kind="weekday"))

    weekend = preview(client, slug, code, saturday, adult="2", child="1")
    assert weekend.status_code == 200, weekend.text
    assert weekend.headers["content-type"].startswith("text/html")
    assert 'data-day-kind="weekend"' in weekend.text
    assert cell(weekend.text, "adult", "base-price") == "¥100.00"
    assert cell(weekend.text, "adult", "unit-price") == "¥140.00"
    assert cell(weekend.text, "adult", "line-total") == "¥280.00"
    assert cell(weekend.text, "child", "line-total") == "¥50.00"
    assert re.search(r'<li data-code="weekend">[^<]*: ¥40\.00</li>', weekend.text)
    assert '<td id="preview-total">¥330.00</td>' in weekend.text
    # The values asked for stay in the form.
    assert 'name="qty_adult" inputmode="numeric" value="2"' in weekend.text

    weekday = preview(client, slug, code, wednesday, adult="2", child="1")
    assert weekday.status_code == 200, weekday.text
    assert 'data-day-kind="weekday"' in weekday.text
    assert cell(weekday.text, "adult", "unit-price") == "¥100.00"
    assert 'data-code="weekend"' not in weekday.text
    assert '<td id="preview-total">¥250.00</td>' in weekday.text

    # The same basket through the public API costs the same.
    api = client.post(
        f"/p/{slug}/api/v1/quotes",
        json={
            "product": code,
            "date": saturday.isoformat(),
            "lines": [{"unit": "adult", "quantity": 2}, {"unit": "child", "quantity": 1}],
        },
    )
    assert api.status_code == 200 and api.json()["total"] == 33000


def test_preview_shows_the_refusal_of_a_closed_day_or_a_draft(
    client, migrated, slug, make_member, db_run
) -> None:
    sign_in(client, migrated, make_member(slug, "manager"))
    config = get_mode("per_visit").validate_config({"prices": {"adult": 10000}})
    code = db_run(lambda db: add_product(db, slug, mode="per_visit", config=dict(config)))
    closed = park_today() + timedelta(days=40)
    db_run(lambda db: set_day(db, slug, closed, is_open=False, note="maintenance"))
    refused = preview(client, slug, code, closed, adult="1")
    assert refused.status_code == 422
    assert 'data-code="park_closed"' in refused.text
    assert "The park is closed on that date." in refused.text
    assert 'id="preview-quote"' not in refused.text

    # quote_basket has no way to price a draft: the console shows the API's refusal.
    draft = db_run(
        lambda db: add_product(db, slug, mode="per_visit", config=dict(config), status="draft")
    )
    open_day = park_today() + timedelta(days=41)
    db_run(lambda db: set_day(db, slug, open_day, is_open=True))
    refused = preview(client, slug, draft, open_day, adult="1")
    assert refused.status_code == 422 and 'data-code="product_not_found"' in refused.text
