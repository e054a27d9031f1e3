"""Alembic with two trees: the control plane (`public`) and the tenant tree.

The tenant tree is written against the placeholder schema `tenant`; running it for
one park binds `tenant` to `t_<slug>` with `schema_translate_map` and keeps that
park's `alembic_version` inside its own schema, so each schema records its revision.
Each run is handed a connection inside the caller's transaction: the caller
decides what commits together.
"""

from __future__ import annotations

import threading
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from vistapass.platform.models.base import ControlBase
from vistapass.platform.tenancy.naming import checked_schema
from vistapass.tenants.models import TENANT_SCHEMA, TenantBase

ROOT = Path(__file__).resolve().parents[2]


class Tree(StrEnum):
    CONTROL = "control"
    TENANT = "tenant"


LOCATIONS = {
    Tree.CONTROL: ROOT / "platform" / "migrations",
    Tree.TENANT: ROOT / "tenants" / "migrations",
}


@cache
def alembic_config(tree: Tree) -> Config:
    config = Config()
    config.set_main_option("script_location", str(LOCATIONS[tree]))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    return config


@cache
def scripts(tree: Tree) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(tree))


def head(tree: Tree) -> str:
    revision = scripts(tree).get_current_head()
    assert revision is not None, f"the {tree} tree has no revisions"
    return revision


# Alembic's `op` and `context` are process-wide proxies: two migrations running at
# once in one process would send each other's DDL to the wrong connection. So one
# migration at a time per process (callers use threads, never the event loop), and
# `db upgrade` gets its parallelism from worker processes.
MIGRATION_LOCK = threading.Lock()


def _run(
    connection: Connection, tree: Tree, target: str, schema: str | None, upgrade: bool
) -> None:
    script = scripts(tree)

    def steps(rev: Any, _context: MigrationContext) -> Any:
        if upgrade:
            return script._upgrade_revs(target, rev)
        return script._downgrade_revs(target, rev)

    metadata = ControlBase.metadata if tree is Tree.CONTROL else TenantBase.metadata
    with (
        MIGRATION_LOCK,
        EnvironmentContext(alembic_config(tree), script, fn=steps, destination_rev=target) as env,
    ):
        env.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            transactional_ddl=True,
        )
        with env.begin_transaction():
            env.run_migrations()


def upgrade_control(connection: Connection, target: str = "heads") -> None:
    _run(connection, Tree.CONTROL, target, None, upgrade=True)


def tenant_connection(connection: Connection, schema: str) -> Connection:
    """Bind the placeholder schema to one park's schema on this connection."""
    return connection.execution_options(
        schema_translate_map={TENANT_SCHEMA: checked_schema(schema)}
    )


def upgrade_tenant(connection: Connection, schema: str, target: str = "heads") -> None:
    _run(tenant_connection(connection, schema), Tree.TENANT, target, schema, upgrade=True)


def downgrade_tenant(connection: Connection, schema: str, target: str) -> None:
    _run(tenant_connection(connection, schema), Tree.TENANT, target, schema, upgrade=False)


def current_revision(connection: Connection, schema: str | None) -> str | None:
    """The revision a schema is at, or None when it has never been migrated."""
    if not inspect(connection).has_table("alembic_version", schema=schema):
        return None
    context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
    return context.get_current_revision()
