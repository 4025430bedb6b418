"""EmissionsRegistry records a month from MeterRounds (issue 12 "Contracts v2", docs/meter-rounds.md).

January 2007 of the world's meter is anchored both ways — 31 daily oracle rounds (MeterRounds) and
31 daily batches (MeterDataAnchor) of the same readings — and a second meter of the enterprise has
readings in the rounds on every day but 15 January. A month recorded from the rounds (proveMonth:
one proof of the meter-month's totals leaf in the closing round; recordPurchasedElectricityFromRounds)
gives the same Wh and kgCO2 as the batches and says where it came from (Source.AnchoredMeterRounds).
Refusals, each reaching its check on objects that exist: a forged or misplaced proof, a month no
round closes or never proved, a day without readings (unless declared and assessed), a month
recorded already, a proof made stale by a correction of the closing round, a device of another
enterprise, an outsider.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from ledger.accounting.emissions import emissions_kg
from ledger.chain.client import Call, ContractRevert
from ledger.crypto.primitives import Signer, keccak256, new_private_key
from ledger.identifiers import device_id, org_id
from ledger.meter_data.energy import energy_wh
from ledger.meter_data.reading import Reading, reading_leaf
from ledger.meter_data.rounds import (
    DeviceTotals,
    RoundReading,
    RoundTree,
    build_round,
    month_keys_open_at,
    round_report_digest,
    rounds_domain,
    with_supersedes,
)
from ledger.records import audit, queries, workflow
from oracles.rounds import anchor_round
from tests.conftest import GRID_EF_SCALED, USCC, World
from tests.helpers import DAY0, NO_DEVICE_SIGNATURE, as_tuple, minute_readings, report_for, sign_report

DAY = 86_400
OFFSET = 3_600                    # the world's enterprises keep UTC+01:00 (tests/conftest.py)
EV = keccak256(b"invoice")
REASON = keccak256(b"late readings of 31 January")
PURCHASED, ROUNDS_SOURCE, BATCHES_SOURCE, ONLINE_MONITORING = 1, 3, 1, 2
GAP_DAY = 14                      # 15 January: the second meter has no reading


def _day_readings(device: bytes, k: int, base: int = 100_000) -> list[Reading]:
    """Six minute readings at the start of local day k (0-based) of January 2007; W multiples of 60
    so each reading is a whole number of Wh (batches round per day, rounds per month: equal here)."""
    return minute_readings(device, DAY0 + k * DAY, [60 * (base + 37 * k + i) for i in range(6)], first_seq=1 + 10 * k)


def _rows(rs: list[Reading]) -> list[RoundReading]:
    return [RoundReading(r.device, r.start, r.end, r.value, reading_leaf(r, NO_DEVICE_SIGNATURE)) for r in rs]


def _round_tree(s: SimpleNamespace, k: int, rows: list[RoundReading], previous: RoundTree | None) -> RoundTree:
    start = DAY0 + k * DAY
    prev = previous.month_to_date if previous else None
    return build_round(start, start + DAY, rows, s.offsets, prev, month_keys_open_at(prev or {}, start, s.offsets))


@pytest.fixture(scope="module")
def jan(world: World) -> Iterator[SimpleNamespace]:
    """January 2007 anchored as 31 daily rounds (both meters) and 31 daily batches (the world's
    meter); reverted at the end of the module."""
    w, d = world, world.dep
    snap = w.client.rpc("evm_snapshot")
    try:
        meter2 = device_id(USCC["enterprise"], "meter-2")
        w.tx(d.devices.functions.registerDevice(meter2, org_id(USCC["enterprise"]), Signer(new_private_key()).address, 1,
                                                keccak256(b"serial meter-2")),
             "enterprise")
        s = SimpleNamespace(w=w, meter2=meter2, offsets={w.device: OFFSET, meter2: OFFSET}, trees=[], readings=[])
        oracles = [w.oracle_signer(i) for i in (1, 2, 3)]
        digest = d.config_digest()
        for k in range(31):
            rs = _day_readings(w.device, k)
            rs2 = [] if k == GAP_DAY else _day_readings(meter2, k, base=50_000)
            tree = _round_tree(s, k, _rows(rs + rs2), s.trees[-1] if s.trees else None)
            anchor_round(w.client, d, tree, oracles, w.acct["oracle-1"])
            rep, _ = report_for(rs, digest, DAY0 + k * DAY, DAY0 + (k + 1) * DAY)
            w.tx(d.anchor.functions.anchor(as_tuple(rep), sign_report(rep, d.domain.separator, oracles)), "oracle-1")
            s.trees.append(tree)
            s.readings += rs
        yield s
    finally:
        w.client.rpc("evm_revert", snap)
        w.client.rewind()


@pytest.fixture()
def s(jan: SimpleNamespace, chain: World) -> SimpleNamespace:
    """The module's January, reverted after each test."""
    return jan


