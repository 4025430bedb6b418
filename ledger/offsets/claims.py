"""Carbon-neutrality claims (碳中和声明, NeutralityClaims contract): typed reads of a claim with the
records it covers and the CCER retirements backing it, and the writes (declare, withdraw,
invalidate) through the chain client.

Units: emissions in integer kgCO2 (DESIGN.md §5, as EmissionsRegistry); CCER retirements in whole
tCO2e (1 unit = 1000 kg). Rules (docs/claims.md; enforced by the contract, checked here first only
where a clear message needs no chain read): a claim is made under ISO 14068-1:2023 or PAS 2060, for
a period [start, end) in UTC seconds, states emissions ≥ the Confirmed emissions of the records it
lists — purchased electricity on its market-based line where the enterprise-year's factor set holds a
residual-mix factor (GreenCertificates.marketBasedKg, once per enterprise-month; location-based
otherwise) — and is backed by retirements of the claimant's own accounts covering it, each backing one
claim only. Green electricity certificates never back a claim (they are not offsets); they lower the
market-based emissions of the purchased electricity the claim covers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger.chain.client import TxResult
from ledger.contracts._generated.neutrality_claims import ClaimDeclared, Declaration
from ledger.contracts.deployment import Deployment
from ledger.crypto.primitives import keccak256

#: Standard codes as the API names them → NeutralityClaims.Standard (1 ISO 14068-1:2023, 2 PAS 2060).
STANDARDS: dict[str, int] = {"ISO14068-1": 1, "PAS2060": 2}
#: Full titles of the standards, for pages and reports.
STANDARD_TITLES: dict[str, str] = {
    "ISO14068-1": "ISO 14068-1:2023 Climate change management — Transition to net zero — Part 1: Carbon neutrality",
    "PAS2060": "PAS 2060 Specification for the demonstration of carbon neutrality (BSI)",
}
#: NeutralityClaims.Status by value.
CLAIM_STATUSES = ("none", "declared", "verified", "withdrawn", "invalidated")
#: EmissionsRegistry.ActivityType.PurchasedElectricity.
PURCHASED_ELECTRICITY = 1
#: EmissionsRegistry.Status by value.
RECORD_STATUSES = ("none", "draft", "submitted", "verified", "rejected", "confirmed")
#: kgCO2e per CCER unit (1 token = 1 tCO2e, DESIGN.md §5).
KG_PER_UNIT = 1000
#: Most records, and most retirements, one claim may list (NeutralityClaims.MAX_ITEMS).
MAX_ITEMS = 64


class ClaimInputError(ValueError):
    """A declaration is malformed (the message names the field and what is wrong); nothing was sent."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class UnknownClaim(LookupError):
    """No claim with this id on the chain."""


@dataclass(frozen=True)
class CoveredRecord:
    """An EmissionsRegistry record a claim covers, as read at the claim's read block
    (``purchased_electricity``: its activity type is PurchasedElectricity, the scope-2 records)."""

    record_id: int
    purchased_electricity: bool
    year: int
    month: int
    period_start: int
    period_end: int
    emissions_kg: int
    status: str


@dataclass(frozen=True)
class BackingRetirement:
    """A CCERRegistry retirement certificate backing a claim: holder, tCO2e, serial range text
    (``"<prefix><start> to <end>"``, None for a batch issued without serials), beneficiary, purpose."""

    certificate_id: int
    holder: str
    amount_t: int
    serials: str | None
    beneficiary: str
    purpose: str
    retired_at: int
    batch_id: int


