"""`mail.send`: SMTP when configured, else the development mailbox (Redis) and the log."""

from __future__ import annotations

import asyncio
import json
import smtplib
import time
from email.message import EmailMessage

from redis import Redis

from vistapass.platform.logging import get_logger
from vistapass.platform.mail.service import SEND_ACTOR
from vistapass.platform.settings import Settings
from vistapass.platform.worker.broker import broker_settings
from vistapass.platform.worker.registry import register

log = get_logger(__name__)

MAILBOX_SIZE = 200


def mailbox_key(settings: Settings) -> str:
    return f"{settings.redis_namespace}:dev-mailbox"


def build_message(
    settings: Settings, to: str, subject: str, text: str, html: str | None
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def _smtp_send(settings: Settings, message: EmailMessage) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)


def deliver(settings: Settings, to: str, subject: str, text: str, html: str | None = None) -> None:
    message = build_message(settings, to, subject, text, html)
    if settings.smtp_host:
        _smtp_send(settings, message)
        log.info("mail sent", to=to, subject=subject)
        return
    record = {"to": to, "subject": subject, "text": text, "html": html, "at": time.time()}
    with Redis.from_url(settings.redis_url) as redis:
        redis.lpush(mailbox_key(settings), json.dumps(record))
        redis.ltrim(mailbox_key(settings), 0, MAILBOX_SIZE - 1)
    log.info("mail kept in the dev mailbox", to=to, subject=subject, text=text)


async def send(
    to: str, subject: str, text: str, html: str | None = None, tenant: str | None = None
) -> None:
    # `tenant` is set when a park's transaction queued the mail; delivery does not need it.
    await asyncio.to_thread(deliver, broker_settings(), to, subject, text, html)


register(SEND_ACTOR, send, max_retries=10)