def _refused(w: World, fn, who: str, error: str) -> ContractRevert:
    with pytest.raises(ContractRevert) as exc:
        w.client.preflight([Call.of(fn, w.acct[who])])
    assert exc.value.error == error, exc.value
    return exc.value


def _totals(s: SimpleNamespace, device: bytes, round_index: int = 30) -> tuple[DeviceTotals, list[bytes]]:
    return s.trees[round_index].totals_for(device, 2007, 1)


def _prove(s: SimpleNamespace, device: bytes, who: str = "enterprise") -> None:
    t, proof = _totals(s, device)
    s.w.tx(s.w.dep.rounds.functions.proveMonth(31, t.as_struct(), proof), who)


def test_a_month_from_rounds_gives_the_same_emissions_as_the_same_readings_by_batches(s: SimpleNamespace) -> None:
    w, d = s.w, s.w.dep
    org = org_id(USCC["enterprise"])
    rid_b = workflow.record_month(d, w.acct["enterprise"], org, w.device, 2007, 1, w.factor_set, EV, submit=False)
    # the rounds record replaces the Draft batch record of the same period (one current record per period)
    rid_r = workflow.record_month_from_rounds(d, w.acct["enterprise"], w.device, 2007, 1, s.trees[30], w.factor_set, EV,
                                              amends=rid_b, submit=False)
    rb, rr = d.emissions.record(rid_b), d.emissions.record(rid_r)
    wh = energy_wh(sum((r.end - r.start) * r.value for r in s.readings))
    assert rb.activityAmount == rr.activityAmount == wh
    assert rb.emissionsKg == rr.emissionsKg == emissions_kg(wh, GRID_EF_SCALED) > 10_000
    assert (rb.source, rb.batches, rb.readings) == (BATCHES_SOURCE, 31, 186)
    assert (rr.source, rr.batches, rr.readings) == (ROUNDS_SOURCE, 0, 186)
    assert d.emissions.acquisitionMethod(rid_r) == ONLINE_MONITORING
    assert queries.record(d, rid_r)["source_name"] == "anchored_meter_rounds"
    assert queries.record(d, rid_b)["source_name"] == "anchored_meter_data"
    prov = audit.record_provenance(d, rid_r)
    assert prov["source"] == "anchored_meter_rounds" and prov["batches"] == []
    assert (prov["meter_month"]["roundId"], prov["meter_month"]["totalWh"], prov["meter_month"]["missingMask"]) == (31, wh, 0)
    assert w.call(d.emissions.functions.currentRecord(org, PURCHASED, w.device, 2007, 1)) == rid_r
    # through verification to the confirmed totals (confirm re-reads the proved month)
    em = d.emissions.functions
    workflow.submit(d, w.acct["enterprise"], rid_r)
    w.tx(em.assignVerifier(rid_r, w.acct["verifier"]), "regulator")
    w.tx(em.attest(rid_r, keccak256(b"report"), bytes(32)), "verifier")
    w.tx(em.confirm(rid_r), "regulator")
    assert d.emissions.confirmedTotals(org, 2007).emissionsKgTotal == emissions_kg(wh, GRID_EF_SCALED)


def test_a_forged_or_misplaced_totals_proof_is_refused_and_nothing_is_stored(s: SimpleNamespace) -> None:
    w, f = s.w, s.w.dep.rounds.functions
    t, proof = _totals(s, w.device)
    forged = DeviceTotals(t.device, 2007, 1, t.day_mask, t.readings, t.month_wh + 1, t.period_wh)
    _refused(w, f.proveMonth(31, forged.as_struct(), proof), "enterprise", "TotalsNotInRound")
    t2, _ = _totals(s, s.meter2)
    _refused(w, f.proveMonth(31, t2.as_struct(), proof), "enterprise", "TotalsNotInRound")     # another leaf's proof
    full = DeviceTotals(t.device, 2007, 1, (1 << 31) - 1, t.readings, t.month_wh, t.period_wh)   # claims no day is missing
    _refused(w, f.proveMonth(31, full.as_struct(), _totals(s, s.meter2)[1]), "enterprise", "TotalsNotInRound")
    assert s.w.dep.rounds.provenMonth(w.device, 2007, 1).roundId == 0
    _refused(w, w.dep.emissions.functions.recordPurchasedElectricityFromRounds(w.device, 2007, 1, w.factor_set, EV, 0),
             "enterprise", "MonthNotProven")