@dataclass(frozen=True)
class ClaimView:
    """A claim as read from NeutralityClaims at block ``read_block`` (all fields from the chain).

    ``claimant`` is the organisation id (0x bytes32), ``subject`` 0x bytes32 (zeros: the organisation
    itself; else keccak256 of an event's name); times UTC seconds; emissions kgCO2; retired tCO2e.
    ``confirmed_kg`` is the floor the contract applied (purchased electricity market-based for
    ``market_based_months`` enterprise-months); :attr:`location_based_kg` is Σ the records' emissionsKg.
    """

    claim_id: int
    claimant: str
    subject: str
    standard: str
    status: str
    period_start: int
    period_end: int
    declared_at: int
    declared_block: int
    closed_at: int
    declared_by: str
    emissions_kg: int
    confirmed_kg: int
    market_based_months: int
    retired_t: int
    statement_hash: str
    reason_hash: str
    verifier: str | None
    verification_hash: str | None
    read_block: int
    records: list[CoveredRecord] = field(default_factory=list)
    retirements: list[BackingRetirement] = field(default_factory=list)

    @property
    def is_event_claim(self) -> bool:
        """Whether the claim is for an event (subject set) rather than the organisation."""
        return self.subject != "0x" + "00" * 32

    @property
    def location_based_kg(self) -> int:
        """Σ emissionsKg of the covered records, kgCO2 (purchased electricity location-based; a
        Confirmed record's figure is final, so this is the figure at declaration too)."""
        return sum(r.emissions_kg for r in self.records)

    @property
    def scope2_basis(self) -> str:
        """How purchased electricity entered ``confirmed_kg``: ``"market-based"`` (every month the
        claim covers with purchased electricity), ``"location-based"`` (none), or ``"mixed"`` (the
        floor differs from Σ emissionsKg through some months only — the contract stores the count)."""
        if self.market_based_months == 0:
            return "location-based"
        months = {(r.year, r.month) for r in self.records if r.purchased_electricity and r.month}
        return "market-based" if self.market_based_months == len(months) else "mixed"

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict (the API's claim body)."""
        return {"claim_id": self.claim_id, "claimant": self.claimant, "subject": self.subject,
                "event_claim": self.is_event_claim, "standard": self.standard, "standard_title": STANDARD_TITLES[self.standard],
                "status": self.status, "period_start": self.period_start, "period_end": self.period_end,
                "declared_at": self.declared_at, "declared_block": self.declared_block, "closed_at": self.closed_at or None,
                "declared_by": self.declared_by, "emissions_kg": self.emissions_kg, "confirmed_kg": self.confirmed_kg,
                "location_based_kg": self.location_based_kg, "market_based_months": self.market_based_months,
                "scope2_basis": self.scope2_basis,
                "retired_t": self.retired_t, "statement_hash": self.statement_hash,
                "reason_hash": self.reason_hash if self.status == "invalidated" else None,
                "verifier": self.verifier, "verification_hash": self.verification_hash, "read_block": self.read_block,
                "records": [r.__dict__ for r in self.records], "retirements": [r.__dict__ for r in self.retirements]}


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def make_declaration(standard: str, period_start: int, period_end: int, emissions_kg: int, statement_hash: bytes,
                     record_ids: list[int], certificate_ids: list[int], event_name: str | None = None) -> Declaration:
    """A NeutralityClaims ``Declaration`` from plain values, checked for shape.

    Args:
        standard: ``"ISO14068-1"`` or ``"PAS2060"`` (:data:`STANDARDS`).
        period_start, period_end: UTC seconds, [start, end).
        emissions_kg: emissions the claim offsets, kgCO2 (> 0).
        statement_hash: 32-byte hash of the claim's documentation (PAS 2060 qualifying explanatory
            statement / ISO 14068-1 claim report), not zero.
        record_ids: Confirmed EmissionsRegistry records covered (≥ 1 unless ``event_name``).
        certificate_ids: CCERRegistry retirement certificates backing the claim (≥ 1).
        event_name: for an event claim, the event's name (subject = keccak256 of its UTF-8).

    Raises:
        ClaimInputError: naming the field (unknown standard, empty or reversed period, emissions ≤ 0,
            bad hash, no records for an organisation claim, no retirements, duplicates, > 64 items).
    """
    if standard not in STANDARDS:
        raise ClaimInputError("standard", f"{standard!r} is not one of {sorted(STANDARDS)}")
    if not 0 <= period_start < period_end < 2**64:
        raise ClaimInputError("period", f"[{period_start}, {period_end}) is empty, reversed or out of range")
    if not 0 < emissions_kg < 2**256:
        raise ClaimInputError("emissions_kg", "must be a positive number of kgCO2")
    if len(statement_hash) != 32 or statement_hash == bytes(32):
        raise ClaimInputError("statement_hash", "must be a non-zero 32-byte hash")
    if event_name is not None and not event_name.strip():
        raise ClaimInputError("event_name", "must not be blank")
    if event_name is None and not record_ids:
        raise ClaimInputError("record_ids", "an organisation claim covers at least one Confirmed record")
    if not certificate_ids:
        raise ClaimInputError("certificate_ids", "a claim is backed by at least one CCER retirement")
    for name, ids in (("record_ids", record_ids), ("certificate_ids", certificate_ids)):
        if len(ids) > MAX_ITEMS:
            raise ClaimInputError(name, f"{len(ids)} items, at most {MAX_ITEMS}")
        if len(set(ids)) != len(ids):
            raise ClaimInputError(name, "lists an id twice")
        if any(i <= 0 for i in ids):
            raise ClaimInputError(name, "ids are positive")
    subject = keccak256(event_name.strip().encode()) if event_name is not None else bytes(32)
    return Declaration(subject=subject, standard=STANDARDS[standard], periodStart=period_start, periodEnd=period_end,
                       emissionsKg=emissions_kg, statementHash=statement_hash, recordIds=tuple(record_ids),
                       certificateIds=tuple(certificate_ids))


def declare(dep: Deployment, sender: str, d: Declaration) -> tuple[int, TxResult]:
    """Send NeutralityClaims.declare from ``sender`` (an Active enterprise account); returns the new
    claim id and the transaction result.

    Raises:
        ContractRevert: the contract refuses (e.g. ``InsufficientCoverage``, ``RetirementAlreadyClaimed``,
            ``EmissionsBelowConfirmed``, ``RetirementNotClaimants``, ``NotActiveParticipant``).
    """
    res = dep.client.send([dep.claims.declare(d, sender=sender, label="declare neutrality claim")])[0]
    return claim_id_of(dep, res), res


def claim_id_of(dep: Deployment, result: TxResult) -> int:
    """The claim id of the ClaimDeclared event in a declare transaction's receipt.

    Raises:
        LookupError: the receipt has no ClaimDeclared.
    """
    found = dep.claims.decode_events(result, ClaimDeclared)
    if not found:
        raise LookupError(f"no ClaimDeclared in transaction {result.tx_hash}")
    return int(found[0].claimId)


def withdraw(dep: Deployment, sender: str, claim_id: int) -> TxResult:
    """The claimant withdraws open (Declared or Verified) claim ``claim_id``.

    Raises:
        ContractRevert: ``UnknownClaim``, ``NotClaimant``, ``ClaimClosed``.
    """
    return dep.client.send([dep.claims.withdraw(claim_id, sender=sender, label=f"withdraw claim {claim_id}")])[0]


def assign_verifier(dep: Deployment, sender: str, claim_id: int, verifier: str) -> TxResult:
    """A regulator assigns (or re-assigns) Active verifier ``verifier`` to Declared claim ``claim_id``.

    Raises:
        ContractRevert: ``NotRegulator``, ``UnknownClaim``, ``ClaimNotDeclared``, ``NotActiveParticipant`` (verifier).
    """
    return dep.client.send([dep.claims.assignVerifier(claim_id, verifier, sender=sender,
                                                      label=f"assign verifier of claim {claim_id}")])[0]


def verify(dep: Deployment, sender: str, claim_id: int, report_hash: bytes) -> TxResult:
    """The assigned verifier attests Declared claim ``claim_id`` with its report's 32-byte hash.

    Raises:
        ClaimInputError: a zero or malformed hash. ContractRevert: ``NotAssignedVerifier``, ``ClaimNotDeclared``.
    """
    if len(report_hash) != 32 or report_hash == bytes(32):
        raise ClaimInputError("report_hash", "must be a non-zero 32-byte hash")
    return dep.client.send([dep.claims.verify(claim_id, report_hash, sender=sender, label=f"verify claim {claim_id}")])[0]


def reason_hash(reason: str) -> bytes:
    """keccak256 of the UTF-8 reason text (what an invalidation stores).

    Raises:
        ClaimInputError: a blank reason.
    """
    if not reason.strip():
        raise ClaimInputError("reason", "must not be blank")
    return keccak256(reason.strip().encode())


def invalidate(dep: Deployment, sender: str, claim_id: int, reason: str) -> TxResult:
    """A regulator invalidates open (Declared or Verified) claim ``claim_id`` for ``reason`` (its
    keccak256 is stored).

    Raises:
        ClaimInputError: a blank reason. ContractRevert: ``NotRegulator``, ``UnknownClaim``, ``ClaimClosed``.
    """
    h = reason_hash(reason)
    return dep.client.send([dep.claims.invalidate(claim_id, h, sender=sender, label=f"invalidate claim {claim_id}")])[0]


def claim_count(dep: Deployment) -> int:
    """Number of claims (ids 1 … claim_count)."""
    return int(dep.claims.claimCount())


def read_claim(dep: Deployment, claim_id: int) -> ClaimView:
    """Claim ``claim_id`` with its records and retirements, every value read at one block (the
    latest when called: ``read_block``).

    Raises:
        UnknownClaim: no such claim.
    """
    block = int(dep.client.rpc("eth_blockNumber"), 16)
    tag = hex(block)
    if not 1 <= claim_id <= int(dep.claims.claimCount(block=tag)):
        raise UnknownClaim(f"no claim {claim_id}")
    c = dep.claims.claim(claim_id, block=tag)
    records = []
    for rid in dep.claims.recordsOf(claim_id, block=tag):
        r = dep.emissions.record(rid, block=tag)
        records.append(CoveredRecord(int(rid), int(r.activityType) == PURCHASED_ELECTRICITY, int(r.year), int(r.month),
                                     int(r.periodStart), int(r.periodEnd), int(r.emissionsKg), RECORD_STATUSES[int(r.status)]))
    prefixes = _serial_prefixes(dep, {int(dep.ccer.certificate(cid, block=tag).cert.batchId)
                                      for cid in dep.claims.retirementsOf(claim_id, block=tag)})
    retirements = []
    for cid in dep.claims.retirementsOf(claim_id, block=tag):
        cert = dep.ccer.certificate(cid, block=tag).cert
        prefix = prefixes.get(int(cert.batchId))
        serials = f"{prefix}{cert.serialStart} to {cert.serialEnd}" if prefix is not None and cert.serialStart else None
        retirements.append(BackingRetirement(int(cid), str(cert.holder), int(cert.amount), serials, cert.beneficiary,
                                             cert.purpose, int(cert.retiredAt), int(cert.batchId)))
    code = next(k for k, v in STANDARDS.items() if v == int(c.standard))
    return ClaimView(claim_id, _hex(c.claimant), _hex(c.subject), code, CLAIM_STATUSES[int(c.status)], int(c.periodStart),
                     int(c.periodEnd), int(c.declaredAt), int(c.declaredBlock), int(c.closedAt), str(c.declaredBy),
                     int(c.emissionsKg), int(c.confirmedKg), int(c.marketBasedMonths),
                     int(c.retiredTonnes), _hex(c.statementHash), _hex(c.reasonHash),
                     None if int(c.verifier, 16) == 0 else str(c.verifier),
                     None if bytes(c.verificationHash) == bytes(32) else _hex(c.verificationHash), block, records, retirements)


def _serial_prefixes(dep: Deployment, batch_ids: set[int]) -> dict[int, str]:
    """The serial prefix text of each batch (the chain stores its hash; BatchIssued carries the text)."""
    if not batch_ids:
        return {}
    out: dict[int, str] = {}
    for lg in dep.ccer.get_logs("BatchIssued", int(dep.manifest["deployment_block"])):
        ev = lg.event
        if int(ev.batchId) in batch_ids and ev.serialPrefix:
            out[int(ev.batchId)] = ev.serialPrefix
    return out


def claims_of(dep: Deployment, org: bytes) -> list[ClaimView]:
    """Every claim organisation ``org`` (32-byte id) declared, oldest first (ClaimDeclared logs
    filtered by the indexed claimant, then each read as :func:`read_claim`)."""
    logs = dep.claims.get_logs(ClaimDeclared, int(dep.manifest["deployment_block"]), claimant=org)
    return [read_claim(dep, int(lg.event.claimId)) for lg in logs]
