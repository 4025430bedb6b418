"""Contract behaviour on a real Anvil node: access control, quorum, anchoring, proofs, the
emissions record life cycle, and the Python mirror of the formula."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.accounting.emissions import emissions_kg
from ledger.chain.client import Call, ContractRevert
from ledger.contracts._generated.meter_data_anchor import BatchAnchored
from ledger.contracts.anchored import split_signatures
from ledger.crypto.primitives import Eip712Domain, Signer, keccak256, new_private_key, recover_address
from ledger.identifiers import device_id, org_id, uscc_bytes32
from ledger.meter_data.reading import config_digest, reading_leaf
from tests.conftest import CAL_UNTIL, USCC, World
from tests.helpers import (
    DAY0,
    GAP_SUBSTITUTE_WH,
    all_days_but,
    as_tuple,
    declare_gap,
    minute_readings,
    report_for,
    sign_readings,
    sign_report,
)


def refused(w: World, fn, who: str, error: str) -> ContractRevert:
    """Assert that ``who`` calling ``fn`` is refused (pre-flight) with custom error ``error``."""
    with pytest.raises(ContractRevert) as exc:
        w.client.preflight([Call.of(fn, w.acct[who])])
    assert exc.value.error == error, exc.value
    return exc.value


def anchor_day(w: World, day_start: int, watts: list[int], signers=(1, 2, 3), first_seq: int = 1):
    rs = minute_readings(w.device, day_start, watts, first_seq)
    rep, tree = report_for(rs, w.call(w.dep.anchor.functions.configDigest()), day_start, day_start + 86_400,
                           signatures=sign_readings(rs, w.dep.domain.separator, w.device_key))
    sigs = sign_report(rep, w.dep.domain.separator, [w.oracle_signer(i) for i in signers])
    res = w.tx(w.dep.anchor.functions.anchor(as_tuple(rep), sigs), "oracle-1")
    batch_id = w.dep.anchor.decode_events(res, "BatchAnchored")[0].batchId
    return batch_id, rs, rep, tree


# ----------------------------------------------------------------------------- access control
def test_every_mutating_function_refuses_an_outsider(chain: World) -> None:
    """Every call on objects that EXIST (the world's device, a Draft record, then the same record
    Submitted and assigned), so the refusal comes from the access check, not from UnknownRecord /
    UnknownDevice. The outsider holds no organisation; enterprise2 and verifier2 are admitted but
    not the record's enterprise or verifier (the complete table: tests/test_access_control.py)."""
    w, d = chain, chain.dep
    org = org_id(USCC["enterprise"])
    rid_hash = keccak256(b"x")
    em = d.emissions.functions
    anchor_day(w, DAY0, [1_000_000, 2_000_000])
    declare_gap(w, 2007, 1, all_days_but([1]))
    w.tx(em.recordPurchasedElectricity(w.device, 2007, 1, 0, 0, w.factor_set, keccak256(b"evidence"), 0), "enterprise")
    rid = w.call(em.currentRecord(org, 1, w.device, 2007, 1))
    assert rid != 0 and w.call(em.recordCount()) == rid
    cases = [
        (d.participants.functions.admit(keccak256(b"new"), d.role("ENTERPRISE_ROLE"), uscc_bytes32(USCC["enterprise2"]), 0, w.acct["device"], "x"), "NotRegulator"),
        (d.participants.functions.addAccount(org, w.acct["device"]), "NotRegulator"),
        (d.participants.functions.removeAccount(org, w.acct["enterprise"]), "NotRegulator"),
        (d.participants.functions.suspend(org, rid_hash), "NotRegulator"),
        (d.participants.functions.reinstate(org), "NotRegulator"),
        (d.participants.functions.revoke(org, rid_hash), "NotRegulator"),
        (d.devices.functions.registerDevice(keccak256(b"dev2"), org, w.acct["device"], 1, keccak256(b"serial dev2")), "NotDeviceAdministrator"),
        (d.devices.functions.recordCalibration(w.device, 1, CAL_UNTIL, rid_hash), "NotCalibrationBody"),
        (d.devices.functions.revokeDevice(w.device, rid_hash), "NotDeviceAdministrator"),
        (d.factors.functions.publishFactorSet(2007, 2007, [rid_hash], [1], [0], "c", "l"), "NotConstitution"),
        (d.anchor.functions.setOracles([w.acct[f"oracle-{i}"] for i in range(1, 5)], 1), "NotConstitution"),
        (em.submit(rid), "NotRecordEnterprise"),
        (em.assignVerifier(rid, w.acct["verifier"]), "NotRegulator"),
        (em.confirm(rid), "NotRegulator"),
        (em.recordPurchasedElectricity(w.device, 2007, 1, 0, 0, 1, rid_hash, 0), "NotActiveParticipant"),
    ]
    rs = minute_readings(w.device, DAY0 + 86_400, [100])
    rep, _ = report_for(rs, w.call(d.anchor.functions.configDigest()), DAY0 + 86_400, DAY0 + 2 * 86_400)
    sigs = sign_report(rep, d.domain.separator, [w.oracle_signer(1), w.oracle_signer(2), w.oracle_signer(3)])
    cases.append((d.anchor.functions.anchor(as_tuple(rep), sigs), "NotOracle"))
    cases.append((d.anchor.functions.supersede(1, as_tuple(rep), sigs, rid_hash), "NotOracle"))
    for fn, error in cases:
        refused(w, fn, "outsider", error)
    # the other enterprise may not submit, calibrate or revoke what is the first one's
    refused(w, em.submit(rid), "enterprise2", "NotRecordEnterprise")
    refused(w, d.devices.functions.recordCalibration(w.device, 1, CAL_UNTIL, rid_hash), "enterprise2", "NotCalibrationBody")
    refused(w, d.devices.functions.revokeDevice(w.device, rid_hash), "enterprise2", "NotDeviceAdministrator")
    # the record Submitted and assigned to `verifier`: nobody else attests or rejects it
    w.tx(em.submit(rid), "enterprise")
    w.tx(em.assignVerifier(rid, w.acct["verifier"]), "regulator")
    for who in ("outsider", "verifier2", "enterprise", "enterprise2", "regulator"):
        e = refused(w, em.attest(rid, keccak256(b"r"), bytes(32)), who, "NotAssignedVerifier")
        assert (e.args_[0], e.args_[1].lower()) == (rid, w.acct[who].lower())
        refused(w, em.reject(rid, keccak256(b"r"), keccak256(b"findings")), who, "NotAssignedVerifier")
    w.client.preflight([Call.of(em.attest(rid, keccak256(b"r"), bytes(32)), w.acct["verifier"])])   # the assigned one may


