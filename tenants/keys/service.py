"""The park's data keys, stored wrapped in `data_keys` and unwrapped on use.

All functions work on a session bound to the park (see
`platform.tenancy.binding`) and only execute statements: the caller commits.
Wrapping and unwrapping run in a worker thread because with KMS each is a
blocking network call.
"""

from __future__ import annotations

import asyncio
import secrets

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.crypto import KeyWrapper, derive_key
from vistapass.platform.crypto.envelope import KEY_BYTES
from vistapass.platform.errors import VistapassError
from vistapass.tenants.models.sales import DataKey

FIRST_KEY_ID = 1


class MissingKey(VistapassError):
    """Sealed data names a key the park does not have: the data cannot be read."""

    status_code = 500
    code = "missing_key"


async def _newest(session: AsyncSession) -> DataKey | None:
    statement = select(DataKey).order_by(DataKey.id.desc()).limit(1)
    return (await session.execute(statement)).scalar_one_or_none()


async def _unwrap(row: DataKey, wrapper: KeyWrapper) -> bytes:
    return await asyncio.to_thread(wrapper.unwrap, row.wrapped_key, row.wrapped_by)


async def current_data_key(session: AsyncSession, wrapper: KeyWrapper) -> tuple[int, bytes]:
    """(id, key) of the key new data is sealed with; the first use creates key 1.

    Two first uses at once both try to insert key 1; ON CONFLICT makes the loser
    wait for the winner's commit and insert nothing, and its second read (a new
    snapshot under READ COMMITTED) then finds the winner's key.
    """
    row = await _newest(session)
    if row is None:
        plain = secrets.token_bytes(KEY_BYTES)
        wrapped, label = await asyncio.to_thread(wrapper.wrap, plain)
        inserted = await session.execute(
            insert(DataKey)
            .values(id=FIRST_KEY_ID, wrapped_key=wrapped, wrapped_by=label)
            .on_conflict_do_nothing(index_elements=[DataKey.id])
            .returning(DataKey.id)
        )
        if inserted.scalar_one_or_none() is not None:
            return FIRST_KEY_ID, plain
        row = await _newest(session)
        if row is None:
            raise RuntimeError("data key 1 conflicted on insert yet cannot be read")
    return row.id, await _unwrap(row, wrapper)


async def data_key(session: AsyncSession, wrapper: KeyWrapper, key_id: int) -> bytes:
    """The key with this id, as sealed rows name it in their `data_key_id`."""
    row = await session.get(DataKey, key_id)
    if row is None:
        raise MissingKey(f"The park has no data key {key_id}.", details={"key_id": key_id})
    return await _unwrap(row, wrapper)


def lookup_key(data_key: bytes) -> bytes:
    """The HMAC key for lookup hashes, derived so hashes never use the encryption key itself.

    A lookup hash is only comparable with hashes made under the same data key:
    derive it from a key that never changes for the park (key 1), not from
    whichever key is current, or a new data key would hide every older hash.
    """
    return derive_key(data_key, b"lookup")
