"""The console shell: sign-in required, navigation by role, Chinese and English."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from tests.conftest import sign_in
from vistapass.platform.app import create_app
from vistapass.platform.settings import Settings


@pytest.fixture
def client(migrated: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as test_client:
        yield test_client


def nav_labels(html: str) -> list[str]:
    nav = html.split("<nav", 1)[1].split("</nav>", 1)[0]
    return [part.split(">", 1)[1].split("<", 1)[0] for part in nav.split("<a ")[1:]]


def test_a_signed_out_page_visit_goes_to_sign_in_and_comes_back(client: TestClient) -> None:
    response = client.get(
        "/p/alpha/console/", headers={"accept": "text/html"}, follow_redirects=False
    )
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/login?next=/p/alpha/console"


def test_navigation_shows_what_the_role_may_open(client, migrated, make_member) -> None:
    owner = make_member("alpha", "owner")
    sign_in(client, migrated, owner)
    page = client.get("/p/alpha/console/", headers={"accept-language": "en"})
    assert page.status_code == 200
    assert nav_labels(page.text) == [
        "Overview",
        "Products",
        "Calendar",
        "Orders",
        "Window sales",
        "Check-in",
        "Occupancy",
        "Capacity",
        "Gates",
        "Staff",
        "Park settings",
        "Custom domains",
        "Audit log",
        "API tokens",
    ]
    assert "Alpha Park" in page.text

    gate = make_member("alpha", "gate_staff")
    sign_in(client, migrated, gate)
    page = client.get("/p/alpha/console/", headers={"accept-language": "en"})
    assert nav_labels(page.text) == ["Overview", "Check-in", "API tokens"]


def test_chinese_by_default_english_by_choice_and_remembered(client, migrated, make_member) -> None:
    sign_in(client, migrated, make_member("alpha", "manager"))
    chinese = client.get("/p/alpha/console/")
    assert '<html lang="zh-CN">' in chinese.text and "概览" in chinese.text

    switched = client.get("/lang/en?next=/p/alpha/console/", follow_redirects=False)
    assert switched.headers["location"] == "/p/alpha/console/"
    assert switched.cookies.get("lang") == "en"
    english = client.get("/p/alpha/console/")
    assert '<html lang="en">' in english.text and "Overview" in english.text


def test_language_switch_never_redirects_off_site(client: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.get("/lang/en", params={"next": target}, follow_redirects=False)
        assert response.headers["location"] == "/"


def test_the_park_chooser_lists_every_park_of_a_person(
    client, migrated, make_member, db_run
) -> None:
    person = make_member("alpha", "viewer")
    sign_in(client, migrated, person)
    # With one park, the chooser goes straight to it.
    only = client.get("/console", follow_redirects=False)
    assert only.headers["location"] == "/p/alpha/console/"


def test_pages_are_served_as_html_even_from_handlers_that_also_redirect(
    client, migrated, make_member
) -> None:
    # A handler typed `Template | Redirect` defaults to JSON in Litestar.
    for path in ("/signup", "/login", "/reset-password", "/verify-email?token=nope"):
        page = client.get(path, headers={"accept": "text/html"})
        assert page.headers["content-type"].startswith("text/html"), path
    person = make_member("alpha", "viewer", platform_admin=True)
    sign_in(client, migrated, person)
    chooser = client.get("/console", headers={"accept": "text/html"})
    assert chooser.status_code == 200
    assert chooser.headers["content-type"].startswith("text/html")
