"""Provisioning: validated slugs, idempotent, resumable, never half-visible."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import unique_slug
from vistapass.platform.db import Database
from vistapass.platform.db.migrations import Tree, head
from vistapass.platform.errors import VistapassError
from vistapass.platform.models import Tenant, TenantStatus
from vistapass.platform.tenancy import provisioning
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.errors import InvalidSlug, SlugReserved, TenantExists
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.tenants.models import ParkProfile


@pytest.mark.parametrize(
    "slug",
    ["ab", "a" * 41, "-abc", "abc-", "ABC", "a_bc", "a--bc", "park one", "parc-é", "", "a.bc"],
)
def test_bad_slugs_are_rejected_before_anything_is_stored(db_run, slug: str) -> None:
    with pytest.raises(InvalidSlug) as caught:
        db_run(lambda db: provision_tenant(db, slug, "Bad"))
    assert caught.value.status_code == 422
    assert caught.value.code == "invalid_slug"


@pytest.mark.parametrize("slug", ["www", "api", "admin"])
def test_reserved_slugs_are_rejected(db_run, slug: str) -> None:
    with pytest.raises(SlugReserved) as caught:
        db_run(lambda db: provision_tenant(db, slug, "Reserved"))
    assert caught.value.code == "slug_reserved"


def test_a_new_park_is_live_with_schema_role_tables_and_defaults(db_run, admin_conn) -> None:
    slug = unique_slug("new-park")
    made = db_run(lambda db: provision_tenant(db, slug, "  West Lake 西湖  "))
    schema = "t_" + slug.replace("-", "_")
    assert (made.schema_name, made.resumed) == (schema, False)
    assert made.display_name == "West Lake 西湖"

    async def profile(db: Database) -> tuple[str, str, str]:
        async with tenant_session(db, slug) as session:
            row = (await session.scalars(select(ParkProfile))).one()
            return row.display_name, row.time_zone, row.currency

    assert db_run(profile) == ("West Lake 西湖", "Asia/Shanghai", "CNY")
    revision = admin_conn.execute(f'SELECT version_num FROM "{schema}".alembic_version').fetchone()
    assert revision == (head(Tree.TENANT),)
    role = admin_conn.execute(
        "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (made.db_role,)
    ).fetchone()
    assert role == (False,)


def test_a_live_slug_cannot_be_taken_again(db_run) -> None:
    with pytest.raises(TenantExists) as caught:
        db_run(lambda db: provision_tenant(db, "alpha", "Imposter"))
    assert (caught.value.status_code, caught.value.code) == (409, "tenant_exists")


def test_running_it_twice_finishes_a_half_done_park(db_run, admin_conn, migrated) -> None:
    """A registry row left in `provisioning` with its schema and role already made."""
    slug = unique_slug("half")
    schema = "t_" + slug.replace("-", "_")
    role = f"{migrated.db_role_prefix}_{schema}"
    admin_conn.execute(
        "INSERT INTO tenants (slug, display_name, schema_name, db_role, status) "
        "VALUES (%s, 'Half Park', %s, %s, 'provisioning')",
        (slug, schema, role),
    )
    admin_conn.execute(f'CREATE ROLE "{role}" NOLOGIN')
    admin_conn.execute(f'CREATE SCHEMA "{schema}"')

    made = db_run(lambda db: provision_tenant(db, slug, "Half Park"))
    assert made.resumed is True
    status = admin_conn.execute("SELECT status FROM tenants WHERE slug = %s", (slug,)).fetchone()
    assert status == (TenantStatus.ACTIVE,)
    with pytest.raises(TenantExists):
        db_run(lambda db: provision_tenant(db, slug, "Half Park"))


def test_a_failure_midway_rolls_back_and_a_rerun_completes(db_run, admin_conn, monkeypatch) -> None:
    slug = unique_slug("flaky")
    schema = "t_" + slug.replace("-", "_")

    def broken_seed(*_args: object) -> None:
        raise VistapassError("disk on fire", code="injected")

    monkeypatch.setattr(provisioning, "seed_defaults", broken_seed)
    with pytest.raises(VistapassError, match="disk on fire"):
        db_run(lambda db: provision_tenant(db, slug, "Flaky Park"))
    status = admin_conn.execute("SELECT status FROM tenants WHERE slug = %s", (slug,)).fetchone()
    assert status == ("provisioning",)
    schema_left = admin_conn.execute(
        "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema,)
    ).fetchone()
    assert schema_left is None  # DDL is transactional: nothing half-built remains

    async def not_served(db: Database) -> None:
        async with tenant_session(db, slug):
            pass

    with pytest.raises(VistapassError, match="No park is called"):
        db_run(not_served)

    monkeypatch.undo()
    made = db_run(lambda db: provision_tenant(db, slug, "Flaky Park"))
    assert made.resumed is True
    assert admin_conn.execute("SELECT status FROM tenants WHERE slug = %s", (slug,)).fetchone() == (
        "active",
    )


def test_other_parks_are_untouched_by_a_failed_provisioning(db_run, monkeypatch) -> None:
    async def names(db: Database) -> list[str]:
        async with db.session() as session:
            return list(
                await session.scalars(select(Tenant.slug).where(Tenant.slug.in_(["alpha", "beta"])))
            )

    before = db_run(names)

    def broken(*_args: object) -> None:
        raise VistapassError("boom", code="injected")

    monkeypatch.setattr(provisioning, "grant_tables", broken)
    with pytest.raises(VistapassError):
        db_run(lambda db: provision_tenant(db, unique_slug("broken"), "Broken"))
    assert db_run(names) == before

    async def alpha_name(db: Database) -> str | None:
        async with tenant_session(db, "alpha") as session:
            return await session.scalar(select(ParkProfile.display_name))

    assert db_run(alpha_name) == "Alpha Park"
