"""`Idempotency-Key`: a retried request gets the first answer, never a second order.

The key is claimed in a transaction of its own, so a concurrent duplicate sees
the claim at once and is told `409 request_in_progress` with `Retry-After`. The
answer is stored by `finish` in the same transaction as the work it describes:
the order and its stored answer commit together or not at all. If the work
fails, the claim is dropped so the client can retry; if the process dies, the
claim's lock runs out and a retry takes it over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.db import Database
from vistapass.platform.errors import VistapassError
from vistapass.platform.tenancy.binding import tenant_session

LOCK_SECONDS = 30
MAX_KEY_LENGTH = 255


class RequestInProgress(VistapassError):
    status_code = 409
    code = "request_in_progress"

    @classmethod
    def for_key(cls, key: str) -> RequestInProgress:
        error = cls(
            "The first request with this Idempotency-Key is still being processed.",
            details={"key": key},
        )
        error.with_headers({"Retry-After": "1"})
        return error


class IdempotencyError(VistapassError):
    status_code = 422
    code = "idempotency_key_reused"


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    scope: str
    key: str


@dataclass(frozen=True, slots=True)
class Replay:
    status: int
    body: Any


# Keys sorted at every level: the same request in another field order is the same.
_CANONICAL = msgspec.json.Encoder(order="sorted")


def request_hash(payload: Any) -> bytes:
    """The hash of a request body as decoded JSON, kept with its Idempotency-Key."""
    return hashlib.sha256(_CANONICAL.encode(payload)).digest()


def check_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise VistapassError(
            f"An Idempotency-Key is 1 to {MAX_KEY_LENGTH} printable characters.",
            code="invalid_idempotency_key",
            status_code=400,
        )
    return key


async def claim(
    db: Database, slug: str, scope: str, key: str, payload_hash: bytes
) -> IdempotencyClaim | Replay:
    """Claim `key` for this request, or return the first request's answer."""
    async with tenant_session(db, slug) as session:
        inserted = (
            await session.execute(
                text(
                    "INSERT INTO idempotency_records (scope, key, request_hash, locked_until) "
                    "VALUES (:scope, :key, :hash, now() + make_interval(secs => :lock)) "
                    "ON CONFLICT DO NOTHING RETURNING key"
                ),
                {"scope": scope, "key": key, "hash": payload_hash, "lock": LOCK_SECONDS},
            )
        ).first()
        if inserted is not None:
            return IdempotencyClaim(scope, key)
        row = (
            await session.execute(
                text(
                    "SELECT request_hash, response_status, response_body, "
                    "locked_until > now() AS locked FROM idempotency_records "
                    "WHERE scope = :scope AND key = :key FOR UPDATE"
                ),
                {"scope": scope, "key": key},
            )
        ).one()
        if bytes(row.request_hash) != payload_hash:
            raise IdempotencyError(
                "This Idempotency-Key was used for a different request.",
                details={"key": key},
            )
        if row.response_status is not None:
            return Replay(int(row.response_status), row.response_body)
        if row.locked:
            raise RequestInProgress.for_key(key)
        # The first attempt died without an answer: this one takes over.
        await session.execute(
            text(
                "UPDATE idempotency_records "
                "SET locked_until = now() + make_interval(secs => :lock) "
                "WHERE scope = :scope AND key = :key"
            ),
            {"scope": scope, "key": key, "lock": LOCK_SECONDS},
        )
        return IdempotencyClaim(scope, key)


async def stored_answer(
    db: Database, slug: str, scope: str, key: str, payload_hash: bytes
) -> Replay | None:
    """The first answer for this key and request, if one was stored (a read only)."""
    async with tenant_session(db, slug) as session:
        row = (
            await session.execute(
                text(
                    "SELECT response_status, response_body FROM idempotency_records "
                    "WHERE scope = :scope AND key = :key AND request_hash = :hash "
                    "AND response_status IS NOT NULL"
                ),
                {"scope": scope, "key": key, "hash": payload_hash},
            )
        ).first()
    return None if row is None else Replay(int(row.response_status), row.response_body)


async def finish(session: AsyncSession, claim: IdempotencyClaim, status: int, body: Any) -> None:
    """Store the answer, in the transaction of the work it answers."""
    await session.execute(
        text(
            "UPDATE idempotency_records SET response_status = :status, "
            "response_body = CAST(:body AS jsonb), locked_until = NULL "
            "WHERE scope = :scope AND key = :key"
        ),
        {"status": status, "body": json.dumps(body), "scope": claim.scope, "key": claim.key},
    )


async def abandon(db: Database, slug: str, claim: IdempotencyClaim) -> None:
    """The work failed and changed nothing: free the key for a retry."""
    async with tenant_session(db, slug) as session:
        await session.execute(
            text(
                "DELETE FROM idempotency_records "
                "WHERE scope = :scope AND key = :key AND response_status IS NULL"
            ),
            {"scope": claim.scope, "key": claim.key},
        )


async def run_once(
    db: Database,
    slug: str,
    scope: str,
    key: str | None,
    payload: Any,
    work: Callable[[IdempotencyClaim | None], Awaitable[Any]],
) -> Replay | Any:
    """Run `work` once per key: a retry gets a Replay of the first answer instead.

    `work` must call `finish` with the claim in its own transaction. Without a key
    the work simply runs.
    """
    if key is None:
        return await work(None)
    outcome = await claim(db, slug, scope, check_key(key), request_hash(payload))
    if isinstance(outcome, Replay):
        return outcome
    try:
        return await work(outcome)
    except BaseException:
        await abandon(db, slug, outcome)
        raise
