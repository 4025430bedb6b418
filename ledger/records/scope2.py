"""Dual reporting of purchased electricity (scope 2): location-based and market-based, per month.

GHG Protocol Scope 2 Guidance (2015) asks for both figures of the same purchased electricity:

* **location-based**: the grid-average factor — here the Confirmed EmissionsRegistry records'
  ``emissionsKg`` as on chain (AD Wh × GRID_EF of the enterprise-year's assigned factor set,
  ⌊Wh × EF / 10^7 + ½⌋ per record, DESIGN.md §5/§6);
* **market-based**: electricity covered by retired green certificates (GreenCertificates.retire,
  1 certificate = 1 MWh, UNCONFIRMED) at 0 kgCO2, the rest at the residual-mix factor
  ``RESIDUAL_EF`` of the same assigned factor set: ``⌊(purchased Wh − covered Wh) × RESIDUAL_EF /
  10^7 + ½⌋`` per month, the contract's rounding (:func:`ledger.accounting.emissions.emissions_kg`).

No official Chinese residual-mix factor exists in china_rules.md (UNCONFIRMED): when the assigned set
holds no ``RESIDUAL_EF`` the market-based figure is ``None`` with the note "no residual factor
published" — never a guessed number. "Confirmed purchased electricity" is the contract's rule
(GreenCertificates.confirmedPurchaseWh): the Confirmed records of the enterprise-year's enrolled
PurchasedElectricity sources, so the figures here are the ones the retire cap used. The contract
computes the same market-based figure on chain (GreenCertificates.marketBasedKg, over the records
of GreenCertificates.purchaseRecords), which NeutralityClaims uses as a claim's floor.
"""

from __future__ import annotations

from typing import Any

from ledger.accounting.emissions import emissions_kg, residual_ef_code
from ledger.contracts._generated.green_certificates import CertificatesRetired
from ledger.contracts.deployment import Deployment

#: EmissionsRegistry.ActivityType.PurchasedElectricity and Status.Confirmed.
PURCHASED_ELECTRICITY, CONFIRMED = 1, 5
#: The deployment's GreenCertificates contract name (ledger/contracts/deployment.py MARKET_CONTRACTS).
GEC_CONTRACT = "GreenCertificates"
#: Decimal scale RESIDUAL_EF must have (FactorCodes.GRID_EF_SCALE: kgCO2/kWh × 1e4).
RESIDUAL_EF_DECIMALS = 4
NO_RESIDUAL = "no residual factor published"
NO_FACTOR_SET = "no factor set assigned to the enterprise-year"


def residual_factor(dep: Deployment, factor_set_id: int, block: str = "latest") -> int | None:
    """RESIDUAL_EF of factor set ``factor_set_id`` in kgCO2/kWh × 1e4, or None when the set (0 = none)
    holds none.

    Raises:
        ValueError: the set holds it at another scale than 4 (EmissionFactorRegistry refuses that).
    """
    code = residual_ef_code()
    if factor_set_id == 0 or not dep.factors.hasFactor(factor_set_id, code, block=block):
        return None
    f = dep.factors.factor(factor_set_id, code, block=block)
    if int(f.scale) != RESIDUAL_EF_DECIMALS:
        raise ValueError(f"factor set {factor_set_id}: RESIDUAL_EF at scale {f.scale}, not {RESIDUAL_EF_DECIMALS}")
    return int(f.value)


def _confirmed_records(dep: Deployment, org: bytes, year: int, block: str) -> dict[int, list[tuple[int, int, int]]]:
    """Month → [(record id, Wh, kgCO2)] of the Confirmed purchased-electricity records of the
    enterprise-year's enrolled sources (the rule of GreenCertificates.confirmedPurchaseWh)."""
    em = dep.emissions
    out: dict[int, list[tuple[int, int, int]]] = {m: [] for m in range(1, 13)}
    for src in em.enrolledSources(org, year, block=block):
        if int(src.activityType) != PURCHASED_ELECTRICITY:
            continue
        for m in range(1, 13):
            if not int(src.confirmedMonths) >> m & 1:
                continue
            rid = int(em.currentRecord(org, PURCHASED_ELECTRICITY, bytes(src.subject), year, m, block=block))
            if rid == 0:
                continue
            r = em.record(rid, block=block)
            if int(r.status) == CONFIRMED:
                out[m].append((rid, int(r.activityAmount), int(r.emissionsKg)))
    return out


