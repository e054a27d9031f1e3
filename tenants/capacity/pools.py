"""Reading the park's pools, for the capacity page and for products that name them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.tenants.models import CapacityPool


async def list_pools(session: AsyncSession) -> list[CapacityPool]:
    return list(await session.scalars(select(CapacityPool).order_by(CapacityPool.code)))


async def unknown_pools(session: AsyncSession, codes: Sequence[str]) -> list[str]:
    """The codes the park has no pool for.

    The pools found are share-locked until the commit: deleting a pool locks it
    for update, so it cannot disappear while a product starts drawing on it.
    """
    if not codes:
        return []
    found = set(
        await session.scalars(
            select(CapacityPool.code)
            .where(CapacityPool.code.in_(list(codes)))
            .with_for_update(read=True, key_share=True)
        )
    )
    return [code for code in codes if code not in found]
