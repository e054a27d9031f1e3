from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

# Generous bounds that only stop absurd bodies; the service gives the real reasons.
Short = Annotated[str, msgspec.Meta(max_length=400)]


class SignupIn(msgspec.Struct, frozen=True):
    park_name: Short
    slug: Short
    owner_name: Short
    email: Short
    password: Short


class ParkOut(msgspec.Struct, frozen=True):
    slug: str
    console_url: str


class OwnerOut(msgspec.Struct, frozen=True):
    id: uuid.UUID
    email: str
    email_verified: bool


class SignupOut(msgspec.Struct, frozen=True):
    park: ParkOut
    user: OwnerOut


class SlugAvailability(msgspec.Struct, frozen=True):
    slug: str
    available: bool
    reason: str | None


class EmailVerified(msgspec.Struct, frozen=True):
    user_id: uuid.UUID
    email_verified: bool
