"""What the regulator's pages show, gathered from the chain through the generated bindings and the
ledger's query functions (no rule is computed here: the contracts hold them).

* :func:`enterprises` — admitted enterprises (ParticipantRegistry ``ParticipantAdmitted`` events and
  ``organisation``), with :func:`completeness` of a year (EmissionsRegistry ``annualEmissions`` and
  ``enrolledSources`` via :func:`ledger.records.queries.annual_emissions`) and the compliance status
  row (Compliance ``statusTable``: allocation, obligation, surrendered, shortfall; deadline from the
  period's parameters).
* :func:`records_queue` — submitted records (assign a verifier) and verified ones (confirm).
* :func:`market_days` — daily settled volume, value and volume-weighted price per asset from
  Settlement ``TradeSettled`` events, days cut in the exchange's trading-day clock (UTC+08:00,
  :data:`api.settlement_service.EXCHANGE_TZ`).
* :func:`offsets` — CCER batches issued (``BatchIssued``, ``batch``) and retirement certificates
  (``certificate``), with the asset ledger's issued/retired supply (CarbonAssets ``supplyOf``);
  :func:`green_certificates` — GEC issuances and retirements (GreenCertificates).
* :func:`pending_governance` — constitutional operations still waiting: collecting approvals or
  scheduled in the Constitution's delay (:func:`ledger.contracts.governance.proposals`).

Units: kgCO2 and tCO2e as the contracts hold them; money in fen; times UTC seconds (the pages
format them with :mod:`api.portal.timefmt`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from api.settlement_service import EXCHANGE_TZ
from ledger.account.builder import TECHNOLOGY
from ledger.accounting.assets import parse_asset_id
from ledger.contracts import governance
from ledger.contracts._generated.ccer_registry import BatchIssued
from ledger.contracts._generated.compliance import PeriodOpened
from ledger.contracts._generated.participant_registry import ParticipantAdmitted
from ledger.contracts._generated.settlement import TradeSettled
from ledger.contracts.deployment import Deployment
from ledger.records import queries as records

#: Participant status names (ParticipantRegistry.Status).
PARTICIPANT_STATUS = ("none", "active", "suspended", "revoked")
#: Compliance status and deduction names (Compliance.Status, Compliance.DeductionStatus).
COMPLIANCE_STATUS = ("open", "compliant", "shortfall", "corrected_late")
DEDUCTION_STATUS = ("none", "pending", "effective", "cancelled")
#: Completeness cell states and their labels (Chinese term of the MRV rules beside the English).
CELL_LABELS = {"confirmed": "已确认 confirmed", "assessed": "核定 assessed", "in_review": "审核中 in review",
               "missing": "缺失 missing"}
#: The short label each cell of the completeness grid shows.
CELL_SHORT = {"confirmed": "确认", "assessed": "核定", "in_review": "审核", "missing": "缺失"}
#: Activity types of EmissionsRegistry.ActivityType, by number.
ACTIVITY_TYPES = {1: "purchased electricity", 2: "electricity supplied", 3: "heat supplied", 4: "fuel combustion",
                  5: "purchased heat"}


def _block_time(dep: Deployment, block: int, cache: dict[int, int]) -> int:
    if block not in cache:
        cache[block] = int(dep.client.rpc("eth_getBlockByNumber", hex(block), False)["timestamp"], 16)
    return cache[block]


def _start(dep: Deployment) -> int:
    return int(dep.manifest.get("deployment_block", 0))


# ------------------------------------------------------------------ participants
def organisation_offset(dep: Deployment, org_id: str) -> int:
    """The organisation's UTC offset, seconds east (ParticipantRegistry ``organisation``)."""
    return int(dep.participants.organisation(bytes.fromhex(org_id[2:])).utcOffsetSeconds)


@dataclass
class Organisation:
    """An admitted organisation: id (0x bytes32), name and USCC from its admission, role name, UTC
    offset (s), status name, and its accounts."""

    org_id: str
    name: str
    uscc: str
    role: str
    offset_s: int
    status: str
    accounts: list[str] = field(default_factory=list)


