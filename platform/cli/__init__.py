"""The `vistapass` command."""

from __future__ import annotations

import click

from vistapass.gate_firmware_bridge.cli import gate_edge, gate_sim
from vistapass.platform.cli.audit import audit
from vistapass.platform.cli.db import db
from vistapass.platform.cli.run import dev, serve, worker
from vistapass.platform.cli.tenants import tenants
from vistapass.platform.cli.tickets import tickets


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Vistapass: ticketing for scenic areas, parks and attractions."""


for command in (serve, worker, dev, db, tenants, audit, tickets, gate_edge, gate_sim):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="vistapass")
