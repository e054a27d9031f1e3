"""The development mailbox: mails newest first with clickable links; never in production."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from tests.platform.signup.conftest import signup_body
from vistapass.platform.errors import NotFound
from vistapass.platform.mail.controllers import require_dev_mailbox
from vistapass.platform.settings import Environment, Settings


def test_the_mailbox_does_not_exist_in_production(migrated: Settings) -> None:
    with pytest.raises(NotFound) as refused:
        require_dev_mailbox(migrated.model_copy(update={"env": Environment.PRODUCTION}))
    assert refused.value.status_code == 404 and refused.value.code == "not_found"
    for env in (Environment.DEVELOPMENT, Environment.TEST):
        require_dev_mailbox(migrated.model_copy(update={"env": env}))


def test_the_mailbox_lists_mails_newest_first_with_clickable_links(
    client: TestClient, deliver_mail
) -> None:
    first, second = signup_body(), signup_body()
    for body in (first, second):
        assert client.post("/api/v1/signup", json=body).status_code == 201
        deliver_mail()

    mails = client.get("/dev/mailbox.json").json()["mails"]
    recipients = [m["to"] for m in mails]
    assert recipients.index(second["email"]) < recipients.index(first["email"])
    newest = mails[recipients.index(second["email"])]
    assert set(newest) >= {"to", "subject", "text", "at"}

    page = client.get("/dev/mailbox", headers={"accept-language": "en"})
    assert page.status_code == 200
    assert page.text.index(second["email"]) < page.text.index(first["email"])
    assert '<a href="http' in page.text and "/verify-email?token=" in page.text
    assert "Development mailbox" in page.text
