"""Finding pricing modes: every class registered under the `vistapass.pricing`
entry point group, ours and third parties' alike, instantiated once per process."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from vistapass.platform.errors import VistapassError
from vistapass.platform.logging import get_logger
from vistapass.platform.plugin_api import ENTRY_POINT_GROUP, PricingMode

log = get_logger(__name__)


class UnknownPricingMode(VistapassError):
    status_code = 422
    code = "unknown_pricing_mode"


@cache
def pricing_modes() -> dict[str, PricingMode]:
    modes: dict[str, PricingMode] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            mode = entry_point.load()()
        except Exception:  # a broken plugin must not take the platform down with it
            log.exception("pricing plugin failed to load", entry_point=entry_point.value)
            continue
        if not isinstance(mode, PricingMode) or mode.key != entry_point.name:
            log.error(
                "not a pricing mode, or its key differs from its entry point name",
                entry_point=entry_point.value,
            )
            continue
        modes[mode.key] = mode
    return modes


def get_mode(key: str) -> PricingMode:
    mode = pricing_modes().get(key)
    if mode is None:
        raise UnknownPricingMode(
            f"No pricing mode is called '{key}'.",
            details={"mode": key, "known": sorted(pricing_modes())},
        )
    return mode


def reload_modes() -> None:
    """Forget what was found (after installing a plugin in a running process)."""
    pricing_modes.cache_clear()
