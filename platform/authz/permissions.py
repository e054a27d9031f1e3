"""How routes declare what they need: `opt=requires("settings:write")`.

Every route declares one of: a permission (`<object>:<action>`, checked against
the park's or the platform's policy), `SIGNED_IN` (anyone signed in), or
`PUBLIC`. A route that declares nothing is refused, and the suite fails.
"""

from __future__ import annotations

from typing import Any

PERMISSION_KEY = "permission"
PUBLIC = "public"
SIGNED_IN = "signed_in"
PLATFORM_DOMAIN = "platform"


def requires(permission: str) -> dict[str, Any]:
    if permission not in (PUBLIC, SIGNED_IN) and permission.count(":") != 1:
        raise ValueError(f"a permission is '<object>:<action>', not {permission!r}")
    return {PERMISSION_KEY: permission}


def public() -> dict[str, Any]:
    return {PERMISSION_KEY: PUBLIC}


def signed_in() -> dict[str, Any]:
    return {PERMISSION_KEY: SIGNED_IN}
