"""MeterRounds: one Merkle tree per oracle round across devices (issue 12, gas per reading).

A round's tree holds every reading of the round (device-signature hash in the leaf) and one
totals leaf per (device, month); the oracles' quorum signs one RoundReport; a meter-month is read
with one proof of its totals leaf in the month's closing round, a reading with one proof against
its round. Refusals: wrong quorum, stale config, a gap between rounds, a reading of another
round, a forged totals leaf, totals of a round that does not close the month, an outsider.
"""

from __future__ import annotations

import copy
from datetime import date

import pytest

from ledger.chain.client import Call, ContractRevert
from ledger.contracts.deploy import extend_manifest
from ledger.contracts.deployment import Deployment
from ledger.crypto.primitives import Signer, keccak256
from ledger.meter_data.energy import energy_wh
from ledger.meter_data.reading import Reading, reading_digest, reading_leaf
from ledger.meter_data.rounds import (
    DeviceTotals,
    RoundReading,
    RoundReport,
    RoundTree,
    build_round,
    month_keys_open_at,
    round_report_digest,
    rounds_domain,
    totals_leaf,
    with_supersedes,
)
from oracles.node import SignedReading
from oracles.rounds import daily_round_trees
from tests.conftest import World
from tests.helpers import DAY0, as_tuple

DAY = 86_400
OFFSET = 3_600       # the test enterprise's clock (tests/conftest.py: UTC+01:00, as the UCI household)
#: A second meter id that appears only inside the trees (no on-chain state per device is needed to anchor).
OTHER = keccak256(b"another meter of the round")


def _signed_day(w: World, day: int, watts: int, n: int = 6) -> list[tuple[Reading, bytes]]:
    """``n`` minute readings of the world's meter at the start of local day ``day`` of January 2007."""
    s = Signer(w.device_key)
    start = DAY0 + day * DAY
    out = []
    for i in range(n):
        r = Reading(w.device, 1 + day * 100 + i, start + 60 * i, start + 60 * (i + 1), 1, watts + i, 0, 0)
        out.append((r, s.sign_digest(reading_digest(w.dep.domain.separator, r))))
    return out


def _round(w: World, day: int, watts: int, previous: RoundTree | None = None) -> tuple[RoundTree, list[tuple[Reading, bytes]]]:
    """The round of local day ``day``: the meter's readings and 3 readings of OTHER."""
    signed = _signed_day(w, day, watts)
    rows = [RoundReading(r.device, r.start, r.end, r.value, reading_leaf(r, s)) for r, s in signed]
    start = DAY0 + day * DAY
    rows += [RoundReading(OTHER, start + 60 * i, start + 60 * (i + 1), 500, keccak256(b"leaf %d %d" % (day, i)))
             for i in range(3)]
    offsets = {w.device: OFFSET, OTHER: OFFSET}
    prev = previous.month_to_date if previous else None
    carried = month_keys_open_at(prev or {}, start, offsets)
    return build_round(start, start + DAY, rows, offsets, prev, carried), signed


def _signers(w: World, k: int = 3) -> list[Signer]:
    return [w.oracle_signer(i) for i in range(1, k + 1)]


def _sigs(w: World, rep: RoundReport, signers: list[Signer]) -> list[bytes]:
    d = round_report_digest(rounds_domain(w.client.chain_id, w.dep.rounds.address).separator, rep)
    return [s.sign_digest(d) for s in signers]


def _t(rep: RoundReport) -> tuple:
    return (rep.config_digest, rep.start, rep.end, rep.devices, rep.readings, rep.root, rep.supersedes)


def _anchor(w: World, tree: RoundTree, who: str = "oracle-1") -> int:
    rep = tree.report(w.dep.config_digest())
    res = w.tx(w.dep.rounds.functions.anchorRound(_t(rep), _sigs(w, rep, _signers(w))), who)
    return w.dep.rounds.decode_events(res, "RoundAnchored")[0].roundId


def _refused(w: World, fn, who: str, error: str) -> ContractRevert:
    with pytest.raises(ContractRevert) as exc:
        w.client.preflight([Call.of(fn, w.acct[who])])
    assert exc.value.error == error, exc.value
    return exc.value


