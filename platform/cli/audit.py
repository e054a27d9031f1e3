"""`vistapass audit verify|purge`: the park audit logs' integrity and retention."""

from __future__ import annotations

import sys

import click

from vistapass.platform.audit.retention import Purged, purge
from vistapass.platform.audit.service import ChainReport, verify_chain
from vistapass.platform.cli._common import EXIT_FAILED, run_async, services
from vistapass.platform.db import Database
from vistapass.platform.tenancy.binding import tenant_session


@click.group()
def audit() -> None:
    """Park audit logs."""


@audit.command("verify")
@click.argument("slug")
def verify(slug: str) -> None:
    """Recompute a park's audit hash chain; exit 1 if any entry was altered or removed."""
    with services() as running:

        async def work(db: Database) -> ChainReport:
            async with tenant_session(db, slug, allow_suspended=True) as session:
                return await verify_chain(session)

        report = run_async(running.settings, work)
    if not report.ok:
        click.echo(f"TAMPERED: entry #{report.broken_at} {report.reason}")
        sys.exit(EXIT_FAILED)
    click.echo(f"ok: {report.checked} entries verified")


@audit.command("purge")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Keep this many days (default: VISTAPASS_AUDIT_RETENTION_DAYS, 180).",
)
def purge_(days: int | None) -> None:
    """Delete audit entries older than the retention period, in every park."""
    with services() as running:
        keep = days if days is not None else running.settings.audit_retention_days
        results: list[Purged] = run_async(running.settings, lambda db: purge(db, keep))
    total = sum(r.removed for r in results)
    for result in results:
        if result.removed:
            click.echo(f"{result.slug}: removed {result.removed}")
    click.echo(f"removed {total} entries older than {keep} days from {len(results)} parks")
