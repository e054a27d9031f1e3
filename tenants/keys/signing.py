"""The park's Ed25519 ticket signing keys, in `signing_keys`.

The newest key without `retired_at` signs new tickets. Rotating adds a key and
sets `retired_at` on the older ones, which only means they sign no more: every
key, retired or not, stays in `public_keys` and keeps verifying the tickets it
signed, so tickets sold before a rotation still open the gates. A key is never
deleted while tickets signed by it may be valid.

Private keys are stored sealed with the park's data key, with the key id in the
AAD so a sealed key cannot be swapped onto another row. Like the data key
functions these only execute statements; the caller commits.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.crypto import KeyWrapper, open_sealed, seal
from vistapass.tenants.keys.service import current_data_key, data_key
from vistapass.tenants.models.sales import SigningKey


def _aad(key_id: int) -> bytes:
    return b"signing-key:%d" % key_id


async def _active(session: AsyncSession) -> SigningKey | None:
    statement = (
        select(SigningKey)
        .where(SigningKey.retired_at.is_(None))
        .order_by(SigningKey.id.desc())
        .limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def _create_next(
    session: AsyncSession, wrapper: KeyWrapper
) -> tuple[int, Ed25519PrivateKey] | None:
    """Insert key max(id)+1; None when a concurrent caller took that id first.

    On a conflict the insert waits for the other transaction and then does
    nothing, so the caller's next read sees the other's key.
    """
    newest = (await session.execute(select(func.max(SigningKey.id)))).scalar_one()
    key_id = (newest or 0) + 1
    data_key_id, key = await current_data_key(session, wrapper)
    private_key = Ed25519PrivateKey.generate()
    inserted = await session.execute(
        insert(SigningKey)
        .values(
            id=key_id,
            public_key=private_key.public_key().public_bytes_raw(),
            sealed_private_key=seal(key, private_key.private_bytes_raw(), _aad(key_id)),
            data_key_id=data_key_id,
        )
        .on_conflict_do_nothing(index_elements=[SigningKey.id])
        .returning(SigningKey.id)
    )
    if inserted.scalar_one_or_none() is None:
        return None
    return key_id, private_key


async def _load(session: AsyncSession, wrapper: KeyWrapper, row: SigningKey) -> Ed25519PrivateKey:
    key = await data_key(session, wrapper, row.data_key_id)
    raw = open_sealed(key, row.sealed_private_key, _aad(row.id))
    return Ed25519PrivateKey.from_private_bytes(raw)


async def active_signing_key(
    session: AsyncSession, wrapper: KeyWrapper
) -> tuple[int, Ed25519PrivateKey]:
    """(id, private key) of the key that signs new tickets; the first use creates key 1."""
    row = await _active(session)
    if row is None:
        created = await _create_next(session, wrapper)
        if created is not None:
            return created
        row = await _active(session)
        if row is None:
            raise RuntimeError("a signing key conflicted on insert yet none is active")
    return row.id, await _load(session, wrapper, row)


async def rotate_signing_key(session: AsyncSession, wrapper: KeyWrapper) -> int:
    """Make a new key the signing one and return its id; older keys keep verifying.

    Two rotations at once make one new key: the later one finds its id taken
    and returns the key the other made.
    """
    created = await _create_next(session, wrapper)
    if created is None:
        row = await _active(session)
        if row is None:
            raise RuntimeError("a rotation conflicted on insert yet no key is active")
        return row.id
    key_id, _ = created
    await session.execute(
        update(SigningKey)
        .where(SigningKey.id < key_id, SigningKey.retired_at.is_(None))
        .values(retired_at=func.now())
        .execution_options(synchronize_session="fetch")
    )
    return key_id


async def public_keys(session: AsyncSession) -> dict[int, bytes]:
    """Every key's raw 32-byte public key by id, retired keys included."""
    rows = await session.execute(select(SigningKey.id, SigningKey.public_key))
    return {key_id: public_key for key_id, public_key in rows}
