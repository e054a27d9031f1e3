from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.errors import NotFound
from vistapass.tenants.models import ParkProfile


async def get_profile(session: AsyncSession) -> ParkProfile:
    profile = await session.scalar(select(ParkProfile).where(ParkProfile.id == 1))
    if profile is None:
        raise NotFound("This park has no profile yet.", code="park_profile_missing")
    return profile
