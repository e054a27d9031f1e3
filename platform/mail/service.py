from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from vistapass.platform.worker.enqueue import enqueue_job

SEND_ACTOR = "mail.send"


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None


def send_mail(session: AsyncSession, mail: Mail) -> None:
    """Queue a message; it leaves only if the session's transaction commits."""
    enqueue_job(
        session, SEND_ACTOR, to=mail.to, subject=mail.subject, text=mail.text, html=mail.html
    )
