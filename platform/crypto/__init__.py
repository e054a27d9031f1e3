"""Envelope encryption: park data keys wrapped by the platform master key or KMS."""

from __future__ import annotations

from vistapass.platform.crypto.envelope import (
    CryptoError,
    KeyWrapper,
    KmsClient,
    KmsKeyWrapper,
    MasterKeyWrapper,
    derive_key,
    keyed_hash,
    master_key_from,
    open_sealed,
    seal,
    wrapper_for,
)

__all__ = [
    "CryptoError",
    "KeyWrapper",
    "KmsClient",
    "KmsKeyWrapper",
    "MasterKeyWrapper",
    "derive_key",
    "keyed_hash",
    "master_key_from",
    "open_sealed",
    "seal",
    "wrapper_for",
]
