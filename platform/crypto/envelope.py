"""Envelope encryption for per-park data.

Each park has data keys (random 32 bytes) that seal its personal data with
AES-256-GCM. A data key is stored only wrapped: by a master key derived from the
platform secret, or by AWS KMS when `kms_key_id` is configured. Losing the secret
(or the KMS key) therefore makes every park's sealed data unreadable, and
changing the secret needs the data keys re-wrapped first.

Sealed blob layout: version byte, 12-byte nonce, ciphertext with its 16-byte tag.
The version byte is also authenticated, together with the caller's `aad`, which
should name what the blob belongs to so a blob cannot be moved to another row.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import boto3
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vistapass.platform.errors import VistapassError
from vistapass.platform.settings import Settings

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
SEAL_VERSION = 1
MASTER_INFO = b"vistapass data keys v1"
# Binds KMS ciphertexts to their purpose: KMS refuses to decrypt them under any other context.
KMS_CONTEXT = {"purpose": "vistapass data key"}


class CryptoError(VistapassError):
    """Sealed or wrapped bytes that do not open: tampered, truncated or under another key."""

    status_code = 500
    code = "crypto_error"


def derive_key(key: bytes, info: bytes) -> bytes:
    """A 32-byte key for one purpose (`info`), so one secret never serves two purposes."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(key)


def master_key_from(settings: Settings) -> bytes:
    return derive_key(settings.effective_secret_key().encode("utf-8"), MASTER_INFO)


def _aead(key: bytes) -> AESGCM:
    # AESGCM would also take 16 or 24 bytes; anything but 32 here is a bug upstream.
    if len(key) != KEY_BYTES:
        raise ValueError(f"AES-256 keys are {KEY_BYTES} bytes, not {len(key)}")
    return AESGCM(key)


def seal(data_key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    header = bytes([SEAL_VERSION])
    nonce = secrets.token_bytes(NONCE_BYTES)
    return header + nonce + _aead(data_key).encrypt(nonce, plaintext, header + aad)


def open_sealed(data_key: bytes, sealed: bytes, aad: bytes) -> bytes:
    aead = _aead(data_key)
    if len(sealed) < 1 + NONCE_BYTES + TAG_BYTES:
        raise CryptoError("The sealed data is truncated.")
    if sealed[0] != SEAL_VERSION:
        raise CryptoError(f"Unknown sealed data version {sealed[0]}.")
    nonce = sealed[1 : 1 + NONCE_BYTES]
    try:
        return aead.decrypt(nonce, sealed[1 + NONCE_BYTES :], sealed[:1] + aad)
    except InvalidTag:
        raise CryptoError(
            "The sealed data does not open: it was altered, or belongs to another key or row."
        ) from None


def keyed_hash(key: bytes, value: str) -> bytes:
    """HMAC-SHA256 of `value`: finds a row by a secret value without storing the value."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()


@runtime_checkable
class KeyWrapper(Protocol):
    """Wraps data keys. The label names the wrapping key and is stored beside the bytes."""

    def wrap(self, plain: bytes) -> tuple[bytes, str]: ...

    def unwrap(self, wrapped: bytes, label: str) -> bytes: ...


class MasterKeyWrapper:
    """AES-256-GCM under the master key; the label's AAD ties the bytes to that key."""

    def __init__(self, master_key: bytes) -> None:
        self._aead = _aead(master_key)
        # A fingerprint of a derived value, so the label reveals nothing of the key itself.
        fingerprint = derive_key(master_key, b"fingerprint")[:4].hex()
        self.label = f"master:{fingerprint}"

    def wrap(self, plain: bytes) -> tuple[bytes, str]:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plain, self.label.encode()), self.label

    def unwrap(self, wrapped: bytes, label: str) -> bytes:
        if label != self.label:
            raise CryptoError(
                f"This key was wrapped by {label}, not by {self.label}: was the secret key changed?"
            )
        nonce, body = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, label.encode())
        except InvalidTag:
            raise CryptoError(f"The wrapped key does not open under {label}.") from None


class KmsClient(Protocol):
    """The two calls of a boto3 KMS client that wrapping needs."""

    def encrypt(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def decrypt(self, **kwargs: Any) -> Mapping[str, Any]: ...


class KmsKeyWrapper:
    """AWS KMS: the key never leaves KMS, each wrap and unwrap is a call to it."""

    def __init__(self, client: KmsClient, key_id: str) -> None:
        self.client = client
        self.key_id = key_id

    def wrap(self, plain: bytes) -> tuple[bytes, str]:
        try:
            answer = self.client.encrypt(
                KeyId=self.key_id, Plaintext=plain, EncryptionContext=KMS_CONTEXT
            )
        except ClientError as exc:
            raise CryptoError(f"KMS refused to wrap with {self.key_id}: {exc}") from exc
        return answer["CiphertextBlob"], f"kms:{self.key_id}"

    def unwrap(self, wrapped: bytes, label: str) -> bytes:
        kind, _, key_id = label.partition(":")
        if kind != "kms" or not key_id:
            raise CryptoError(f"This key was wrapped by {label}, not by KMS.")
        # The label's key, not ours: keys wrapped before a switch of KMS key still open.
        try:
            answer = self.client.decrypt(
                CiphertextBlob=wrapped, KeyId=key_id, EncryptionContext=KMS_CONTEXT
            )
        except ClientError as exc:
            raise CryptoError(f"KMS refused to unwrap with {key_id}: {exc}") from exc
        return answer["Plaintext"]


def wrapper_for(settings: Settings) -> KeyWrapper:
    """KMS when `kms_key_id` is set, else the master key derived from the secret."""
    kms_key_id = getattr(settings, "kms_key_id", "")
    if kms_key_id:
        return KmsKeyWrapper(boto3.client("kms"), kms_key_id)
    return MasterKeyWrapper(master_key_from(settings))