def test_python_mirror_encodes_reports_and_totals_leaves_as_the_contract(chain: World) -> None:
    w, f = chain, chain.dep.rounds.functions
    tree, _ = _round(w, 30, 1_000)
    rep = tree.report(w.dep.config_digest())
    sep = rounds_domain(w.client.chain_id, w.dep.rounds.address).separator
    assert bytes(w.call(f.reportDigest(_t(rep)))) == round_report_digest(sep, rep)
    t = DeviceTotals(w.device, 2007, 1, 0b101, 7, 123_456, 789)
    assert bytes(w.call(f.totalsLeaf(t.as_struct()))) == totals_leaf(t)
    assert bytes(w.call(f.TOTALS_LEAF_TAG())) == keccak256(b"CarbonLedger.MeterRounds.DeviceTotals.v1")


def test_a_month_is_read_from_one_proof_of_its_totals_in_the_closing_round(chain: World) -> None:
    """Two daily rounds (30 and 31 January, each with two meters): the closing round's totals leaf
    of the meter states the month to date — both days' readings and Wh — and the days without
    readings; the 30 January round does not close the month."""
    w, f = chain, chain.dep.rounds.functions
    t30, s30 = _round(w, 29, 1_000)
    t31, s31 = _round(w, 30, 2_000, previous=t30)
    r30, r31 = _anchor(w, t30), _anchor(w, t31)
    assert (r30, r31) == (1, 2) and w.call(f.lastRoundEnd()) == DAY0 + 31 * DAY
    stored = w.dep.rounds.round(r31)
    assert (stored.root, stored.readings, stored.devices, stored.start) == (t31.root, 9, 2, DAY0 + 30 * DAY)
    totals, proof = t31.totals_for(w.device, 2007, 1)
    got = w.dep.rounds.monthTotals(r31, totals.as_struct(), proof)
    wh, count, missing = got.totalWh, got.readings, got.missingMask
    both = s30 + s31
    assert count == len(both) == 12
    assert wh == energy_wh(sum((r.end - r.start) * r.value for r, _ in both)) == totals.month_wh
    assert missing == (1 << 31) - 1 - (1 << 29) - (1 << 30)               # days 1–29 have no reading
    # the 30 January round holds a totals leaf of January too, but does not contain the month's end
    t_early, p_early = t30.totals_for(w.device, 2007, 1)
    e = _refused(w, f.monthTotals(r30, t_early.as_struct(), p_early), "outsider", "NotClosingRound")
    assert e.args_[1] == DAY0 + 31 * DAY
    # a forged totals leaf (more Wh than the oracles signed) is not in the tree
    forged = DeviceTotals(totals.device, 2007, 1, totals.day_mask, totals.readings, totals.month_wh + 1, totals.period_wh)
    _refused(w, f.monthTotals(r31, forged.as_struct(), proof), "outsider", "TotalsNotInRound")
    _refused(w, f.monthTotals(r31, (*totals.as_struct()[:2], 13, *totals.as_struct()[3:]), proof), "outsider", "InvalidMonth")


def test_a_reading_is_proved_against_its_round_with_its_device_signature(chain: World) -> None:
    w, f = chain, chain.dep.rounds.functions
    t30, s30 = _round(w, 29, 1_000)
    t31, s31 = _round(w, 30, 2_000, previous=t30)
    r30, r31 = _anchor(w, t30), _anchor(w, t31)
    r, sig = s31[2]
    assert w.call(f.verifyReading(r31, as_tuple(r), sig, t31.reading_proof(2))) is True
    # the reading of another round: outside this round's period, and its proof leads elsewhere
    r_old, sig_old = s30[2]
    assert w.call(f.verifyReading(r31, as_tuple(r_old), sig_old, t30.reading_proof(2))) is False
    assert w.call(f.verifyReading(r30, as_tuple(r), sig, t31.reading_proof(2))) is False
    # a real device signature of another reading
    assert w.call(f.verifyReading(r31, as_tuple(r), s31[0][1], t31.reading_proof(2))) is False