def organisations(dep: Deployment, role: str) -> list[Organisation]:
    """Organisations admitted with ``role`` (e.g. ``ENTERPRISE_ROLE``), in admission order."""
    want = dep.role(role)
    out: dict[bytes, Organisation] = {}
    for lg in dep.participants.get_logs(ParticipantAdmitted, _start(dep)):
        e = lg.event
        if bytes(e.role) != want or bytes(e.orgId) in out:
            continue
        org = dep.participants.organisation(bytes(e.orgId))
        st = int(org.status)
        out[bytes(e.orgId)] = Organisation("0x" + bytes(e.orgId).hex(), e.name, bytes(e.uscc).rstrip(b"\0").decode(errors="replace"),
                                           role, int(org.utcOffsetSeconds),
                                           PARTICIPANT_STATUS[st] if st < len(PARTICIPANT_STATUS) else str(st),
                                           list(dep.participants.accountsOf(bytes(e.orgId))))
    return list(out.values())


def active_verifiers(dep: Deployment) -> list[tuple[str, str]]:
    """``(account, organisation name)`` of every account that is an active verifier now."""
    role = dep.role("VERIFIER_ROLE")
    return [(a, o.name) for o in organisations(dep, "VERIFIER_ROLE") for a in o.accounts
            if dep.participants.isActive(a, role)]


# ------------------------------------------------------------------ completeness and compliance
@dataclass
class SourceRow:
    """One enrolled source of an enterprise-year: activity type, subject (meter id), and the
    state of each month 1–12 (keys of :data:`CELL_LABELS`)."""

    activity: str
    subject: str
    months: list[str]


def completeness(dep: Deployment, enterprise: str, year: int, recs: list[dict[str, Any]]) -> dict[str, Any]:
    """An enterprise-year's reporting completeness.

    Args:
        enterprise: 0x org id. recs: the enterprise's records (any year; only ``year``'s are used).

    Returns:
        ``annual`` (:func:`ledger.records.queries.annual_emissions`: closable, complete, assessed,
        emissionsKg, …, sources) and ``rows`` (:class:`SourceRow`): a month is *confirmed* when the
        source's confirmed-month bit is set (bit 0: an annual record covers the year), *assessed*
        when the regulator assessed (核定) the enterprise-year (EmissionsRegistry.assessEmissions)
        and the month is not confirmed, *in_review* when a current record of that meter and month
        is submitted or verified, else *missing*.
    """
    annual = records.annual_emissions(dep, bytes.fromhex(enterprise[2:]), year)
    open_ = {(r["device"].lower(), int(r["month"])) for r in recs
             if int(r["year"]) == year and r["status"] in ("submitted", "verified") and not int(r.get("amendedBy", 0))}
    rows = []
    for s in annual["sources"]:
        months = []
        for m in range(1, 13):
            if s["annual"] or m in s["confirmed_months"]:
                months.append("confirmed")
            elif annual["assessed"]:
                months.append("assessed")
            elif (s["subject"].lower(), m) in open_:
                months.append("in_review")
            else:
                months.append("missing")
        rows.append(SourceRow(ACTIVITY_TYPES.get(s["activity_type"], str(s["activity_type"])), s["subject"], months))
    return {"annual": annual, "rows": rows}


def compliance(dep: Deployment, year: int, enterprises: list[str]) -> dict[str, Any]:
    """The compliance period of ``year`` and each enterprise's status row.

    Returns:
        ``{"opened": False}`` when no period is open, else ``opened``, ``deadline`` (UTC s),
        ``price_fen`` (P, 0 until published) and ``rows`` by enterprise id: allocationFinal,
        emissionsT, allocationT, obligation, ceaSurrendered, ccerSurrendered, ccerCap (tCO2e),
        status, shortfall (tCO2e), penalty range (fen), deduction — Compliance.statusTable.
    """
    p = dep.compliance.period(year)
    if not p.opened:
        return {"opened": False, "rows": {}}
    rows: dict[str, dict[str, Any]] = {}
    if enterprises:
        for row in dep.compliance.statusTable(year, [bytes.fromhex(e[2:]) for e in enterprises]):
            d = row.as_json()
            d["status"] = COMPLIANCE_STATUS[d["status"]] if d["status"] < len(COMPLIANCE_STATUS) else str(d["status"])
            d["deduction"] = DEDUCTION_STATUS[d["deduction"]] if d["deduction"] < len(DEDUCTION_STATUS) else str(d["deduction"])
            rows[d["enterprise"].lower()] = d
    return {"opened": True, "deadline": int(p.params.deadline), "price_fen": int(p.priceFen), "rows": rows}


