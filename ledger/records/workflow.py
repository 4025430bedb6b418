"""The monthly MRV work flow as transactions: record → submit → assign → attest/reject → confirm.

Each function sends (custodial mode: the client holds the sender's key) or relays (non-custodial:
the caller signed the raw transaction) one step; the contracts enforce every rule, and the
pre-flight refuses what they would refuse before any gas is spent.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_utils import to_checksum_address

from ledger.accounting.emissions import missing_day_mask
from ledger.chain.client import Call, ChainError, decode_raw_transaction
from ledger.contracts._generated.emissions_registry import ActivityRecorded
from ledger.contracts.anchored import DeviceBatch
from ledger.contracts.deployment import Deployment
from ledger.meter_data.rounds import RoundTree
from ledger.records.queries import closing_round_id, device_batches, month_batch_range


class TransactionNotAcceptable(ValueError):
    """A raw transaction is not the call the endpoint expects (the message says why)."""


def _new_record_id(dep: Deployment, result: Any) -> int:
    return int(dep.emissions.decode_events(result, ActivityRecorded)[0].recordId)


def record_month(dep: Deployment, sender: str, enterprise: bytes, device: bytes, year: int, month: int,
                 factor_set_id: int, evidence_hash: bytes = bytes(32), amends: int = 0, submit: bool = True) -> int:
    """Record a month of purchased electricity from the device's anchored batches (emissions are
    computed on-chain) and, with ``submit``, submit it for verification. Returns the record id.

    Raises:
        NoAnchoredData: no anchored batch in the month.
        ContractRevert: the contract refuses (e.g. ``RecordExists``, ``DeviceNotOwned``).
    """
    first, last = month_batch_range(dep, enterprise, device, year, month)
    em = dep.emissions
    res = dep.client.send([em.recordPurchasedElectricity(device, year, month, first, last, factor_set_id, evidence_hash,
                                                         amends, sender=sender, label=f"record {year}-{month:02d}")])[0]
    rid = _new_record_id(dep, res)
    if submit:
        dep.client.send([em.submit(rid, sender=sender, label=f"submit {rid}")])
    return rid


def record_month_from_rounds(dep: Deployment, sender: str, device: bytes, year: int, month: int, closing: RoundTree,
                             factor_set_id: int, evidence_hash: bytes = bytes(32), amends: int = 0,
                             submit: bool = True) -> int:
    """Record a month of purchased electricity from oracle rounds (MeterRounds, docs/meter-rounds.md):
    prove the meter-month's totals leaf of ``closing`` — the oracles' tree of the round holding the
    month's end on the owner's clock — with ``MeterRounds.proveMonth`` (skipped when the month is
    already proved against that round), then ``EmissionsRegistry.recordPurchasedElectricityFromRounds``
    (emissions computed on-chain as for batches; the record's source is AnchoredMeterRounds) and,
    with ``submit``, submit it. Returns the record id.

    Raises:
        KeyError: ``closing`` holds no totals leaf of (device, year, month).
        LookupError: no current anchored round has ``closing``'s root.
        ContractRevert: the contracts refuse (e.g. ``NotClosingRound``, ``TotalsNotInRound``,
            ``MissingDays``, ``RecordExists``, ``DeviceNotOwned``).
    """
    totals, proof = closing.totals_for(device, year, month)
    round_id = closing_round_id(dep, closing.root)
    mr, em = dep.rounds, dep.emissions
    if int(mr.provenMonth(device, year, month).roundId) != round_id:
        dep.client.send([mr.proveMonth(round_id, totals.as_struct(), proof, sender=sender,
                                       label=f"prove {year}-{month:02d} in round {round_id}")])
    res = dep.client.send([em.recordPurchasedElectricityFromRounds(device, year, month, factor_set_id, evidence_hash,
                                                                   amends, sender=sender,
                                                                   label=f"record {year}-{month:02d} from rounds")])[0]
    rid = _new_record_id(dep, res)
    if submit:
        dep.client.send([em.submit(rid, sender=sender, label=f"submit {rid}")])
    return rid


def assign_factor_set(dep: Deployment, sender: str, enterprise: bytes, year: int, factor_set_id: int) -> bool:
    """Regulator: assign the factor set of ``enterprise``'s ``year`` (EmissionsRegistry.assignFactorSet).
    Returns False (nothing sent) when that set is assigned already.

    Raises:
        ContractRevert: e.g. ``FactorSetAlreadyAssigned`` (another set), ``FactorSetNotApplicable``.
    """
    em = dep.emissions
    if int(em.assignedFactorSet(enterprise, year)) == factor_set_id:
        return False
    dep.client.send([em.assignFactorSet(enterprise, year, factor_set_id, sender=sender, label=f"assign factor set {year}")])
    return True


def enrol_sources(dep: Deployment, sender: str, enterprise: bytes, year: int, sources: list[tuple[int, bytes]]) -> int:
    """Regulator: enrol the (activity type, subject) sources of ``enterprise``'s ``year`` that are not
    enrolled yet (EmissionsRegistry.enrolSources). Returns how many were enrolled now.

    Raises:
        ContractRevert: e.g. ``DeviceNotOwned``, ``MissingFuelCode``.
    """
    em = dep.emissions
    have = {(int(s.activityType), bytes(s.subject)) for s in em.enrolledSources(enterprise, year)}
    new = [(k, bytes(x)) for k, x in sources if (k, bytes(x)) not in have]
    if new:
        dep.client.send([em.enrolSources(enterprise, year, [k for k, _ in new], [x for _, x in new], sender=sender,
                                         label=f"enrol sources {year}")])
    return len(new)


def missing_days(dep: Deployment, enterprise: bytes, device: bytes, year: int, month: int,
                 batches: list[DeviceBatch] | None = None) -> int:
    """Day mask (bit d − 1 = local day d) of the month's days not fully covered by the device's
    current anchored batches: the days the contract refuses (MissingDays) unless declared."""
    w = dep.emissions.monthWindow(enterprise, year, month)
    spans = [(b.batch.start, b.batch.end) for b in (batches if batches is not None else device_batches(dep, device))
             if w.start <= b.batch.start and b.batch.end <= w.end]
    return missing_day_mask(w.start, w.end, spans)


def declare_gap(dep: Deployment, sender: str, device: bytes, year: int, month: int, day_mask: int,
                reason_hash: bytes) -> None:
    """Enterprise: declare the days of ``day_mask`` of the meter's month as a gap (EmissionsRegistry.declareGap)."""
    dep.client.send([dep.emissions.declareGap(device, year, month, day_mask, reason_hash, sender=sender,
                                              label=f"declare gap {year}-{month:02d}")])


def assess_gap(dep: Deployment, sender: str, device: bytes, year: int, month: int, substitute_wh: int,
               basis_hash: bytes) -> None:
    """Regulator: the substitute Wh of a declared gap (EmissionsRegistry.assessGap, 核定)."""
    dep.client.send([dep.emissions.assessGap(device, year, month, substitute_wh, basis_hash, sender=sender,
                                             label=f"assess gap {year}-{month:02d}")])


def assess_emissions(dep: Deployment, sender: str, enterprise: bytes, year: int, emissions_kg: int,
                     purchased_electricity_kg: int, reason_hash: bytes) -> None:
    """Regulator: assess (核定) an enterprise-year's emissions, kgCO2 (EmissionsRegistry.assessEmissions)."""
    dep.client.send([dep.emissions.assessEmissions(enterprise, year, emissions_kg, purchased_electricity_kg, reason_hash,
                                                   sender=sender, label=f"assess emissions {year}")])


def submit(dep: Deployment, sender: str, record_id: int) -> None:
    """Submit a Draft record for verification."""
    dep.client.send([dep.emissions.submit(record_id, sender=sender, label=f"submit {record_id}")])


def assign_verifier(dep: Deployment, sender: str, record_id: int, verifier: str) -> None:
    """Regulator: assign ``verifier`` to a Submitted record (event ``VerifierAssigned``)."""
    dep.client.send([dep.emissions.assignVerifier(record_id, to_checksum_address(verifier), sender=sender,
                                                  label=f"assign {record_id}")])


def confirm(dep: Deployment, sender: str, record_id: int) -> None:
    """Regulator: confirm a Verified record."""
    dep.client.send([dep.emissions.confirm(record_id, sender=sender, label=f"confirm {record_id}")])


def verdict(dep: Deployment, sender: str, record_id: int, attest: bool, report_hash: bytes, findings_hash: bytes) -> None:
    """Verifier (custodial): attest or reject a record with the verification report's hashes."""
    em = dep.emissions
    fn = em.attest if attest else em.reject
    dep.client.send([fn(record_id, report_hash, findings_hash, sender=sender, label=f"verdict {record_id}")])


def relay_verdict(dep: Deployment, caller: str, record_id: int, raw: bytes) -> str:
    """Verifier (non-custodial): relay an ``attest``/``reject`` transaction the verifier signed.

    Returns ``"attest"`` or ``"reject"``.

    Raises:
        TransactionNotAcceptable: not signed by ``caller``, not to EmissionsRegistry, not
            attest/reject, or for another record.
        ContractRevert: the contract refuses it (pre-flight).
    """
    try:
        tx = decode_raw_transaction(raw)
    except ChainError as exc:
        raise TransactionNotAcceptable(str(exc)) from None
    if tx.sender != to_checksum_address(caller):
        raise TransactionNotAcceptable(f"transaction signed by {tx.sender}, not by the caller {caller}")
    if tx.to != dep.emissions.address:
        raise TransactionNotAcceptable(f"transaction goes to {tx.to}, not EmissionsRegistry {dep.emissions.address}")
    try:
        fn_name, args = dep.emissions.decode_input(tx.data)
    except ValueError as exc:
        raise TransactionNotAcceptable(f"unknown function call: {exc}") from None
    if fn_name not in ("attest", "reject"):
        raise TransactionNotAcceptable(f"transaction calls {fn_name}, expected attest or reject")
    if int(args["recordId"]) != record_id:
        raise TransactionNotAcceptable(f"transaction is for record {args['recordId']}, not {record_id}")
    dep.client.send_raw(raw, f"relay {fn_name} {record_id}")
    return fn_name


def sign_verdict(dep: Deployment, private_key: bytes, record_id: int, attest: bool, report_hash: bytes,
                 findings_hash: bytes) -> bytes:
    """Client side (verifier's own key, non-custodial): sign the ``attest``/``reject`` transaction
    to hand to ``POST /v1/verifier/records/{id}/verdict``. Reads nonce, gas and gas price from the
    chain; nothing is sent.

    Raises:
        ContractRevert: if the contract would refuse it (pre-flight estimate).
    """
    c = dep.client
    acct = Account.from_key(private_key)
    em = dep.emissions.functions
    fn = (em.attest if attest else em.reject)(record_id, report_hash, findings_hash)
    [gas] = c.preflight([Call.of(fn, acct.address, f"verdict {record_id}")])
    tx = {"nonce": int(c.rpc("eth_getTransactionCount", acct.address, "pending"), 16), "gas": int(gas * 1.25) + 30_000,
          "gasPrice": c.suggest_gas_price(), "chainId": c.chain_id, "to": dep.emissions.address,
          "data": fn.data, "value": 0}
    return bytes(acct.sign_transaction(tx).raw_transaction)
