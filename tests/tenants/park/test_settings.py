"""The park settings page and API: who may change what, validation, audit and the logo."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from litestar.testing import TestClient

from tests.conftest import Member, sign_in
from tests.platform.audit.conftest import new_park
from vistapass.platform.app import create_app
from vistapass.platform.settings import Settings
from vistapass.platform.storage import storage_from_settings
from vistapass.tenants.park.settings_service import contrast_with_white

HTML = {"accept": "text/html", "accept-language": "en"}
JSON = {"accept": "application/json"}


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


@pytest.fixture(scope="module")
def slug(migrated: Settings) -> str:
    # A park of its own: other suites expect alpha's name and zone unchanged.
    return new_park(migrated, "settings")


@pytest.fixture(scope="module")
def manager(slug: str, make_member_module) -> Member:
    return make_member_module(slug, "manager")


@pytest.fixture
def client(migrated: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as test_client:
        test_client.get("/healthz")  # the CSRF cookie
        yield test_client


def csrf(client: TestClient, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken") or "", **(extra or {})}


def current(client: TestClient, slug: str) -> dict[str, Any]:
    response = client.get(f"/p/{slug}/api/v1/settings")
    assert response.status_code == 200, response.text
    return response.json()


def form_of(settings: dict[str, Any], **changes: Any) -> dict[str, Any]:
    form = {
        "display_name": settings["display_name"],
        "brand_primary": settings["brand_primary"],
        "brand_accent": settings["brand_accent"],
        "time_zone": settings["time_zone"],
        "currency": settings["currency"],
        "languages": settings["languages"],
        "contact_phone": settings["contact_phone"] or "",
        "contact_email": settings["contact_email"] or "",
        "contact_address": settings["contact_address"] or "",
    }
    form.update(changes)
    return form


def audit(client: TestClient, slug: str, action: str) -> list[dict[str, Any]]:
    response = client.get(f"/p/{slug}/api/v1/audit", params={"action": action, "limit": 200})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_a_viewer_reads_but_cannot_change(client, migrated, slug, make_member) -> None:
    sign_in(client, migrated, make_member(slug, "viewer"))
    page = client.get(f"/p/{slug}/console/settings", headers=HTML)
    assert page.status_code == 200
    assert "Settings Park" in page.text and "Save settings" not in page.text
    assert current(client, slug)["currency"] == "CNY"

    refused = [
        client.post(
            f"/p/{slug}/console/settings", data={"display_name": "X"}, headers=csrf(client, JSON)
        ),
        client.patch(
            f"/p/{slug}/api/v1/settings", json={"display_name": "X"}, headers=csrf(client)
        ),
        client.post(
            f"/p/{slug}/console/settings/logo",
            files={"logo": ("logo.png", tiny_png(), "image/png")},
            headers=csrf(client, JSON),
        ),
    ]
    for response in refused:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"


def test_a_manager_saves_and_the_change_is_audited(client, migrated, slug, manager) -> None:
    sign_in(client, migrated, manager)
    before = current(client, slug)
    form = form_of(
        before,
        display_name="湖畔花园",
        brand_primary="#0B5A8C",
        time_zone="Asia/Hong_Kong",
        contact_email="Info@Example.com",
    )
    response = client.post(
        f"/p/{slug}/console/settings", data=form, headers=csrf(client, HTML), follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/p/{slug}/console/settings?saved=1"

    after = current(client, slug)
    assert after["display_name"] == "湖畔花园"
    assert after["brand_primary"] == "#0b5a8c"
    assert after["time_zone"] == "Asia/Hong_Kong"
    assert after["contact_email"] == "info@example.com"
    assert after["currency"] == before["currency"]

    entry = audit(client, slug, "settings.updated")[0]
    assert entry["actor"] == manager.email
    assert entry["before"] == {
        "display_name": before["display_name"],
        "brand_primary": before["brand_primary"],
        "time_zone": before["time_zone"],
        "contact_email": None,
    }
    assert entry["after"] == {
        "display_name": "湖畔花园",
        "brand_primary": "#0b5a8c",
        "time_zone": "Asia/Hong_Kong",
        "contact_email": "info@example.com",
    }
    # Saving the same values again records nothing.
    count = len(audit(client, slug, "settings.updated"))
    again = client.post(
        f"/p/{slug}/console/settings",
        data=form_of(after),
        headers=csrf(client, HTML),
        follow_redirects=False,
    )
    assert again.status_code == 303
    assert len(audit(client, slug, "settings.updated")) == count
    page = client.get(again.headers["location"], headers=HTML)
    assert "Your changes are saved." in page.text and "湖畔花园" in page.text


def test_the_api_patches_only_what_it_is_given(client, migrated, slug, manager) -> None:
    sign_in(client, migrated, manager)
    before = current(client, slug)
    response = client.patch(
        f"/p/{slug}/api/v1/settings",
        json={"currency": "hkd", "languages": ["en"]},
        headers=csrf(client),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["currency"] == "HKD" and body["languages"] == ["en"]
    # The default language follows the languages on offer.
    assert body["default_locale"] == "en"
    assert body["changed"] == ["currency", "default_locale", "languages"]
    assert body["display_name"] == before["display_name"]
    entry = audit(client, slug, "settings.updated")[0]
    assert set(entry["after"]) == {"currency", "languages", "default_locale"}

    no_csrf = client.patch(f"/p/{slug}/api/v1/settings", json={"currency": "USD"})
    assert no_csrf.status_code == 403 and no_csrf.json()["error"]["code"] == "csrf_failed"


BAD = [
    ({"brand_primary": "green"}, "invalid_colour"),
    ({"brand_accent": "#12345"}, "invalid_colour"),
    ({"brand_primary": "#777777"}, "low_contrast"),
    ({"brand_primary": "#ffff00"}, "low_contrast"),
    ({"time_zone": "Mars/Olympus_Mons"}, "invalid_time_zone"),
    ({"currency": "BTC"}, "invalid_currency"),
    ({"currency": "cn"}, "invalid_currency"),
    ({"display_name": ""}, "invalid_display_name"),
    ({"display_name": "x" * 101}, "invalid_display_name"),
    ({"languages": []}, "invalid_languages"),
    ({"languages": ["fr"]}, "invalid_languages"),
    ({"contact_email": "not-an-email"}, "invalid_email"),
    ({"contact_phone": "call me"}, "invalid_phone"),
]


@pytest.mark.parametrize(("change", "code"), BAD)
def test_bad_values_are_refused_and_nothing_changes(
    client, migrated, slug, manager, change, code
) -> None:
    sign_in(client, migrated, manager)
    before = current(client, slug)
    entries = len(audit(client, slug, "settings."))
    # Valid changes alongside the bad one are not saved either.
    api = client.patch(
        f"/p/{slug}/api/v1/settings",
        json={"contact_address": "Gate 2", **change},
        headers=csrf(client),
    )
    assert api.status_code == 422
    error = api.json()["error"]
    assert error["code"] == code
    assert [e["field"] for e in error["details"]["errors"]] == list(change)

    page = client.post(
        f"/p/{slug}/console/settings",
        data=form_of(before, contact_address="Gate 2", **change),
        headers=csrf(client, HTML),
    )
    assert page.status_code == 422
    assert f'data-code="{code}"' in page.text and "Nothing was saved" in page.text
    assert current(client, slug) == before
    assert len(audit(client, slug, "settings.")) == entries


def test_contrast_is_measured_as_wcag_does() -> None:
    assert contrast_with_white("#000000") == pytest.approx(21.0)
    assert contrast_with_white("#ffffff") == pytest.approx(1.0)
    assert contrast_with_white("#767676") >= 4.5 > contrast_with_white("#777777")


def test_a_png_logo_is_stored_shown_and_downloadable(client, migrated, slug, manager) -> None:
    sign_in(client, migrated, manager)
    png = tiny_png()
    response = client.post(
        f"/p/{slug}/console/settings/logo",
        files={"logo": ("my logo.bin", png, "application/octet-stream")},
        headers=csrf(client, HTML),
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    settings = current(client, slug)
    key = settings["logo_key"]
    assert key.startswith(f"t/{slug}/branding/logo-") and key.endswith(".png")

    signed = urlsplit(settings["logo_url"])
    download = client.get(f"{signed.path}?{signed.query}")
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert download.content == png
    page = client.get(f"/p/{slug}/console/settings", headers=HTML)
    assert f"/storage/{key}?" in page.text

    entry = audit(client, slug, "settings.logo_updated")[0]
    assert entry["after"]["logo_key"] == key and entry["actor"] == manager.email

    # A new logo replaces the file of the old one.
    # A lossless 1x1 WebP: RIFF header, then one VP8L chunk.
    webp = (
        b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00"
        b"\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
    )
    replaced = client.post(
        f"/p/{slug}/console/settings/logo",
        files={"logo": ("logo.webp", webp, "image/webp")},
        headers=csrf(client, JSON),
        follow_redirects=False,
    )
    assert replaced.status_code == 303
    new_key = current(client, slug)["logo_key"]
    assert new_key.endswith(".webp")
    storage = storage_from_settings(migrated)
    assert storage.exists(new_key) and not storage.exists(key)


@pytest.mark.parametrize(
    ("upload", "code"),
    [
        (("logo.png", b"just some text, not an image\n" * 4, "image/png"), "invalid_logo"),
        (("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg"), "invalid_logo"),
        (("big.png", tiny_png() + b"\x00" * (2 * 1024 * 1024), "image/png"), "logo_too_large"),
    ],
)
def test_a_bad_logo_is_refused(client, migrated, slug, manager, upload, code) -> None:
    sign_in(client, migrated, manager)
    before = current(client, slug)["logo_key"]
    url = f"/p/{slug}/console/settings/logo"
    response = client.post(url, files={"logo": upload}, headers=csrf(client, JSON))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
    page = client.post(url, files={"logo": upload}, headers=csrf(client, HTML))
    assert page.status_code == 422 and f'data-code="{code}"' in page.text
    assert current(client, slug)["logo_key"] == before


def test_a_logo_form_without_a_file_is_refused(client, migrated, slug, manager) -> None:
    sign_in(client, migrated, manager)
    response = client.post(
        f"/p/{slug}/console/settings/logo", data={"logo": "x"}, headers=csrf(client, JSON)
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_logo"


def test_the_settings_page_is_in_chinese_by_default(client, migrated, slug, manager) -> None:
    sign_in(client, migrated, manager)
    page = client.get(f"/p/{slug}/console/settings")
    assert page.status_code == 200
    assert "保存设置" in page.text and "上传标志" in page.text