def test_a_month_not_fully_anchored_is_refused(s: SimpleNamespace) -> None:
    """The 30 January round holds January's month-to-date but does not contain the month's end;
    February has no round at all, so it can be neither proved nor recorded."""
    w, f = s.w, s.w.dep.rounds.functions
    t30, p30 = _totals(s, w.device, round_index=29)
    err = _refused(w, f.proveMonth(30, t30.as_struct(), p30), "enterprise", "NotClosingRound")
    assert err.args_[1] == DAY0 + 31 * DAY
    feb = DeviceTotals(w.device, 2007, 2, 1, 6, 1_000, 1_000)
    _refused(w, f.proveMonth(31, feb.as_struct(), []), "enterprise", "NotClosingRound")
    _refused(w, f.proveMonth(32, feb.as_struct(), []), "enterprise", "UnknownRound")
    err = _refused(w, w.dep.emissions.functions.recordPurchasedElectricityFromRounds(w.device, 2007, 2, w.factor_set, EV, 0),
                   "enterprise", "MonthNotProven")
    assert err.args_[2] == 2


def test_a_day_without_readings_is_refused_unless_the_gap_is_declared(s: SimpleNamespace) -> None:
    """The batch path's completeness rule, read from the totals leaf's day mask: 15 January of the
    second meter has no reading, so the month is refused (MissingDays) until the enterprise declares
    the gap and the regulator assesses its substitute, which is added to the proved Wh."""
    w, d = s.w, s.w.dep
    em = d.emissions.functions
    _prove(s, s.meter2)
    p = d.rounds.provenMonth(s.meter2, 2007, 1)
    assert (p.roundId, p.readings, p.missingMask) == (31, 180, 1 << GAP_DAY)
    err = _refused(w, em.recordPurchasedElectricityFromRounds(s.meter2, 2007, 1, w.factor_set, EV, 0), "enterprise", "MissingDays")
    assert err.args_[3] == 1 << GAP_DAY
    w.tx(em.declareGap(s.meter2, 2007, 1, 1 << GAP_DAY, keccak256(b"meter offline")), "enterprise")
    _refused(w, em.recordPurchasedElectricityFromRounds(s.meter2, 2007, 1, w.factor_set, EV, 0), "enterprise", "GapNotAssessed")
    w.tx(em.assessGap(s.meter2, 2007, 1, 5_000, keccak256(b"basis")), "regulator")
    res = w.tx(em.recordPurchasedElectricityFromRounds(s.meter2, 2007, 1, w.factor_set, EV, 0), "enterprise")
    rid = d.emissions.decode_events(res, "ActivityRecorded")[0].recordId
    r, g = d.emissions.record(rid), d.emissions.recordGap(rid)
    assert (g.dayMask, g.meteredWh, g.substituteWh) == (1 << GAP_DAY, p.totalWh, 5_000)
    assert r.activityAmount == p.totalWh + 5_000 and r.emissionsKg == emissions_kg(p.totalWh + 5_000, GRID_EF_SCALED)


def test_a_month_is_recorded_and_proved_once(s: SimpleNamespace) -> None:
    """One current record per period whatever its source; amendments only of a Draft or Rejected
    record (the batch path's rules); the proved totals are stored once."""
    w, d = s.w, s.w.dep
    em = d.emissions.functions
    _prove(s, w.device)
    t, proof = _totals(s, w.device)
    err = _refused(w, d.rounds.functions.proveMonth(31, t.as_struct(), proof), "enterprise", "MonthAlreadyProven")
    assert err.args_[3] == 31
    res = w.tx(em.recordPurchasedElectricityFromRounds(w.device, 2007, 1, w.factor_set, EV, 0), "enterprise")
    rid = d.emissions.decode_events(res, "ActivityRecorded")[0].recordId
    _refused(w, em.recordPurchasedElectricityFromRounds(w.device, 2007, 1, w.factor_set, EV, 0), "enterprise", "RecordExists")
    _refused(w, em.recordPurchasedElectricity(w.device, 2007, 1, 0, 30, w.factor_set, EV, 0), "enterprise", "RecordExists")
    _refused(w, em.recordPurchasedElectricityFromRounds(w.device, 2007, 1, w.factor_set, EV, rid + 7), "enterprise",
             "RecordExists")
    w.tx(em.submit(rid), "enterprise")
    _refused(w, em.recordPurchasedElectricityFromRounds(w.device, 2007, 1, w.factor_set, EV, rid), "enterprise", "CannotAmend")
    _refused(w, em.recordPurchasedElectricityFromRounds(w.device, 2007, 1, 99, EV, 0), "enterprise", "FactorSetNotApplicable")


