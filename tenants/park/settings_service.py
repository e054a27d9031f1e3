"""Editing the park's settings: validation, audited saves and the logo.

Validation collects every problem at once (a form shows them all), and a save
changes nothing unless every field is valid. A new display name is copied to
the registry (`public.tenants`) by the controller after the commit, as the app:
the park's own role cannot write the control plane.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.audit.service import Actor, record
from vistapass.platform.errors import VistapassError
from vistapass.platform.storage import Storage, tenant_key
from vistapass.platform.tenancy.binding import after_commit, current_tenant
from vistapass.tenants.checkin.park_facts import forget_park_facts
from vistapass.tenants.models import ParkProfile
from vistapass.tenants.park.service import get_profile

FIELDS = (
    "display_name",
    "brand_primary",
    "brand_accent",
    "time_zone",
    "currency",
    "languages",
    "contact_phone",
    "contact_email",
    "contact_address",
)
CURRENCIES = ("CNY", "HKD", "MOP", "TWD", "USD", "EUR", "JPY", "KRW", "SGD", "THB", "GBP", "AUD")
LANGUAGES = ("zh-CN", "en")
MIN_CONTRAST = 4.5  # WCAG 2.x AA for normal text: white text on the primary colour
MAX_NAME = 100
MAX_ADDRESS = 300
MAX_LOGO_BYTES = 1024 * 1024
_COLOUR = re.compile(r"#[0-9a-f]{6}")
_PHONE = re.compile(r"\+?[0-9][0-9 ()\-]{2,31}")
# Magic bytes decide the type: a declared content type or file name is the
# client's word, and a mislabelled file must never be served as an image.
LOGO_TYPES = (
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
    (b"\xff\xd8\xff", "jpg", "image/jpeg"),
)


class InvalidSettings(VistapassError):
    """One or more fields are invalid; `code` is the first problem's, `details` has all."""

    status_code = 422
    code = "invalid_settings"


class InvalidLogo(VistapassError):
    status_code = 422
    code = "invalid_logo"


class LogoTooLarge(VistapassError):
    status_code = 422
    code = "logo_too_large"


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    code: str
    message: str


@cache
def time_zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def relative_luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast_with_white(colour: str) -> float:
    return 1.05 / (relative_luminance(colour) + 0.05)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError
    return value.strip()


def _check_field(name: str, value: Any) -> tuple[Any, FieldError | None]:
    """The normalised value of one field, or the reason it is refused."""
    try:
        if name == "languages":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise TypeError
            chosen = [lang for lang in LANGUAGES if lang in value]
            if not chosen or len(set(value)) != len(chosen):
                return None, FieldError(
                    name, "invalid_languages", "Offer at least one of: zh-CN, en."
                )
            return chosen, None
        text = _text(value)
    except TypeError:
        return None, FieldError(name, "invalid_value", "This field has the wrong type.")
    if name == "display_name":
        if not text or len(text) > MAX_NAME or not text.isprintable():
            return None, FieldError(
                name, "invalid_display_name", f"The name is 1 to {MAX_NAME} characters."
            )
        return text, None
    if name in ("brand_primary", "brand_accent"):
        colour = (text or "").lower()
        if not _COLOUR.fullmatch(colour):
            return None, FieldError(name, "invalid_colour", "A colour looks like #1f6f43.")
        if name == "brand_primary" and contrast_with_white(colour) < MIN_CONTRAST:
            # A fixed message (it is translated in the console); the ratio is simple to recompute.
            return None, FieldError(
                name,
                "low_contrast",
                "White text on this colour is hard to read: the contrast must be at least 4.5:1.",
            )
        return colour, None
    if name == "time_zone":
        if text not in time_zones():
            return None, FieldError(name, "invalid_time_zone", "Choose a time zone from the list.")
        return text, None
    if name == "currency":
        currency = (text or "").upper()
        if currency not in CURRENCIES:
            return None, FieldError(
                name, "invalid_currency", "Choose one of the listed currencies."
            )
        return currency, None
    if not text:  # contact fields are optional: empty clears them
        return None, None
    if name == "contact_phone":
        if not _PHONE.fullmatch(text):
            return None, FieldError(name, "invalid_phone", "Digits, spaces, +, - and brackets.")
        return text, None
    if name == "contact_email":
        try:
            return validate_email(text, check_deliverability=False).normalized, None
        except EmailNotValidError:
            return None, FieldError(name, "invalid_email", "This is not an email address.")
    if len(text) > MAX_ADDRESS or not text.replace("\n", " ").isprintable():
        return None, FieldError(
            name, "invalid_address", f"The address is at most {MAX_ADDRESS} characters."
        )
    return text, None


def validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Normalised values for the known fields present in `raw`; raises on any problem."""
    unknown = sorted(set(raw) - set(FIELDS))
    values: dict[str, Any] = {}
    errors: list[FieldError] = [
        FieldError(name, "unknown_field", "This is not a setting.") for name in unknown
    ]
    for name in FIELDS:
        if name not in raw:
            continue
        value, error = _check_field(name, raw[name])
        if error is None:
            values[name] = value
        else:
            errors.append(error)
    if errors:
        first = errors[0]
        raise InvalidSettings(
            first.message,
            code=first.code,
            details={
                "errors": [{"field": e.field, "code": e.code, "message": e.message} for e in errors]
            },
        )
    return values


def settings_dict(profile: ParkProfile) -> dict[str, Any]:
    data: dict[str, Any] = {name: getattr(profile, name) for name in FIELDS}
    data["languages"] = list(profile.languages)
    data["default_locale"] = profile.default_locale
    data["logo_key"] = profile.logo_key
    return data


async def update_settings(
    session: AsyncSession, actor: Actor, raw: Mapping[str, Any]
) -> dict[str, Any]:
    """Apply the valid changes in `raw`; returns {field: new value} of what changed.

    The audit entry holds only the changed fields, before and after; saving the
    same values again changes and records nothing.
    """
    values = validate(raw)
    profile = await get_profile(session)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name, value in values.items():
        current = list(profile.languages) if name == "languages" else getattr(profile, name)
        if current != value:
            before[name], after[name] = current, value
    # The default language must be one the park offers.
    languages = after.get("languages")
    if languages is not None and profile.default_locale not in languages:
        before["default_locale"], after["default_locale"] = profile.default_locale, languages[0]
    if not after:
        return {}
    for name, value in after.items():
        setattr(profile, name, value)
    await session.flush()
    await record(session, actor, "settings.updated", "park_profile", before=before, after=after)
    if "time_zone" in after:
        tenant_id = current_tenant(session).id

        async def forget() -> None:
            forget_park_facts(tenant_id)

        after_commit(session, forget)
    return after


def sniff_logo(data: bytes) -> tuple[str, str]:
    """(extension, content type) from the file's first bytes, else `InvalidLogo`."""
    for magic, ext, content_type in LOGO_TYPES:
        if data.startswith(magic):
            return ext, content_type
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp", "image/webp"
    raise InvalidLogo("The logo must be a PNG, JPEG or WebP image.")


async def save_logo(session: AsyncSession, storage: Storage, actor: Actor, data: bytes) -> str:
    """Store a new logo and point the profile at it; the old file goes after commit."""
    if len(data) > MAX_LOGO_BYTES:
        raise LogoTooLarge("The logo is at most 1 MiB.", details={"limit": MAX_LOGO_BYTES})
    ext, content_type = sniff_logo(data)
    tenant = current_tenant(session)
    key = tenant_key(tenant.slug, "branding", f"logo-{uuid.uuid4().hex}.{ext}")
    # A fresh name per upload: a cached signed URL never shows the wrong picture,
    # and a rolled-back save leaves the current logo untouched.
    await asyncio.to_thread(storage.put, key, data, content_type)
    profile = await get_profile(session)
    previous = profile.logo_key
    profile.logo_key = key
    await session.flush()
    await record(
        session,
        actor,
        "settings.logo_updated",
        "park_profile",
        before={"logo_key": previous},
        after={"logo_key": key, "content_type": content_type, "size": len(data)},
    )
    if previous:

        async def remove_previous() -> None:
            await asyncio.to_thread(storage.delete, previous)

        after_commit(session, remove_previous)
    return key
