"""Real-name tickets: who holds each one, sealed, and the anti-scalping limit.

The holder's name and document number are sealed with the park's data key; the
document is found again only by a keyed hash. The per-day limit is kept by the
database: claims are numbered 1..limit per document and day under a unique key,
so no two channels racing each other can sell one ticket more.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.crypto.envelope import keyed_hash, seal
from vistapass.platform.errors import VistapassError
from vistapass.platform.plugin_api import Entitlement
from vistapass.tenants.keys.service import current_data_key, data_key, lookup_key
from vistapass.tenants.models import Order, Ticket, TicketHolder
from vistapass.tenants.orders.context import Selling
from vistapass.tenants.visitors.documents import normalise_document
from vistapass.tenants.visitors.gate_check import new_holder_check

MAX_NAME = 100
# Hashes are keyed by the park's first data key, so they stay the same for good.
LOOKUP_KEY_ID = 1


class HolderError(VistapassError):
    status_code = 422
    code = "invalid_holder"


class IdLimitReached(VistapassError):
    status_code = 409
    code = "id_limit_reached"

    def __init__(self, message: str, *, document_hash: bytes, position: int) -> None:
        super().__init__(message, details={"ticket": position})
        self.document_hash = document_hash


@dataclass(frozen=True, slots=True)
class HolderIn:
    name: str
    document_type: str
    document_number: str


def check_holders(
    entitlements: Sequence[Entitlement], holders: Sequence[HolderIn]
) -> tuple[HolderIn, ...]:
    """One holder per ticket when any ticket is real-name; normalised. () otherwise."""
    if not any(e.real_name_required for e in entitlements):
        return ()
    if len(holders) != len(entitlements):
        raise HolderError(
            f"This product is real-name: give a holder for each of the "
            f"{len(entitlements)} tickets.",
            code="holders_required",
            details={"tickets": len(entitlements), "holders": len(holders)},
        )
    checked = []
    for position, holder in enumerate(holders):
        name = " ".join(holder.name.split())
        if not 1 <= len(name) <= MAX_NAME:
            raise HolderError(
                "Each holder needs a name.",
                code="holder_name_required",
                details={"ticket": position},
            )
        number = normalise_document(holder.document_type, holder.document_number)
        checked.append(HolderIn(name, holder.document_type, number))
    return tuple(checked)


async def document_hash(session: AsyncSession, selling: Selling, holder: HolderIn) -> bytes:
    await current_data_key(session, selling.wrapper)
    key = await data_key(session, selling.wrapper, LOOKUP_KEY_ID)
    return keyed_hash(lookup_key(key), f"{holder.document_type}:{holder.document_number}")


async def check_card_holder(
    session: AsyncSession, selling: Selling, card_id: uuid.UUID, holders: Sequence[HolderIn]
) -> None:
    """A named card is renewed only for its own holder (the same ID document)."""
    card_hash = await session.scalar(
        select(TicketHolder.document_hash)
        .join(Ticket, Ticket.holder_id == TicketHolder.id)
        .where(Ticket.id == card_id)
    )
    if card_hash is None:
        return
    if not holders or await document_hash(session, selling, holders[0]) != bytes(card_hash):
        raise HolderError(
            "A card is renewed for its own holder: give the same ID document.",
            code="renewal_holder_mismatch",
        )


_CLAIM = text(
    """
    INSERT INTO identity_claims (document_hash, day, seq, day_limit, order_id, ticket_id)
    SELECT :hash, :day, s, :limit, :order_id, :ticket_id
      FROM generate_series(1, :limit) AS s
     WHERE NOT EXISTS (SELECT 1 FROM identity_claims c
                        WHERE c.document_hash = :hash AND c.day = :day AND c.seq = s)
     ORDER BY s LIMIT 1
    RETURNING id
    """
)


async def claim_identities(
    session: AsyncSession,
    selling: Selling,
    order: Order,
    tickets: Sequence[Ticket],
    holders: Sequence[HolderIn],
    *,
    limit: int,
) -> None:
    key_id, key = await current_data_key(session, selling.wrapper)
    for ticket, holder in zip(tickets, holders, strict=True):
        digest = await document_hash(session, selling, holder)
        holder_id = uuid.uuid4()
        sealed = seal(
            key,
            json.dumps({"name": holder.name, "number": holder.document_number}).encode(),
            holder_id.bytes,
        )
        session.add(
            TicketHolder(
                id=holder_id,
                document_type=holder.document_type,
                document_hash=digest,
                gate_check=new_holder_check(holder.document_type, holder.document_number),
                sealed=sealed,
                data_key_id=key_id,
            )
        )
        await session.flush()
        ticket.holder_id = holder_id
        params = {
            "hash": digest,
            "day": order.visit_date,
            "limit": limit,
            "order_id": order.id,
            "ticket_id": ticket.id,
        }
        # A concurrent sale taking the same number makes this statement fail on the
        # unique key; the savepoint turns that into the same answer as a full day.
        try:
            async with session.begin_nested():
                claimed = (await session.execute(_CLAIM, params)).first()
        except IntegrityError as exc:
            if "uq_identity_claims_hash_day_seq" not in str(exc):
                raise
            claimed = None
        if claimed is None:
            raise IdLimitReached(
                f"This ID document already has the most tickets allowed for "
                f"{order.visit_date.isoformat()} ({limit}).",
                document_hash=digest,
                position=ticket.position,
            )
    await session.flush()
