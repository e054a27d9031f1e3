"""Device passwords sealed at rest, opened only for the edge that needs them.

An ISAPI terminal's login lets whoever holds it open the park's doors, so it is
not kept as plain JSON: each secret field of a device's settings is sealed with
the park's current data key (AES-GCM, bound to the device and the field), shown
as `••••` in the console and the audit log, and opened only in the sync answer
to the device's own edge, which must log in to it.
"""

from __future__ import annotations

import base64
import struct
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.crypto.envelope import KeyWrapper, open_sealed, seal
from vistapass.tenants.keys.service import current_data_key, data_key

SECRET_FIELDS = ("password",)
SEALED = "sealed"  # a sealed field is {"sealed": base64(key id + AES-GCM)}
HIDDEN = "••••"
_KEY_ID = struct.Struct(">I")


def _aad(device_id: uuid.UUID, field: str) -> bytes:
    return f"gate-device:{device_id}:{field}".encode()


def _is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get(SEALED), str)


async def seal_settings(
    session: AsyncSession, wrapper: KeyWrapper, device_id: uuid.UUID, settings: dict[str, Any]
) -> dict[str, Any]:
    """The settings as stored: every plain secret field sealed."""
    plain = {f: settings[f] for f in SECRET_FIELDS if isinstance(settings.get(f), str)}
    if not plain:
        return settings
    key_id, key = await current_data_key(session, wrapper)
    sealed = dict(settings)
    for field, value in plain.items():
        blob = _KEY_ID.pack(key_id) + seal(key, value.encode(), _aad(device_id, field))
        sealed[field] = {SEALED: base64.b64encode(blob).decode()}
    return sealed


async def open_settings(
    session: AsyncSession, wrapper: KeyWrapper, device_id: uuid.UUID, settings: dict[str, Any]
) -> dict[str, Any]:
    """The settings as the device's edge needs them: secret fields in plain text."""
    opened = dict(settings)
    for field in SECRET_FIELDS:
        value = settings.get(field)
        if not _is_sealed(value):
            continue
        blob = base64.b64decode(value[SEALED])
        (key_id,) = _KEY_ID.unpack_from(blob)
        key = await data_key(session, wrapper, key_id)
        opened[field] = open_sealed(key, blob[_KEY_ID.size :], _aad(device_id, field)).decode()
    return opened


def redacted(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings as people see them (console, audit log): secrets hidden."""
    return {
        name: HIDDEN if name in SECRET_FIELDS and value else value
        for name, value in settings.items()
    }