def allocation(dep: Deployment, year: int, enterprise: str) -> dict[str, Any]:
    """The enterprise's allocation entry of ``year`` (Allocation ``entry``): preAllocated,
    finalised, preAllocation, finalAllocation, clawedBack, deduction, debt (tCO2e)."""
    e = dep.allocation.entry(year, bytes.fromhex(enterprise[2:]))
    return {"preAllocated": bool(e.preAllocated), "finalised": bool(e.finalised), "preAllocation": int(e.preAllocation),
            "finalAllocation": int(e.finalAllocation), "clawedBack": int(e.clawedBack), "deduction": int(e.deduction),
            "debt": int(e.debt)}


def reporting_years(dep: Deployment, recs: list[dict[str, Any]], default: int) -> list[int]:
    """Years that have records or an opened compliance period (Compliance ``PeriodOpened``),
    newest first (``default`` when there are none)."""
    opened = {int(lg.event.year) for lg in dep.compliance.get_logs(PeriodOpened, _start(dep))}
    return sorted({int(r["year"]) for r in recs} | opened, reverse=True) or [default]


# ------------------------------------------------------------------ records queue
def records_queue(recs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Current records waiting on the regulator: ``unassigned`` (submitted, no verifier),
    ``with_verifier`` (submitted, awaiting the verifier's verdict: may be re-assigned),
    ``verified`` (attested: to confirm). Oldest first."""
    zero = "0x" + "00" * 20
    live = [r for r in recs if not int(r.get("amendedBy", 0))]
    sub = [r for r in live if r["status"] == "submitted"]
    return {"unassigned": [r for r in sub if str(r["verifier"]).lower() == zero],
            "with_verifier": [r for r in sub if str(r["verifier"]).lower() != zero],
            "verified": [r for r in live if r["status"] == "verified"]}


# ------------------------------------------------------------------ market
@dataclass
class MarketDay:
    """Settled trades of one asset on one trading day: volume (tCO2e), value (fen), trades, and
    the volume-weighted price (fen/t, value ÷ volume rounded half up)."""

    day: str
    asset: str
    volume_t: int
    value_fen: int
    trades: int

    @property
    def vwap_fen(self) -> int:
        return (2 * self.value_fen + self.volume_t) // (2 * self.volume_t) if self.volume_t else 0


def market_days(dep: Deployment) -> list[MarketDay]:
    """Every ``TradeSettled`` of the deployment's Settlement, summed per trading day (the block's
    time in UTC+08:00, the exchange's clock: china_rules.md §5 trading hours) and asset, in day order."""
    cache: dict[int, int] = {}
    acc: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for lg in dep.settlement.get_logs(TradeSettled, _start(dep)):
        e = lg.event
        day = datetime.fromtimestamp(_block_time(dep, lg.block_number, cache), UTC).astimezone(EXCHANGE_TZ).date().isoformat()
        a = acc[(day, str(parse_asset_id(int(e.assetId))))]
        a[0] += int(e.quantity)
        a[1] += int(e.valueFen)
        a[2] += 1
    return [MarketDay(d, asset, v, val, n) for (d, asset), (v, val, n) in sorted(acc.items())]


# ------------------------------------------------------------------ offsets
def offsets(dep: Deployment) -> dict[str, Any]:
    """CCER batches and retirement certificates of the deployment's CCERRegistry.

    Returns:
        ``batches``: batch id, asset (CCER-<project>-<vintage>), amount and retired (tCO2e), serial
        range text, issued at (UTC s); ``certificates``: id, asset, holder, amount, serials,
        beneficiary, purpose, retired at; ``issued_t`` / ``retired_t``: totals over the batches.
    """
    ccer = dep.ccer
    prefixes = {int(lg.event.batchId): lg.event.serialPrefix for lg in ccer.get_logs(BatchIssued, _start(dep))}
    batches = []
    for i in range(1, ccer.batchCount() + 1):
        b = ccer.batch(i)
        prefix = prefixes.get(i, "")
        serials = f"{prefix}{b.serialStart} to {b.serialEnd}" if prefix else "—"
        batches.append({"batch_id": i, "asset": f"CCER-{b.project}-{b.vintage}", "amount": int(b.amount), "retired": int(b.retired),
                        "serials": serials, "issued_at": int(b.issuedAt)})
    certs = []
    for i in range(1, ccer.certificateCount() + 1):
        got = ccer.certificate(i)
        c = got.cert
        prefix = prefixes.get(int(c.batchId), "")
        certs.append({"certificate_id": i, "asset": str(parse_asset_id(int(got.assetId))), "holder": c.holder, "amount": int(c.amount),
                      "serials": f"{prefix}{c.serialStart} to {c.serialEnd}" if c.serialStart else "—",
                      "beneficiary": c.beneficiary, "purpose": c.purpose, "retired_at": int(c.retiredAt), "batch_id": int(c.batchId)})
    return {"batches": batches, "certificates": certs, "issued_t": sum(b["amount"] for b in batches),
            "retired_t": sum(b["retired"] for b in batches)}


def green_certificates(dep: Deployment) -> dict[str, Any]:
    """Green electricity certificates (绿证, 1 certificate = 1 MWh) of the deployment's GreenCertificates.

    Returns:
        ``deployed`` (False on a deployment without the contract: then nothing else);
        ``issuances``: id, plant device, plant organisation, technology, vintage (YYYY-MM), serials,
        certificates (MWh), retired; ``retirements``: id, issuance, enterprise organisation, holder,
        serials, period (YYYY-MM of the purchased electricity), beneficiary; ``issued_mwh`` /
        ``retired_mwh``: totals.
    """
    if "GreenCertificates" not in dep.c:
        return {"deployed": False}
    gc = dep.certificates
    issuances = []
    for i in range(1, gc.issuanceCount() + 1):
        x = gc.issuance(i)
        issuances.append({"issuance_id": i, "device": "0x" + bytes(x.device).hex(), "plant_org": "0x" + bytes(x.plantOrg).hex(),
                          "technology": TECHNOLOGY.get(int(x.technology), str(x.technology)), "vintage": f"{x.year:04d}-{x.month:02d}",
                          "serials": f"{x.firstSerial} to {x.lastSerial}", "mwh": int(x.lastSerial) - int(x.firstSerial) + 1,
                          "retired": int(x.retired)})
    retirements = []
    for i in range(1, gc.retirementCount() + 1):
        r = gc.retirement(i)
        retirements.append({"retirement_id": i, "issuance_id": int(r.issuanceId), "enterprise_org": "0x" + bytes(r.enterpriseOrg).hex(),
                            "holder": r.holder, "serials": f"{r.firstSerial} to {r.lastSerial}",
                            "mwh": int(r.lastSerial) - int(r.firstSerial) + 1, "period": f"{r.year:04d}-{r.month:02d}",
                            "beneficiary": "0x" + bytes(r.beneficiary).hex()})
    return {"deployed": True, "issuances": issuances, "retirements": retirements,
            "issued_mwh": sum(x["mwh"] for x in issuances), "retired_mwh": sum(x["mwh"] for x in retirements)}


# ------------------------------------------------------------------ governance
@dataclass
class PendingOperation:
    """A constitutional operation still waiting: id, its calls (contract and function names),
    approvals of threshold, ready time (UTC s; 0: collecting approvals), and whether the viewing
    member approved it in the current round."""

    op: governance.Operation
    id: str
    calls: list[str]
    approvals: int
    threshold: int
    ready_at: int
    approved_by_viewer: bool


def _call_label(dep: Deployment, target: str, payload: bytes) -> str:
    for name, c in dep.c.items():
        if c.address.lower() == target.lower():
            try:
                fn, _args = c.decode_input(payload)
            except ValueError:
                return f"{name}: 0x{payload[:4].hex()}"
            return f"{name}.{fn}"
    return f"{target}: 0x{payload[:4].hex()}"


def pending_governance(dep: Deployment, viewer: str) -> dict[str, Any]:
    """The council and the operations waiting for approval or execution.

    Returns:
        ``governed`` False when the deployment has no council yet; else ``members``, ``threshold``,
        ``delay_s``, ``is_member`` (the viewer) and ``pending`` (:class:`PendingOperation`, not
        executed, and either collecting approvals in the current round or scheduled). A cancelled
        operation (its approvals reset to zero by RegulatorCouncil.cancel) is not pending.
    """
    if not governance.is_governed(dep):
        return {"governed": False, "pending": []}
    council = dep.council
    out = []
    for op, st in governance.proposals(dep):
        if st.done or (st.ready_at == 0 and st.approvals == 0):
            continue
        out.append(PendingOperation(op, "0x" + st.id.hex(), [_call_label(dep, t, p) for t, p in zip(op.targets, op.payloads)],
                                    st.approvals, st.threshold, st.ready_at, bool(council.hasApproved(st.id, viewer))))
    members = list(council.members())
    return {"governed": True, "members": members, "threshold": int(council.threshold()),
            "delay_s": int(dep.constitution.getMinDelay()), "is_member": viewer.lower() in {m.lower() for m in members},
            "pending": out}