def test_anchor_round_refusals(chain: World) -> None:
    """Wrong quorum (2 of 4), a non-oracle transmitter, a report for another oracle set, a gap
    between rounds, a period in the future."""
    w, f = chain, chain.dep.rounds.functions
    tree, _ = _round(w, 0, 1_000)
    rep = tree.report(w.dep.config_digest())
    e = _refused(w, f.anchorRound(_t(rep), _sigs(w, rep, _signers(w, 2))), "oracle-1", "QuorumNotReached")
    assert (e.args_[0], e.args_[1]) == (2, 3)
    _refused(w, f.anchorRound(_t(rep), _sigs(w, rep, _signers(w))), "enterprise", "NotOracle")
    _refused(w, f.anchorRound(_t(rep), _sigs(w, rep, _signers(w))), "outsider", "NotOracle")
    twice = _sigs(w, rep, _signers(w, 2))
    _refused(w, f.anchorRound(_t(rep), [*twice, twice[0]]), "oracle-1", "DuplicateSigner")
    stale = RoundReport(keccak256(b"another oracle set"), rep.start, rep.end, rep.devices, rep.readings, rep.root)
    _refused(w, f.anchorRound(_t(stale), _sigs(w, stale, _signers(w))), "oracle-1", "StaleConfigDigest")
    _anchor(w, tree)
    gap, _ = _round(w, 2, 1_000)                      # day 1 skipped: rounds must tile time
    grep = gap.report(w.dep.config_digest())
    e = _refused(w, f.anchorRound(_t(grep), _sigs(w, grep, _signers(w))), "oracle-1", "RoundNotContiguous")
    assert e.args_[1] == DAY0 + DAY
    future = RoundReport(rep.config_digest, DAY0 + DAY, 2**40, 1, 1, rep.root)
    _refused(w, f.anchorRound(_t(future), _sigs(w, future, _signers(w))), "oracle-1", "PeriodInFuture")


def test_a_correction_restates_the_closing_round_and_the_month_reads_the_correction(chain: World) -> None:
    w, f = chain, chain.dep.rounds.functions
    t30, _ = _round(w, 29, 1_000)
    t31, _ = _round(w, 30, 2_000, previous=t30)
    _anchor(w, t30)
    r31 = _anchor(w, t31)
    fixed, _ = _round(w, 30, 2_500, previous=t30)     # the oracles restate 31 January
    rep = with_supersedes(fixed.report(w.dep.config_digest()), r31)
    _refused(w, f.supersedeRound(r31, _t(rep), _sigs(w, rep, _signers(w)), bytes(32)), "oracle-1", "MissingReason")
    _refused(w, f.supersedeRound(r31, _t(rep), _sigs(w, rep, _signers(w)), keccak256(b"why")), "outsider", "NotOracle")
    res = w.tx(f.supersedeRound(r31, _t(rep), _sigs(w, rep, _signers(w)), keccak256(b"meter restated")), "oracle-1")
    new = w.dep.rounds.decode_events(res, "RoundSuperseded")[0].newRoundId
    assert w.call(f.currentRound(r31)) == new == 3
    old_totals, old_proof = t31.totals_for(w.device, 2007, 1)
    _refused(w, f.monthTotals(r31, old_totals.as_struct(), old_proof), "outsider", "TotalsNotInRound")
    totals, proof = fixed.totals_for(w.device, 2007, 1)
    wh = w.dep.rounds.monthTotals(r31, totals.as_struct(), proof).totalWh
    assert wh == totals.month_wh > old_totals.month_wh
    _refused(w, f.supersedeRound(r31, _t(rep), _sigs(w, rep, _signers(w)), keccak256(b"again")), "oracle-1", "AlreadySuperseded")


