"""Outgoing mail over SMTP, received by a real SMTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from vistapass.platform.embedded._process import free_port
from vistapass.platform.mail.tasks import deliver
from vistapass.platform.settings import Settings


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, _server: object, _session: object, envelope: object) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        )
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_mail_goes_over_smtp_when_a_host_is_set(smtp, migrated: Settings) -> None:
    inbox, port = smtp
    settings = migrated.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_starttls": False,
            "mail_from": "Lakeside <tickets@lakeside.example>",
        }
    )
    deliver(settings, "owner@example.com", "验证邮箱 / Verify", "Open http://x/verify", "<p>hi</p>")
    [(sender, recipients, message)] = inbox.messages
    assert sender == "tickets@lakeside.example"
    assert recipients == ["owner@example.com"]
    assert str(message["Subject"]) and "Verify" in message["Subject"]
    parts = {part.get_content_type() for part in message.walk()}
    assert {"text/plain", "text/html"} <= parts
