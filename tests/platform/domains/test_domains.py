"""Custom domains: claimed, verified by a published token, then served; refused otherwise."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from litestar.testing import TestClient

from tests.conftest import sign_in, unique_slug
from vistapass.platform.app import create_app
from vistapass.platform.domains.service import DomainNotVerified, fetch_published_token
from vistapass.platform.settings import Settings


class OperatorSite:
    """The operator's own web server, where they publish the token (on loopback)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write(body or b"not here")

            def log_message(self, *_args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, domain: str, text: str) -> None:
        self.files[f"/{domain}/vistapass.txt"] = text.encode()


@pytest.fixture
def site() -> Iterator[OperatorSite]:
    operator_site = OperatorSite()
    yield operator_site
    operator_site.server.shutdown()


@pytest.fixture
def client(migrated: Settings, site: OperatorSite) -> Iterator[TestClient]:
    settings = migrated.model_copy(
        update={"domain_verify_url": f"http://127.0.0.1:{site.port}/{{domain}}/vistapass.txt"}
    )
    with TestClient(create_app(settings), base_url="http://vistapass.test") as test_client:
        test_client.get("/healthz")
        yield test_client


def api(client: TestClient, method: str, path: str, **kwargs):
    headers = {"x-csrftoken": client.cookies.get("csrftoken") or "", "accept": "application/json"}
    return client.request(method, path, headers=headers, **kwargs)


def test_claim_publish_verify_then_served(client, migrated, make_member, site, admin_conn) -> None:
    sign_in(client, migrated, make_member("alpha", "manager"))
    domain = f"tickets.{unique_slug('alpha')}.example.cn"
    claimed = api(client, "POST", "/p/alpha/api/v1/domains", json={"domain": domain.upper()})
    assert claimed.status_code == 201, claimed.text
    token = claimed.json()["token"]
    assert claimed.json()["verified"] is False and len(token) >= 24

    # Not served before verification.
    assert client.get("/api/v1/park", headers={"Host": domain}).status_code == 404
    early = api(client, "POST", f"/p/alpha/api/v1/domains/{domain}/verify")
    assert (early.status_code, early.json()["error"]["code"]) == (422, "domain_not_verified")
    site.publish(domain, "someone else's token")
    wrong = api(client, "POST", f"/p/alpha/api/v1/domains/{domain}/verify")
    assert wrong.json()["error"]["code"] == "domain_not_verified"

    site.publish(domain, token + "\n")
    verified = api(client, "POST", f"/p/alpha/api/v1/domains/{domain}/verify")
    assert (verified.status_code, verified.json()["verified"]) == (200, True)
    served = client.get("/api/v1/park", headers={"Host": domain})
    assert served.json()["slug"] == "alpha"

    actions = [
        row[0]
        for row in admin_conn.execute(
            "SELECT action FROM t_alpha.audit_log WHERE target = %s ORDER BY id",
            (f"domain:{domain}",),
        )
    ]
    assert actions == ["domain.claimed", "domain.verified"]

    assert api(client, "DELETE", f"/p/alpha/api/v1/domains/{domain}").status_code == 204
    gone = client.get("/api/v1/park", headers={"Host": domain})
    assert gone.json()["error"]["code"] == "tenant_not_found"


def test_a_verified_domain_of_another_park_cannot_be_claimed(
    client, migrated, make_member, site
) -> None:
    domain = f"www.{unique_slug('beta')}.example.cn"
    sign_in(client, migrated, make_member("beta", "owner"))
    token = api(client, "POST", "/p/beta/api/v1/domains", json={"domain": domain}).json()["token"]
    site.publish(domain, token)
    assert api(client, "POST", f"/p/beta/api/v1/domains/{domain}/verify").status_code == 200

    sign_in(client, migrated, make_member("alpha", "owner"))
    taken = api(client, "POST", "/p/alpha/api/v1/domains", json={"domain": domain})
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "domain_taken")
    # And beta's domain is not alpha's to verify or remove.
    foreign = api(client, "DELETE", f"/p/alpha/api/v1/domains/{domain}")
    assert (foreign.status_code, foreign.json()["error"]["code"]) == (404, "domain_not_found")


def test_an_unverified_claim_does_not_block_the_real_owner(
    client, migrated, make_member, site
) -> None:
    domain = f"shop.{unique_slug('x')}.example.cn"
    sign_in(client, migrated, make_member("beta", "owner"))
    api(client, "POST", "/p/beta/api/v1/domains", json={"domain": domain})
    sign_in(client, migrated, make_member("alpha", "owner"))
    mine = api(client, "POST", "/p/alpha/api/v1/domains", json={"domain": domain})
    assert mine.status_code == 201
    site.publish(domain, mine.json()["token"])
    assert api(client, "POST", f"/p/alpha/api/v1/domains/{domain}/verify").json()["verified"]


@pytest.mark.parametrize("domain", ["localhost", "bad_domain.cn", "-x.example.cn", "a" * 300])
def test_bad_domains_are_422(client, migrated, make_member, domain: str) -> None:
    sign_in(client, migrated, make_member("alpha", "owner"))
    response = api(client, "POST", "/p/alpha/api/v1/domains", json={"domain": domain})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_domain")


def test_the_console_page_walks_an_operator_through_it(client, migrated, make_member, site) -> None:
    sign_in(client, migrated, make_member("alpha", "owner"))
    domain = f"park.{unique_slug('page')}.example.cn"
    headers = {"x-csrftoken": client.cookies.get("csrftoken") or ""}
    added = client.post("/p/alpha/console/domains", data={"domain": domain}, headers=headers)
    assert added.status_code == 200 and domain in added.text
    token = added.text.split("<code>")[2].split("</code>")[0]
    site.publish(domain, token)
    done = client.post(f"/p/alpha/console/domains/{domain}/verify", headers=headers)
    assert (
        "Verified" in client.get("/p/alpha/console/domains", headers={"accept-language": "en"}).text
    )
    assert done.status_code == 200


def test_production_never_fetches_from_private_addresses(migrated: Settings) -> None:
    production = migrated.model_copy(
        update={"env": "production", "domain_verify_url": "http://{domain}/token.txt"}
    )
    with pytest.raises(DomainNotVerified, match="private address"):
        asyncio.run(fetch_published_token(production, "localhost"))
