"""`vistapass tickets rotate-key SLUG`: a new signing key for a park's tickets."""

from __future__ import annotations

import click

from vistapass.platform.cli._common import run_async, services
from vistapass.platform.crypto.envelope import wrapper_for
from vistapass.platform.db import Database
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.keys.signing import rotate_signing_key


@click.group()
def tickets() -> None:
    """Ticket signing keys."""


@tickets.command("rotate-key")
@click.argument("slug")
def rotate_key(slug: str) -> None:
    """Sign new tickets with a new key; tickets already issued keep verifying."""
    with services() as running:
        wrapper = wrapper_for(running.settings)

        async def work(db: Database) -> int:
            async with tenant_session(db, slug) as session:
                return await rotate_signing_key(session, wrapper)

        key_id = run_async(running.settings, work)
    click.echo(f"park {slug} now signs tickets with key {key_id}")
