"""`vistapass db upgrade|status|url`."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import TYPE_CHECKING

import click

from vistapass.platform.cli._common import EXIT_FAILED, load_settings, run_async, services
from vistapass.platform.db import Database
from vistapass.platform.embedded.services import ensure_services
from vistapass.platform.tenancy.upgrade import SchemaResult, schema_statuses, upgrade_all

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar


@click.group()
def db() -> None:
    """Database migrations and connection."""


@db.command("upgrade")
@click.option("--concurrency", type=click.IntRange(1, 64), help="Schemas upgraded at once.")
def upgrade(concurrency: int | None) -> None:
    """Upgrade `public`, then every park's schema; safe to run again after a failure."""
    with services() as running, contextlib.ExitStack() as stack:
        settings = running.settings
        bars: list[ProgressBar[int]] = []

        def on_start(total: int) -> None:
            if sys.stderr.isatty():  # a bar in a log file is noise
                bar = click.progressbar(length=total, label="park schemas", file=sys.stderr)
                bars.append(stack.enter_context(bar))

        async def work(db: Database) -> list[SchemaResult]:
            return await upgrade_all(
                db,
                concurrency=concurrency or settings.migrate_concurrency,
                on_start=on_start,
                on_result=lambda _result: bars and bars[0].update(1),
            )

        results = run_async(settings, work)
    control, parks = results[0], results[1:]
    failed = [r for r in parks if not r.ok]
    upgraded = [r for r in parks if r.ok and r.before != r.after]
    click.echo(
        f"public at {control.after}; {len(parks)} park schemas: "
        f"{len(upgraded)} upgraded, {len(failed)} failed"
    )
    for result in failed:
        click.echo(f"  failed {result.schema}: {result.error}", err=True)
    if failed:
        click.echo("fix the cause and run `vistapass db upgrade` again to resume", err=True)
        raise SystemExit(EXIT_FAILED)


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(as_json: bool) -> None:
    """Each schema's revision and whether it is at head."""
    with services() as running:
        rows = run_async(running.settings, schema_statuses)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "slug": r.slug,
                        "schema": r.schema,
                        "status": r.status,
                        "revision": r.revision,
                        "head": r.head,
                        "current": r.current,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return
    click.echo(f"{'SCHEMA':<28} {'STATUS':<13} {'REVISION':<10} HEAD")
    for r in rows:
        mark = "" if r.current else "  (behind)"
        click.echo(f"{r.schema:<28} {r.status:<13} {r.revision or '-':<10} {r.head}{mark}")


@db.command("url")
def url() -> None:
    """Print the database URL in use (starting the embedded server if it is not up)."""
    running = ensure_services(load_settings())
    click.echo(running.settings.database_url)
    if running.started:
        click.echo("(started the embedded servers; they keep running)", err=True)
