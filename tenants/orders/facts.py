"""What an order is priced from, kept per process and checked at commit.

Pricing a basket reads a product, its units, its pricing mode's switch, the
calendar's word on the date, the members-only dates, the park's currency and hold
time and the capacity pools: seven queries, which on a holiday on-sale are the
same for every buyer of the same product and date. So the order path keeps them
(`SaleFacts`) with the version of `sale_facts` they were read at; triggers bump
that version on any change to the tables they come from (migration t0008).

Nothing here decides that the facts are still true: the group commit
(`batch.py`) reads the version in the order's own transaction and sends an
order priced at an older version down the ordinary path, which reads everything
afresh. A stale entry therefore costs a retry, never a wrong price.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import partial

from sqlalchemy import text

from vistapass.platform.cache.local import Recent, SingleFlight
from vistapass.platform.db import Database
from vistapass.platform.plugin_api import BasketLine, Entitlement, Quote
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.catalog.quote import QuoteInputs, load_quote_inputs
from vistapass.tenants.inventory import service as inventory
from vistapass.tenants.models import CapacityPool
from vistapass.tenants.orders.rows import PricedRows, priced_rows
from vistapass.tenants.park.service import get_profile

# An upper bound only: entries are replaced as soon as a commit sees a newer version.
KEEP_SECONDS = 300.0

VERSION_SQL = "SELECT version FROM sale_facts WHERE id = 1"


# Basket shapes priced per facts entry (an on-sale sees a handful: one adult, two...).
MAX_PRICED = 256

PricedKey = tuple[str | None, str, tuple[BasketLine, ...]]  # slot, channel, lines


@dataclass(frozen=True, slots=True)
class SaleFacts:
    version: int
    inputs: QuoteInputs
    pools: dict[str, CapacityPool]  # detached rows, read only
    time_zone: str
    hold_minutes: int
    # Baskets already priced from these facts, with the rows their orders share.
    # Pricing modes are pure (plugin_api), so the same basket on the same facts has
    # the same quote and entitlements.
    priced: dict[PricedKey, tuple[Quote, tuple[Entitlement, ...], PricedRows]] = field(
        default_factory=dict, compare=False
    )

    def remember_price(
        self, key: PricedKey, quote: Quote, entitlements: tuple[Entitlement, ...]
    ) -> PricedRows:
        rows = priced_rows(quote, entitlements)
        if len(self.priced) < MAX_PRICED:
            self.priced[key] = (quote, entitlements, rows)
        return rows


class SaleFactsCache:
    """Per process: (schema, product, date) → the facts, and each park's newest version."""

    def __init__(self) -> None:
        self._facts: Recent[tuple[str, str, date], SaleFacts] = Recent(KEEP_SECONDS)
        self._newest: dict[str, int] = {}
        self._loading: SingleFlight[tuple[str, str, date], SaleFacts] = SingleFlight()

    def get(self, schema: str, product: str, day: date) -> SaleFacts | None:
        facts = self._facts.get((schema, product, day))
        if facts is None or facts.version < self._newest.get(schema, 0):
            return None
        return facts

    def saw_version(self, schema: str, version: int) -> None:
        """A transaction of this park read `version`: older entries are out of date."""
        if version > self._newest.get(schema, 0):
            self._newest[schema] = version

    async def load(
        self, db: Database, slug: str, schema: str, product: str, day: date
    ) -> SaleFacts:
        """Read the facts afresh (raises what `load_quote_inputs` raises); buyers
        who miss them at the same moment share one read."""
        key = (schema, product, day)
        return await self._loading.run(key, partial(self._read, db, slug, key))

    async def _read(self, db: Database, slug: str, key: tuple[str, str, date]) -> SaleFacts:
        schema, product, day = key
        async with tenant_session(db, slug) as session:
            version = int(await session.scalar(text(VERSION_SQL)))
            inputs = await load_quote_inputs(session, product, day)
            pools = await inventory.pools_for(session, inputs.product)
            profile = await get_profile(session)
            facts = SaleFacts(
                version=version,
                inputs=inputs,
                pools=pools,
                time_zone=profile.time_zone,
                hold_minutes=profile.hold_minutes,
            )
            # Detached before the commit: kept for reading, never flushed back.
            session.expunge_all()
        self.saw_version(schema, version)
        return self._facts.put(key, facts)

    def drop(self, schema: str, product: str, day: date) -> None:
        self._facts.forget((schema, product, day))