def _retirements(dep: Deployment, org: bytes, year: int, block: int) -> dict[int, list[dict[str, Any]]]:
    """Month → the enterprise's GreenCertificates retirements of (year, month), from CertificatesRetired."""
    out: dict[int, list[dict[str, Any]]] = {m: [] for m in range(1, 13)}
    start = int(dep.manifest.get("deployment_block", 0))
    for lg in dep.certificates.get_logs(CertificatesRetired, start, block, enterpriseOrg=org):
        ev = lg.event
        if int(ev.year) != year or not 1 <= int(ev.month) <= 12:
            continue
        out[int(ev.month)].append({"retirement_id": int(ev.retirementId), "issuance_id": int(ev.issuanceId),
                                   "first_serial": int(ev.firstSerial), "last_serial": int(ev.lastSerial),
                                   "certificates": int(ev.lastSerial) - int(ev.firstSerial) + 1,
                                   "beneficiary": "0x" + bytes(ev.beneficiary).hex(), "tx_hash": lg.tx_hash})
    return out


def scope2_lines(dep: Deployment, enterprise_org: bytes, year: int) -> list[dict[str, Any]]:
    """Location-based and market-based scope 2 of ``enterprise_org`` (bytes32 org id) for each month
    1–12 of ``year``, read at one block.

    Returns 12 rows (JSON-ready), each::

        {"month": int, "purchased_wh": int (Confirmed purchased electricity, Wh),
         "record_ids": [int] (the Confirmed EmissionsRegistry records counted),
         "location_kg": int (Σ their emissionsKg, kgCO2, as on chain),
         "covered_wh": int (GreenCertificates.coveredWh, Wh; 0 when no GreenCertificates is deployed),
         "retirements": [{"retirement_id", "issuance_id", "first_serial", "last_serial",
                          "certificates" (MWh), "beneficiary", "tx_hash"}],
         "factor_set_id": int (EmissionsRegistry.assignedFactorSet; 0 = none),
         "residual_ef": int | None (RESIDUAL_EF, kgCO2/kWh × 1e4),
         "market_kg": int | None (⌊(purchased − covered) Wh × RESIDUAL_EF / 10^7 + ½⌋ kgCO2),
         "note": str | None (why market_kg is None: "no residual factor published" or
                             "no factor set assigned to the enterprise-year")}

    Raises:
        ValueError: ``year`` outside 1971–9999, or the set's RESIDUAL_EF not at scale 4.
    """
    if not 1971 <= year <= 9999:
        raise ValueError(f"year must be 1971–9999, got {year}")
    number = int(dep.client.rpc("eth_blockNumber"), 16)
    block = hex(number)
    set_id = int(dep.emissions.assignedFactorSet(enterprise_org, year, block=block))
    residual = residual_factor(dep, set_id, block)
    note = NO_FACTOR_SET if set_id == 0 else (NO_RESIDUAL if residual is None else None)
    records = _confirmed_records(dep, enterprise_org, year, block)
    gec = GEC_CONTRACT in dep.c
    retired = _retirements(dep, enterprise_org, year, number) if gec else {m: [] for m in range(1, 13)}
    rows = []
    for m in range(1, 13):
        purchased = sum(wh for _, wh, _ in records[m])
        covered = int(dep.certificates.coveredWh(enterprise_org, year, m, block=block)) if gec else 0
        # covered ≤ purchased: the retire cap, and confirmed Wh never fall (Confirmed records are final,
        # enrolled sources are never removed); emissions_kg raises ValueError were it negative
        uncovered = purchased - covered
        rows.append({"month": m, "purchased_wh": purchased, "record_ids": [rid for rid, _, _ in records[m]],
                     "location_kg": sum(kg for _, _, kg in records[m]), "covered_wh": covered, "retirements": retired[m],
                     "factor_set_id": set_id, "residual_ef": residual,
                     "market_kg": None if residual is None else emissions_kg(uncovered, residual), "note": note})
    return rows

