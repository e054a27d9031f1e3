"""Slugs, schema names and role names: validated before any of them reaches SQL."""

from __future__ import annotations

import re

from vistapass.platform.tenancy.errors import InvalidSlug, SlugReserved

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")
SCHEMA_PATTERN = re.compile(r"^t_[a-z0-9_]{3,40}$")
ROLE_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,11}_t_[a-z0-9_]{3,40}$")

# Host labels and path words the platform needs for itself, plus names that read as ours.
RESERVED_SLUGS = frozenset(
    {
        "www", "api", "admin", "app", "apps", "assets", "auth", "billing", "blog", "cdn",
        "console", "dashboard", "dev", "docs", "ftp", "gate", "gates", "help", "imap",
        "login", "logout", "mail", "media", "ns1", "ns2", "partner", "partners", "platform",
        "pop", "postgres", "public", "root", "schema", "signup", "smtp", "staff", "staging",
        "static", "status", "storage", "support", "system", "tenant", "tenants", "test",
        "vistapass", "webhooks",
    }
)  # fmt: skip


def validate_slug(slug: str) -> str:
    if not SLUG_PATTERN.fullmatch(slug) or "--" in slug:
        raise InvalidSlug(
            "A park slug is 3-40 characters of lowercase letters, digits and single "
            "hyphens, starting and ending with a letter or digit.",
            details={"slug": slug},
        )
    if slug in RESERVED_SLUGS:
        raise SlugReserved(f"The slug '{slug}' is reserved.", details={"slug": slug})
    return slug


def is_valid_slug(slug: str) -> bool:
    return bool(SLUG_PATTERN.fullmatch(slug)) and "--" not in slug and slug not in RESERVED_SLUGS


def schema_for(slug: str) -> str:
    schema = "t_" + validate_slug(slug).replace("-", "_")
    return checked_schema(schema)


def role_for(prefix: str, slug: str) -> str:
    return checked_role(f"{prefix}_{schema_for(slug)}")


def checked_schema(schema: str) -> str:
    if not SCHEMA_PATTERN.fullmatch(schema):
        raise ValueError(f"not a tenant schema name: {schema!r}")
    return schema


def checked_role(role: str) -> str:
    if not ROLE_PATTERN.fullmatch(role):
        raise ValueError(f"not a tenant role name: {role!r}")
    return role
