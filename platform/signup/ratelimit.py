"""Sign-ups per client address: each one creates a schema and a database role, so a
public form must not let one address create parks without end."""

from __future__ import annotations

from redis.asyncio import Redis

from vistapass.platform.errors import VistapassError

WINDOW_SECONDS = 3600


class TooManySignups(VistapassError):
    status_code = 429
    code = "too_many_signups"


class SignupLimiter:
    def __init__(self, redis: Redis, namespace: str, per_hour: int) -> None:
        self.redis = redis
        self.prefix = f"{namespace}:signup:ip:"
        self.per_hour = per_hour

    async def check(self, ip: str | None) -> None:
        if ip is None:
            return
        key = self.prefix + ip
        count = int(await self.redis.get(key) or 0)
        if count >= self.per_hour:
            retry_after = max(1, int(await self.redis.ttl(key)))
            raise TooManySignups(
                "Too many parks were signed up from your address; try again later.",
                details={"retry_after": retry_after},
            )

    async def record(self, ip: str | None) -> None:
        if ip is None:
            return
        key = self.prefix + ip
        count = await self.redis.incr(key)
        if count == 1:
            await self.redis.expire(key, WINDOW_SECONDS)
