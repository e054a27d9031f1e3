"""A park with the demo catalogue per test module, an app client, and helpers that fill
in the booking forms the way a browser without scripts would."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from litestar.testing import TestClient

from tests.conftest import run, unique_slug
from vistapass.platform.app import create_app
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.tenants.catalog.demo import seed_demo_catalog

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
CONTACT = {
    "contact_name": "Li Lei",
    "contact_email": "li.lei@example.com",
    "contact_phone": "13800000000",
}
# Valid GB 11643 numbers (check digits computed, birth dates real).
ID_A = "11010519491231002X"
ID_B = "110101199003071233"
ID_C = "320102198506124561"


@pytest.fixture(scope="module")
def booking_park(migrated: Settings) -> str:
    slug = unique_slug("book")

    async def prepare(db: Any) -> None:
        await provision_tenant(db, slug, "Booking Park")
        await seed_demo_catalog(db, slug)

    run(migrated, prepare)
    return slug


@pytest.fixture(scope="module")
def client(migrated: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as client:
        yield client


_INPUT = re.compile(r"<input\b[^>]*>", re.S)
_ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')


def form_fields(page: str, form_id: str) -> list[tuple[str, str]]:
    """The (name, value) pairs a browser would send from the form's inputs."""
    start = page.index(f'id="{form_id}"')
    end = page.index("</form>", start)
    fields = []
    for tag in _INPUT.findall(page[start:end]):
        attrs = {k: html.unescape(v) for k, v in _ATTR.findall(tag)}
        kind = attrs.get("type", "text")
        if "name" not in attrs or kind in ("file", "submit"):
            continue
        if kind in ("radio", "checkbox") and " checked" not in tag:
            continue
        fields.append((attrs["name"], attrs.get("value", "")))
    return fields


def csrf_of(page: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page)
    assert found, "the form has no CSRF field"
    return found.group(1)


def as_form(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Pairs as the client's form data: repeated names (one per ticket) stay in order."""
    data: dict[str, list[str]] = {}
    for name, value in pairs:
        data.setdefault(name, []).append(value)
    return data


def query_of(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query))


def who_form(
    client: TestClient, slug: str, product: str, query: str, headers: dict[str, str] = EN
) -> tuple[str, list[tuple[str, str]]]:
    """Step 2 as drawn for this selection: its page and its hidden fields."""
    response = client.get(f"/p/{slug}/buy/{product}/who?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return response.text, form_fields(response.text, "who")


def submit_who(
    client: TestClient,
    slug: str,
    product: str,
    fields: list[tuple[str, str]],
    extra: list[tuple[str, str]],
    headers: dict[str, str] = EN,
) -> Any:
    # What the visitor types replaces the drawn (empty) inputs of the same names.
    typed = {name for name, _ in extra}
    kept = [(name, value) for name, value in fields if name not in typed]
    return client.post(
        f"/p/{slug}/buy/{product}/who",
        data=as_form(kept + extra),
        headers=headers,
        follow_redirects=False,
    )


def place(
    client: TestClient,
    slug: str,
    product: str,
    query: str,
    extra: list[tuple[str, str]] | None = None,
    headers: dict[str, str] = EN,
) -> str:
    """Step 2 drawn and sent: the payment page's path (the answer is a 303)."""
    _, fields = who_form(client, slug, product, query, headers)
    response = submit_who(client, slug, product, fields, extra or list(CONTACT.items()), headers)
    assert response.status_code == 303, response.text
    return response.headers["location"]


def pay_by_test(client: TestClient, pay_path: str, headers: dict[str, str] = EN) -> str:
    """The test payment pressed on step 3: the e-ticket page's path."""
    page = client.get(pay_path, headers=headers)
    assert page.status_code == 200, page.text
    assert "Test payment (development only" in page.text or "测试支付" in page.text
    response = client.post(
        pay_path, data={"_csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return response.headers["location"]