def test_build_round_refuses_readings_outside_the_round_and_empty_rounds() -> None:
    d = keccak256(b"m")
    with pytest.raises(ValueError, match="outside the round"):
        build_round(0, 60, [RoundReading(d, 60, 120, 1, bytes(32))], {d: 0})
    with pytest.raises(ValueError, match="no readings"):
        build_round(0, 60, [], {d: 0})
    with pytest.raises(ValueError, match="no UTC offset"):
        build_round(0, 60, [RoundReading(d, 0, 60, 1, bytes(32))], {})


def test_daily_round_trees_carry_the_month_to_date_and_restate_silent_meters() -> None:
    """Meter A reads on 30 and 31 January, meter B only on 30 January: the 31 January round holds
    A's month to date (both days) and B's restated total (day 30 only, nothing in the period); the
    first round of February starts each month afresh."""
    from_day = date(2007, 1, 30)
    a, b = keccak256(b"meter A"), keccak256(b"meter B")
    s = Signer(keccak256(b"test meter key"))

    def day_readings(device: bytes, day: int, watts: int) -> list[SignedReading]:
        start = DAY0 + day * DAY
        return [SignedReading(Reading(device, day * 10 + i, start + 60 * i, start + 60 * (i + 1), 1, watts, 0, 0), s.sign_digest(bytes(32)))
                for i in range(3)]

    signed = [day_readings(a, 29, 1_200) + day_readings(a, 30, 2_400) + day_readings(a, 31, 600), day_readings(b, 29, 3_600)]
    trees = daily_round_trees(signed, from_day, 3, OFFSET)
    assert [len(t.reading_leaves) for t in trees] == [6, 3, 3]
    ta, _ = trees[1].totals_for(a, 2007, 1)
    assert (ta.readings, ta.day_mask, ta.month_wh, ta.period_wh) == (6, (1 << 29) | (1 << 30), 180, 120)
    tb, _ = trees[1].totals_for(b, 2007, 1)
    assert (tb.readings, tb.day_mask, tb.month_wh, tb.period_wh) == (3, 1 << 29, 180, 0)
    fa, _ = trees[2].totals_for(a, 2007, 2)
    assert (fa.readings, fa.day_mask, fa.month_wh) == (3, 1, 30)
    with pytest.raises(KeyError):
        trees[2].totals_for(b, 2007, 2)
    with pytest.raises(KeyError):
        trees[2].totals_for(a, 2007, 1)


def test_anchor_round_gas_does_not_depend_on_the_meters_in_the_tree(chain: World) -> None:
    """Issue 12 gas target: a round anchors in ≤ 150,000 gas with 3 of 4 signatures whatever its
    tree holds (one 2-slot record per round, nothing per device); the first round also opens the
    round counter slot."""
    w = chain
    gas, prev = [], None
    for day in range(3):
        tree, _ = _round(w, day, 1_000 + day, previous=prev)
        rep = tree.report(w.dep.config_digest())
        res = w.tx(w.dep.rounds.functions.anchorRound(_t(rep), _sigs(w, rep, _signers(w))), "oracle-1")
        gas.append(res.gas_used)
        prev = tree
    print(f"anchorRound gas, 3 of 4 signatures: first {gas[0]:,}, then {gas[1]:,}, {gas[2]:,}")
    assert max(gas) <= 150_000 and gas[1] < gas[0], gas


def test_a_deployment_from_before_meter_rounds_gets_it_deployed_beside_its_anchor(chain: World, artifacts) -> None:
    """A data directory deployed before MeterRounds existed (its manifest lacks it): loading it
    deploys MeterRounds wired to the deployment's registries and anchor, nothing else."""
    w = chain
    manifest = copy.deepcopy(w.dep.manifest)
    del manifest["contracts"]["MeterRounds"]
    before = set(manifest["contracts"])
    assert extend_manifest(w.client, artifacts, manifest) is True
    assert set(manifest["contracts"]) == before | {"MeterRounds"}
    rounds = Deployment(w.client, manifest).rounds
    assert rounds.address != w.dep.rounds.address
    assert w.call(rounds.functions.anchor()).lower() == w.dep.anchor.address.lower()
    assert w.call(rounds.functions.devices()).lower() == w.dep.devices.address.lower()
    assert extend_manifest(w.client, artifacts, manifest) is False
