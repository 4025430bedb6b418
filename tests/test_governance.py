"""Governance (DESIGN.md "Governance"): constitutional acts need 2 of 3 regulator approvals and a
delay during which any member can cancel; the deployer keeps no power after the hand-over; keys are
rotated after a compromise — regulator (council), enterprise account, oracle, device — with the old
key's acts valid up to the rotation and refused after it.

Time passes by the embedded node's time travel (:func:`tests.governance_world.travel`, tests only).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from ledger.chain.anvil import set_balances
from ledger.chain.client import ContractRevert
from ledger.contracts.compiler import Artifact
from ledger.contracts.deployment import Deployment
from ledger.contracts.governance import GovernanceError, Operation, establish_governance, govern, state
from ledger.crypto.primitives import Signer, keccak256, new_private_key
from ledger.identifiers import org_id
from tests.conftest import CAL_FROM, CAL_UNTIL, USCC, World
from tests.governance_world import DELAY_S, carry, govern_world, travel
from tests.helpers import DAY0, all_days_but, as_tuple, declare_gap, minute_readings, report_for, sign_report

H = keccak256(b"reason")


@pytest.fixture()
def governed(chain: World, artifacts: dict[str, Artifact]) -> Iterator[World]:
    yield govern_world(chain, artifacts)


def _error(w: World, fn: Any, who: str) -> str:
    with pytest.raises(ContractRevert) as e:
        w.tx(fn, who)
    return e.value.error


def _pause(w: World, salt: bytes = keccak256(b"pause")) -> Operation:
    return Operation.of([w.dep.assets.functions.pause()], salt, "pause the market")


def test_two_of_three_approvals_schedule_and_the_delay_is_waited_out(governed: World, capsys: pytest.CaptureFixture[str]) -> None:
    w = governed
    op = _pause(w)
    first = w.client.send([w.dep.council.approve(*op.args(), sender=w.acct["regulator"])])[0]
    assert state(w.dep, op).approvals == 1 and state(w.dep, op).ready_at == 0      # one key schedules nothing
    second = w.client.send([w.dep.council.approve(*op.args(), sender=w.acct["regulator-b"])])[0]
    st = state(w.dep, op)
    assert st.approvals == 2 and st.ready_at > 0
    assert _error(w, w.dep.constitution.functions.executeBatch(*op.args()), "outsider") == "TimelockUnexpectedOperationState"
    travel(w, DELAY_S + 1)
    done = w.client.send([w.dep.constitution.executeBatch(*op.args(), sender=w.acct["outsider"])])[0]
    assert w.call(w.dep.assets.functions.paused())
    assert state(w.dep, op).done
    with capsys.disabled():
        print(f"\ngas of a governance act (pause): approve {first.gas_used}, approve+schedule {second.gas_used}, "
              f"execute {done.gas_used}, total {first.gas_used + second.gas_used + done.gas_used}")


def test_any_member_cancels_during_the_delay(governed: World) -> None:
    w = governed
    op = _pause(w)
    for m in ("regulator", "regulator-b"):
        w.client.send([w.dep.council.approve(*op.args(), sender=w.acct[m])])
    w.client.send([w.dep.council.cancel(state(w.dep, op).id, sender=w.acct["regulator-c"])])
    travel(w, DELAY_S + 1)
    assert _error(w, w.dep.constitution.functions.executeBatch(*op.args()), "outsider") == "TimelockUnexpectedOperationState"
    assert not w.call(w.dep.assets.functions.paused())
    assert state(w.dep, op).approvals == 0                   # a new round starts from zero


def test_council_refuses_outsiders_and_double_approvals(governed: World) -> None:
    w = governed
    op = _pause(w)
    for who in ("outsider", "enterprise"):
        assert _error(w, w.dep.council.functions.approve(*op.args()), who) == "NotCouncilMember"
    w.client.send([w.dep.council.approve(*op.args(), sender=w.acct["regulator"])])
    assert _error(w, w.dep.council.functions.approve(*op.args()), "regulator") == "AlreadyApproved"
    assert _error(w, w.dep.council.functions.approve([], [], [], bytes(32), bytes(32)), "regulator") == "InvalidOperation"


def test_operation_of_refuses_bad_input() -> None:
    with pytest.raises(GovernanceError):
        Operation.of([], bytes(32), "nothing")
    with pytest.raises(GovernanceError):
        Operation.of([], bytes(31), "short salt")


def test_govern_refuses_a_bad_act_before_anyone_approves(governed: World) -> None:
    w = governed
    op = Operation.of([w.dep.anchor.functions.setOracles([w.acct["oracle-1"], w.acct["oracle-2"]], 1)], keccak256(b"q1"), "2 oracles, f = 1: n < 3f + 1")
    with pytest.raises(ContractRevert) as e:
        govern(w.dep, op, [w.acct["regulator"], w.acct["regulator-b"]], w.acct["regulator"])
    assert e.value.error == "InvalidFaultTolerance"
    assert state(w.dep, op).approvals == 0


def test_govern_resumes_and_needs_enough_members(governed: World) -> None:
    w = governed
    op = _pause(w)
    with pytest.raises(GovernanceError):
        govern(w.dep, op, [w.acct["regulator"]], w.acct["regulator"])
    w.client.send([w.dep.council.approve(*op.args(), sender=w.acct["regulator"])])   # one approval given before
    sent = govern(w.dep, op, [w.acct["regulator"], w.acct["regulator-c"]], w.acct["outsider"],
                  wait=lambda d, o: travel(w, DELAY_S + 1))
    assert len(sent) == 2 and w.call(w.dep.assets.functions.paused())                # one approval + the execution
    assert govern(w.dep, op, [w.acct["regulator"]], w.acct["outsider"]) == []        # done: nothing to do


def test_governed_acts_take_effect(governed: World) -> None:
    """Retire a factor set and change the oracle set through the council: both take effect."""
    w = governed
    a = w.acct
    new_set = [a["oracle-4"], a["oracle-3"], a["oracle-2"], a["oracle-1"]]
    before = w.call(w.dep.anchor.functions.oracles())
    op = Operation.of([w.dep.factors.functions.retireFactorSet(w.factor_set, H),
                       w.dep.anchor.functions.setOracles(new_set, 1)],
                      keccak256(b"retire+oracles"), "retire set 1, new oracle set (n = 4, f = 1)")
    carry(w, op)
    assert w.call(w.dep.factors.functions.isRetired(w.factor_set))
    assert not w.call(w.dep.factors.functions.appliesTo(w.factor_set, 2007))
    after = w.call(w.dep.anchor.functions.oracles())
    assert (after.version, after.quorum) == (before.version + 1, 3)
    assert [o.lower() for o in after.oracles_] == [o.lower() for o in new_set]


def test_deployer_keeps_no_power_after_the_hand_over(chain: World, artifacts: dict[str, Artifact]) -> None:
    w = chain
    members = []
    for _ in range(3):
        members.append(w.client.add_account(new_private_key()))
    set_balances(w.client, members)
    deployer = w.acct["regulator"]
    manifest = establish_governance(w.client, artifacts, copy.deepcopy(w.dep.manifest), deployer, members, 2, DELAY_S)
    dep = Deployment(w.client, manifest)
    tl = dep.constitution
    assert dep.participants.constitution() == tl.address
    assert not tl.hasRole(tl.DEFAULT_ADMIN_ROLE(), deployer)
    assert not any(tl.hasRole(r, deployer) for r in (tl.PROPOSER_ROLE(), tl.CANCELLER_ROLE()))
    assert not dep.participants.isActive(deployer, dep.role("REGULATOR_ROLE"))
    grid = bytes(w.call(dep.factors.functions.GRID_EF()))
    for fn in (dep.participants.functions.transferConstitution(deployer), dep.assets.functions.pause(),
               dep.factors.functions.publishFactorSet(2006, 2010, [grid], [1], [4], "c", "l"),
               dep.anchor.functions.setOracles([w.acct[f"oracle-{i}"] for i in (1, 2, 3, 4)], 1)):
        assert _error(w, fn, "regulator") == "NotConstitution"
    for fn in (dep.participants.functions.admit(keccak256(b"org"), dep.role("ENTERPRISE_ROLE"), bytes(32), 0, deployer, "x"),
               dep.assets.functions.freeze(w.acct["enterprise"], "r")):
        assert _error(w, fn, "regulator") == "NotRegulator"
    assert _error(w, tl.functions.grantRole(tl.PROPOSER_ROLE(), deployer), "regulator") == "AccessControlUnauthorizedAccount"
    assert _error(w, dep.council.functions.approve(*_pause(w).args()), "regulator") == "NotCouncilMember"


def test_establish_governance_refuses_bad_parameters(chain: World, artifacts: dict[str, Artifact]) -> None:
    w = chain
    m = copy.deepcopy(w.dep.manifest)
    for members, k, delay in (([w.acct["regulator"]] * 2, 2, 60), ([w.acct["regulator"], w.acct["outsider"]], 1, 60),
                              ([w.acct["regulator"]], 1, 0)):
        with pytest.raises(GovernanceError):
            establish_governance(w.client, artifacts, m, w.acct["regulator"], members, k, delay)
    with pytest.raises(GovernanceError, match="does not hold the constitution"):
        establish_governance(w.client, artifacts, m, w.acct["outsider"], [w.acct["outsider"]], 1, 60)


# ----------------------------------------------------------------------------- key rotation
def test_rotating_a_regulator_key(governed: World) -> None:
    """The council replaces a compromised member: approvals it gave before count no more, it can
    neither approve nor act as a regulator afterwards; an act it helped schedule before stays valid."""
    w = governed
    old, new = w.acct["regulator"], w.client.add_account(new_private_key())
    set_balances(w.client, [new])
    early = _pause(w, keccak256(b"early"))
    for m in ("regulator", "regulator-b"):                    # scheduled before the rotation
        w.client.send([w.dep.council.approve(*early.args(), sender=w.acct[m])])
    pending = Operation.of([w.dep.factors.functions.retireFactorSet(w.factor_set, H)], keccak256(b"p"), "retire")
    w.client.send([w.dep.council.approve(*pending.args(), sender=old)])
    reg = org_id(USCC["regulator"])
    pr = w.dep.participants.functions
    rotate = Operation.of([pr.addAccount(reg, new), w.dep.council.functions.setCouncil([new, w.acct["regulator-b"], w.acct["regulator-c"]], 2),
                           pr.removeAccount(reg, old)], keccak256(b"rotate"), "rotate regulator key")
    carry(w, rotate, ("regulator-b", "regulator-c"))
    assert state(w.dep, pending).approvals == 0               # the old key's approval no longer counts
    assert _error(w, w.dep.council.functions.approve(*pending.args()), "regulator") == "NotCouncilMember"
    assert _error(w, w.dep.assets.functions.freeze(w.acct["enterprise"], "r"), "regulator") == "NotRegulator"
    w.client.send([w.dep.constitution.executeBatch(*early.args(), sender=w.acct["outsider"])])
    assert w.call(w.dep.assets.functions.paused())            # its act before the rotation stands
    w.client.send([w.dep.council.approve(*pending.args(), sender=new)])
    assert state(w.dep, pending).approvals == 1


def test_rotating_an_enterprise_key(chain: World) -> None:
    w = chain
    new = w.client.add_account(new_private_key())
    set_balances(w.client, [new])
    w.tx(w.dep.anchor.functions.anchor(*_report(w, 0, [w.oracle_signer(1), w.oracle_signer(2), w.oracle_signer(3)])), "oracle-1")
    declare_gap(w, 2007, 1, all_days_but([1]))   # one day anchored: the rest of January is a declared gap
    em = w.dep.emissions.functions
    rid = w.dep.emissions.decode_events(w.tx(em.recordPurchasedElectricity(w.device, 2007, 1, 0, 0, w.factor_set, H, 0), "enterprise"),
                                        "ActivityRecorded")[0].recordId
    ent = org_id(USCC["enterprise"])
    w.client.send([w.dep.participants.addAccount(ent, new, sender=w.acct["regulator"]),
                   w.dep.participants.removeAccount(ent, w.acct["enterprise"], sender=w.acct["regulator"])])
    assert _error(w, em.submit(rid), "enterprise") == "NotRecordEnterprise"
    w.client.send([w.dep.emissions.submit(rid, sender=new)])  # the record made by the old key stands
    assert _error(w, em.recordPurchasedElectricity(w.device, 2007, 2, 0, 0, w.factor_set, H, 0), "enterprise") == "NotActiveParticipant"


def _report(w: World, day: int, signers: list[Signer]) -> tuple[Any, list[bytes]]:
    rs = minute_readings(w.device, DAY0 + day * 86_400, [1_000_000, 2_000_000], first_seq=100 + 10 * day)
    rep, _ = report_for(rs, w.call(w.dep.anchor.functions.configDigest()), DAY0 + day * 86_400, DAY0 + (day + 1) * 86_400)
    return as_tuple(rep), sign_report(rep, w.dep.domain.separator, signers)


def test_rotating_an_oracle_key(governed: World) -> None:
    w = governed
    key = new_private_key()
    new = w.client.add_account(key)
    set_balances(w.client, [new])
    n0 = w.call(w.dep.anchor.functions.batchCount())
    w.tx(w.dep.anchor.functions.anchor(*_report(w, 0, [w.oracle_signer(1), w.oracle_signer(2), w.oracle_signer(3)])), "oracle-1")
    w.client.send([w.dep.participants.addAccount(org_id(USCC["oracle-1"]), new, sender=w.acct["regulator"])])
    carry(w, Operation.of([w.dep.anchor.functions.setOracles([new, w.acct["oracle-2"], w.acct["oracle-3"], w.acct["oracle-4"]], 1)],
                          keccak256(b"oracles"), "rotate oracle-1"))
    w.client.send([w.dep.participants.removeAccount(org_id(USCC["oracle-1"]), w.acct["oracle-1"], sender=w.acct["regulator"])])
    assert _error(w, w.dep.anchor.functions.anchor(*_report(w, 1, [w.oracle_signer(1), w.oracle_signer(2), w.oracle_signer(3)])), "oracle-2") == "UnknownSigner"
    w.tx(w.dep.anchor.functions.anchor(*_report(w, 1, [Signer(key), w.oracle_signer(2), w.oracle_signer(3)])), "oracle-2")
    assert w.call(w.dep.anchor.functions.batchCount()) == n0 + 2   # the batch signed by the old key stands


def test_rotating_a_device_key(chain: World) -> None:
    w = chain
    n0 = w.call(w.dep.anchor.functions.batchCount())
    w.tx(w.dep.anchor.functions.anchor(*_report(w, 0, [w.oracle_signer(1), w.oracle_signer(2), w.oracle_signer(3)])), "oracle-1")
    new_key = new_private_key()
    ent = org_id(USCC["enterprise"])
    new_device = keccak256(b"meter-1 rekeyed")
    w.client.send([w.dep.devices.revokeDevice(w.device, H, sender=w.acct["enterprise"]),
                   w.dep.devices.registerDevice(new_device, ent, Signer(new_key).address, 1, keccak256(b"serial meter-1 rekeyed"), sender=w.acct["enterprise"])])
    w.client.send([w.dep.devices.recordCalibration(new_device, CAL_FROM, CAL_UNTIL, H, sender=w.acct["calibration"])])
    assert _error(w, w.dep.anchor.functions.anchor(*_report(w, 1, [w.oracle_signer(1), w.oracle_signer(2), w.oracle_signer(3)])), "oracle-1") == "DeviceNotUsable"
    assert w.call(w.dep.anchor.functions.batchCount()) == n0 + 1   # the old key's batch stands
    assert w.call(w.dep.devices.functions.deviceOfSigner(Signer(new_key).address)) == new_device
