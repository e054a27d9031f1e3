"""What every scan of a park needs and almost never changes: its time zone and keys.

A gate redeem or an edge sync reads these on every call; they are remembered per
process for `FACTS_CACHE_S` seconds instead of being read each time. Keys are
added by rotation: a code naming a key the cached list lacks reloads the list
once (`verify_code`), so a fresh key admits at once. A time-zone change made in this
process is forgotten at once (`forget_park_facts`); other processes follow
within the cache time.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.cache.local import Recent
from vistapass.platform.tenancy.binding import current_tenant
from vistapass.tenants.keys.signing import public_keys
from vistapass.tenants.park.service import get_profile
from vistapass.tenants.tickets.codec import TicketInvalid, TicketPayload
from vistapass.tenants.tickets.verify import verify_ticket

FACTS_CACHE_S = 10.0


@dataclass(frozen=True, slots=True)
class ParkFacts:
    zone: ZoneInfo
    keys: Mapping[int, bytes]  # every public key by id, retired ones included


_facts: Recent[uuid.UUID, ParkFacts] = Recent(FACTS_CACHE_S)


async def park_facts(session: AsyncSession, *, fresh: bool = False) -> ParkFacts:
    """The bound park's facts, from this process's cache unless `fresh`."""
    tenant_id = current_tenant(session).id
    if not fresh and (known := _facts.get(tenant_id)) is not None:
        return known
    profile = await get_profile(session)
    facts = ParkFacts(ZoneInfo(profile.time_zone), await public_keys(session))
    return _facts.put(tenant_id, facts)


async def verify_code(session: AsyncSession, text: str) -> TicketPayload:
    """`verify_ticket` against the park's keys (revocation is the caller's to check)."""
    try:
        return verify_ticket(text, (await park_facts(session)).keys, ())
    except TicketInvalid as exc:
        if exc.code != "unknown_key":
            raise
    # A key rotated since the cached list was read, or a code that is not ours.
    return verify_ticket(text, (await park_facts(session, fresh=True)).keys, ())


def kept_park_facts(tenant_id: uuid.UUID) -> ParkFacts | None:
    """The park's facts if this process has them now (no database read)."""
    return _facts.get(tenant_id)


def forget_park_facts(tenant_id: uuid.UUID) -> None:
    _facts.forget(tenant_id)
