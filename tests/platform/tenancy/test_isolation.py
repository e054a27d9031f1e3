"""One park's session, role or SQL can never reach another park's data."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import ProgrammingError

from tests.conftest import run
from vistapass.platform.db import Database
from vistapass.platform.tenancy.binding import bind_tenant, current_tenant, tenant_session
from vistapass.platform.tenancy.errors import TenantNotBound
from vistapass.tenants.models import ParkProfile


def test_a_bound_session_sees_only_its_own_park(db_run) -> None:
    async def names(db: Database) -> dict[str, list[str]]:
        seen = {}
        for slug in ("alpha", "beta"):
            async with tenant_session(db, slug) as session:
                seen[slug] = list(await session.scalars(select(ParkProfile.display_name)))
                assert current_tenant(session).slug == slug
        return seen

    assert db_run(names) == {"alpha": ["Alpha Park"], "beta": ["Beta Park"]}


def test_a_bound_session_cannot_read_another_parks_schema(db_run) -> None:
    async def peek(db: Database) -> None:
        async with tenant_session(db, "alpha") as session:
            await session.execute(text("SELECT display_name FROM t_beta.park_profile"))

    with pytest.raises(ProgrammingError, match="permission denied for schema t_beta"):
        db_run(peek)


def test_a_bound_session_cannot_read_the_control_plane(db_run) -> None:
    async def peek(db: Database) -> None:
        async with tenant_session(db, "alpha") as session:
            await session.execute(text("SELECT slug FROM public.tenants"))

    with pytest.raises(ProgrammingError, match="permission denied for table tenants"):
        db_run(peek)


def test_raw_sql_under_one_parks_role_cannot_touch_another(admin_conn, migrated) -> None:
    alpha_role = f"{migrated.db_role_prefix}_t_alpha"
    with admin_conn.transaction():
        admin_conn.execute(
            psycopg.sql.SQL("SET LOCAL ROLE {}").format(psycopg.sql.Identifier(alpha_role))
        )
        own = admin_conn.execute("SELECT display_name FROM t_alpha.park_profile").fetchone()
        assert own == ("Alpha Park",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege), admin_conn.transaction():
            admin_conn.execute("UPDATE t_beta.park_profile SET display_name = 'pwned'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege), admin_conn.transaction():
            admin_conn.execute("CREATE TABLE t_beta.planted (id int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege), admin_conn.transaction():
            admin_conn.execute("DELETE FROM t_alpha.alembic_version")
    # The role switch was LOCAL: the pooled connection is back to the app's role.
    assert admin_conn.execute("SELECT current_user = session_user").fetchone() == (True,)
    assert admin_conn.execute("SELECT display_name FROM t_beta.park_profile").fetchone() == (
        "Beta Park",
    )


def test_an_unbound_query_fails(db_run) -> None:
    async def unbound(db: Database) -> None:
        async with db.session() as session:
            await session.execute(select(ParkProfile))

    with pytest.raises(ProgrammingError, match=r'relation "tenant\.park_profile" does not exist'):
        db_run(unbound)


def test_the_placeholder_schema_never_exists(admin_conn) -> None:
    found = admin_conn.execute(
        "SELECT 1 FROM information_schema.schemata WHERE schema_name = 'tenant'"
    ).fetchone()
    assert found is None


def test_current_tenant_requires_a_bound_session(db_run) -> None:
    async def unbound(db: Database) -> None:
        async with db.session() as session:
            current_tenant(session)

    with pytest.raises(TenantNotBound):
        db_run(unbound)


def test_a_write_rolled_back_at_the_edge_leaves_nothing(db_run) -> None:
    class Boom(Exception):
        pass

    async def write_then_fail(db: Database) -> None:
        async with tenant_session(db, "beta") as session:
            await session.execute(update(ParkProfile).values(display_name="Changed"))
            raise Boom

    with pytest.raises(Boom):
        db_run(write_then_fail)

    async def name(db: Database) -> str | None:
        async with tenant_session(db, "beta") as session:
            return await session.scalar(select(ParkProfile.display_name))

    assert db_run(name) == "Beta Park"


def test_role_switch_does_not_leak_to_the_next_user_of_a_pooled_connection(migrated) -> None:
    async def sequence(db: Database) -> tuple[str, str]:
        async with tenant_session(db, "alpha") as session:
            inside = await session.scalar(text("SELECT current_user"))
        async with db.session() as session:  # same pool, likely the same connection
            after = await session.scalar(text("SELECT current_user"))
        return inside, after

    inside, after = run(migrated, sequence)
    assert inside == f"{migrated.db_role_prefix}_t_alpha"
    assert after != inside


def test_binding_refuses_a_session_already_in_a_transaction(db_run) -> None:
    async def late(db: Database) -> None:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
            await bind_tenant(session, "alpha")

    with pytest.raises(RuntimeError, match="must start"):
        db_run(late)
