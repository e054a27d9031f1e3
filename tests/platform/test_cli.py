"""The `vistapass` console script, run as a real subprocess against the test database."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TENANTS, unique_slug
from vistapass.platform.db.migrations import Tree, downgrade_tenant, head
from vistapass.platform.settings import Settings

SCRIPT = shutil.which("vistapass", path=str(Path(sys.executable).parent))


@pytest.fixture
def cli_env(migrated: Settings, tmp_path: Path) -> dict[str, str]:
    """The caller's environment, minus any VISTAPASS_* of its own, pointed at the test servers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISTAPASS_")}
    env.update(
        VISTAPASS_DATABASE_URL=migrated.database_url,
        VISTAPASS_REDIS_URL=migrated.redis_url,
        VISTAPASS_DB_ROLE_PREFIX=migrated.db_role_prefix,
        VISTAPASS_DATA_DIR=str(tmp_path),
        VISTAPASS_REDIS_NAMESPACE=migrated.redis_namespace,
        VISTAPASS_LOG_FORMAT="console",
    )
    return env


def vistapass(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    assert SCRIPT is not None, "the vistapass console script is not installed in this venv"
    return subprocess.run(
        [SCRIPT, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def ok(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = vistapass(env, *args)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def parks(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    rows = json.loads(ok(env, "tenants", "list", "--json").stdout)
    return {row["slug"]: row for row in rows}


def test_create_lists_the_park_as_active(cli_env: dict[str, str]) -> None:
    slug = unique_slug()
    result = ok(cli_env, "tenants", "create", slug, "--name", "Lakeside Gardens")
    schema = "t_" + slug.replace("-", "_")
    assert f"created park {slug}" in result.stdout
    assert schema in result.stdout

    park = parks(cli_env)[slug]
    assert park["status"] == "active"
    assert park["schema_name"] == schema
    assert park["display_name"] == "Lakeside Gardens"


def test_creating_an_existing_slug_fails(cli_env: dict[str, str]) -> None:
    slug = unique_slug()
    ok(cli_env, "tenants", "create", slug, "--name", "First")

    again = vistapass(cli_env, "tenants", "create", slug, "--name", "Second")
    assert again.returncode == 1
    assert "tenant_exists" in again.stderr
    assert parks(cli_env)[slug]["display_name"] == "First"


@pytest.mark.parametrize(
    ("slug", "code"), [("AB", "invalid_slug"), ("ab", "invalid_slug"), ("www", "slug_reserved")]
)
def test_bad_slugs_are_refused(cli_env: dict[str, str], slug: str, code: str) -> None:
    result = vistapass(cli_env, "tenants", "create", slug, "--name", "Nope")
    assert result.returncode == 1
    assert code in result.stderr
    assert slug not in parks(cli_env)


def test_suspend_and_resume(cli_env: dict[str, str]) -> None:
    slug = unique_slug()
    ok(cli_env, "tenants", "create", slug, "--name", "Hill Temple")

    assert f"suspended {slug}" in ok(cli_env, "tenants", "suspend", slug).stdout
    assert parks(cli_env)[slug]["status"] == "suspended"
    assert "already suspended" in ok(cli_env, "tenants", "suspend", slug).stdout

    assert f"resumed {slug}" in ok(cli_env, "tenants", "resume", slug).stdout
    assert parks(cli_env)[slug]["status"] == "active"
    assert "already active" in ok(cli_env, "tenants", "resume", slug).stdout


@pytest.mark.parametrize("command", ["suspend", "resume"])
def test_unknown_slug_is_not_found(cli_env: dict[str, str], command: str) -> None:
    result = vistapass(cli_env, "tenants", command, unique_slug("nowhere"))
    assert result.returncode == 1
    assert "tenant_not_found" in result.stderr


def test_db_status_lists_every_schema_at_head(cli_env: dict[str, str]) -> None:
    known = parks(cli_env)
    rows = json.loads(ok(cli_env, "db", "status", "--json").stdout)
    by_schema = {row["schema"]: row for row in rows}

    assert by_schema["public"]["slug"] is None
    assert by_schema["public"]["current"] is True
    assert set(TENANTS) <= set(known)
    for slug, park in known.items():
        row = by_schema[park["schema_name"]]
        assert row["slug"] == slug
        if park["status"] == "provisioning":  # left half-done by the provisioning tests
            assert (row["status"], row["revision"], row["current"]) == ("provisioning", None, False)
        else:
            assert row["current"] is True, row
            assert row["revision"] == row["head"]
    assert len(rows) == len(known) + 1


SUMMARY = re.compile(r"public at (\w+); (\d+) park schemas: (\d+) upgraded, (\d+) failed")


@pytest.mark.parametrize("concurrency", [[], ["--concurrency", "1"], ["--concurrency", "4"]])
def test_db_upgrade_prints_a_summary(cli_env: dict[str, str], concurrency: list[str]) -> None:
    migrated_parks = [p for p in parks(cli_env).values() if p["status"] != "provisioning"]
    assert len(migrated_parks) >= 2
    first = vistapass(cli_env, "db", "upgrade", *concurrency)
    assert first.returncode == 0, first.stderr
    again = vistapass(cli_env, "db", "upgrade", *concurrency)
    summary = SUMMARY.search(again.stdout)
    assert summary is not None, (again.stdout, again.stderr)
    assert summary[1] == head(Tree.CONTROL)
    assert int(summary[2]) == len(migrated_parks)
    assert (summary[3], summary[4]) == ("0", "0"), again.stderr  # all at head after the first
    assert again.returncode == 0, again.stderr


def test_db_url_prints_the_configured_url(cli_env: dict[str, str], migrated: Settings) -> None:
    result = ok(cli_env, "db", "url")
    assert result.stdout.strip() == migrated.database_url
    assert "started the embedded servers" not in result.stderr


def test_production_refuses_an_empty_secret_key(cli_env: dict[str, str]) -> None:
    env = {
        **cli_env,
        "VISTAPASS_ENV": "production",
        "VISTAPASS_SECRET_KEY": "",
        "VISTAPASS_STORAGE_URL": "s3://vistapass-test-bucket",
    }
    result = vistapass(env, "tenants", "list")
    assert result.returncode == 2
    assert "VISTAPASS_SECRET_KEY" in result.stderr
    assert "VISTAPASS_STORAGE_URL" not in result.stderr  # only what is actually missing


def test_production_refuses_a_short_secret_key(cli_env: dict[str, str]) -> None:
    env = {
        **cli_env,
        "VISTAPASS_ENV": "production",
        "VISTAPASS_SECRET_KEY": "too-short",
        "VISTAPASS_STORAGE_URL": "s3://vistapass-test-bucket",
        "VISTAPASS_SMTP_HOST": "smtp.example.cn",
    }
    result = vistapass(env, "db", "url")
    assert result.returncode == 2
    assert "VISTAPASS_SECRET_KEY must be at least 32 characters" in result.stderr
    assert result.stdout == ""


def test_invalid_port_is_a_usage_error(cli_env: dict[str, str]) -> None:
    result = vistapass({**cli_env, "VISTAPASS_PORT": "notaport"}, "tenants", "list")
    assert result.returncode == 2
    assert "VISTAPASS_PORT" in result.stderr
    assert "invalid configuration" in result.stderr


def test_db_upgrade_fails_for_one_schema_then_resumes(
    cli_env: dict[str, str], db_run, admin_conn
) -> None:
    slug = unique_slug("stuck")
    schema = "t_" + slug.replace("-", "_")
    ok(cli_env, "tenants", "create", slug, "--name", "Stuck")
    db_run(lambda db: db.in_sync_transaction(downgrade_tenant, schema, "t0001"))
    admin_conn.execute(f'CREATE TABLE "{schema}".job_runs (planted int)')

    failed = vistapass(cli_env, "db", "upgrade")
    assert failed.returncode == 1
    assert f"failed {schema}: ProgrammingError" in failed.stderr
    assert "DuplicateTable" in failed.stderr or "already exists" in failed.stderr
    assert "run `vistapass db upgrade` again" in failed.stderr

    admin_conn.execute(f'DROP TABLE "{schema}".job_runs')
    resumed = ok(cli_env, "db", "upgrade")
    assert re.search(r"park schemas: 1 upgraded, 0 failed", resumed.stdout), resumed.stdout