def test_role_changes_only_go_through_admission(chain: World) -> None:
    d = chain.dep
    role = d.role("REGULATOR_ROLE")
    refused(chain, d.participants.functions.grantRole(role, chain.acct["outsider"]), "regulator", "RoleChangesGoThroughAdmission")


def test_suspended_enterprise_cannot_register_a_device(chain: World) -> None:
    w, d = chain, chain.dep
    w.tx(d.participants.functions.suspend(org_id(USCC["enterprise"]), keccak256(b"audit")), "regulator")
    refused(w, d.devices.functions.registerDevice(keccak256(b"dev9"), org_id(USCC["enterprise"]), Signer(new_private_key()).address, 1,
                                                  keccak256(b"serial dev9")),
            "enterprise", "NotDeviceAdministrator")


def test_admit_refuses_an_account_already_bound(chain: World) -> None:
    d = chain.dep
    refused(chain, d.participants.functions.admit(keccak256(b"dup"), d.role("VERIFIER_ROLE"), uscc_bytes32(USCC["enterprise2"]), 0,
                                                  chain.acct["enterprise"], "dup"), "regulator", "AccountAlreadyBound")


# ----------------------------------------------------------------------------- anchoring
def test_anchor_with_three_of_four_stores_batch_and_emits_signatures(chain: World) -> None:
    w, a = chain, chain.dep.anchor
    batch_id, rs, rep, _ = anchor_day(w, DAY0, [1000, 2000, 3000])
    b = a.batch(batch_id)
    assert (b.device, b.start, b.end, b.count, b.totalWh, b.root) == (w.device, DAY0, DAY0 + 86_400, 3, rep.total_wh, rep.root)
    assert (b.supersedes, b.supersededBy) == (0, 0)
    assert rep.total_wh == 100  # (1000+2000+3000) W × 60 s / 3600 = 100 Wh exactly
    ev = a.decode_events(w.tx(a.functions.anchor(*_next_day(w)), "oracle-2"), BatchAnchored)[0]
    sigs = split_signatures(ev.signatures)
    assert len(sigs) == 3 and {recover_address(ev.reportDigest, s) for s in sigs} == {w.acct[f"oracle-{i}"] for i in (1, 2, 3)}


