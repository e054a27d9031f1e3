"""A park's own keys: data keys for its personal data, Ed25519 keys for its tickets."""

from __future__ import annotations

from vistapass.tenants.keys.service import (
    MissingKey,
    current_data_key,
    data_key,
    lookup_key,
)
from vistapass.tenants.keys.signing import (
    active_signing_key,
    public_keys,
    rotate_signing_key,
)

__all__ = [
    "MissingKey",
    "active_signing_key",
    "current_data_key",
    "data_key",
    "lookup_key",
    "public_keys",
    "rotate_signing_key",
]
