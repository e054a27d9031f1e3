"""Accepted face photos, kept sealed in object storage for a short time.

A photo checked on step 2 is kept at once under a random token
(`t/<slug>/face-photos/pending/<token>`), so a form sent back for another reason
(a typo in an ID number) does not make the visitor take it again. When the order
is placed, the photo moves to a key made from what it belongs to:
`t/<slug>/face-photos/holders/<ticket holder id>` for a named ticket, or
`.../orders/<order id>` for an order without named holders. The key is derived,
so no table needs a column for it, and the enrolment worker finds it from the id.

Each object is the park's data key id (4 bytes, big-endian) followed by the crop
sealed with that key; the object's own storage key is the seal's associated data,
so a blob copied to another holder's key, or another park's, does not open.

Retention is short, as biometric data must be: a pending photo is kept for
`PENDING_SECONDS`, an attached one for `KEPT_SECONDS` (long enough for the
enrolment worker to embed it, which then has no further use for the picture).
No scheduler runs here, so every photo's deadline is recorded in one Redis
sorted set, and each photo kept sweeps the ones due (`purge_due`, also callable
on its own from a periodic job).
"""

from __future__ import annotations

import asyncio
import secrets
import struct
import time
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.crypto.envelope import KeyWrapper, open_sealed, seal
from vistapass.platform.errors import VistapassError
from vistapass.platform.storage import ObjectNotFound, Storage, tenant_key
from vistapass.tenants.keys.service import current_data_key, data_key

FOLDER = "face-photos"
CONTENT_TYPE = "application/octet-stream"  # sealed bytes, not a JPEG anyone could show
PENDING_SECONDS = 2 * 3600
KEPT_SECONDS = 3 * 24 * 3600
PURGE_BATCH = 50
TOKEN_BYTES = 24
_HEADER = struct.Struct(">I")
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class FacePhotoMissing(VistapassError):
    """The photo is gone: never kept, already moved, or past its retention."""

    status_code = 404
    code = "face_photo_missing"


def valid_token(token: str) -> bool:
    return len(token) == 32 and set(token) <= _TOKEN_CHARS


def pending_key(slug: str, token: str) -> str:
    return tenant_key(slug, FOLDER, "pending", token)


def holder_key(slug: str, holder_id: uuid.UUID) -> str:
    return tenant_key(slug, FOLDER, "holders", str(holder_id))


def order_key(slug: str, order_id: uuid.UUID) -> str:
    return tenant_key(slug, FOLDER, "orders", str(order_id))


@dataclass(frozen=True)
class FacePhotoVault:
    """Where face photos go and how they are sealed; one per process is enough."""

    storage: Storage
    redis: Redis
    namespace: str
    wrapper: KeyWrapper

    @property
    def _due_key(self) -> str:
        return f"{self.namespace}:face-photos:due"

    async def keep_pending(self, session: AsyncSession, slug: str, jpeg: bytes) -> str:
        """Seal and store an accepted crop; the token the form carries to find it again.

        `session` is bound to the park: the first photo may create its data key,
        which the caller's transaction commits."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        await self._put(session, pending_key(slug, token), jpeg, PENDING_SECONDS)
        await self.purge_due()
        return token

    async def pending_exists(self, slug: str, token: str) -> bool:
        if not valid_token(token):
            return False
        return await asyncio.to_thread(self.storage.exists, pending_key(slug, token))

    async def attach(self, session: AsyncSession, slug: str, token: str, target: str) -> bool:
        """Move a pending photo to `target`; False when there is none to move.

        A target that has its photo already keeps it: a form sent twice gives one
        order, and the first request's photo is the one that went with it."""
        if not valid_token(token) or await asyncio.to_thread(self.storage.exists, target):
            return False
        source = pending_key(slug, token)
        try:
            jpeg = await self.read(session, source)
        except FacePhotoMissing:
            return False
        await self._put(session, target, jpeg, KEPT_SECONDS)
        await asyncio.to_thread(self.storage.delete, source)
        await self.redis.zrem(self._due_key, source)
        return True

    async def read(self, session: AsyncSession, key: str) -> bytes:
        """The JPEG crop stored under `key`, unsealed with the park's data key."""
        try:
            blob = await asyncio.to_thread(self.storage.get, key)
        except ObjectNotFound:
            raise FacePhotoMissing("No face photo is kept here.", details={"key": key}) from None
        (key_id,) = _HEADER.unpack_from(blob)
        plain_key = await data_key(session, self.wrapper, key_id)
        return open_sealed(plain_key, blob[_HEADER.size :], key.encode())

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.storage.delete, key)
        await self.redis.zrem(self._due_key, key)

    async def purge_due(self, now: float | None = None) -> int:
        """Delete photos past their retention; how many went. Safe to run anywhere, at
        once: deleting a missing object is no error, and each key leaves the set once."""
        moment = time.time() if now is None else now
        due = await self.redis.zrangebyscore(self._due_key, "-inf", moment, 0, PURGE_BATCH)
        removed = 0
        for raw in due:
            key = raw.decode() if isinstance(raw, bytes) else str(raw)
            await asyncio.to_thread(self.storage.delete, key)
            removed += await self.redis.zrem(self._due_key, key)
        return removed

    async def _put(self, session: AsyncSession, key: str, jpeg: bytes, keep_for: int) -> None:
        key_id, plain_key = await current_data_key(session, self.wrapper)
        blob = _HEADER.pack(key_id) + seal(plain_key, jpeg, key.encode())
        # The deadline is written first: a crash between the two leaves a deadline
        # for nothing (harmless), never a photo that nobody will delete.
        await self.redis.zadd(self._due_key, {key: time.time() + keep_for})
        await asyncio.to_thread(self.storage.put, key, blob, CONTENT_TYPE)
