"""Every route declares its permission, and each role gets exactly what the table says.

The table below is written independently of the policy in the database: a route
or a policy change that gives a role more (or less) than this fails here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.testing import TestClient

from tests.conftest import Member, sign_in
from vistapass.platform.app import create_app
from vistapass.platform.authz.guard import declared_permission
from vistapass.platform.authz.permissions import PUBLIC, SIGNED_IN
from vistapass.platform.settings import Settings

ROLES = ("owner", "manager", "cashier", "gate_staff", "finance", "viewer")
ALL = set(ROLES)
EXPECTED: dict[str, set[str]] = {
    "console:view": ALL,
    "settings:read": {"owner", "manager", "finance", "viewer"},
    "settings:write": {"owner", "manager"},
    "staff:read": {"owner", "manager"},
    "staff:manage": {"owner"},
    "audit:read": {"owner", "manager", "finance"},
    "tokens:manage": ALL,
    "catalog:read": {"owner", "manager", "cashier", "finance", "viewer"},
    "catalog:write": {"owner", "manager"},
    "orders:read": {"owner", "manager", "cashier", "finance", "viewer"},
    "orders:refund": {"owner", "manager", "cashier", "finance"},
    "window:sell": {"owner", "manager", "cashier"},
    "checkin:scan": {"owner", "manager", "gate_staff"},
    "reports:read": {"owner", "manager", "finance", "viewer"},
    "settlements:read": {"owner", "finance"},
    # Platform permissions: only platform admins, never a park role.
    "tenants:read": set(),
    "tenants:manage": set(),
}
PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


def routes(app: Litestar) -> Iterator[tuple[str, str, HTTPRouteHandler]]:
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            for method in sorted(handler.http_methods):
                if method in {"HEAD", "OPTIONS"}:
                    continue
                yield method, typed_path(route), handler


def typed_path(route: object) -> str:
    """The route's path with each parameter's type, as `{name:type}`."""
    types = {name: d.type for name, d in getattr(route, "path_parameters", {}).items()}
    return PARAM.sub(
        lambda m: f"{{{m[1]}:{getattr(types.get(m[1]), '__name__', 'str')}}}",
        route.path,  # type: ignore[attr-defined]
    )


def concrete(path: str) -> str:
    def fill(match: re.Match[str]) -> str:
        name, kind = match.groups()
        if name == "tenant_slug":
            return "alpha"
        return {"UUID": str(uuid.uuid4()), "int": "1"}.get(kind or "str", "x")

    return PARAM.sub(fill, path)


@pytest.fixture(scope="module")
def app(migrated: Settings) -> Litestar:
    return create_app(migrated)


def operator_routes(app: Litestar) -> list[tuple[str, str, str]]:
    found = []
    for method, path, handler in routes(app):
        if path.startswith("/schema"):
            continue
        permission = declared_permission(handler)
        assert permission is not None, f"{method} {path} declares no permission"
        found.append((method, path, permission))
    return found


def test_every_route_declares_a_known_permission(app: Litestar) -> None:
    for method, path, permission in operator_routes(app):
        assert permission in {PUBLIC, SIGNED_IN} or permission in EXPECTED, (
            f"{method} {path}: permission {permission!r} is not in the expected table"
        )


def test_the_policy_in_the_database_matches_the_table(db_run) -> None:
    async def policy(db) -> dict[str, set[str]]:
        from sqlalchemy import select

        from vistapass.platform.models import CasbinRule

        async with db.session() as session:
            rules = await session.scalars(select(CasbinRule).where(CasbinRule.ptype == "p"))
            table: dict[str, set[str]] = {}
            for rule in rules:
                if rule.v1 == "*":
                    table.setdefault(f"{rule.v2}:{rule.v3}", set()).add(rule.v0)
            return table

    assert db_run(policy) == {k: v for k, v in EXPECTED.items() if v}


@pytest.fixture(scope="module")
def staff(make_member_module) -> dict[str, Member]:
    return {role: make_member_module("alpha", role) for role in ROLES}


def request_as(client: TestClient, method: str, path: str) -> tuple[int, str]:
    csrf = client.cookies.get("csrftoken") or ""
    response = client.request(
        method, path, headers={"x-csrftoken": csrf, "accept": "application/json"}, json={}
    )
    code = ""
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            code = body["error"]["code"]
    return response.status_code, code


def test_each_role_gets_exactly_its_routes(app: Litestar, migrated: Settings, staff) -> None:
    checked = 0
    with TestClient(app, base_url="http://vistapass.test") as client:
        client.get("/healthz")  # the CSRF cookie, as a browser would hold it
        for method, path, permission in operator_routes(app):
            if permission in {PUBLIC, SIGNED_IN}:
                continue
            url = concrete(path)
            for role, member in staff.items():
                sign_in(client, migrated, member)
                status, code = request_as(client, method, url)
                allowed = role in EXPECTED[permission]
                if allowed:
                    assert (status, code) != (403, "forbidden"), f"{role} denied {method} {path}"
                    assert status != 401, f"{role} not signed in for {method} {path}"
                else:
                    assert (status, code) == (403, "forbidden"), (
                        f"{role} got {status} {code} on {method} {path}, expected 403 forbidden"
                    )
                checked += 1
            client.cookies.delete("vp_session")
            status, code = request_as(client, method, url)
            assert (status, code) == (401, "not_authenticated"), f"anonymous {method} {path}"
    assert checked >= len(ROLES)


def test_a_member_of_one_park_is_refused_in_another(
    app: Litestar, migrated: Settings, staff
) -> None:
    with TestClient(app, base_url="http://vistapass.test") as client:
        sign_in(client, migrated, staff["owner"])
        assert client.get("/p/alpha/console/").status_code == 200
        status, code = request_as(client, "GET", "/p/beta/console/")
        assert (status, code) == (403, "forbidden")
