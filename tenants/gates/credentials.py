"""Gate credentials and devices: minting, revoking, listing, and checking a bearer token.

A token is `<park slug>.<credential id, 32 hex>.<secret, 32 random bytes base64url>`.
The slug picks the park's schema and the id must exist in that schema, so a
token of one park can never act in another. Only the secret's SHA-256 is kept:
the secret is 256 random bits, so a slow password hash would add nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import DictRow
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.crypto.envelope import KeyWrapper
from vistapass.platform.db.raw import Raw, Statement
from vistapass.platform.errors import Conflict, NotFound
from vistapass.platform.models.base import utcnow
from vistapass.platform.tenancy.naming import is_valid_slug
from vistapass.tenants.gates.device_secrets import redacted, seal_settings
from vistapass.tenants.gates.errors import GateRequestInvalid, InvalidCredential
from vistapass.tenants.models import GateCredential, GateDevice
from vistapass.tenants.models.gates import CREDENTIAL_KINDS, DEVICE_DIRECTIONS, DEVICE_KINDS

SECRET_BYTES = 32
MAX_NAME = 100
MAX_EXTERNAL_ID = 100
MAX_ZONE = 60
MAX_SETTINGS = 4000  # characters of JSON: device settings are a few addresses and numbers
MAX_TOKEN = 200
_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 bytes in unpadded base64url
_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class ParsedToken:
    slug: str
    credential_id: uuid.UUID
    secret: str


@dataclass(frozen=True, slots=True)
class Minted:
    credential: GateCredential
    token: str  # shown once, never stored


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_token(raw: str) -> ParsedToken:
    """The token's parts; InvalidCredential for anything that is not shaped like one."""
    parts = raw.rsplit(".", 2) if len(raw) <= MAX_TOKEN else []
    if len(parts) != 3:
        raise InvalidCredential("This is not a gate credential.")
    slug, hex_id, secret = parts
    if not is_valid_slug(slug) or not _ID.fullmatch(hex_id) or not _SECRET.fullmatch(secret):
        raise InvalidCredential("This is not a gate credential.")
    return ParsedToken(slug, uuid.UUID(hex=hex_id), secret)


def bearer(authorization: str) -> ParsedToken:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise InvalidCredential("Send the gate credential as 'Authorization: Bearer <token>'.")
    return parse_token(value.strip())


@dataclass(frozen=True, slots=True)
class Caller:
    """The live credential behind a hub call."""

    id: uuid.UUID
    kind: str
    name: str
    last_seen_at: datetime | None


# Every hub call authenticates, and scanners call many times a second: one
# statement straight through psycopg (see platform.db.raw), which the hub sends
# with the park's binding in one round trip (`lookup`, then `check`).
_CREDENTIAL = """
    SELECT id, kind, name, secret_hash, revoked_at, last_seen_at
      FROM gate_credentials WHERE id = %(id)s
"""


def lookup(token: ParsedToken) -> Statement:
    """The statement that finds the token's credential in its park."""
    return _CREDENTIAL, {"id": token.credential_id}


def check(token: ParsedToken, rows: list[DictRow]) -> Caller:
    """The live credential among `rows` (what `lookup` found), or InvalidCredential."""
    row = rows[0] if rows else None
    # The hash is compared even when there is nothing to compare with, so that an
    # unknown id and a wrong secret take the same time.
    expected = bytes(row["secret_hash"]) if row is not None else secret_hash("")
    matches = hmac.compare_digest(expected, secret_hash(token.secret))
    if row is None or not matches or row["revoked_at"] is not None:
        raise InvalidCredential("This gate credential is unknown or revoked.")
    return Caller(row["id"], row["kind"], row["name"], row["last_seen_at"])


async def authenticate(session: AsyncSession, token: ParsedToken) -> Caller:
    """The live credential the token names in the session's (already bound) park."""
    sql, params = lookup(token)
    return check(token, await (await Raw.of(session)).all(sql, params or {}))


