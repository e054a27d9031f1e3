"""Decisions and search results as the staff's language shows them: JSON and page values."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from vistapass.platform.console.i18n import gettext_current
from vistapass.tenants.checkin.service import Decision

LOCALISED = ("product_name", "unit_label")


def localised(item: dict[str, Any] | None, language: str) -> dict[str, Any] | None:
    """A summary whose names are in `language` (both are stored; one is shown)."""
    if item is None:
        return None
    out = dict(item)
    for key in LOCALISED:
        names = out.get(key)
        if isinstance(names, dict):
            out[key] = names.get(language) or names.get("en") or ""
    return out


def decision_json(decision: Decision, language: str) -> dict[str, Any]:
    return {
        "ok": decision.ok,
        "code": decision.code,
        "message": gettext_current(decision.message),
        "direction": decision.direction,
        "ticket": localised(decision.ticket, language),
        "admission": decision.admission_id,
        "at": decision.at.isoformat(),
        "replayed": decision.replayed,
    }


def search_json(orders: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    return [
        {
            **order,
            "product_name": (order["product_name"] or {}).get(language, ""),
            "status_label": gettext_current(order["status"]),
            "tickets": [
                {
                    **(localised(ticket, language) or {}),
                    "state_label": gettext_current(ticket["state"]),
                }
                for ticket in order["tickets"]
            ],
        }
        for order in orders
    ]


def clock(moment: datetime, time_zone: str) -> str:
    """The time of a scan on the park's clock, to the second."""
    return moment.astimezone(ZoneInfo(time_zone)).strftime("%H:%M:%S")
