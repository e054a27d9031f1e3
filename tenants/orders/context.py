"""What selling needs from the running process, built once per app or worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from vistapass.platform.crypto.envelope import KeyWrapper, wrapper_for
from vistapass.platform.db import Database
from vistapass.platform.models.base import utcnow
from vistapass.platform.settings import Settings
from vistapass.tenants.inventory.gate import FlashSaleGate
from vistapass.tenants.payments.stripe_gateway import StripeConfig, StripeGateway

if TYPE_CHECKING:
    from vistapass.tenants.inventory.availability import DelayedInvalidation
    from vistapass.tenants.orders.facts import SaleFactsCache
    from vistapass.tenants.orders.group_commit import GroupCommit


@dataclass
class Selling:
    db: Database
    settings: Settings
    redis: Redis
    gate: FlashSaleGate
    wrapper: KeyWrapper
    stripe: StripeGateway | None
    facts: SaleFactsCache
    orders: GroupCommit  # plain web orders, written in batches (`fast_path`)
    later: DelayedInvalidation  # the cached availability the group commit changed

    async def close(self) -> None:
        """At shutdown: the last batches are written, the availability they changed
        is dropped, and Stripe's connections are closed."""
        await self.orders.close()
        try:
            await self.later.close()
        finally:
            if self.stripe is not None:
                await self.stripe.aclose()

    @classmethod
    def build(cls, db: Database, settings: Settings, redis: Redis) -> Selling:
        stripe = None
        if settings.stripe_api_key:
            stripe = StripeGateway(
                StripeConfig(
                    api_key=settings.stripe_api_key,
                    webhook_secret=settings.stripe_webhook_secret,
                    api_base=settings.stripe_api_base or None,
                    platform_fee_bp=settings.platform_fee_bp,
                    platform_fee_fixed=settings.platform_fee_fixed,
                )
            )
        # Imported here: pricing imports membership, membership the check-in service,
        # and that this module.
        from vistapass.tenants.inventory.availability import DelayedInvalidation
        from vistapass.tenants.orders.facts import SaleFactsCache
        from vistapass.tenants.orders.group_commit import GroupCommit

        facts = SaleFactsCache()
        later = DelayedInvalidation(redis, settings.redis_namespace)
        return cls(
            db=db,
            settings=settings,
            redis=redis,
            gate=FlashSaleGate(redis, settings.redis_namespace, settings.flash_sale_margin),
            wrapper=wrapper_for(settings),
            stripe=stripe,
            facts=facts,
            orders=GroupCommit(db, facts, on_written=later.add),
            later=later,
        )


def selling_for(state: Any) -> Selling:
    """The app's (or worker's) Selling, made on first use and kept on its state."""
    existing = getattr(state, "selling", None)
    if existing is None:
        existing = Selling.build(state.db, state.settings, state.redis)
        state.selling = existing
    return existing


def local_now(time_zone: str) -> datetime:
    return utcnow().astimezone(ZoneInfo(time_zone))
