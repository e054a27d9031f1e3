"""Which pricing modes a park offers, and how each mode describes its form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform import pricing_registry
from vistapass.platform.audit.service import Actor, jsonable, record
from vistapass.platform.errors import VistapassError
from vistapass.platform.plugin_api import ConfigField, PricingMode
from vistapass.tenants.models.catalog import PricingModeSetting

# Modes we ship are on unless a park switched them off; a third party's mode is
# off until the park switches it on.
BUILT_IN_PREFIX = "vistapass.plugins.pricing."


class InvalidModes(VistapassError):
    status_code = 422
    code = "invalid_modes"


def field_dict(field: ConfigField) -> dict[str, Any]:
    return {
        "name": field.name,
        "kind": str(field.kind),
        "label_zh": field.label_zh,
        "label_en": field.label_en,
        "required": field.required,
        "default": jsonable({"v": field.default})["v"],  # type: ignore[index]
        "choices": list(field.choices),
        "help_zh": field.help_zh,
        "help_en": field.help_en,
    }


def is_built_in(mode: PricingMode) -> bool:
    return type(mode).__module__.startswith(BUILT_IN_PREFIX)


async def enabled_modes(session: AsyncSession) -> dict[str, bool]:
    """Every installed mode and whether this park has it on."""
    rows = {s.key: s.enabled for s in await session.scalars(select(PricingModeSetting))}
    return {
        key: rows.get(key, is_built_in(mode))
        for key, mode in sorted(pricing_registry.pricing_modes().items())
    }


async def list_modes(session: AsyncSession) -> list[dict[str, Any]]:
    modes = pricing_registry.pricing_modes()
    return [
        {
            "key": key,
            "name_zh": modes[key].name_zh,
            "name_en": modes[key].name_en,
            "config_fields": [field_dict(f) for f in modes[key].config_fields],
            "built_in": is_built_in(modes[key]),
            "enabled": enabled,
        }
        for key, enabled in (await enabled_modes(session)).items()
    ]


async def set_modes(session: AsyncSession, actor: Actor, wanted: Any) -> None:
    """`wanted` maps mode keys to on/off; modes not named keep their setting."""
    if not isinstance(wanted, Mapping) or not all(isinstance(v, bool) for v in wanted.values()):
        raise InvalidModes(
            'Send {"modes": {"<key>": true|false, ...}}.', details={"field": "modes"}
        )
    current = await enabled_modes(session)
    for key, enabled in wanted.items():
        if key not in current:
            raise pricing_registry.UnknownPricingMode(
                f"No pricing mode is called '{key}'.", details={"field": "modes", "mode": key}
            )
        row = await session.get(PricingModeSetting, key)
        if row is None:
            session.add(PricingModeSetting(key=key, enabled=enabled))
        else:
            row.enabled = enabled
        if current[key] != enabled:
            action = "pricing_mode.enabled" if enabled else "pricing_mode.disabled"
            await record(
                session,
                actor,
                action,
                f"pricing_mode:{key}",
                before={"enabled": current[key]},
                after={"enabled": enabled},
            )
    await session.flush()
