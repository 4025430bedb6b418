"""The annual emissions report (年度排放报告) of an enterprise-year, assembled from its CONFIRMED
records on-chain, plus the client-side helpers of the declared-data paths.

Report shape (every number is an int or an exact decimal string; no floats, no timestamps, so
the canonical JSON — and its hash — is a pure function of the chain state)::

    {
      "schema": "carbonledger/annual-report/v1",
      "chain_id": int, "emissions_registry": "0x…", "enterprise": "0x<org id>", "year": int,
      "lines": [ {                                     # one per (category, subject)
          "category": "fuel_combustion" | "purchased_electricity" | "purchased_heat",
          "subject": "COAL" | "0x<device id>" | …,  "scope": 1 | 2, "scope_label": "direct" | "indirect",
          "gas": "CO2", "acquisition_method": "calculation" | "online_monitoring",
          "activity_data": {"amount": int, "unit": "Wh" | "MJ", "display": "12.345 MWh"},
          "fuel_consumption": {"amount": int, "unit": "t×1000", "display": "1.234 t"} | absent,
                                                   # (sums the months declared with FC, recordFuelCombustion)
          "emissions_kgco2": int, "emissions_tco2e": "1.234",
          "months": [ {"record_id", "month", "activity_data", "factor": {…, "factor_set_id", "citation"},
                       "emissions_kgco2", "emissions_tco2e", "defaults_used": [...]} ] } ],
      "outputs": {"electricity_supplied_wh": int, "heat_supplied_mj": int},
      "totals": {"scope1_kgco2", "scope2_kgco2", "total_kgco2" (ints), "scope1_tco2e", "scope2_tco2e",
                 "total_tco2e" (3-decimal strings), "confirmed_records": int,
                 "chain_confirmed_kgco2": int, "matches_chain": bool},
      "coverage": {"confirmed_months": [1..12], "missing_months": [...], "annual_record_ids": [...]},
      "not_confirmed": [{"record_id", "month", "activity_type", "status"}],
      "report_hash": "0x<sha256 of the canonical JSON of everything else>"
    }

Tags (DESIGN.md §6; GB/T 32150): fuel combustion is scope 1 (direct); purchased electricity and
purchased heat are scope 2 (indirect). Acquisition method: ``online_monitoring`` for anchored meter
data, ``calculation`` for declared data (EmissionsRegistry.acquisitionMethod). The emissions
figures are the contract's (integer kgCO2); tonnes are exact kg / 1000 with 3 decimals (DESIGN.md §5).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledger.accounting.emissions import (
    DEFAULT_CC,
    DEFAULT_NCV,
    DEFAULT_OF,
    EF_SCALE,
    FUEL_CC_SCALE,
    FUEL_CONSUMPTION_SCALE,
    FUEL_FACTOR_SCALE,
    FUEL_NCV_SCALE,
    FUEL_OF_SCALE,
    HEAT_EF_SCALE,
    kg_to_tonnes,
)
from ledger.chain.client import Call
from ledger.contracts._generated.emission_factor_registry import FactorSetPublished
from ledger.contracts._generated.emissions_registry import ActivityRecorded
from ledger.contracts.deployment import Deployment
from ledger.crypto.primitives import keccak256
from ledger.records import queries as records

SCHEMA = "carbonledger/annual-report/v1"
#: EmissionsRegistry.ActivityType values.
PURCHASED_ELECTRICITY, ELECTRICITY_SUPPLIED, HEAT_SUPPLIED, FUEL_COMBUSTION, PURCHASED_HEAT = 1, 2, 3, 4, 5
ACTIVITY_NAMES = {1: "purchased_electricity", 2: "electricity_supplied", 3: "heat_supplied", 4: "fuel_combustion",
                  5: "purchased_heat"}
#: EmissionsRegistry.AcquisitionMethod values.
METHOD_NAMES = {1: "calculation", 2: "online_monitoring"}
#: category → (scope, label). GB/T 32150 / DESIGN.md §6.
SCOPES = {"fuel_combustion": (1, "direct"), "purchased_electricity": (2, "indirect"), "purchased_heat": (2, "indirect")}


# ------------------------------------------------------------------ formatting helpers
def _dec(value: int, scale: int, places: int | None = None) -> str:
    """``value / scale`` as an exact decimal string (trailing zeros kept to ``places`` if given)."""
    d = Decimal(value) / Decimal(scale)
    if places is not None:
        return str(d.quantize(Decimal(1).scaleb(-places)))
    return format(d.normalize(), "f")


def subject_text(b: bytes) -> str:
    """A bytes32 subject as text if it is a right-zero-padded printable ASCII code (fuel codes such
    as ``bytes32("COAL")``), else ``0x`` hex."""
    raw = bytes(b).rstrip(b"\0")
    if raw and len(raw) < 32 and all(0x20 < c < 0x7f for c in raw):
        return raw.decode()
    return "0x" + bytes(b).hex()


def fuel_code(text: str) -> bytes:
    """``bytes32(text)`` as Solidity pads a short string literal (right-zero-padded ASCII, ≤ 32 bytes).

    Raises:
        ValueError: if ``text`` is empty, longer than 32 bytes or not printable ASCII.
    """
    raw = text.encode("ascii", errors="strict") if text.isascii() else b""
    if not raw or len(raw) > 32 or not all(0x20 < c < 0x7f for c in raw):
        raise ValueError(f"fuel code must be 1..32 printable ASCII characters, got {text!r}")
    return raw.ljust(32, b"\0")


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8. Raises TypeError on a float or a
    non-JSON value (decimals travel as exact strings)."""
    _check_no_float(obj)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _check_no_float(obj: Any) -> None:
    if isinstance(obj, float):
        raise TypeError("floats are not allowed in a canonical report")
    if isinstance(obj, dict):
        for v in obj.values():
            _check_no_float(v)
    elif isinstance(obj, list):
        for v in obj:
            _check_no_float(v)


