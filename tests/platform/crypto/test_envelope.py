from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto.server import ThreadedMotoServer

from vistapass.platform.crypto import (
    CryptoError,
    KeyWrapper,
    KmsKeyWrapper,
    MasterKeyWrapper,
    keyed_hash,
    master_key_from,
    open_sealed,
    seal,
    wrapper_for,
)
from vistapass.platform.errors import VistapassError
from vistapass.platform.settings import Settings

SECRET = "envelope-test-secret-that-is-long-enough-0123456789"
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


class KmsSettings(Settings):
    """Settings with the `kms_key_id` field `wrapper_for` looks for."""

    kms_key_id: str = ""


def _flip(blob: bytes, position: int, mask: int) -> bytes:
    return blob[:position] + bytes([blob[position] ^ mask]) + blob[position + 1 :]


def _hkdf_sha256_no_salt(ikm: bytes, info: bytes) -> bytes:
    """RFC 5869 written out for one 32-byte block, to check the library call against."""
    prk = hmac.new(b"\x00" * 32, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


# Sealing


@given(plaintext=st.binary(max_size=300), aad=st.binary(max_size=40))
def test_seal_round_trips(plaintext: bytes, aad: bytes) -> None:
    sealed = seal(KEY, plaintext, aad)
    assert sealed[0] == 1
    assert len(sealed) == 1 + 12 + len(plaintext) + 16
    assert open_sealed(KEY, sealed, aad) == plaintext


def test_each_seal_uses_a_fresh_nonce() -> None:
    assert seal(KEY, b"same", b"aad") != seal(KEY, b"same", b"aad")


@given(plaintext=st.binary(max_size=64), data=st.data())
def test_altering_any_byte_of_a_sealed_blob_fails(plaintext: bytes, data: st.DataObject) -> None:
    sealed = seal(KEY, plaintext, b"row:1")
    position = data.draw(st.integers(0, len(sealed) - 1), label="position")
    mask = data.draw(st.integers(1, 255), label="mask")
    with pytest.raises(CryptoError):
        open_sealed(KEY, _flip(sealed, position, mask), b"row:1")


def test_every_byte_position_is_protected() -> None:
    sealed = seal(KEY, b"Zhang San, 11010519491231002X", b"holder:7")
    for position in range(len(sealed)):
        with pytest.raises(CryptoError):
            open_sealed(KEY, _flip(sealed, position, 0x01), b"holder:7")


def test_wrong_key_aad_or_length_fails() -> None:
    sealed = seal(KEY, b"secret", b"holder:1")
    with pytest.raises(CryptoError):
        open_sealed(OTHER_KEY, sealed, b"holder:1")
    with pytest.raises(CryptoError):
        open_sealed(KEY, sealed, b"holder:2")
    with pytest.raises(CryptoError):
        open_sealed(KEY, sealed[:-1], b"holder:1")
    with pytest.raises(CryptoError):
        open_sealed(KEY, sealed[:20], b"holder:1")
    with pytest.raises(CryptoError):
        open_sealed(KEY, b"", b"holder:1")
    with pytest.raises(ValueError):
        seal(KEY[:16], b"secret", b"holder:1")


def test_crypto_error_is_a_server_fault() -> None:
    with pytest.raises(VistapassError) as info:
        open_sealed(KEY, b"\x02" + bytes(40), b"")
    assert info.value.status_code == 500
    assert "version 2" in info.value.message


# Hashing and key derivation


def test_keyed_hash_is_hmac_sha256() -> None:
    # RFC 4231, test case 2.
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert keyed_hash(b"Jefe", "what do ya want for nothing?").hex() == expected
    assert len(keyed_hash(KEY, "11010519491231002X")) == 32
    assert keyed_hash(KEY, "A") != keyed_hash(OTHER_KEY, "A")


def test_master_key_is_hkdf_of_the_secret(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key=SECRET)
    key = master_key_from(settings)
    assert key == _hkdf_sha256_no_salt(SECRET.encode(), b"vistapass data keys v1")
    assert len(key) == 32
    other = Settings(data_dir=tmp_path, secret_key=SECRET + "x")
    assert master_key_from(other) != key


# Wrapping with the master key


def test_master_wrapper_round_trips_and_labels_its_key() -> None:
    wrapper = MasterKeyWrapper(KEY)
    assert isinstance(wrapper, KeyWrapper)
    plain = secrets.token_bytes(32)
    wrapped, label = wrapper.wrap(plain)
    assert plain not in wrapped
    assert label.startswith("master:")
    assert len(label) == len("master:") + 8
    int(label.removeprefix("master:"), 16)
    assert wrapper.unwrap(wrapped, label) == plain
    assert MasterKeyWrapper(KEY).label == label


def test_master_wrapper_refuses_other_keys_and_tampering() -> None:
    wrapped, label = MasterKeyWrapper(KEY).wrap(b"k" * 32)
    other = MasterKeyWrapper(OTHER_KEY)
    assert other.label != label
    with pytest.raises(CryptoError, match="secret key changed"):
        other.unwrap(wrapped, label)
    for position in range(len(wrapped)):
        with pytest.raises(CryptoError):
            MasterKeyWrapper(KEY).unwrap(_flip(wrapped, position, 0x80), label)
    with pytest.raises(CryptoError):
        MasterKeyWrapper(KEY).unwrap(wrapped, "kms:some-key")


def test_wrapper_for_uses_the_master_key_without_kms(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key=SECRET)
    wrapper = wrapper_for(settings)
    assert isinstance(wrapper, MasterKeyWrapper)
    assert wrapper.label == MasterKeyWrapper(master_key_from(settings)).label


# Wrapping with KMS, against moto's real HTTP server


@pytest.fixture(scope="module")
def kms_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def kms_key(kms_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    # Where a plain boto3.client("kms"), as wrapper_for makes, sends its calls.
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", kms_endpoint)
    return boto3.client("kms").create_key(Description="vistapass test")["KeyMetadata"]["KeyId"]


def test_kms_wrapper_round_trips(kms_key: str) -> None:
    wrapper = KmsKeyWrapper(boto3.client("kms"), kms_key)
    assert isinstance(wrapper, KeyWrapper)
    plain = secrets.token_bytes(32)
    wrapped, label = wrapper.wrap(plain)
    assert label == f"kms:{kms_key}"
    assert plain not in wrapped
    assert wrapper.unwrap(wrapped, label) == plain


def test_kms_wrapper_refuses_tampering_and_foreign_labels(kms_key: str) -> None:
    wrapper = KmsKeyWrapper(boto3.client("kms"), kms_key)
    wrapped, label = wrapper.wrap(b"k" * 32)
    with pytest.raises(CryptoError):
        wrapper.unwrap(_flip(wrapped, len(wrapped) - 1, 0x01), label)
    with pytest.raises(CryptoError):
        wrapper.unwrap(wrapped, "master:01234567")
    with pytest.raises(CryptoError):
        wrapper.unwrap(wrapped, "kms:")
    # A ciphertext made outside Vistapass lacks our encryption context.
    foreign = boto3.client("kms").encrypt(KeyId=kms_key, Plaintext=b"k" * 32)["CiphertextBlob"]
    with pytest.raises(CryptoError):
        wrapper.unwrap(foreign, label)


def test_kms_wrapper_opens_keys_wrapped_under_an_earlier_kms_key(kms_key: str) -> None:
    wrapped, label = KmsKeyWrapper(boto3.client("kms"), kms_key).wrap(b"k" * 32)
    newer_key = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    assert KmsKeyWrapper(boto3.client("kms"), newer_key).unwrap(wrapped, label) == b"k" * 32


def test_wrapper_for_uses_kms_when_configured(kms_key: str, tmp_path: Path) -> None:
    settings = KmsSettings(data_dir=tmp_path, secret_key=SECRET, kms_key_id=kms_key)
    wrapper = wrapper_for(settings)
    assert isinstance(wrapper, KmsKeyWrapper)
    wrapped, label = wrapper.wrap(b"k" * 32)
    assert label == f"kms:{kms_key}"
    assert wrapper.unwrap(wrapped, label) == b"k" * 32