def test_a_correction_of_the_closing_round_must_be_proved_again_before_confirmation(s: SimpleNamespace) -> None:
    """Mirror of confirm() re-summing superseding batches: the oracles correct 31 January (late
    readings); the month proved against the old round is stale (MonthProofSuperseded) until it is
    proved against the correction, and confirm() then records the corrected Wh."""
    w, d = s.w, s.w.dep
    em, rf = d.emissions.functions, d.rounds.functions
    rid = workflow.record_month_from_rounds(d, w.acct["enterprise"], w.device, 2007, 1, s.trees[30], w.factor_set, EV)
    w.tx(em.assignVerifier(rid, w.acct["verifier"]), "regulator")
    w.tx(em.attest(rid, keccak256(b"report"), bytes(32)), "verifier")
    late = minute_readings(w.device, DAY0 + 30 * DAY + 3_600, [60 * 2_000] * 3, first_seq=900)
    rows = _rows(_day_readings(w.device, 30) + late + _day_readings(s.meter2, 30, base=50_000))
    fixed = _round_tree(s, 30, rows, s.trees[29])
    rep = with_supersedes(fixed.report(d.config_digest()), 31)
    dig = round_report_digest(rounds_domain(w.client.chain_id, d.rounds.address).separator, rep)
    sigs = [w.oracle_signer(i).sign_digest(dig) for i in (1, 2, 3)]
    w.tx(rf.supersedeRound(31, (rep.config_digest, rep.start, rep.end, rep.devices, rep.readings, rep.root, rep.supersedes),
                           sigs, REASON), "oracle-1")
    err = _refused(w, em.confirm(rid), "regulator", "MonthProofSuperseded")
    assert (err.args_[3], err.args_[4]) == (31, 32)
    t, proof = fixed.totals_for(w.device, 2007, 1)
    _refused(w, rf.proveMonth(31, _totals(s, w.device)[0].as_struct(), _totals(s, w.device)[1]), "enterprise", "TotalsNotInRound")
    w.tx(rf.proveMonth(31, t.as_struct(), proof), "enterprise")          # round 31 is followed to its correction, 32
    assert d.rounds.provenMonth(w.device, 2007, 1).roundId == 32
    w.tx(em.confirm(rid), "regulator")
    wh = energy_wh(sum((r.end - r.start) * r.value for r in s.readings + late))
    r = d.emissions.record(rid)
    assert (r.activityAmount, r.readings, r.emissionsKg) == (wh, 189, emissions_kg(wh, GRID_EF_SCALED))
    assert t.month_wh == wh


def test_another_enterprise_and_an_outsider_are_refused(s: SimpleNamespace) -> None:
    """The month exists and is proved, so each refusal comes from the access check."""
    w, d = s.w, s.w.dep
    t, proof = _totals(s, w.device)
    for who in ("enterprise2", "outsider", "verifier"):
        _refused(w, d.rounds.functions.proveMonth(31, t.as_struct(), proof), who, "NotDeviceOwner")
    _prove(s, w.device)
    rec = d.emissions.functions.recordPurchasedElectricityFromRounds(w.device, 2007, 1, w.factor_set, EV, 0)
    err = _refused(w, rec, "enterprise2", "DeviceNotOwned")
    assert err.args_[1] == org_id(USCC["enterprise2"])
    _refused(w, rec, "outsider", "NotActiveParticipant")
    _refused(w, rec, "verifier", "NotActiveParticipant")


def test_record_month_from_rounds_refuses_a_tree_without_the_month_or_not_on_chain(s: SimpleNamespace) -> None:
    w, d = s.w, s.w.dep
    before = d.emissions.recordCount()
    with pytest.raises(KeyError, match="no totals leaf"):
        workflow.record_month_from_rounds(d, w.acct["enterprise"], w.device, 2007, 2, s.trees[30], w.factor_set)
    other = _round_tree(s, 30, _rows(_day_readings(w.device, 30, base=1)), s.trees[29])
    with pytest.raises(LookupError, match="no current anchored round"):
        workflow.record_month_from_rounds(d, w.acct["enterprise"], w.device, 2007, 1, other, w.factor_set)
    assert d.emissions.recordCount() == before