def _name(value: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_NAME or not value.isprintable():
        raise GateRequestInvalid(
            f"Give a name of 1 to {MAX_NAME} characters.",
            code="name_required",
            details={"field": "name"},
        )
    return value


async def mint(
    session: AsyncSession, slug: str, kind: str, name: str, created_by: uuid.UUID | None
) -> Minted:
    if kind not in CREDENTIAL_KINDS:
        raise GateRequestInvalid(
            "A credential is for an 'edge' or a 'device'.",
            code="invalid_kind",
            details={"kind": kind},
        )
    secret = base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=").decode()
    credential = GateCredential(
        id=uuid.uuid4(),
        kind=kind,
        name=_name(name),
        secret_hash=secret_hash(secret),
        created_by=created_by,
        created_at=utcnow(),
    )
    session.add(credential)
    await session.flush()
    return Minted(credential, f"{slug}.{credential.id.hex}.{secret}")


async def revoke(session: AsyncSession, credential_id: uuid.UUID) -> GateCredential | None:
    """Revoke; returns the credential if this call revoked it (None if it already was)."""
    credential = await session.scalar(
        select(GateCredential).where(GateCredential.id == credential_id).with_for_update()
    )
    if credential is None:
        raise NotFound("No such gate credential.", details={"credential_id": str(credential_id)})
    if credential.revoked_at is not None:
        return None
    credential.revoked_at = utcnow()
    await session.flush()
    return credential


def _settings(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    if len(text) > MAX_SETTINGS:
        raise GateRequestInvalid(
            f"Settings are at most {MAX_SETTINGS} characters of JSON.",
            code="invalid_settings",
            details={"field": "settings"},
        )
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise GateRequestInvalid(
            'Settings are a JSON object, like {"host": "192.168.1.20"}.',
            code="invalid_settings",
            details={"field": "settings"},
        )
    return value


def _choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise GateRequestInvalid(
            f"'{field}' is one of: {', '.join(allowed)}.",
            code=f"invalid_{field}",
            details={"field": field, "allowed": list(allowed)},
        )
    return value


async def add_device(
    session: AsyncSession, wrapper: KeyWrapper, form: dict[str, str]
) -> GateDevice:
    """A device under a live edge, from the console's form (all values as strings).

    Its secret settings (a terminal's password) are sealed before they are stored."""
    try:
        edge_id = uuid.UUID(form.get("edge_id", ""))
    except ValueError:
        edge_id = None
    edge = await session.get(GateCredential, edge_id) if edge_id else None
    if edge is None or edge.kind != "edge" or edge.revoked_at is not None:
        raise GateRequestInvalid(
            "Choose a live edge for the device.", code="invalid_edge", details={"field": "edge_id"}
        )
    external_id = form.get("external_id", "").strip()
    if not external_id or len(external_id) > MAX_EXTERNAL_ID or not external_id.isprintable():
        raise GateRequestInvalid(
            f"Give the device's own id (1 to {MAX_EXTERNAL_ID} characters).",
            code="invalid_external_id",
            details={"field": "external_id"},
        )
    zone = form.get("zone", "").strip() or None
    if zone is not None and (len(zone) > MAX_ZONE or not zone.isprintable()):
        raise GateRequestInvalid(
            f"A zone is at most {MAX_ZONE} characters.",
            code="invalid_zone",
            details={"field": "zone"},
        )
    device_id = uuid.uuid4()
    device = GateDevice(
        id=device_id,
        edge_id=edge.id,
        name=_name(form.get("name", "")),
        kind=_choice(form.get("kind", ""), DEVICE_KINDS, "kind"),
        external_id=external_id,
        zone=zone,
        direction=_choice(form.get("direction", "both"), DEVICE_DIRECTIONS, "direction"),
        settings=await seal_settings(
            session, wrapper, device_id, _settings(form.get("settings", ""))
        ),
    )
    try:
        async with session.begin_nested():
            session.add(device)
            await session.flush()
    except IntegrityError:
        raise Conflict(
            "This edge already has a device with that id.",
            code="device_exists",
            details={"external_id": external_id},
        ) from None
    return device


async def listing(session: AsyncSession) -> tuple[list[GateCredential], list[GateDevice]]:
    credentials = await session.scalars(
        select(GateCredential).order_by(GateCredential.revoked_at.is_not(None), GateCredential.name)
    )
    devices = await session.scalars(select(GateDevice).order_by(GateDevice.name))
    return list(credentials), list(devices)


def describe_device(device: GateDevice) -> dict[str, Any]:
    """A device as the console and the audit log show it (secrets hidden)."""
    return {
        "id": str(device.id),
        "name": device.name,
        "kind": device.kind,
        "external_id": device.external_id,
        "zone": device.zone,
        "direction": device.direction,
        "settings": redacted(device.settings or {}),
    }


def describe(credential: GateCredential, devices: list[GateDevice]) -> dict[str, Any]:
    return {
        "id": str(credential.id),
        "kind": credential.kind,
        "name": credential.name,
        "created_at": credential.created_at.isoformat(),
        "revoked_at": credential.revoked_at.isoformat() if credential.revoked_at else None,
        "last_seen_at": credential.last_seen_at.isoformat() if credential.last_seen_at else None,
        "status": credential.status,
        "devices": [describe_device(d) for d in devices if d.edge_id == credential.id],
    }
