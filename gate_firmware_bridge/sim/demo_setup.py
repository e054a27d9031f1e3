"""What `make run` needs to show gates working: an edge credential and tickets to scan.

The demo edge's token is kept in the data folder (development only: a real park's
token is shown once in the console and kept by the technician), so restarting
`make run` reuses the same edge and its store. The simulator's tickets are sold
afresh at every start (`demo_codes.seed_demo_codes`): the last run's are used up.
"""

from __future__ import annotations

from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.gates.credentials import authenticate, mint, parse_token
from vistapass.tenants.gates.errors import InvalidCredential
from vistapass.tenants.orders.context import Selling

TOKEN_FILE = "demo-edge-token"  # noqa: S105 - the file's name, not a token
CODES_FILE = "gate-sim-codes.json"


async def demo_edge_token(selling: Selling, slug: str, saved: str | None) -> str:
    """`saved` while it is a live edge credential of the park; a new one otherwise."""
    async with tenant_session(selling.db, slug) as session:
        if saved:
            try:
                parsed = parse_token(saved)
                if parsed.slug == slug:
                    await authenticate(session, parsed)
                    return saved
            except InvalidCredential:
                pass  # revoked in the console, or another database: make a new one
        return (await mint(session, slug, "edge", "Demo edge (make run)", None)).token
