"""argon2id password hashes and the password policy."""

from __future__ import annotations

import contextlib
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from vistapass.platform.identity.errors import WeakPassword

MIN_LENGTH = 10
MAX_LENGTH = 128

# argon2-cffi's defaults are argon2id with the RFC 9106 low-memory profile.
hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    return hasher.hash("not a real password, only spends the same time")


@cache
def _common_passwords() -> frozenset[str]:
    # The 30,000 most common passwords from leaked sets, shipped by zxcvbn.
    return frozenset(FREQUENCY_LISTS["passwords"])


def hash_password(password: str) -> str:
    return hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> tuple[bool, str | None]:
    """(matches, new hash when the parameters changed). Unknown users cost the same."""
    if password_hash is None:
        with contextlib.suppress(VerificationError):
            hasher.verify(_dummy_hash(), password)
        return False, None
    try:
        hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False, None
    return True, hash_password(password) if hasher.check_needs_rehash(password_hash) else None


def check_policy(password: str, *, email: str = "", name: str = "") -> None:
    """Raise WeakPassword with a reason a person can act on."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters.", details={"rule": "length"})
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Use at most {MAX_LENGTH} characters.", details={"rule": "length"})
    lowered = password.lower()
    if lowered in _common_passwords() or len(set(lowered)) < 4:
        raise WeakPassword(
            "This password is among the most common ones; choose another.",
            details={"rule": "common"},
        )
    local = email.split("@")[0].lower()
    if (len(local) >= 4 and local in lowered) or (len(name) >= 4 and name.lower() in lowered):
        raise WeakPassword(
            "The password must not contain your name or e-mail.", details={"rule": "personal"}
        )
