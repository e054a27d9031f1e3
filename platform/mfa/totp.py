"""TOTP arithmetic, QR codes, recovery codes and the replay guard (no database here)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import pyotp
import segno
from redis.asyncio import Redis

from vistapass.platform.identity.secrets import token_hash

ISSUER = "Vistapass"
RECOVERY_CODE_COUNT = 10
# Crockford-like alphabet: no 0/O or 1/I/L, so codes copied from paper survive.
RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
# Atomically: accept the step only if it is later than the last one used.
_CLAIM_STEP = """
local last = redis.call('GET', KEYS[1])
if last and tonumber(last) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str


def new_enrolment(email: str) -> Enrolment:
    return enrolment_for(pyotp.random_base32(), email)


def enrolment_for(secret: str, email: str) -> Enrolment:
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
    return Enrolment(secret, uri, qr_svg(uri))


def qr_svg(uri: str) -> str:
    # Inline SVG: no image request, no third-party QR service seeing the secret.
    return segno.make(uri, error="m").svg_inline(scale=5, border=2, dark="#1b1f1d")


def clean_code(code: str) -> str:
    return "".join(ch for ch in code if not ch.isspace() and ch != "-").lower()


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time-step `code` belongs to (one step of clock drift either way), else None."""
    code = clean_code(code)
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    at = time.time() if now is None else now
    if not totp.verify(code, for_time=at, valid_window=1):
        return None
    for offset in (0, -1, 1):
        if secrets.compare_digest(totp.at(at, counter_offset=offset), code):
            return totp.timecode(at) + offset
    return None


async def claim_step(redis: Redis, namespace: str, user_id: str, step: int) -> bool:
    """False when this step (or a later one) was already used: a replayed code."""
    key = f"{namespace}:totp-step:{user_id}"
    # Kept a little longer than the window a code stays valid in.
    accepted = await redis.eval(_CLAIM_STEP, 1, key, str(step), "300")  # type: ignore[misc]
    return bool(accepted)


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    def one() -> str:
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
        return f"{raw[:5]}-{raw[5:]}"

    return [one() for _ in range(count)]


def recovery_hash(code: str) -> str:
    """Hash of the normalised code: dashes, spaces and case do not matter when typed."""
    return token_hash("recovery:" + clean_code(code))
