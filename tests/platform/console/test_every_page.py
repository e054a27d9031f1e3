"""Every console page an owner can open renders, in Chinese and in English."""

from __future__ import annotations

import re

from litestar.testing import TestClient

from tests.conftest import sign_in
from vistapass.platform.app import create_app
from vistapass.tenants.catalog.demo import seed_demo_catalog

PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def test_every_console_page_renders_in_both_languages(migrated, make_member, db_run) -> None:
    db_run(lambda db: seed_demo_catalog(db, "beta"))
    app = create_app(migrated)
    pages = set()
    for route in app.routes:
        if not route.path.startswith("/p/{tenant_slug:str}/console"):
            continue
        if "GET" not in getattr(route, "methods", set()):
            continue
        params = {name for name in PARAM.findall(route.path)} - {"tenant_slug"}
        if params - {"code"} or route.path.endswith(".csv"):
            continue  # pages about one token, member or day: covered by their own tests
        pages.add(
            route.path.replace("{tenant_slug:str}", "beta").replace("{code:str}", "day-ticket")
        )
    assert len(pages) >= 8, pages
    with TestClient(app, base_url="http://vistapass.test") as client:
        sign_in(client, migrated, make_member("beta", "owner"))
        for language in ("zh-CN", "en"):
            client.cookies.set("lang", language)
            for page in sorted(pages):
                response = client.get(page, headers={"accept": "text/html"})
                assert response.status_code == 200, (language, page, response.text[:300])
                assert response.headers["content-type"].startswith("text/html"), page
                assert f'<html lang="{language}">' in response.text, (language, page)
