from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.errors import NotFound
from vistapass.tenants.models import ParkProfile


async def get_profile(session: AsyncSession) -> ParkProfile:
    # `get` answers from the session's identity map when the profile was read
    # already in this transaction (an order reads it in several places).
    profile = await session.get(ParkProfile, 1)
    if profile is None:
        raise NotFound("This park has no profile yet.", code="park_profile_missing")
    return profile
