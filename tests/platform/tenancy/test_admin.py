"""Operating parks: suspend, resume, custom domains."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from tests.conftest import unique_slug
from vistapass.platform.app import create_app
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy import admin
from vistapass.platform.tenancy.errors import DomainTaken, InvalidDomain, TenantNotFound
from vistapass.platform.tenancy.provisioning import provision_tenant


def test_suspend_and_resume_report_whether_anything_changed(db_run) -> None:
    slug = unique_slug("toggle")
    db_run(lambda db: provision_tenant(db, slug, "Toggle"))
    assert db_run(lambda db: admin.suspend(db, slug)) is True
    assert db_run(lambda db: admin.suspend(db, slug)) is False
    statuses = {p.slug: p.status for p in db_run(admin.list_parks)}
    assert statuses[slug] == "suspended" and statuses["alpha"] == "active"
    assert db_run(lambda db: admin.resume(db, slug)) is True
    assert db_run(lambda db: admin.resume(db, slug)) is False
    with pytest.raises(TenantNotFound):
        db_run(lambda db: admin.suspend(db, "no-such-park"))


def test_a_custom_domain_serves_its_park_and_belongs_to_one_park(
    db_run, migrated: Settings
) -> None:
    domain = f"Tickets.{unique_slug('beta')}.Example.CN."
    assert db_run(lambda db: admin.add_domain(db, "beta", domain)) is True
    assert db_run(lambda db: admin.add_domain(db, "beta", domain)) is False
    name = domain.lower().rstrip(".")
    assert name in db_run(lambda db: admin.domains_of(db, "beta"))
    with pytest.raises(DomainTaken):
        db_run(lambda db: admin.add_domain(db, "alpha", domain))

    with TestClient(create_app(migrated), base_url="http://vistapass.test") as client:
        response = client.get("/api/v1/park", headers={"Host": name})
        assert response.json()["slug"] == "beta"

    assert db_run(lambda db: admin.remove_domain(db, "beta", name)) is True
    assert db_run(lambda db: admin.remove_domain(db, "beta", name)) is False
    with TestClient(create_app(migrated), base_url="http://vistapass.test") as client:
        response = client.get("/api/v1/park", headers={"Host": name})
        assert response.json()["error"]["code"] == "tenant_not_found"


@pytest.mark.parametrize(
    "domain", ["localhost", "no_underscores.example", "-x.example", "a..b", "x" * 300]
)
def test_bad_domains_are_rejected(db_run, domain: str) -> None:
    with pytest.raises(InvalidDomain):
        db_run(lambda db: admin.add_domain(db, "alpha", domain))
