"""Which park a custom domain belongs to, cached briefly in each process."""

from __future__ import annotations

from vistapass.platform.cache.local import Recent
from vistapass.platform.db import Database
from vistapass.platform.tenancy import repository

CACHE_SECONDS = 30.0


class DomainResolver:
    """Custom domain → slug, remembering answers (also "none") for a short while."""

    def __init__(self, db: Database, ttl: float = CACHE_SECONDS) -> None:
        self.db = db
        # "" stands for "no park has this domain", which is worth remembering too.
        self._cache: Recent[str, str] = Recent(ttl)

    async def __call__(self, host: str) -> str | None:
        cached = self._cache.get(host)
        if cached is not None:
            return cached or None
        async with self.db.session() as session:
            slug = await repository.slug_for_domain(session, host)
        return self._cache.put(host, slug or "") or None

    def forget(self, host: str | None = None) -> None:
        self._cache.forget(host)