def report_hash(report: dict[str, Any]) -> str:
    """``0x`` + SHA-256 of the canonical JSON of ``report`` without its ``report_hash`` key — the
    hash a verifier attests (EmissionsRegistry.attest ``verificationReportHash``)."""
    body = {k: v for k, v in report.items() if k != "report_hash"}
    return "0x" + hashlib.sha256(canonical_json(body)).hexdigest()


# ------------------------------------------------------------------ chain reads
@dataclass
class _FactorSets:
    dep: Deployment

    def __post_init__(self) -> None:
        self._cache: dict[int, dict[str, Any]] = {}

    def get(self, set_id: int) -> dict[str, Any] | None:
        """``{"factor_set_id", "citation", "label", "citation_matches_chain"}`` from the set's
        FactorSetPublished event (checked against the stored citation hash), None for id 0."""
        if set_id == 0:
            return None
        if set_id not in self._cache:
            f = self.dep.factors
            logs = f.get_logs(FactorSetPublished, self.dep.manifest["deployment_block"], factorSetId=set_id)
            chash = f.factorSet(set_id).citationHash
            citation = logs[0].event.citation if logs else ""
            self._cache[set_id] = {"factor_set_id": set_id, "citation": citation,
                                   "label": logs[0].event.label if logs else "",
                                   "citation_matches_chain": bool(logs) and keccak256(citation.encode()) == chash}
        return self._cache[set_id]


def _record_rows(dep: Deployment, enterprise: str, year: int) -> list[dict[str, Any]]:
    return list(records.iter_records(dep, enterprise=enterprise, year=year))


def fuel_parameters(dep: Deployment, record_id: int) -> dict[str, int]:
    """EmissionsRegistry.fuelParameters as a dict (consumption, ncv, carbonContent, oxidationRate,
    defaultsMask); all zero for a record not made by recordFuelCombustion."""
    return dep.emissions.fuelParameters(record_id).as_dict()


