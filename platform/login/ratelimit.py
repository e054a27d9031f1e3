"""Failed sign-ins counted in Redis: per account and per client address.

Each counter is a sliding window (a sorted set of failure times). When it
reaches its limit, a lock key with its own expiry takes over and the counter
starts again, so a locked account or address stays locked for exactly the
lockout time, however many more attempts arrive meanwhile (those are refused
before any password is checked, and are not counted).

Accounts are keyed by a hash of the normalised e-mail, whether or not such an
account exists, so a lock says nothing about who has an account and the keys
hold no addresses.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from litestar.connection import ASGIConnection
from redis.asyncio import Redis

ACCOUNT_LIMIT = 5
IP_LIMIT = 20
WINDOW_SECONDS = 15 * 60
LOCKOUT_SECONDS = 15 * 60
STATE_KEY = "login_limiter"

# KEYS: counter, lock. ARGV: now, window, limit, lockout, unique member.
_RECORD_FAILURE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('EXPIRE', KEYS[1], math.ceil(window))
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[3]) then
  redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[4]))
  redis.call('DEL', KEYS[1])
end
return count
"""


def account_key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


class LoginLimiter:
    def __init__(
        self,
        redis: Redis,
        namespace: str,
        *,
        account_limit: int = ACCOUNT_LIMIT,
        ip_limit: int = IP_LIMIT,
        window_seconds: int = WINDOW_SECONDS,
        lockout_seconds: int = LOCKOUT_SECONDS,
    ) -> None:
        if min(account_limit, ip_limit, window_seconds, lockout_seconds) < 1:
            raise ValueError("limits and times must be positive")
        self.redis = redis
        self.prefix = f"{namespace}:login:"
        self.account_limit = account_limit
        self.ip_limit = ip_limit
        self.window_seconds = window_seconds
        self.lockout_seconds = lockout_seconds
        self._record = redis.register_script(_RECORD_FAILURE)

    def _keys(self, kind: str, ident: str) -> tuple[str, str]:
        return f"{self.prefix}fail:{kind}:{ident}", f"{self.prefix}lock:{kind}:{ident}"

    def _locks(self, email: str, ip: str | None) -> list[str]:
        locks = [self._keys("account", account_key(email))[1]]
        if ip:
            locks.append(self._keys("ip", ip)[1])
        return locks

    async def retry_after(self, email: str, ip: str | None) -> int | None:
        """Seconds until this account and address may try again; None when they may now."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in self._locks(email, ip):
                pipe.ttl(key)
            ttls = await pipe.execute()
        # TTL is -2 for a missing key; -1 (no expiry) cannot happen, but would mean locked.
        waits = [ttl if ttl > 0 else self.lockout_seconds for ttl in ttls if ttl != -2]
        return max(waits) if waits else None

    async def _count(self, kind: str, ident: str, limit: int) -> int:
        counter, lock = self._keys(kind, ident)
        args = [time.time(), self.window_seconds, limit, self.lockout_seconds, secrets.token_hex(8)]
        return int(await self._record(keys=[counter, lock], args=args))

    async def record_failure(self, email: str, ip: str | None) -> None:
        await self._count("account", account_key(email), self.account_limit)
        if ip:
            await self._count("ip", ip, self.ip_limit)

    async def clear_account(self, email: str) -> None:
        """A correct password (or a completed reset) forgives the account's failures."""
        await self.redis.delete(*self._keys("account", account_key(email)))


def limiter_for(connection: ASGIConnection[Any, Any, Any, Any]) -> LoginLimiter:
    """The app's limiter: one set on `app.state.login_limiter` (tests), else the defaults."""
    state = connection.app.state
    limiter = state.get(STATE_KEY)
    if isinstance(limiter, LoginLimiter):
        return limiter
    return LoginLimiter(state.redis, state.settings.redis_namespace)
