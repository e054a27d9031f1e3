"""A park's new name reaches the registry, so park lists and the chooser show it."""

from __future__ import annotations

from litestar.testing import TestClient

from tests.conftest import sign_in, unique_slug
from vistapass.platform.app import create_app
from vistapass.platform.tenancy import admin
from vistapass.platform.tenancy.provisioning import provision_tenant


def test_renaming_a_park_updates_the_registry(migrated, make_member, db_run) -> None:
    slug = unique_slug("rename")
    db_run(lambda db: provision_tenant(db, slug, "Old Name"))
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as client:
        client.get("/healthz")
        sign_in(client, migrated, make_member(slug, "manager"))
        response = client.patch(
            f"/p/{slug}/api/v1/settings",
            json={"display_name": "West Lake Gardens"},
            headers={"x-csrftoken": client.cookies.get("csrftoken") or ""},
        )
        assert response.status_code == 200, response.text
    names = {park.slug: park.display_name for park in db_run(admin.list_parks)}
    assert names[slug] == "West Lake Gardens"
