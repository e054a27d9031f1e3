"""The simulator's tickets are real ones: each kind gets its answer from the hub's scan."""

from __future__ import annotations

import uuid

from tests.tenants.checkin.support import sale_park, with_selling
from vistapass.gate_firmware_bridge.sim.demo_codes import seed_demo_codes
from vistapass.gate_firmware_bridge.sim.demo_setup import demo_edge_token
from vistapass.gate_firmware_bridge.sim.lanes import EXPECTED, forge
from vistapass.platform.models.base import utcnow
from vistapass.platform.tenancy.binding import tenant_session
from vistapass.tenants.checkin.service import scan
from vistapass.tenants.gates.credentials import parse_token, revoke

__all__ = ["sale_park"]


def test_each_kind_of_demo_code_is_answered_as_the_simulator_expects(migrated, sale_park) -> None:
    async def work(selling):
        codes = await seed_demo_codes(selling, sale_park, valid=20)
        answers: dict[str, str] = {}
        async with tenant_session(selling.db, sale_park) as session:
            for kind in ("valid", "used", "wrong_day", "revoked"):
                decision = await scan(
                    session, selling, code=codes[kind][0], direction="entry", device="test",
                    nonce=str(uuid.uuid4()), now=utcnow(),
                )  # fmt: skip
                answers[kind] = decision.code
            forged = await scan(
                session, selling, code=forge(codes["valid"][1]), direction="entry",
                device="test", nonce=str(uuid.uuid4()), now=utcnow(),
            )  # fmt: skip
            answers["forged"] = forged.code
        return codes, answers

    codes, answers = with_selling(migrated, work)
    assert len(codes["valid"]) == 20
    assert len(codes["used"]) == len(codes["revoked"]) == len(codes["wrong_day"]) == 5
    assert len(set(codes["valid"]) | set(codes["used"]) | set(codes["revoked"])) == 30
    assert answers["valid"] == "ok"
    for kind in ("used", "wrong_day", "revoked", "forged"):
        assert answers[kind] in EXPECTED[kind], (kind, answers[kind])


def test_make_run_keeps_its_demo_edge_token_until_it_is_revoked(migrated, sale_park) -> None:
    async def work(selling):
        first = await demo_edge_token(selling, sale_park, None)
        again = await demo_edge_token(selling, sale_park, first)
        async with tenant_session(selling.db, sale_park) as session:
            await revoke(session, parse_token(first).credential_id)
        replaced = await demo_edge_token(selling, sale_park, first)
        garbage = await demo_edge_token(selling, sale_park, "not a token")
        return first, again, replaced, garbage

    first, again, replaced, garbage = with_selling(migrated, work)
    assert again == first
    assert replaced != first and garbage not in (first, replaced)
    assert replaced.startswith(f"{sale_park}.")
