from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, update

from tests.conftest import run, unique_slug
from vistapass.platform.crypto import CryptoError, MasterKeyWrapper, master_key_from
from vistapass.platform.db import Database
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.platform.tenancy.provisioning import provision_tenant
from vistapass.tenants.keys import (
    MissingKey,
    active_signing_key,
    current_data_key,
    data_key,
    lookup_key,
    public_keys,
    rotate_signing_key,
)
from vistapass.tenants.models.sales import DataKey, SigningKey
from vistapass.tenants.tickets import TicketPayload, sign_payload, verify_ticket


class RendezvousWrapper(MasterKeyWrapper):
    """A master key wrapper whose wraps (or unwraps) wait until `parties` callers are there.

    Creating a data key wraps it before inserting it, and creating a signing key
    unwraps the data key after reading the newest key id, so callers held here
    have all read the table and then race to insert. The keys code wraps and
    unwraps in a worker thread, so a thread barrier holds them without stopping
    the event loop.
    """

    def __init__(self, master_key: bytes, parties: int, *, hold: str) -> None:
        super().__init__(master_key)
        self.barrier = threading.Barrier(parties, timeout=30)
        self.hold = hold

    def wrap(self, plain: bytes) -> tuple[bytes, str]:
        if self.hold == "wrap":
            self.barrier.wait()
        return super().wrap(plain)

    def unwrap(self, wrapped: bytes, label: str) -> bytes:
        if self.hold == "unwrap":
            self.barrier.wait()
        return super().unwrap(wrapped, label)


def _park(settings: Settings, prefix: str) -> str:
    slug = unique_slug(prefix)
    run(settings, lambda db: provision_tenant(db, slug, "Keys Park"))
    return slug


@pytest.fixture(scope="module")
def park(migrated: Settings) -> str:
    return _park(migrated, "keys")


@pytest.fixture
def wrapper(migrated: Settings) -> MasterKeyWrapper:
    return MasterKeyWrapper(master_key_from(migrated))


# Data keys


def test_first_use_creates_key_one_then_keeps_it(
    migrated: Settings, park: str, wrapper: MasterKeyWrapper
) -> None:
    async def work(db: Database) -> tuple[tuple[int, bytes], tuple[int, bytes], list[DataKey]]:
        async with tenant_session(db, park) as session:
            first = await current_data_key(session, wrapper)
        async with tenant_session(db, park) as session:
            again = await current_data_key(session, wrapper)
            rows = list((await session.execute(select(DataKey))).scalars())
        return first, again, rows

    first, again, rows = run(migrated, work)
    assert first[0] == 1
    assert len(first[1]) == 32
    assert again == first
    assert [row.id for row in rows] == [1]
    assert rows[0].wrapped_by == wrapper.label
    assert first[1] not in rows[0].wrapped_key
    assert wrapper.unwrap(rows[0].wrapped_key, rows[0].wrapped_by) == first[1]


def test_data_key_by_id(migrated: Settings, park: str, wrapper: MasterKeyWrapper) -> None:
    async def work(db: Database) -> tuple[tuple[int, bytes], bytes]:
        async with tenant_session(db, park) as session:
            current = await current_data_key(session, wrapper)
            return current, await data_key(session, wrapper, current[0])

    current, by_id = run(migrated, work)
    assert by_id == current[1]

    async def missing(db: Database) -> bytes:
        async with tenant_session(db, park) as session:
            return await data_key(session, wrapper, 99)

    with pytest.raises(MissingKey) as info:
        run(migrated, missing)
    assert info.value.details == {"key_id": 99}


def test_another_master_key_cannot_open_the_park_keys(migrated: Settings, park: str) -> None:
    stranger = MasterKeyWrapper(bytes(32))

    async def work(db: Database) -> bytes:
        async with tenant_session(db, park) as session:
            return await data_key(session, stranger, 1)

    with pytest.raises(CryptoError):
        run(migrated, work)


def test_parks_have_their_own_data_keys(
    migrated: Settings, park: str, wrapper: MasterKeyWrapper
) -> None:
    other = _park(migrated, "keys-other")

    async def work(db: Database) -> tuple[bytes, bytes]:
        async with tenant_session(db, park) as session:
            _, mine = await current_data_key(session, wrapper)
        async with tenant_session(db, other) as session:
            _, theirs = await current_data_key(session, wrapper)
        return mine, theirs

    mine, theirs = run(migrated, work)
    assert mine != theirs


def test_concurrent_first_uses_end_with_one_key(migrated: Settings) -> None:
    slug = _park(migrated, "keys-race")
    racing = RendezvousWrapper(master_key_from(migrated), parties=2, hold="wrap")

    async def first_use(db: Database) -> tuple[int, bytes]:
        async with tenant_session(db, slug) as session:
            return await current_data_key(session, racing)

    async def work(db: Database) -> tuple[list[tuple[int, bytes]], int]:
        results = await asyncio.gather(first_use(db), first_use(db))
        async with tenant_session(db, slug) as session:
            count = (await session.execute(select(func.count()).select_from(DataKey))).scalar_one()
        return list(results), count

    results, count = run(migrated, work)
    assert results[0] == results[1]
    assert results[0][0] == 1
    assert count == 1