def _next_day(w: World):
    rs = minute_readings(w.device, DAY0 + 86_400, [500], 10_000)
    rep, _ = report_for(rs, w.call(w.dep.anchor.functions.configDigest()), DAY0 + 86_400, DAY0 + 2 * 86_400)
    return as_tuple(rep), sign_report(rep, w.dep.domain.separator, [w.oracle_signer(i) for i in (1, 2, 3)])


def _report_and_sigs(w: World, signers, start: int = DAY0, separator: bytes | None = None, digest: bytes | None = None):
    rs = minute_readings(w.device, start, [700, 800])
    rep, _ = report_for(rs, digest or w.call(w.dep.anchor.functions.configDigest()), start, start + 86_400)
    return rep, sign_report(rep, separator or w.dep.domain.separator, signers)


def test_anchor_refuses_two_of_four(chain: World) -> None:
    rep, sigs = _report_and_sigs(chain, [chain.oracle_signer(1), chain.oracle_signer(2)])
    e = refused(chain, chain.dep.anchor.functions.anchor(as_tuple(rep), sigs), "oracle-1", "QuorumNotReached")
    assert e.args_ == (2, 3)


def test_anchor_refuses_a_duplicate_signer(chain: World) -> None:
    rep, sigs = _report_and_sigs(chain, [chain.oracle_signer(1), chain.oracle_signer(2), chain.oracle_signer(1)])
    refused(chain, chain.dep.anchor.functions.anchor(as_tuple(rep), sigs), "oracle-1", "DuplicateSigner")


def test_anchor_refuses_an_unknown_signer(chain: World) -> None:
    rep, sigs = _report_and_sigs(chain, [chain.oracle_signer(1), chain.oracle_signer(2), Signer(chain.keys["outsider"])])
    refused(chain, chain.dep.anchor.functions.anchor(as_tuple(rep), sigs), "oracle-1", "UnknownSigner")


def test_anchor_refuses_a_report_from_another_deployment(chain: World) -> None:
    w, a = chain, chain.dep.anchor
    # same chain id and address, another salt: the config digest differs (replay from another deployment)
    other = config_digest(w.client.chain_id, a.address, 1, b"\x42" * 32, a.oracles().oracles_, 1)
    rep, sigs = _report_and_sigs(w, [w.oracle_signer(1), w.oracle_signer(2), w.oracle_signer(3)], digest=other)
    refused(w, a.functions.anchor(as_tuple(rep), sigs), "oracle-1", "StaleConfigDigest")


def test_anchor_refuses_signatures_made_for_another_chain(chain: World) -> None:
    w, a = chain, chain.dep.anchor
    foreign = Eip712Domain("CarbonLedger MeterDataAnchor", "1", w.client.chain_id + 1, a.address).separator
    rep, sigs = _report_and_sigs(w, [w.oracle_signer(1), w.oracle_signer(2), w.oracle_signer(3)], separator=foreign)
    refused(w, a.functions.anchor(as_tuple(rep), sigs), "oracle-1", "UnknownSigner")


def test_anchor_refuses_an_old_oracle_set(chain: World) -> None:
    w, a = chain, chain.dep.anchor
    rep, sigs = _report_and_sigs(w, [w.oracle_signer(1), w.oracle_signer(2), w.oracle_signer(3)])
    w.tx(a.functions.setOracles([w.acct[f"oracle-{i}"] for i in (4, 3, 2, 1)], 1), "regulator")
    refused(w, a.functions.anchor(as_tuple(rep), sigs), "oracle-1", "StaleConfigDigest")


def test_anchor_refuses_overlapping_periods(chain: World) -> None:
    w, a = chain, chain.dep.anchor
    anchor_day(w, DAY0, [100])
    rep, sigs = _report_and_sigs(w, [w.oracle_signer(1), w.oracle_signer(2), w.oracle_signer(3)], start=DAY0 + 3600)
    refused(w, a.functions.anchor(as_tuple(rep), sigs), "oracle-1", "PeriodOverlaps")


def test_anchor_refuses_a_revoked_device(chain: World) -> None:
    w = chain
    w.tx(w.dep.devices.functions.revokeDevice(w.device, keccak256(b"tamper")), "enterprise")
    rep, sigs = _report_and_sigs(w, [w.oracle_signer(1), w.oracle_signer(2), w.oracle_signer(3)])
    with pytest.raises(ContractRevert):
        w.client.preflight([Call.of(w.dep.anchor.functions.anchor(as_tuple(rep), sigs), w.acct["oracle-1"])])


