from __future__ import annotations

import msgspec


class ParkOut(msgspec.Struct, frozen=True):
    slug: str
    display_name: str
    time_zone: str
    currency: str
    default_locale: str