# ------------------------------------------------------------------ the report
def _month_entry(dep: Deployment, sets: _FactorSets, r: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """One confirmed record as a month entry of its line; also returns the FC (t × 1000, 0 if none)."""
    at, rid = int(r["activityType"]), int(r["record_id"])
    amount, fv, kg = int(r["activityAmount"]), int(r["factorValue"]), int(r["emissionsKg"])
    fs = sets.get(int(r["factorSetId"]))
    entry: dict[str, Any] = {"record_id": rid, "month": int(r["month"]), "emissions_kgco2": kg,
                             "emissions_tco2e": str(kg_to_tonnes(kg)), "defaults_used": [],
                             "evidence_hash": r["evidenceHash"], "verification_report_hash": r["verificationReportHash"]}
    consumption = 0
    if at == PURCHASED_ELECTRICITY:
        gap = dep.emissions.recordGap(rid)   # issue 12: amount = metered Wh + the declared gap's substitute
        entry["activity_data"] = {"amount": amount, "unit": "Wh", "display": f"{_dec(amount, 10**6, 3)} MWh",
                                  "batches": int(r["batches"]), "readings": int(r["readings"]),
                                  "metered_wh": int(gap.meteredWh) if gap.dayMask else amount,
                                  "substitute_wh": int(gap.substituteWh),
                                  "gap_days": [d + 1 for d in range(31) if gap.dayMask >> d & 1]}
        entry["factor"] = {"name": "EF_grid", "value": _dec(fv, EF_SCALE), "unit": "tCO2/MWh", **(fs or {})}
    elif at == PURCHASED_HEAT:
        entry["activity_data"] = {"amount": amount, "unit": "MJ", "display": f"{_dec(amount, 1000, 3)} GJ"}
        entry["factor"] = {"name": "EF_heat", "value": _dec(fv, HEAT_EF_SCALE), "unit": "tCO2/GJ", **(fs or {})}
    else:  # FUEL_COMBUSTION
        p = fuel_parameters(dep, rid)
        entry["activity_data"] = {"amount": amount, "unit": "MJ", "display": f"{_dec(amount, 1000, 3)} GJ"}
        factor: dict[str, Any] = {"name": "CC×OF×44/12", "value": _dec(fv, FUEL_FACTOR_SCALE), "unit": "kgCO2/GJ", **(fs or {})}
        if p["consumption"]:
            consumption = p["consumption"]
            mask = p["defaultsMask"]
            entry["method"] = "FC × NCV × CC × OF × 44/12"
            entry["fuel_consumption"] = {"amount": consumption, "unit": "t×1000",
                                         "display": f"{_dec(consumption, FUEL_CONSUMPTION_SCALE, 3)} t"}
            factor["ncv"] = {"value": _dec(p["ncv"], FUEL_NCV_SCALE), "unit": "GJ/t",
                             "source": "default" if mask & DEFAULT_NCV else "measured"}
            factor["carbon_content"] = {"value": _dec(p["carbonContent"], FUEL_CC_SCALE), "unit": "tC/GJ",
                                        "source": "default" if mask & DEFAULT_CC else "measured"}
            factor["oxidation_rate"] = {"value": _dec(p["oxidationRate"], FUEL_OF_SCALE), "unit": "1",
                                        "source": "default" if mask & DEFAULT_OF else "measured"}
            entry["defaults_used"] = [n for b, n in ((DEFAULT_NCV, "ncv"), (DEFAULT_CC, "carbon_content"),
                                                     (DEFAULT_OF, "oxidation_rate")) if mask & b]
        else:
            entry["method"] = "heat input × fuel CO2 factor"
        entry["factor"] = factor
    return entry, consumption


def annual_report(dep: Deployment, enterprise: bytes | str, year: int) -> dict[str, Any]:
    """Assemble the annual report of ``enterprise`` (org id, bytes32 or 0x hex) for ``year`` from
    its Confirmed records (see the module docstring for the shape). Records in any other status
    are listed under ``not_confirmed`` (amended versions left out) and never counted.

    Raises:
        ValueError: if ``year`` is outside 1971..9999 or the enterprise id is not 32 bytes.
        ChainError: if the node cannot be read.
    """
    org = enterprise if isinstance(enterprise, str) else "0x" + bytes(enterprise).hex()
    if len(bytes.fromhex(org[2:])) != 32:
        raise ValueError(f"enterprise must be a 32-byte org id, got {org!r}")
    if not 1971 <= year <= 9999:
        raise ValueError(f"year must be 1971..9999, got {year}")
    org = org.lower()
    sets = _FactorSets(dep)
    rows = _record_rows(dep, org, year)
    lines: dict[tuple[str, str], dict[str, Any]] = {}
    outputs = {"electricity_supplied_wh": 0, "heat_supplied_mj": 0}
    monthly: set[int] = set()
    annual_ids: list[int] = []
    not_confirmed: list[dict[str, Any]] = []
    confirmed = 0
    for r in rows:
        at = int(r["activityType"])
        if r["status"] != "confirmed":
            if int(r["amendedBy"]) == 0:
                not_confirmed.append({"record_id": r["record_id"], "month": int(r["month"]),
                                      "activity_type": ACTIVITY_NAMES.get(at, str(at)), "status": r["status"]})
            continue
        confirmed += 1
        (annual_ids.append(r["record_id"]) if int(r["month"]) == 0 else monthly.add(int(r["month"])))
        if at == ELECTRICITY_SUPPLIED:
            outputs["electricity_supplied_wh"] += int(r["activityAmount"])
            continue
        if at == HEAT_SUPPLIED:
            outputs["heat_supplied_mj"] += int(r["activityAmount"])
            continue
        cat = ACTIVITY_NAMES[at]
        subject = subject_text(bytes.fromhex(r["device"][2:]))
        method = METHOD_NAMES[2 if int(r["source"]) in records.METER_SOURCES else 1]
        line = lines.get((cat, subject))
        if line is None:
            scope, label = SCOPES[cat]
            line = lines[(cat, subject)] = {
                "category": cat, "subject": subject, "scope": scope, "scope_label": label, "gas": "CO2",
                "acquisition_method": method,
                "activity_data": {"amount": 0, "unit": "Wh" if at == PURCHASED_ELECTRICITY else "MJ"},
                "emissions_kgco2": 0, "months": []}
        elif line["acquisition_method"] != method:
            line["acquisition_method"] = "mixed"
        entry, consumption = _month_entry(dep, sets, r)
        line["months"].append(entry)
        line["activity_data"]["amount"] += int(r["activityAmount"])
        line["emissions_kgco2"] += int(r["emissionsKg"])
        if consumption:
            fc = line.setdefault("fuel_consumption", {"amount": 0, "unit": "t×1000"})
            fc["amount"] += consumption
    out_lines = []
    for key in sorted(lines, key=lambda k: (SCOPES[k[0]][0], k[0], k[1])):
        line = lines[key]
        ad = line["activity_data"]
        ad["display"] = (f"{_dec(ad['amount'], 10**6, 3)} MWh" if ad["unit"] == "Wh" else f"{_dec(ad['amount'], 1000, 3)} GJ")
        if "fuel_consumption" in line:
            line["fuel_consumption"]["display"] = f"{_dec(line['fuel_consumption']['amount'], FUEL_CONSUMPTION_SCALE, 3)} t"
        line["emissions_tco2e"] = str(kg_to_tonnes(line["emissions_kgco2"]))
        line["months"].sort(key=lambda m: (m["month"], m["record_id"]))
        out_lines.append(line)
    s1 = sum(ln["emissions_kgco2"] for ln in out_lines if ln["scope"] == 1)
    s2 = sum(ln["emissions_kgco2"] for ln in out_lines if ln["scope"] == 2)
    totals = dep.emissions.confirmedTotals(bytes.fromhex(org[2:]), year)
    chain_kg, chain_n = totals.emissionsKgTotal, totals.confirmedRecords
    report: dict[str, Any] = {
        "schema": SCHEMA, "chain_id": int(dep.client.chain_id), "emissions_registry": dep.emissions.address,
        "enterprise": org, "year": year, "lines": out_lines, "outputs": outputs,
        "totals": {"scope1_kgco2": s1, "scope2_kgco2": s2, "total_kgco2": s1 + s2,
                   "scope1_tco2e": str(kg_to_tonnes(s1)), "scope2_tco2e": str(kg_to_tonnes(s2)),
                   "total_tco2e": str(kg_to_tonnes(s1 + s2)), "confirmed_records": confirmed,
                   "chain_confirmed_kgco2": int(chain_kg), "chain_confirmed_records": int(chain_n),
                   "matches_chain": int(chain_kg) == s1 + s2 and int(chain_n) == confirmed},
        "coverage": {"confirmed_months": sorted(monthly), "missing_months": [m for m in range(1, 13) if m not in monthly],
                     "annual_record_ids": annual_ids},
        "not_confirmed": not_confirmed,
    }
    report["report_hash"] = report_hash(report)
    return report


# ------------------------------------------------------------------ declared-data transactions
@dataclass(frozen=True)
class FuelDeclaration:
    """A fuel-combustion declaration (EmissionsRegistry.FuelDeclaration): FC t × 1000; NCV GJ/t × 1e6;
    CC tC/GJ × 1e9; OF × 1e6 (0 = factor-set default for NCV, CC, OF)."""

    fuel: bytes
    year: int
    month: int
    consumption: int
    ncv: int
    carbon_content: int
    oxidation_rate: int
    factor_set_id: int
    evidence_hash: bytes
    amends: int = 0

    def as_tuple(self) -> tuple[Any, ...]:
        """ABI tuple in the struct's field order."""
        return (self.fuel, self.year, self.month, self.consumption, self.ncv, self.carbon_content, self.oxidation_rate,
                self.factor_set_id, self.evidence_hash, self.amends)


def record_fuel(dep: Deployment, sender: str, d: FuelDeclaration, submit: bool = True) -> int:
    """Send recordFuelCombustion (and, with ``submit``, submit it); returns the record id.

    Raises:
        ContractRevert: the contract refuses (pre-flight), e.g. ``InvalidOxidationRate``.
    """
    em = dep.emissions.functions
    res = dep.client.send([Call.of(em.recordFuelCombustion(d.as_tuple()), sender, f"fuel {d.year}-{d.month:02d}")])[0]
    rid = int(dep.emissions.decode_events(res, ActivityRecorded)[0].recordId)
    if submit:
        dep.client.send([Call.of(em.submit(rid), sender, f"submit {rid}")])
    return rid


def record_purchased_heat(dep: Deployment, sender: str, supplier: bytes, year: int, month: int, heat_mj: int,
                          factor_set_id: int, evidence_hash: bytes, amends: int = 0, submit: bool = True) -> int:
    """Send recordDeclared(PurchasedHeat, …) — heat in MJ, the factor set's EF_heat — and, with
    ``submit``, submit it; returns the record id.

    Raises:
        ContractRevert: the contract refuses (pre-flight), e.g. ``FactorMissing``.
    """
    em = dep.emissions.functions
    res = dep.client.send([Call.of(em.recordDeclared(PURCHASED_HEAT, supplier, year, month, heat_mj, factor_set_id,
                                                     evidence_hash, amends), sender, f"heat {year}-{month:02d}")])[0]
    rid = int(dep.emissions.decode_events(res, ActivityRecorded)[0].recordId)
    if submit:
        dep.client.send([Call.of(em.submit(rid), sender, f"submit {rid}")])
    return rid