def test_merkle_proofs_verify_on_chain_and_tampering_fails(chain: World) -> None:
    w, a = chain, chain.dep.anchor
    rng = random.Random(7)
    batch_id, rs, _, tree = anchor_day(w, DAY0, [rng.randrange(0, 12_000) for _ in range(1440)])
    sigs = dict(zip(rs, sign_readings(rs, w.dep.domain.separator, w.device_key)))
    for r in rng.sample(rs, 25):
        proof = tree.proof(reading_leaf(r, sigs[r]))
        assert w.call(a.functions.verifyReading(batch_id, as_tuple(r), sigs[r], proof)) is True
        forged = as_tuple(r)[:5] + (r.value + 1,) + as_tuple(r)[6:]
        assert w.call(a.functions.verifyReading(batch_id, forged, sigs[r], proof)) is False
    assert bytes(w.call(a.functions.readingLeaf(as_tuple(rs[0]), keccak256(sigs[rs[0]])))) == reading_leaf(rs[0], sigs[rs[0]])


def test_supersede_replaces_a_batch_and_keeps_the_old_one_readable(chain: World) -> None:
    w, a = chain, chain.dep.anchor
    old_id, rs, rep, _ = anchor_day(w, DAY0, [100, 200])
    new_rs = minute_readings(w.device, DAY0, [100, 200, 300])
    new_rep, _ = report_for(new_rs, rep.config_digest, DAY0, DAY0 + 86_400, supersedes=old_id.to_bytes(32, "big"))
    sigs = sign_report(new_rep, w.dep.domain.separator, [w.oracle_signer(2), w.oracle_signer(3), w.oracle_signer(4)])
    refused(w, a.functions.supersede(old_id, as_tuple(new_rep), sigs, bytes(32)), "oracle-1", "MissingReason")
    w.tx(a.functions.supersede(old_id, as_tuple(new_rep), sigs, keccak256(b"late readings")), "oracle-1")
    new_id = w.call(a.functions.currentBatch(old_id))
    assert new_id != old_id
    assert a.batch(old_id).root == rep.root and a.batch(old_id).supersededBy == new_id
    assert a.batch(new_id).root == new_rep.root and a.batch(new_id).supersedes == old_id


# ----------------------------------------------------------------------------- emissions
def test_monthly_record_life_cycle_computes_emissions_on_chain(chain: World) -> None:
    w, em = chain, chain.dep.emissions.functions
    ids = [anchor_day(w, DAY0 + k * 86_400, [1_000_000 + k, 2_000_000, 3_000_000 + 7 * k], first_seq=1 + 10 * k)
           for k in range(3)]
    wh = sum(x[2].total_wh for x in ids)
    assert wh == 300_000 and emissions_kg(wh, 5703) == 171                 # ⌊300,000 × 5703 / 10^7 + ½⌋: not 0
    declare_gap(w, 2007, 1, all_days_but([1, 2, 3]))                       # 4–31 January not anchored
    wh += GAP_SUBSTITUTE_WH
    w.tx(em.recordPurchasedElectricity(w.device, 2007, 1, 0, 2, w.factor_set, keccak256(b"evidence"), 0), "enterprise")
    rid = w.call(em.currentRecord(org_id(USCC["enterprise"]), 1, w.device, 2007, 1))
    r = w.call(em.record(rid))
    assert r.activityAmount == wh and r.emissionsKg == emissions_kg(wh, 5703) and r.status == 1
    refused(w, em.confirm(rid), "regulator", "InvalidStatus")
    w.tx(em.submit(rid), "enterprise")
    w.tx(em.assignVerifier(rid, w.acct["verifier"]), "regulator")
    refused(w, em.attest(rid, keccak256(b"r"), bytes(32)), "verifier2", "NotAssignedVerifier")
    w.tx(em.attest(rid, keccak256(b"r"), bytes(32)), "verifier")
    w.tx(em.confirm(rid), "regulator")
    assert w.call(em.record(rid)).status == 5


def test_record_refuses_a_device_of_another_enterprise(chain: World) -> None:
    w, em = chain, chain.dep.emissions.functions
    anchor_day(w, DAY0, [100])
    refused(w, em.recordPurchasedElectricity(w.device, 2007, 1, 0, 0, w.factor_set, bytes(32), 0), "enterprise2", "DeviceNotOwned")


def test_record_refuses_an_incomplete_batch_range(chain: World) -> None:
    w, em = chain, chain.dep.emissions.functions
    for k in range(3):
        anchor_day(w, DAY0 + k * 86_400, [100], first_seq=1 + k)
    with pytest.raises(ContractRevert) as exc:
        w.client.preflight([Call.of(em.recordPurchasedElectricity(w.device, 2007, 1, 0, 1, w.factor_set, bytes(32), 0), w.acct["enterprise"])])
    assert exc.value.error == "IncompleteBatchRange"


