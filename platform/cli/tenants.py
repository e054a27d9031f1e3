"""`vistapass tenants create|list|suspend|resume`."""

from __future__ import annotations

import json

import click

from vistapass.platform.cli._common import fail, run_async, services
from vistapass.platform.db import Database
from vistapass.platform.tenancy import admin
from vistapass.platform.tenancy.provisioning import ProvisionedTenant, provision_tenant


@click.group()
def tenants() -> None:
    """Parks on this deployment."""


@tenants.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="The park's display name.")
def create(slug: str, name: str) -> None:
    """Provision a park (or finish one whose provisioning was interrupted)."""
    with services() as running:

        async def work(db: Database) -> ProvisionedTenant:
            await admin.require_migrated(db)
            return await provision_tenant(db, slug, name)

        made = run_async(running.settings, work)
    verb = "finished provisioning" if made.resumed else "created"
    click.echo(f"{verb} park {made.slug} (schema {made.schema_name}, role {made.db_role})")


@tenants.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(as_json: bool) -> None:
    """List every park with its status."""
    with services() as running:
        rows = run_async(running.settings, admin.list_parks)
    if as_json:
        click.echo(json.dumps([row.as_dict() for row in rows], indent=2))
        return
    if not rows:
        click.echo("no parks yet: vistapass tenants create SLUG --name NAME")
        return
    click.echo(f"{'SLUG':<24} {'STATUS':<13} {'SCHEMA':<26} NAME")
    for row in rows:
        click.echo(f"{row.slug:<24} {row.status:<13} {row.schema_name:<26} {row.display_name}")


@tenants.command("suspend")
@click.argument("slug")
def suspend(slug: str) -> None:
    """Close a park: its pages show a closed notice and its API answers 403."""
    with services() as running:
        changed = run_async(running.settings, lambda db: admin.suspend(db, slug))
    click.echo(f"suspended {slug}" if changed else f"{slug} was already suspended")


@tenants.command("resume")
@click.argument("slug")
def resume(slug: str) -> None:
    """Reopen a suspended park."""
    with services() as running:
        changed = run_async(running.settings, lambda db: admin.resume(db, slug))
    if changed is None:
        fail(f"{slug} is still provisioning; run `vistapass tenants create {slug}` to finish it")
    click.echo(f"resumed {slug}" if changed else f"{slug} was already active")


@tenants.command("add-domain")
@click.argument("slug")
@click.argument("domain")
def add_domain(slug: str, domain: str) -> None:
    """Serve a park on its own domain (once its owner has pointed DNS at us)."""
    with services() as running:
        added = run_async(running.settings, lambda db: admin.add_domain(db, slug, domain))
    click.echo(f"{slug} is served on {domain}" if added else f"{slug} already had {domain}")


@tenants.command("remove-domain")
@click.argument("slug")
@click.argument("domain")
def remove_domain(slug: str, domain: str) -> None:
    """Stop serving a park on a custom domain."""
    with services() as running:
        removed = run_async(running.settings, lambda db: admin.remove_domain(db, slug, domain))
    if not removed:
        fail(f"domain_not_found: {slug} is not served on {domain}")
    click.echo(f"{slug} is no longer served on {domain}")


@tenants.command("domains")
@click.argument("slug")
def domains(slug: str) -> None:
    """List a park's custom domains."""
    with services() as running:
        names = run_async(running.settings, lambda db: admin.domains_of(db, slug))
    click.echo("\n".join(names) if names else f"{slug} has no custom domains")
