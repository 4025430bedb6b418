"""A stolen regulator key on a governed ledger (a 2-of-3 regulator council): every constitutional
act it tries alone is refused (issue 12 "Governance: no single key rules the ledger").

``regulator`` is the thief's key: one of the council's three. Each test names the act of the
issue's finding; on the contracts before governance every one of these acts went through.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.accounting.assets import cea_id
from ledger.chain.client import ContractRevert
from ledger.contracts.compiler import Artifact
from ledger.crypto.primitives import keccak256
from ledger.identifiers import make_uscc, org_id, uscc_bytes32
from tests.conftest import USCC, World
from tests.governance_world import govern_world

THIEF = "regulator"
H = keccak256(b"reason")


@pytest.fixture()
def governed(chain: World, artifacts: dict[str, Artifact]) -> Iterator[World]:
    yield govern_world(chain, artifacts)


def _refused(w: World, fn: object, error: str = "NotConstitution") -> None:
    with pytest.raises(ContractRevert) as e:
        w.tx(fn, THIEF)
    assert e.value.error == error


def test_stolen_key_cannot_admit_a_second_regulator_organisation(governed: World) -> None:
    w = governed
    uscc = make_uscc("1", "1", "310000", "MB1C0666")
    _refused(w, w.dep.participants.functions.admit(org_id(uscc), w.dep.role("REGULATOR_ROLE"), uscc_bytes32(uscc), 28800,
                                                   w.acct["outsider"], "thief's regulator"))
    # nor revoke the regulator organisation it belongs to
    _refused(w, w.dep.participants.functions.revoke(org_id(USCC["regulator"]), H))


def test_stolen_key_cannot_remove_co_regulator_accounts(governed: World) -> None:
    w = governed
    _refused(w, w.dep.participants.functions.removeAccount(org_id(USCC["regulator"]), w.acct["regulator-b"]))
    assert w.call(w.dep.participants.functions.isActive(w.acct["regulator-b"], w.dep.role("REGULATOR_ROLE")))


def test_stolen_key_cannot_add_accounts_to_the_regulator(governed: World) -> None:
    w = governed
    _refused(w, w.dep.participants.functions.addAccount(org_id(USCC["regulator"]), w.acct["outsider"]))


def test_stolen_key_cannot_make_a_plain_account_a_cea_issuer(governed: World) -> None:
    w = governed
    role = bytes(w.call(w.dep.assets.functions.CEA_ISSUER_ROLE()))
    _refused(w, w.dep.assets.functions.grantOperator(role, w.acct["enterprise"]))
    with pytest.raises(ContractRevert) as e:
        w.tx(w.dep.assets.functions.issue(w.acct["enterprise"], cea_id(2021), 1_000_000, H), "enterprise")
    assert e.value.error == "WrongIssuerForClass"


def test_stolen_key_cannot_revoke_the_settlement_operators(governed: World) -> None:
    w = governed
    _refused(w, w.dep.cash.functions.revokeOperator(w.dep.settlement.address))
    role = bytes(w.call(w.dep.assets.functions.SETTLEMENT_ROLE()))
    _refused(w, w.dep.assets.functions.revokeOperator(role, w.dep.settlement.address))


def test_stolen_key_cannot_admit_an_exchange_or_a_bank(governed: World) -> None:
    w = governed
    for role, code in (("EXCHANGE_ROLE", "MA12EX66"), ("SETTLEMENT_BANK_ROLE", "MA09BK66"), ("REGISTRY_ROLE", "MA09RG66")):
        uscc = make_uscc("9", "1", "310101", code)
        _refused(w, w.dep.participants.functions.admit(org_id(uscc), w.dep.role(role), uscc_bytes32(uscc), 28800,
                                                       w.acct["outsider"], "thief's " + role))


def test_stolen_key_cannot_change_the_oracle_set(governed: World) -> None:
    w = governed
    _refused(w, w.dep.anchor.functions.setOracles([w.acct["oracle-1"], w.acct["oracle-2"]], 2))


def test_stolen_key_cannot_publish_a_factor_set(governed: World) -> None:
    w = governed
    grid = bytes(w.call(w.dep.factors.functions.GRID_EF()))
    _refused(w, w.dep.factors.functions.publishFactorSet(2006, 2010, [grid], [1], [4], "invented", "thief"))


def test_stolen_key_cannot_retire_a_factor_set(governed: World) -> None:
    w = governed
    _refused(w, w.dep.factors.functions.retireFactorSet(w.factor_set, H))


def test_stolen_key_cannot_pause_the_market(governed: World) -> None:
    w = governed
    _refused(w, w.dep.assets.functions.pause())


def test_stolen_key_cannot_rewire_allocation_deductions(governed: World) -> None:
    w = governed
    _refused(w, w.dep.allocation.functions.setComplianceContract(w.acct["outsider"]))
