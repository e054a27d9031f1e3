"""Server-side sessions in Redis; the browser holds only a random id in a cookie."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace

from redis.asyncio import Redis

from vistapass.platform.identity.secrets import new_token, token_hash

SESSION_COOKIE = "vp_session"
IDLE_SECONDS = 12 * 3600
ABSOLUTE_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class SessionData:
    user_id: str
    email: str
    name: str
    is_platform_admin: bool
    # Password accepted but the second factor not yet given: not signed in.
    mfa_pending: bool = False
    created_at: float = field(default_factory=time.time)
    lang: str | None = None


class SessionStore:
    def __init__(self, redis: Redis, namespace: str) -> None:
        self.redis = redis
        self.prefix = f"{namespace}:session:"
        self.user_prefix = f"{namespace}:user-sessions:"

    def _key(self, session_id: str) -> str:
        # The id is stored hashed: a leaked Redis dump does not hand out sessions.
        return self.prefix + token_hash(session_id)

    async def create(self, data: SessionData) -> str:
        session_id = new_token()
        await self._write(session_id, data)
        await self.redis.sadd(self.user_prefix + data.user_id, token_hash(session_id))
        await self.redis.expire(self.user_prefix + data.user_id, ABSOLUTE_SECONDS)
        return session_id

    async def _write(self, session_id: str, data: SessionData) -> None:
        await self.redis.set(self._key(session_id), json.dumps(asdict(data)), ex=IDLE_SECONDS)

    async def get(self, session_id: str | None) -> SessionData | None:
        if not session_id or len(session_id) > 100:
            return None
        raw = await self.redis.get(self._key(session_id))
        if raw is None:
            return None
        data = SessionData(**json.loads(raw))
        if time.time() - data.created_at > ABSOLUTE_SECONDS:
            await self.destroy(session_id)
            return None
        await self.redis.expire(self._key(session_id), IDLE_SECONDS)  # sliding idle timeout
        return data

    async def update(self, session_id: str, data: SessionData, **changes: object) -> SessionData:
        updated = replace(data, **changes)  # type: ignore[arg-type]
        await self._write(session_id, updated)
        return updated

    async def destroy(self, session_id: str) -> None:
        await self.redis.delete(self._key(session_id))

    async def destroy_all_for(self, user_id: str) -> None:
        """Sign a person out everywhere (after a password reset, for instance)."""
        hashes = await self.redis.smembers(self.user_prefix + user_id)
        if hashes:
            await self.redis.delete(*(self.prefix + h.decode() for h in hashes))
        await self.redis.delete(self.user_prefix + user_id)