def test_lookup_key_is_derived_not_the_data_key() -> None:
    key = bytes(range(32))
    derived = lookup_key(key)
    assert len(derived) == 32
    assert derived != key
    assert lookup_key(key) == derived
    assert lookup_key(bytes(32)) != derived


# Signing keys


def _ticket(key_id: int) -> TicketPayload:
    day = date(2026, 5, 1)
    return TicketPayload(
        key_id=key_id, ticket_id=uuid.uuid4(), product_number=7, valid_from=day, valid_to=day
    )


def test_signing_keys_rotate_and_old_tickets_still_verify(
    migrated: Settings, wrapper: MasterKeyWrapper
) -> None:
    slug = _park(migrated, "keys-sign")

    async def active(db: Database) -> tuple[int, Ed25519PrivateKey]:
        async with tenant_session(db, slug) as session:
            return await active_signing_key(session, wrapper)

    async def rotate(db: Database) -> int:
        async with tenant_session(db, slug) as session:
            return await rotate_signing_key(session, wrapper)

    async def state(db: Database) -> tuple[dict[int, bytes], list[SigningKey]]:
        async with tenant_session(db, slug) as session:
            rows = (await session.execute(select(SigningKey).order_by(SigningKey.id))).scalars()
            return await public_keys(session), list(rows)

    first_id, first = run(migrated, active)
    assert first_id == 1
    again_id, again = run(migrated, active)
    assert again_id == 1
    assert again.private_bytes_raw() == first.private_bytes_raw()
    old_ticket = sign_payload(_ticket(1), first)

    assert run(migrated, rotate) == 2
    new_id, new = run(migrated, active)
    assert new_id == 2
    assert new.private_bytes_raw() != first.private_bytes_raw()
    assert run(migrated, rotate) == 3

    keys, rows = run(migrated, state)
    assert set(keys) == {1, 2, 3}
    assert keys[1] == first.public_key().public_bytes_raw()
    assert [row.retired_at is None for row in rows] == [False, False, True]
    assert all(row.data_key_id == 1 for row in rows)
    assert all(first.private_bytes_raw() not in row.sealed_private_key for row in rows)
    # Retired keys no longer sign, but what they signed still opens the gates.
    assert verify_ticket(old_ticket, keys, set()).key_id == 1
    assert run(migrated, active)[0] == 3


def test_a_sealed_private_key_cannot_be_moved_to_another_row(
    migrated: Settings, wrapper: MasterKeyWrapper
) -> None:
    slug = _park(migrated, "keys-swap")

    async def work(db: Database) -> None:
        async with tenant_session(db, slug) as session:
            await active_signing_key(session, wrapper)
            await rotate_signing_key(session, wrapper)
            first = await session.get(SigningKey, 1)
            assert first is not None
            # Key 1's sealed private key pasted onto key 2, the one that signs.
            await session.execute(
                update(SigningKey)
                .where(SigningKey.id == 2)
                .values(sealed_private_key=first.sealed_private_key)
            )
        async with tenant_session(db, slug) as session:
            await active_signing_key(session, wrapper)

    with pytest.raises(CryptoError):
        run(migrated, work)


def test_concurrent_first_signing_keys_end_with_one_key(
    migrated: Settings, wrapper: MasterKeyWrapper
) -> None:
    slug = _park(migrated, "keys-sign-race")

    async def first_use(db: Database) -> tuple[int, bytes]:
        async with tenant_session(db, slug) as session:
            key_id, key = await active_signing_key(session, wrapper)
            return key_id, key.public_key().public_bytes_raw()

    async def work(db: Database) -> tuple[list[tuple[int, bytes]], dict[int, bytes]]:
        results = await asyncio.gather(first_use(db), first_use(db), first_use(db))
        async with tenant_session(db, slug) as session:
            return list(results), await public_keys(session)

    results, keys = run(migrated, work)
    assert results[0] == results[1] == results[2]
    assert keys == {1: results[0][1]}


def test_concurrent_rotations_make_one_new_key(
    migrated: Settings, wrapper: MasterKeyWrapper
) -> None:
    slug = _park(migrated, "keys-rotate-race")
    racing = RendezvousWrapper(master_key_from(migrated), parties=2, hold="unwrap")

    async def setup(db: Database) -> None:
        async with tenant_session(db, slug) as session:
            await active_signing_key(session, wrapper)

    async def rotate(db: Database) -> int:
        async with tenant_session(db, slug) as session:
            return await rotate_signing_key(session, racing)

    async def work(db: Database) -> tuple[list[int], list[SigningKey]]:
        results = await asyncio.gather(rotate(db), rotate(db))
        async with tenant_session(db, slug) as session:
            rows = (await session.execute(select(SigningKey).order_by(SigningKey.id))).scalars()
            return list(results), list(rows)

    run(migrated, setup)
    results, rows = run(migrated, work)
    assert results == [2, 2]
    assert [(row.id, row.retired_at is None) for row in rows] == [(1, False), (2, True)]
