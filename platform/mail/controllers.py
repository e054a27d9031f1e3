"""The development mailbox: what `mail.send` kept in Redis when no SMTP server is set.

Public, because it serves local development and tests only; in production the
pages do not exist (404), whatever the mail configuration.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from litestar import Request, get
from litestar.response import Template
from redis.asyncio import Redis

from vistapass.platform.authz.permissions import public
from vistapass.platform.console.context import console_context
from vistapass.platform.console.pages import Page
from vistapass.platform.errors import NotFound
from vistapass.platform.mail.tasks import MAILBOX_SIZE, mailbox_key
from vistapass.platform.settings import Settings


def require_dev_mailbox(settings: Settings) -> None:
    """The mailbox holds sign-in and verification links: never serve it in production."""
    if settings.is_production:
        raise NotFound("Not found.")


async def read_mailbox(redis: Redis, settings: Settings) -> list[dict[str, Any]]:
    """Captured mails, newest first."""
    raw = await redis.lrange(mailbox_key(settings), 0, MAILBOX_SIZE - 1)
    mails = []
    for item in raw:
        mail = json.loads(item)
        at = mail.get("at")
        mail["at"] = datetime.fromtimestamp(at, UTC).isoformat() if at else None
        mails.append(mail)
    return mails


async def _mails(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    settings: Settings = request.app.state.settings
    require_dev_mailbox(settings)
    return await read_mailbox(request.app.state.redis, settings)


@get("/dev/mailbox", opt=public(), include_in_schema=False)
async def mailbox_page(request: Request[Any, Any, Any]) -> Template:
    mails = await _mails(request)
    context = await console_context(request, None, mails=mails)
    return Page("mail/mailbox.html", context=context)


@get("/dev/mailbox.json", opt=public(), include_in_schema=False)
async def mailbox_json(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {"mails": await _mails(request)}


MAIL_ROUTES = [mailbox_page, mailbox_json]
