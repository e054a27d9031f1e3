"""Real PostgreSQL and Redis for every test run, with two parks always present.

`VISTAPASS_TEST_DATABASE_URL` / `VISTAPASS_TEST_REDIS_URL` name servers to use
(CI's machine has them on 127.0.0.1); without them the embedded servers start in
a temporary folder. Either way the run gets its own database, its own role
prefix and its own Redis namespace, and removes them at the end.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
import redis
from litestar.testing import TestClient
from psycopg import sql
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from vistapass.platform.authz.enforcer import Authorizer
from vistapass.platform.db import Database
from vistapass.platform.embedded.services import ensure_services
from vistapass.platform.identity.service import add_membership, create_user
from vistapass.platform.identity.sessions import SESSION_COOKIE, SessionData, SessionStore
from vistapass.platform.models.base import utcnow
from vistapass.platform.settings import Environment, Settings
from vistapass.platform.tenancy import repository as tenant_repository
from vistapass.platform.tenancy.binding import control_session
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.platform.tenancy.upgrade import upgrade_control_plane

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
TENANTS = ("alpha", "beta")


def admin_dsn(url: str) -> str:
    """A libpq URL for the server's maintenance database."""
    return make_url(url).set(drivername="postgresql", database="postgres").render_as_string(False)


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[str, str]]:
    """(PostgreSQL URL of any database on the server, Redis URL)."""
    db_url = os.environ.get("VISTAPASS_TEST_DATABASE_URL", "")
    redis_url = os.environ.get("VISTAPASS_TEST_REDIS_URL", "")
    # Not under pytest's tmp root: as root, the embedded PostgreSQL runs as its own
    # user, and pytest resets that root's permissions when another session starts.
    data_dir = Path(tempfile.mkdtemp(prefix="vistapass-test-servers-"))
    running = ensure_services(
        Settings(env=Environment.TEST, data_dir=data_dir, database_url=db_url, redis_url=redis_url)
    )
    try:
        yield running.settings.database_url, running.settings.redis_url
    finally:
        running.stop_started()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(
    servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    db_url, redis_url = servers
    run_id = secrets.token_hex(3)
    database = f"vistapass_test_{run_id}"
    role_prefix = f"vt{run_id}"
    with psycopg.connect(admin_dsn(db_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    test_settings = Settings(
        env=Environment.TEST,
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=make_url(db_url).set(database=database).render_as_string(False),
        redis_url=redis_url,
        secret_key=secrets.token_urlsafe(40),
        db_role_prefix=role_prefix,
        redis_namespace=f"vistapass-test-{run_id}",
        base_domain="vistapass.test",
        log_format="console",
    )
    try:
        yield test_settings
    finally:
        with psycopg.connect(admin_dsn(db_url), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
            roles = conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (role_prefix + "\\_%",)
            ).fetchall()
            for (role,) in roles:
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"{test_settings.redis_namespace}*"):
            client.delete(key)
        client.close()


def run(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work(db)` in a fresh event loop with a fresh engine."""

    async def main() -> T:
        db = Database(settings)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


@pytest.fixture(scope="session")
def migrated(settings: Settings) -> Settings:
    """The control plane migrated and two parks provisioned."""

    async def prepare(db: Database) -> None:
        await upgrade_control_plane(db)
        for slug in TENANTS:
            await provision_tenant(db, slug, f"{slug.title()} Park")

    run(settings, prepare)
    return settings


@pytest.fixture
def db_run(migrated: Settings) -> Callable[[Callable[[Database], Awaitable[T]]], T]:
    return lambda work: run(migrated, work)


@pytest.fixture
def admin_conn(migrated: Settings) -> Iterator[psycopg.Connection]:
    """A plain libpq connection as the app's own database user."""
    dsn = make_url(migrated.database_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


def unique_slug(prefix: str = "park") -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Member:
    user_id: uuid.UUID
    email: str
    password: str
    name: str


def _member_factory(migrated: Settings) -> Callable[..., Member]:
    """Make a person holding `role` at park `slug` (or at no park when slug is None)."""

    def make(
        slug: str | None = "alpha", role: str = "owner", *, platform_admin: bool = False
    ) -> Member:
        email = f"{role}-{secrets.token_hex(4)}@example.com"
        password = "correct horse battery staple 42"
        name = f"Test {role.title()}"

        async def work(db: Database) -> uuid.UUID:
            redis = Redis.from_url(migrated.redis_url)
            try:
                async with control_session(db) as session:
                    user = await create_user(session, email, name, password)
                    user.email_verified_at = utcnow()
                    user.is_platform_admin = platform_admin
                    if slug is not None:
                        tenant = await tenant_repository.get_by_slug(session, slug)
                        assert tenant is not None
                        await add_membership(
                            session,
                            Authorizer(db.sync_engine, redis, migrated.redis_namespace),
                            user.id,
                            tenant.id,
                            role,
                        )
                    return user.id
            finally:
                await redis.aclose()

        return Member(run(migrated, work), email, password, name)

    return make


@pytest.fixture
def make_member(migrated: Settings) -> Callable[..., Member]:
    return _member_factory(migrated)


@pytest.fixture(scope="module")
def make_member_module(migrated: Settings) -> Callable[..., Member]:
    return _member_factory(migrated)


def sign_in(client: TestClient, settings: Settings, member: Member) -> str:
    """Give the client a session for `member` as the login page would; returns its id."""

    async def create() -> str:
        redis = Redis.from_url(settings.redis_url)
        try:
            store = SessionStore(redis, settings.redis_namespace)
            return await store.create(
                SessionData(str(member.user_id), member.email, member.name, False)
            )
        finally:
            await redis.aclose()

    session_id = asyncio.run(create())
    client.cookies.set(SESSION_COOKIE, session_id)
    return session_id
