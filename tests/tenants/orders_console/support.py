"""Buying through the order API, signing staff in, reading forms and the audit log."""

from __future__ import annotations

import uuid
from datetime import date
from html.parser import HTMLParser
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import select

from tests.conftest import run
from tests.tenants.orders.conftest import order_body
from vistapass.platform.settings import Settings
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.models import AuditEntry


def html(lang: str) -> dict[str, str]:
    return {"accept": "text/html", "accept-language": lang}


def csrf(client: TestClient, lang: str = "en") -> dict[str, str]:
    """Headers for a console form post: HTML wanted, the CSRF cookie echoed."""
    if not client.cookies.get("csrftoken"):
        client.get("/healthz")
    return {**html(lang), "x-csrftoken": client.cookies.get("csrftoken") or ""}


def buy(
    client: TestClient,
    slug: str,
    product: str,
    day: date,
    lines: list[dict[str, Any]],
    *,
    paid: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """An order placed (and paid with the test payment) as a web buyer would."""
    body = order_body(product, day, lines, **extra)
    response = client.post(
        f"/p/{slug}/api/v1/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert response.status_code == 201, response.text
    order = response.json()
    if not paid:
        return order
    url = f"/p/{slug}/api/v1/orders/{order['code']}/payment?t={order['token']}"
    payment = client.post(url)
    assert payment.status_code == 200, payment.text
    return payment.json()["order"]


def audit_entries(settings: Settings, slug: str, action: str) -> list[AuditEntry]:
    async def work(db: Any) -> list[AuditEntry]:
        async with tenant_session(db, slug) as session:
            rows = await session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
            return list(rows)

    return run(settings, work)


class FormReader(HTMLParser):
    """The fields a browser would send for the form posting to `action`."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.fields: dict[str, list[str]] = {}
        self.select: str | None = None
        self.textarea: str | None = None

    def _add(self, name: str | None, value: str) -> None:
        if name:
            self.fields.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        if not self.inside:
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._add(a.get("name"), a.get("value") or "on")
            elif kind not in ("submit", "file"):
                self._add(a.get("name"), a.get("value", ""))
        elif tag == "select":
            self.select = a.get("name")
        elif tag == "option" and self.select and "selected" in a:
            self._add(self.select, a.get("value", ""))
        elif tag == "textarea":
            self.textarea = a.get("name")
            self._add(self.textarea, "")

    def handle_data(self, data: str) -> None:
        if self.inside and self.textarea:
            self.fields[self.textarea][-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None


def form_fields(page: str, action: str) -> dict[str, list[str]]:
    reader = FormReader(action)
    reader.feed(page)
    assert reader.fields, f"no form posting to {action}"
    return reader.fields