def test_record_refuses_a_factor_set_for_other_years(chain: World) -> None:
    w, em = chain, chain.dep.emissions.functions
    rs = minute_readings(w.device, 1_293_836_400, [100])  # 2011-01-01 local +01:00, device calibrated until 2011-01-01Z
    del rs
    anchor_day(w, DAY0, [100])
    with pytest.raises(ContractRevert) as exc:
        w.client.preflight([Call.of(em.recordPurchasedElectricity(w.device, 2011, 1, 0, 0, w.factor_set, bytes(32), 0), w.acct["enterprise"])])
    assert exc.value.error in ("FactorSetNotApplicable", "BatchOutsideWindow")


def test_month_window_uses_the_enterprise_utc_offset(chain: World) -> None:
    em = chain.dep.emissions.functions
    w = chain.call(em.monthWindow(org_id(USCC["enterprise"]), 2007, 2))
    assert (w.start, w.end) == (1_170_284_400, 1_172_703_600)  # 2007-02-01 and 2007-03-01 00:00 +01:00


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 10**15), st.integers(0, 10**6)), min_size=20, max_size=20))
def test_python_mirror_of_the_emissions_formula_is_bit_identical(world: World, pairs: list[tuple[int, int]]) -> None:
    em = world.dep.emissions
    got = world.client.call_many([em.functions.emissionsKg(wh, ef) for wh, ef in pairs])
    for (wh, ef), kg in zip(pairs, got):
        assert kg == emissions_kg(wh, ef)


def test_device_ids_differ_per_owner_and_serial() -> None:
    assert device_id(USCC["enterprise"], "a") != device_id(USCC["enterprise"], "b") != device_id(USCC["enterprise2"], "a")


def test_set_oracles_refuses_two_oracles_of_one_organisation(chain: World) -> None:
    w, d = chain, chain.dep
    extra = Signer(new_private_key()).address
    w.tx(d.participants.functions.addAccount(org_id(USCC["oracle-1"]), extra), "regulator")
    e = refused(w, d.anchor.functions.setOracles([w.acct["oracle-1"], extra, w.acct["oracle-2"], w.acct["oracle-3"]], 1), "regulator",
                "OracleOrganisationRepeated")
    assert e.args_[1].lower() == extra.lower()


def test_gas_price_stays_tied_to_the_base_fee_over_many_transactions(chain: World) -> None:
    """Regression: pricing from Anvil's eth_gasPrice fed our own tips back into the next price
    and grew it geometrically until accounts could no longer pay (full-year demo, month 8)."""
    c, dep = chain.client, chain.dep
    outsider = chain.acct["outsider"]
    before = int(c.rpc("eth_getBalance", outsider, "latest"), 16)
    for i in range(30):
        c.send([Call.of(dep.anchor.functions.setOracles(
            [chain.acct[f"oracle-{i}"] for i in range(1, 5)], 1), chain.acct["regulator"], f"price {i}")])
    base = int(c.rpc("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
    assert c.suggest_gas_price() == 2 * base + 10**9
    assert int(c.rpc("eth_gasPrice"), 16) < 10 * (base + 10**9) * 2
    assert int(c.rpc("eth_getBalance", outsider, "latest"), 16) == before


def test_a_send_larger_than_one_block_is_mined_in_block_sized_groups(chain: World) -> None:
    """Regression (registry replay): Anvil's automine leaves transactions that do not fit the
    current block pending with nothing to trigger the next one; ChainClient.send splits."""
    c = chain.client
    old_limit = int(c.rpc("eth_getBlockByNumber", "latest", False)["gasLimit"], 16)
    c.rpc("evm_setBlockGasLimit", hex(1_000_000))
    c.rpc("evm_mine")                      # the new limit applies from the next block
    c._block_gas_cap = None
    try:
        calls = [Call.of(chain.dep.anchor.functions.setOracles(
            [chain.acct[f"oracle-{i}"] for i in range(1, 5)], 1), chain.acct["regulator"], f"big {i}")
            for i in range(40)]
        results = c.send(calls)
        assert len(results) == 40 and all(r.status == 1 for r in results)
        assert len({r.block_number for r in results}) > 1
    finally:
        c.rpc("evm_setBlockGasLimit", hex(old_limit))
        c.rpc("evm_mine")
        c._block_gas_cap = None
