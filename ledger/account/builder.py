"""Build an enterprise's carbon account (碳账户) for a compliance year from the chain.

Everything is read through the typed bindings and the ledger's record queries; no rule is computed
here that a contract holds (obligation, CCER cap, shortfall and status come from
Compliance.statusTable; emissions from EmissionsRegistry records). Every figure carries its
provenance: record ids with their anchored batch ids and Merkle roots (proofs of single readings:
``GET /v1/audit/readings/{device}/{sequence}/proof``), serial ranges, and transaction hashes.

Units: emissions kgCO2 (tCO2 = kg / 1000, 3 decimals in reports); energy MWh and GJ (from Wh:
MWh = Wh / 10^6, GJ = Wh × 3.6 / 10^6; from MJ: GJ = MJ / 1000); CEA and CCER whole tCO2e; money fen;
times UTC seconds.

Scopes (GHG Protocol; GB/T 32150 as the general method, DESIGN.md §6): scope 1 = fuel combustion
(EmissionsRegistry.ActivityType.FuelCombustion); scope 2 = purchased electricity (location-based:
the grid factor of the record's factor set, as the contract computes it) and purchased heat.
Electricity and heat supplied carry no emissions; they are the output behind the intensity.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from ledger.account.deadlines import reporting_deadlines
from ledger.accounting.assets import AssetClass, MalformedAssetId, cea_id, parse_asset_id
from ledger.contracts._generated.carbon_assets import Issued, TransferBatch, TransferSingle
from ledger.contracts._generated.ccer_registry import BatchIssued, RetirementCertified, SerialsSurrendered
from ledger.contracts._generated.compliance import PeriodOpened
from ledger.contracts._generated.compliance import Surrendered as ComplianceSurrendered
from ledger.contracts._generated.emissions_registry import ActivityRecorded, RecordConfirmed
from ledger.contracts._generated.green_certificates import (
    CertificatesIssued,
    CertificatesRetired,
    CertificatesTransferred,
)
from ledger.contracts._generated.settlement import TradeSettled
from ledger.contracts.deployment import Deployment
from ledger.crypto.primitives import keccak256
from ledger.offsets.claims import claims_of
from ledger.records import queries as records
from ledger.records.audit import ACTIVITY_TYPES
from ledger.records.scope2 import scope2_lines

#: Scope of each emitting activity type (EmissionsRegistry.ActivityType by number).
SCOPE_OF = {4: "scope1", 1: "scope2", 5: "scope2"}
#: ParticipantRegistry.Status names.
PARTICIPANT_STATUS = ("none", "active", "suspended", "revoked")
#: Compliance.Status names.
COMPLIANCE_STATUS = ("open", "compliant", "shortfall", "corrected_late")
#: Contract names (deployment manifest) of the issue-13 registries; a deployment made before them
#: (an older manifest) shows their sections as not deployed.
GEC_CONTRACT = "GreenCertificates"
CLAIMS_CONTRACT = "NeutralityClaims"
_ZERO_ADDR = "0x" + "00" * 20


class UnknownEnterprise(LookupError):
    """No organisation with this id is admitted as an enterprise."""


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def _start(dep: Deployment) -> int:
    return int(dep.manifest.get("deployment_block", 0))


def enterprise(dep: Deployment, org: bytes) -> dict[str, Any]:
    """The enterprise's organisation: ``org_id``, ``name`` (from its admission), ``utc_offset_s``,
    ``status`` (active / suspended / revoked) and its ``accounts``.

    Raises:
        UnknownEnterprise: ``org`` is not an admitted ENTERPRISE_ROLE organisation.
    """
    pr = dep.participants
    o = pr.organisation(org)
    if int(o.status) == 0 or bytes(o.role) != dep.role("ENTERPRISE_ROLE"):
        raise UnknownEnterprise(f"no enterprise {_hex(org)}")
    name = next((lg.event.name for lg in pr.get_logs("ParticipantAdmitted", _start(dep), orgId=org)), "")
    st = int(o.status)
    return {"org_id": _hex(org), "name": name, "utc_offset_s": int(o.utcOffsetSeconds),
            "status": PARTICIPANT_STATUS[st] if st < len(PARTICIPANT_STATUS) else str(st), "accounts": list(pr.accountsOf(org))}


def verifiers_of(dep: Deployment, org: bytes) -> set[str]:
    """Accounts (lower case) assigned as verifier to any record of the enterprise (any year)."""
    return {str(r["verifier"]).lower() for r in records.iter_records(dep, enterprise=_hex(org))
            if str(r["verifier"]).lower() != _ZERO_ADDR}


# ------------------------------------------------------------------ emissions and energy
def _record_status(r: dict[str, Any]) -> str:
    s = r["status"]
    return "in_review" if s in ("submitted", "verified") else s


def _record_provenance(dep: Deployment, r: dict[str, Any], txs: dict[int, dict[str, str]]) -> dict[str, Any]:
    """Record id, its anchored batches (id, Merkle root, Wh) and the transactions that recorded and confirmed it."""
    a = dep.anchor
    batches = []
    if int(r["source"]) == 1 and int(r["batches"]) > 0:
        dev = bytes.fromhex(str(r["device"])[2:])
        for i in range(int(r["firstBatchIndex"]), int(r["lastBatchIndex"]) + 1):
            bid = int(a.currentBatch(a.deviceBatchAt(dev, i)))
            b = a.batch(bid)
            batches.append({"batch_id": bid, "root": _hex(b.root), "total_wh": int(b.totalWh), "readings": int(b.count),
                            "audit": f"/v1/audit/batches/{bid}"})
    rid = int(r["record_id"])
    return {"record_id": rid, "audit": f"/v1/audit/records/{rid}", "batches": batches,
            "evidence_hash": r["evidenceHash"], "verification_report_hash": r["verificationReportHash"], **txs.get(rid, {})}


def _energy_gj(activity_type: int, amount: int) -> float:
    """GJ of an activity amount: Wh for electricity (1 Wh = 3.6 kJ), MJ for heat and fuel heat input."""
    return amount * 3.6 / 10**6 if activity_type in (1, 2) else amount / 1000


def emissions(dep: Deployment, org: bytes, year: int) -> dict[str, Any]:
    """The enterprise-year's emissions and energy from its current records (not amended).

    Returns:
        ``records``: each current record of the year (id, activity type, scope, subject/device,
        month, activity amount, energy MWh / GJ, kgCO2, status confirmed / in_review / draft /
        rejected, ``provenance``); ``by_scope`` and ``by_source`` (activity type + subject) and
        ``by_month`` totals in kgCO2, each split by status (``by_month``: months 1–12, preceded by
        month 0 when the year has annual records, whose emissions no single month holds); ``months``: per enrolled source the
        state of months 1–12 (confirmed, assessed 核定, in_review, missing: as EmissionsRegistry's
        completeness reads them); ``annual``: EmissionsRegistry.annualEmissions (what Compliance reads);
        ``energy``: purchased electricity MWh, purchased heat and fuel GJ, output supplied MWh / GJ
        and the intensity kgCO2 per MWh supplied where electricity supplied is recorded;
        ``scope2_dual``: location- and market-based purchased electricity per month (:func:`scope2_dual`).
    """
    em = dep.emissions
    org_hex = _hex(org)
    recs = [r for r in records.iter_records(dep, enterprise=org_hex, year=year) if not int(r.get("amendedBy", 0))]
    ids = {int(r["record_id"]) for r in recs}
    txs: dict[int, dict[str, str]] = defaultdict(dict)
    if ids:
        for lg in em.get_logs(ActivityRecorded, _start(dep), enterprise=org):
            if int(lg.event.recordId) in ids:
                txs[int(lg.event.recordId)]["recorded_tx"] = lg.tx_hash
        for lg in em.get_logs(RecordConfirmed, _start(dep), enterprise=org):
            if int(lg.event.recordId) in ids:
                txs[int(lg.event.recordId)]["confirmed_tx"] = lg.tx_hash
    rows: list[dict[str, Any]] = []
    by_scope: dict[str, dict[str, int]] = {"scope1": defaultdict(int), "scope2": defaultdict(int)}
    by_source: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))   # (type, subject, scope)
    by_month: dict[int, dict[str, int]] = {m: defaultdict(int) for m in range(0, 13)}   # 0: annual records
    en = {"purchased_electricity_mwh": 0.0, "purchased_heat_gj": 0.0, "fuel_heat_input_gj": 0.0,
          "electricity_supplied_mwh": 0.0, "heat_supplied_gj": 0.0}
    supplied_wh = 0
    for r in sorted(recs, key=lambda x: (int(x["month"]), int(x["record_id"]))):
        at, amount, kg, st = int(r["activityType"]), int(r["activityAmount"]), int(r["emissionsKg"]), _record_status(r)
        scope = SCOPE_OF.get(at)
        name = ACTIVITY_TYPES[at] if at < len(ACTIVITY_TYPES) else str(at)
        rows.append({"record_id": int(r["record_id"]), "activity_type": name, "scope": scope, "subject": r["device"],
                     "month": int(r["month"]), "activity_amount": amount, "activity_unit": "Wh" if at in (1, 2) else "MJ",
                     "energy_mwh": amount / 10**6 if at in (1, 2) else None, "energy_gj": _energy_gj(at, amount),
                     "emissions_kg": kg, "status": st, "provenance": _record_provenance(dep, r, txs)})
        if scope:
            by_scope[scope][st] += kg
            by_source[(name, str(r["device"]), scope)][st] += kg
            by_month[int(r["month"])][st] += kg
        if at == 1:
            en["purchased_electricity_mwh"] += amount / 10**6
        elif at == 5:
            en["purchased_heat_gj"] += amount / 1000
        elif at == 4:
            en["fuel_heat_input_gj"] += amount / 1000
        elif at == 2:
            en["electricity_supplied_mwh"] += amount / 10**6
            supplied_wh += amount
        elif at == 3:
            en["heat_supplied_gj"] += amount / 1000
    total = {"scope1": sum(by_scope["scope1"].values()), "scope2": sum(by_scope["scope2"].values())}
    emitted = total["scope1"] + total["scope2"]
    en["energy_total_gj"] = (en["purchased_electricity_mwh"] * 3.6 + en["purchased_heat_gj"] + en["fuel_heat_input_gj"])
    en["intensity_kg_per_mwh_supplied"] = (emitted * 10**6 / supplied_wh) if supplied_wh else None
    en["intensity_note"] = ("kgCO2 (scope 1 + 2, all current records) per MWh of electricity supplied" if supplied_wh else
                            "not evaluable: no electricity-supplied record for this year")
    annual = records.annual_emissions(dep, org, year)
    open_ = {(str(r["device"]).lower(), int(r["month"])) for r in recs if r["status"] in ("submitted", "verified")}
    months = []
    for s in annual["sources"]:
        cells = []
        for m in range(1, 13):
            if s["annual"] or m in s["confirmed_months"]:
                cells.append("confirmed")
            elif annual["assessed"]:
                cells.append("assessed")
            elif (s["subject"].lower(), m) in open_:
                cells.append("in_review")
            else:
                cells.append("missing")
        at = int(s["activity_type"])
        months.append({"activity_type": ACTIVITY_TYPES[at] if at < len(ACTIVITY_TYPES) else str(at), "subject": s["subject"],
                       "months": cells})
    return {"records": rows, "total_kg": total, "by_scope": {k: dict(v) for k, v in by_scope.items()},
            "by_source": [{"activity_type": a, "subject": s, "scope": sc, "kg": dict(v), "total_kg": sum(v.values())}
                          for (a, s, sc), v in sorted(by_source.items())],
            "by_month": [{"month": m, "kg": dict(v), "total_kg": sum(v.values())} for m, v in by_month.items() if m or v],
            "months": months, "annual": annual, "energy": en, "scope2_dual": scope2_dual(dep, org, year)}


def scope2_dual(dep: Deployment, org: bytes, year: int) -> dict[str, Any]:
    """Dual reporting of purchased electricity (GHG Protocol Scope 2 Guidance, 2015): per month the
    Confirmed purchased Wh, the location-based kgCO2 (grid factor, as the records hold it), the Wh
    covered by retired green certificates and the market-based kgCO2 (the rest at the residual factor
    the regulator published in the enterprise-year's factor set) — :func:`ledger.records.scope2.scope2_lines`.

    Returns ``months`` (the 12 rows), ``purchased_wh``, ``covered_wh``, ``location_kg`` (Confirmed
    records only) and ``market_kg`` (None with ``note`` when no residual factor is published: never a
    guessed number)."""
    lines = scope2_lines(dep, org, year)
    notes = {r["note"] for r in lines if r["note"]}
    market = None if notes else sum(int(r["market_kg"]) for r in lines)
    return {"months": lines, "purchased_wh": sum(r["purchased_wh"] for r in lines), "covered_wh": sum(r["covered_wh"] for r in lines),
            "location_kg": sum(r["location_kg"] for r in lines), "market_kg": market, "note": "; ".join(sorted(notes)) or None}


# ------------------------------------------------------------------ allowances, CCER, trades
def _held_ids(dep: Deployment, accounts: list[str]) -> list[int]:
    """Token ids ever received by the accounts (CarbonAssets TransferSingle / TransferBatch ``to``)."""
    ids: set[int] = set()
    for a in accounts:
        for lg in dep.assets.get_logs(TransferSingle, _start(dep), to=a):
            ids.add(int(lg.event.id))
        for lg in dep.assets.get_logs(TransferBatch, _start(dep), to=a):
            ids.update(int(i) for i in lg.event.ids)
    return sorted(ids)


def _asset_name(token_id: int) -> str:
    try:
        return str(parse_asset_id(token_id))
    except MalformedAssetId:
        return hex(token_id)


def holdings(dep: Deployment, accounts: list[str]) -> list[dict[str, Any]]:
    """Non-zero balances (tCO2e) per asset id summed over the enterprise's accounts
    (CarbonAssets.balanceOfBatch), with the per-account split."""
    out = []
    for tid in _held_ids(dep, accounts):
        bals = dep.assets.balanceOfBatch(accounts, [tid] * len(accounts))
        per = {a: int(b) for a, b in zip(accounts, bals) if int(b)}
        if per:
            try:
                cls = parse_asset_id(tid).asset_class.name
            except MalformedAssetId:
                cls = "unknown"
            out.append({"asset": _asset_name(tid), "asset_id": str(tid), "asset_class": cls, "quantity_t": sum(per.values()),
                        "by_account": per})
    return out


def allowances(dep: Deployment, org: bytes, year: int, accounts: list[str]) -> dict[str, Any]:
    """CEA of vintage ``year``: the Allocation entry (pre-allocation, final allocation, issued at
    finalisation, clawed back, deduction; tCO2e), the CarbonAssets ``Issued`` transactions of that
    id to the enterprise's accounts, and the quantity held now."""
    e = dep.allocation.entry(year, org)
    tid = cea_id(year)
    lower = {a.lower() for a in accounts}
    issued = [{"to": lg.event.to, "amount_t": int(lg.event.amount), "ref": _hex(lg.event.ref), "tx_hash": lg.tx_hash,
               "block": lg.block_number}
              for lg in dep.assets.get_logs(Issued, _start(dep), id=tid) if lg.event.to.lower() in lower]
    held = sum(int(b) for b in dep.assets.balanceOfBatch(accounts, [tid] * len(accounts))) if accounts else 0
    return {"asset": f"CEA-{year}", "asset_id": str(tid), "pre_allocation_t": int(e.preAllocation),
            "final_allocation_t": int(e.finalAllocation), "final_issued_t": int(e.finalIssued), "clawed_back_t": int(e.clawedBack),
            "deduction_t": int(e.deduction), "finalised": bool(e.finalised), "issued_t": sum(i["amount_t"] for i in issued),
            "issued": issued, "held_t": held}


def _prefixes(dep: Deployment) -> dict[bytes, str]:
    """Serial prefix text by its keccak-256 (CCERRegistry ``BatchIssued``)."""
    return {keccak256(lg.event.serialPrefix.encode()): lg.event.serialPrefix for lg in dep.ccer.get_logs(BatchIssued, _start(dep))}


def _serials(prefixes: dict[bytes, str], prefix_hash: bytes, start: int, end: int) -> str | None:
    if not start:
        return None
    return f"{prefixes.get(bytes(prefix_hash), '0x' + bytes(prefix_hash).hex() + ':')}{start} to {end}"


def ccer(dep: Deployment, org: bytes, year: int, accounts: list[str], held: list[dict[str, Any]]) -> dict[str, Any]:
    """CCER of the enterprise: ``held`` (per asset, tCO2e), ``surrendered`` for ``year``'s compliance
    (SerialsSurrendered runs in the transactions of Compliance ``Surrendered`` with isCcer), and
    ``retired`` (注销) by its accounts (RetirementCertified certificates), each with serial range and tx."""
    prefixes = _prefixes(dep)
    txs = {lg.tx_hash for lg in dep.compliance.get_logs(ComplianceSurrendered, _start(dep), year=year, enterprise=org)
           if lg.event.isCcer}
    surrendered = []
    for a in accounts:
        for lg in dep.ccer.get_logs(SerialsSurrendered, _start(dep), holder=a):
            if lg.tx_hash in txs:
                e = lg.event
                surrendered.append({"asset": _asset_name(int(e.assetId)), "batch_id": int(e.batchId), "amount_t": int(e.amount),
                                    "serials": _serials(prefixes, e.serialPrefix, int(e.serialStart), int(e.serialEnd)),
                                    "holder": e.holder, "tx_hash": lg.tx_hash, "block": lg.block_number})
    retired = []
    for lg in sorted((lg for a in accounts for lg in dep.ccer.get_logs(RetirementCertified, _start(dep), holder=a)),
                     key=lambda lg: (lg.block_number, lg.log_index)):
        e = lg.event
        c = e.cert
        retired.append({"certificate_id": int(e.certificateId), "asset": _asset_name(int(e.assetId)), "batch_id": int(c.batchId),
                        "amount_t": int(c.amount), "serials": _serials(prefixes, c.serialPrefix, int(c.serialStart), int(c.serialEnd)),
                        "beneficiary": c.beneficiary, "purpose": c.purpose, "retired_at": int(c.retiredAt), "holder": e.holder,
                        "tx_hash": lg.tx_hash, "block": lg.block_number})
    return {"held": [h for h in held if h["asset_class"] == "CCER"], "held_t": sum(h["quantity_t"] for h in held if h["asset_class"] == "CCER"),
            "surrendered": surrendered, "surrendered_t": sum(s["amount_t"] for s in surrendered),
            "retired": retired, "retired_t": sum(r["amount_t"] for r in retired)}


def trades(dep: Deployment, year: int, accounts: list[str]) -> dict[str, Any]:
    """Trades settled (Settlement ``TradeSettled``) where an account of the enterprise is seller or
    buyer, in CEA of vintage ``year`` or in any CCER (the units usable for this compliance year):
    trade id, side, asset, quantity (tCO2e), price and value (fen), block time (UTC s), tx hash."""
    lower = {a.lower() for a in accounts}
    out = []
    times: dict[int, int] = {}
    logs = {(lg.block_number, lg.log_index): lg for a in accounts for side in ("seller", "buyer")
            for lg in dep.settlement.get_logs(TradeSettled, _start(dep), **{side: a})}
    for _, lg in sorted(logs.items()):
        e = lg.event
        sell, buy = e.seller.lower() in lower, e.buyer.lower() in lower
        if not (sell or buy):
            continue
        tid = int(e.assetId)
        try:
            a = parse_asset_id(tid)
        except MalformedAssetId:
            continue
        if not (a.asset_class is AssetClass.CCER or a.vintage == year):
            continue
        if lg.block_number not in times:
            times[lg.block_number] = int(dep.client.rpc("eth_getBlockByNumber", hex(lg.block_number), False)["timestamp"], 16)
        out.append({"trade_id": _hex(e.tradeId), "side": "sell" if sell and not buy else "buy" if buy and not sell else "internal",
                    "asset": str(a), "quantity_t": int(e.quantity), "price_fen": int(e.priceFen), "value_fen": int(e.valueFen),
                    "counterparty": e.buyer if sell else e.seller, "settled_at": times[lg.block_number],
                    "tx_hash": lg.tx_hash, "block": lg.block_number})
    return {"trades": out, "bought_t": sum(t["quantity_t"] for t in out if t["side"] == "buy"),
            "sold_t": sum(t["quantity_t"] for t in out if t["side"] == "sell"),
            "paid_fen": sum(t["value_fen"] for t in out if t["side"] == "buy"),
            "received_fen": sum(t["value_fen"] for t in out if t["side"] == "sell")}


# ------------------------------------------------------------------ compliance
def compliance(dep: Deployment, org: bytes, year: int) -> dict[str, Any]:
    """The compliance position of the enterprise-year (Compliance.statusTable, the contract's rules:
    obligation 应清缴配额, CEA and CCER surrendered, CCER cap ⌊obligation × ccerCapBps / 10^4⌋ —
    5 % under 碳排放权交易管理办法（试行） Art. 29, china_rules.md §4 — shortfall, penalty range),
    the deadline with the citation the regulator published when opening the period, and the
    surrender transactions. ``{"opened": False}`` when no period of ``year`` is open.
    """
    p = dep.compliance.period(year)
    if not p.opened:
        return {"opened": False, "note": f"no compliance period opened for {year}"}
    [row] = dep.compliance.statusTable(year, [org])
    opened = [lg for lg in dep.compliance.get_logs(PeriodOpened, _start(dep), year=year)]
    cites = opened[-1].event.citations.as_json() if opened else {}
    surrenders = [{"asset": _asset_name(int(lg.event.assetId)), "amount_t": int(lg.event.amount), "ccer": bool(lg.event.isCcer),
                   "late": bool(lg.event.late), "holder": lg.event.holder, "tx_hash": lg.tx_hash, "block": lg.block_number}
                  for lg in dep.compliance.get_logs(ComplianceSurrendered, _start(dep), year=year, enterprise=org)]
    st = int(row.status)
    cap = int(row.ccerCap)
    return {"opened": True, "deadline": int(p.params.deadline), "deadline_citation": cites.get("deadline", ""),
            "ccer_cap_citation": cites.get("ccerCap", ""), "opened_tx": opened[-1].tx_hash if opened else None,
            "counts_purchased_electricity": bool(p.params.countsPurchasedElectricity),
            "emissions_t": int(row.emissionsT), "allocation_t": int(row.allocationT), "allocation_final": bool(row.allocationFinal),
            "obligation_t": int(row.obligation), "cea_surrendered_t": int(row.ceaSurrendered),
            "ccer_surrendered_t": int(row.ccerSurrendered), "surrendered_t": int(row.ceaSurrendered) + int(row.ccerSurrendered),
            "ccer_cap_t": cap, "ccer_cap_bps": int(p.params.ccerCapBps),
            "ccer_cap_used": (int(row.ccerSurrendered) / cap) if cap else None, "shortfall_t": int(row.shortfall),
            "status": COMPLIANCE_STATUS[st] if st < len(COMPLIANCE_STATUS) else str(st),
            "penalty_min_fen": int(row.penaltyMinFen), "penalty_max_fen": int(row.penaltyMaxFen), "price_fen": int(p.priceFen),
            "surrenders": surrenders}


#: GreenCertificates technology codes (contracts/GreenCertificates.sol ``Issuance.technology``).
TECHNOLOGY = {1: "wind", 2: "solar", 3: "hydro", 4: "other renewables"}


def green_certificates(dep: Deployment, org: bytes, year: int, accounts: list[str]) -> dict[str, Any]:
    """Green electricity certificates (绿证, 1 certificate = 1 MWh) of the enterprise.

    Returns: ``items``: each retirement (注销) by the enterprise against its purchased electricity
    of a month of ``year`` — retirement id, issuance id, plant device, technology, vintage month,
    serial range, MWh, period month, beneficiary, holder, tx hash (GreenCertificates
    ``CertificatesRetired`` filtered by the indexed ``enterpriseOrg``); ``retired_mwh`` and
    ``retired_mwh_by_month`` (month → MWh); ``held``: certificates the accounts hold now (per
    issuance, from ``CertificatesTransferred`` / ``CertificatesIssued`` to them and ``balanceOf``);
    ``held_mwh``. Certificates lower market-based scope 2 only; they are not offsets and back no
    neutrality claim (issue 13). ``deployed`` False when the deployment has no GreenCertificates.
    """
    if GEC_CONTRACT not in dep.c:
        return {"deployed": False, "note": "no green-certificate registry deployed", "items": []}
    gc = dep.certificates
    issuances: dict[int, Any] = {}

    def _iss(i: int) -> Any:
        if i not in issuances:
            issuances[i] = gc.issuance(i)
        return issuances[i]

    items = []
    by_month: dict[int, int] = defaultdict(int)
    for lg in gc.get_logs(CertificatesRetired, _start(dep), enterpriseOrg=org):
        e = lg.event
        if int(e.year) != year:
            continue
        iss = _iss(int(e.issuanceId))
        mwh = int(e.lastSerial) - int(e.firstSerial) + 1
        by_month[int(e.month)] += mwh
        items.append({"retirement_id": int(e.retirementId), "issuance_id": int(e.issuanceId), "plant_device": _hex(iss.device),
                      "technology": TECHNOLOGY.get(int(iss.technology), str(iss.technology)),
                      "vintage": f"{int(iss.year):04d}-{int(iss.month):02d}", "first_serial": int(e.firstSerial),
                      "last_serial": int(e.lastSerial), "mwh": mwh, "period": f"{year:04d}-{int(e.month):02d}", "month": int(e.month),
                      "beneficiary": _hex(e.beneficiary), "holder": e.holder, "tx_hash": lg.tx_hash, "block": lg.block_number})
    lower = {a.lower() for a in accounts}
    ids = {int(lg.event.issuanceId) for a in accounts for lg in gc.get_logs(CertificatesTransferred, _start(dep), to=a)}
    ids |= {int(lg.event.issuanceId) for lg in gc.get_logs(CertificatesIssued, _start(dep)) if lg.event.to.lower() in lower}
    held = []
    for i in sorted(ids):
        n = sum(int(gc.balanceOf(i, a)) for a in accounts)
        if n:
            iss = _iss(i)
            held.append({"issuance_id": i, "plant_device": _hex(iss.device), "technology": TECHNOLOGY.get(int(iss.technology), str(iss.technology)),
                         "vintage": f"{int(iss.year):04d}-{int(iss.month):02d}", "mwh": n})
    total = sum(by_month.values())
    note = (f"{total:,} MWh retired against purchased electricity of {year} in {len(items)} retirements; {sum(h['mwh'] for h in held):,} MWh held"
            if items or held else f"no green certificates held or retired for {year}")
    return {"deployed": True, "note": note, "items": items, "retired_mwh": total,
            "retired_mwh_by_month": {str(m): v for m, v in sorted(by_month.items())}, "held": held,
            "held_mwh": sum(h["mwh"] for h in held)}


def neutrality_claims(dep: Deployment, org: bytes, year: int, utc_offset_s: int) -> dict[str, Any]:
    """Carbon-neutrality claims (碳中和声明, ISO 14068-1 / PAS 2060) the enterprise declared whose
    period overlaps ``year`` (calendar year in the enterprise's local time): each claim as
    :meth:`ledger.offsets.claims.ClaimView.as_json` (covered records, backing CCER retirements with
    serials, status) plus ``page``, the public page that verifies it. ``deployed`` False when the
    deployment has no NeutralityClaims."""
    if CLAIMS_CONTRACT not in dep.c:
        return {"deployed": False, "note": "no claims: no neutrality-claim registry deployed", "items": []}
    start = int(datetime(year, 1, 1, tzinfo=timezone.utc).timestamp()) - utc_offset_s
    end = int(datetime(year + 1, 1, 1, tzinfo=timezone.utc).timestamp()) - utc_offset_s
    items = [{**c.as_json(), "page": f"/portal/claims/{c.claim_id}"} for c in claims_of(dep, org)
             if c.period_start < end and c.period_end > start]
    note = (f"{len(items)} claim(s) for periods in {year}" if items else f"no claims declared for periods in {year}")
    return {"deployed": True, "note": note, "items": items}


def build_account(dep: Deployment, org: bytes, year: int) -> dict[str, Any]:
    """The carbon account of enterprise ``org`` (bytes32 org id) for compliance year ``year``.

    Returns (JSON-ready): ``enterprise`` (:func:`enterprise`), ``year``, ``emissions``
    (:func:`emissions`), ``holdings``, ``allowances``, ``ccer``, ``trades``, ``compliance``,
    ``deadlines`` (the compliance deadline first when a period is open, then
    :func:`ledger.account.deadlines.reporting_deadlines`), ``green_certificates``
    (:func:`green_certificates`) and ``neutrality_claims`` (:func:`neutrality_claims`), and ``as_of_block``.

    Raises:
        UnknownEnterprise: ``org`` is not an admitted enterprise.
        ValueError: ``year`` outside 1971–9999.
    """
    if not 1971 <= year <= 9999:
        raise ValueError(f"year must be 1971–9999, got {year}")
    block = int(dep.client.rpc("eth_blockNumber"), 16)
    ent = enterprise(dep, org)
    accounts = ent["accounts"]
    held = holdings(dep, accounts)
    comp = compliance(dep, org, year)
    deadlines = []
    if comp["opened"]:
        deadlines.append({"what": f"compliance (清缴) {year}", "due": comp["deadline"], "citation": comp["deadline_citation"]})
    deadlines += reporting_deadlines(year, ent["utc_offset_s"])
    return {"enterprise": ent, "year": year, "as_of_block": block, "emissions": emissions(dep, org, year), "holdings": held,
            "allowances": allowances(dep, org, year, accounts), "ccer": ccer(dep, org, year, accounts, held),
            "trades": trades(dep, year, accounts), "compliance": comp, "deadlines": deadlines,
            "green_certificates": green_certificates(dep, org, year, accounts),
            "neutrality_claims": neutrality_claims(dep, org, year, ent["utc_offset_s"])}
