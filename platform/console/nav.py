"""Console navigation: each entry shows only to roles holding its permission."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str  # a gettext message id
    path: str  # relative to /p/<slug>/console/
    permission: str


NAV: list[NavItem] = [
    NavItem("Overview", "", "console:view"),
    NavItem("Products", "catalog", "catalog:read"),
    NavItem("Calendar", "calendar", "catalog:read"),
    NavItem("Orders", "orders", "orders:read"),
    NavItem("Window sales", "window", "window:sell"),
    NavItem("Check-in", "checkin", "checkin:scan"),
    NavItem("Occupancy", "occupancy", "reports:read"),
    NavItem("Capacity", "capacity", "catalog:read"),
    NavItem("Gates", "gates", "settings:write"),
    NavItem("Staff", "staff", "staff:read"),
    NavItem("Park settings", "settings", "settings:read"),
    NavItem("Custom domains", "domains", "settings:read"),
    NavItem("Audit log", "audit", "audit:read"),
    NavItem("API tokens", "tokens", "tokens:manage"),
]
