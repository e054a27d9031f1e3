"""Which park a custom domain belongs to, cached briefly in each process."""

from __future__ import annotations

import time

from vistapass.platform.db import Database
from vistapass.platform.tenancy import repository

CACHE_SECONDS = 30.0


class DomainResolver:
    """Custom domain → slug, remembering answers (also "none") for a short while."""

    def __init__(self, db: Database, ttl: float = CACHE_SECONDS) -> None:
        self.db = db
        self.ttl = ttl
        self._cache: dict[str, tuple[str | None, float]] = {}

    async def __call__(self, host: str) -> str | None:
        cached = self._cache.get(host)
        now = time.monotonic()
        if cached and cached[1] > now:
            return cached[0]
        async with self.db.session() as session:
            slug = await repository.slug_for_domain(session, host)
        if len(self._cache) > 10_000:  # bounded: unknown hosts must not grow it forever
            self._cache.clear()
        self._cache[host] = (slug, now + self.ttl)
        return slug

    def forget(self, host: str | None = None) -> None:
        if host is None:
            self._cache.clear()
        else:
            self._cache.pop(host, None)
