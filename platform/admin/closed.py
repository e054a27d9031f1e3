"""The page a suspended park shows to people (its API answers 403 `tenant_suspended`)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from vistapass.platform.console.pages import Page
from vistapass.platform.models import Tenant


def park_name(request: Request[Any, Any, Any], slug: str) -> str:
    """The park's display name, or its slug if the registry cannot be read.

    Exception handlers are synchronous in Litestar, so this one indexed lookup
    goes through the sync engine; it only runs for a suspended park's pages.
    """
    try:
        with request.app.state.db.sync_engine.connect() as conn:
            name = conn.scalar(select(Tenant.display_name).where(Tenant.slug == slug))
    except SQLAlchemyError:
        return slug
    return name or slug


def closed_notice(request: Request[Any, Any, Any], slug: str) -> Template:
    return Page(
        "admin/closed.html",
        context={"park_name": park_name(request, slug), "slug": slug},
        status_code=403,
    )
