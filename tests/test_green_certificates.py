"""GreenCertificates (issue 13) on a real Anvil: issuance from anchored MWh only with the Wh fraction
carried across months, refusals (beyond the anchored MWh, unanchored month, double issuance, bad
input), transfer between admitted accounts, retirement once (against Confirmed purchased electricity),
outsiders refused; and DeviceRegistry's meter serial unique across the ledger."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.chain.client import Call, ContractRevert
from ledger.crypto.primitives import Signer, keccak256, new_private_key
from ledger.identifiers import device_id, meter_serial_hash, org_id
from ledger.meter_data.reading import Reading
from oracles.quantities import GENERATION_POWER
from tests.conftest import USCC, World
from tests.helpers import as_tuple, confirm_purchase, report_for, sign_report

JAN = 1_451_602_800   # 2016-01-01T00:00:00+01:00 (enterprise2, the plant, is admitted at +01:00)
FEB = 1_454_281_200   # 2016-02-01T00:00:00+01:00
MAR = 1_456_786_800   # 2016-03-01T00:00:00+01:00
HOUR = 3_600
WIND = 1
BENEFICIARY = keccak256(b"Demo key emitting enterprise, purchased electricity 2007-01")


def refused(w: World, fn: Any, who: str, error: str) -> ContractRevert:
    """``who`` calling ``fn`` is refused (pre-flight) with custom error ``error``."""
    with pytest.raises(ContractRevert) as exc:
        w.client.preflight([Call.of(fn, w.acct[who])])
    assert exc.value.error == error, exc.value
    return exc.value


def _plant(w: World, calibrated_from: int = 1_420_070_400) -> bytes:
    """enterprise2's generation meter (quantity 16), calibrated from ``calibrated_from`` (UTC s;
    default 2015-01-01) to 2018-01-01."""
    dev = device_id(USCC["enterprise2"], "WIND-FARM-METER-1")
    w.tx(w.dep.devices.functions.registerDevice(dev, org_id(USCC["enterprise2"]), Signer(new_private_key()).address,
                                                GENERATION_POWER.code, meter_serial_hash("WIND-FARM-METER-1")), "enterprise2")
    w.tx(w.dep.devices.functions.recordCalibration(dev, calibrated_from, 1_514_764_800, keccak256(b"cal")), "calibration")
    return dev


def _anchor_hours(w: World, dev: bytes, start: int, end: int, watts: list[int], first_seq: int) -> int:
    """Anchor hourly readings from ``start`` as one batch over [start, end); returns its Wh."""
    readings = [Reading(dev, first_seq + i, start + HOUR * i, start + HOUR * (i + 1), GENERATION_POWER.code, v, 0, 0)
                for i, v in enumerate(watts)]
    digest = bytes(w.call(w.dep.anchor.functions.configDigest()))
    report, _ = report_for(readings, digest, start, end)
    sigs = sign_report(report, w.dep.domain.separator, [w.oracle_signer(i) for i in (1, 2, 3)])
    w.tx(w.dep.anchor.functions.anchor(as_tuple(report), sigs), "oracle-1")
    return report.total_wh


@pytest.fixture()
def plant(chain: World) -> tuple[World, bytes, int, int]:
    """The plant with January (2.7 MWh) and February (1.4 MWh) 2016 anchored."""
    dev = _plant(chain)
    jan = _anchor_hours(chain, dev, JAN, FEB, [1_350_000, 1_350_000], 1)
    feb = _anchor_hours(chain, dev, FEB, MAR, [1_400_000], 10)
    return chain, dev, jan, feb


def _issue(w: World, dev: bytes, month: int, index: int, certificates: int, who: str = "registry", to: str = "enterprise2") -> Any:
    return w.dep.certificates.functions.issue(dev, 2016, month, WIND, index, index, certificates, w.acct[to])


def test_generation_quantity_code_matches_the_oracle_table(chain: World) -> None:
    assert chain.dep.certificates.GENERATION_QUANTITY_CODE() == GENERATION_POWER.code
    assert chain.dep.certificates.WH_PER_CERTIFICATE() == 1_000_000


def test_issuance_from_anchored_mwh_carries_the_fraction_across_months(plant: tuple[World, bytes, int, int]) -> None:
    w, dev, jan, feb = plant
    gc = w.dep.certificates
    assert (jan, feb) == (2_700_000, 1_400_000)
    res = w.tx(_issue(w, dev, 1, 0, 2), "registry")
    ev = gc.decode_events(res, "MonthIssued")[0]
    assert (ev.anchoredWh, ev.certificates, ev.carriedWh) == (2_700_000, 2, 700_000)
    issued = gc.decode_events(res, "CertificatesIssued")[0]
    assert (issued.firstSerial, issued.lastSerial, issued.year, issued.month, issued.technology) == (1, 2, 2016, 1, WIND)
    assert gc.balanceOf(issued.issuanceId, w.acct["enterprise2"]) == 2
    # February: 1.4 MWh + 0.7 MWh carried = 2.1 MWh → 2 certificates, 0.1 MWh carried on
    refused(w, _issue(w, dev, 2, 1, 3), "registry", "ExceedsAnchoredEnergy")
    res = w.tx(_issue(w, dev, 2, 1, 2), "registry")
    ev = gc.decode_events(res, "MonthIssued")[0]
    assert (ev.anchoredWh, ev.certificates, ev.carriedWh) == (1_400_000, 2, 100_000)
    iss = gc.issuance(2)
    assert (iss.firstSerial, iss.lastSerial, iss.device, iss.plantOrg) == (3, 4, dev, org_id(USCC["enterprise2"]))
    p = gc.plant(dev)
    assert (p.carriedWh, p.lastYear, p.lastMonth, p.technology) == (100_000, 2016, 2, WIND)
    # every anchored Wh is either in a certificate or carried: 4.1 MWh = 4 certificates + 100,000 Wh
    assert 4 * 1_000_000 + p.carriedWh == jan + feb


def test_issuance_beyond_anchored_mwh_is_refused(plant: tuple[World, bytes, int, int]) -> None:
    w, dev, _, _ = plant
    e = refused(w, _issue(w, dev, 1, 0, 3), "registry", "ExceedsAnchoredEnergy")
    assert list(e.args_)[1:] == [3, 2_700_000]
    assert w.dep.certificates.issuanceCount() == 0


def test_issuance_for_an_unanchored_month_is_refused(plant: tuple[World, bytes, int, int]) -> None:
    w, dev, _, _ = plant
    # March has no batch: the only periods are January's and February's
    refused(w, _issue(w, dev, 3, 1, 0), "registry", "BatchOutsideWindow")
    refused(w, _issue(w, dev, 3, 2, 0), "registry", "InvalidBatchRange")


def test_double_issuance_is_refused(plant: tuple[World, bytes, int, int]) -> None:
    w, dev, _, _ = plant
    w.tx(_issue(w, dev, 1, 0, 2), "registry")
    refused(w, _issue(w, dev, 1, 0, 2), "registry", "MonthAlreadyIssued")
    refused(w, _issue(w, dev, 1, 0, 0), "registry", "MonthAlreadyIssued")
    w.tx(_issue(w, dev, 2, 1, 2), "registry")
    refused(w, _issue(w, dev, 1, 0, 1), "registry", "MonthBeforeLastIssued")
    assert w.dep.certificates.nextSerial() == 5


def test_issue_refuses_bad_input(plant: tuple[World, bytes, int, int]) -> None:
    w, dev, _, _ = plant
    gc = w.dep.certificates.functions
    refused(w, gc.issue(dev, 2016, 13, WIND, 0, 0, 1, w.acct["enterprise2"]), "registry", "InvalidPeriod")
    refused(w, gc.issue(dev, 2016, 1, 0, 0, 0, 1, w.acct["enterprise2"]), "registry", "InvalidTechnology")
    refused(w, gc.issue(dev, 2016, 1, WIND, 0, 0, 1, w.acct["enterprise"]), "registry", "RecipientNotPlantAccount")
    refused(w, gc.issue(w.device, 2016, 1, WIND, 0, 0, 1, w.acct["enterprise"]), "registry", "NotGenerationMeter")
    w.tx(_issue(w, dev, 1, 0, 2), "registry")
    refused(w, gc.issue(dev, 2016, 2, 2, 1, 1, 1, w.acct["enterprise2"]), "registry", "TechnologyMismatch")


def test_transfer_only_between_admitted_accounts(plant: tuple[World, bytes, int, int]) -> None:
    w, dev, _, _ = plant
    gc = w.dep.certificates
    w.tx(_issue(w, dev, 1, 0, 2), "registry")
    refused(w, gc.functions.transfer(1, w.acct["outsider"], 1), "enterprise2", "NotAdmitted")
    refused(w, gc.functions.transfer(1, w.acct["enterprise"], 3), "enterprise2", "InsufficientCertificates")
    refused(w, gc.functions.transfer(1, w.acct["enterprise"], 0), "enterprise2", "InvalidQuantity")
    refused(w, gc.functions.transfer(9, w.acct["enterprise"], 1), "enterprise2", "UnknownIssuance")
    res = w.tx(gc.functions.transfer(1, w.acct["enterprise"], 1), "enterprise2")
    ev = gc.decode_events(res, "CertificatesTransferred")[0]
    assert (ev.issuanceId, ev.quantity) == (1, 1)
    assert (gc.balanceOf(1, w.acct["enterprise"]), gc.balanceOf(1, w.acct["enterprise2"])) == (1, 1)


def test_retirement_once_only(plant: tuple[World, bytes, int, int]) -> None:
    w, dev, _, _ = plant
    gc = w.dep.certificates
    w.tx(_issue(w, dev, 1, 0, 2), "registry")
    w.tx(gc.functions.transfer(1, w.acct["enterprise"], 2), "enterprise2")
    # the enterprise's Confirmed purchased electricity of January and February 2007 (1 MWh each) is
    # what the retirements cover (the retire cap: tests/test_market_scope2.py)
    confirm_purchase(w, 1, 1_000_000)
    confirm_purchase(w, 2, 1_000_000)
    refused(w, gc.functions.retire(1, 1, 2007, 1, bytes(32)), "enterprise", "MissingBeneficiary")
    refused(w, gc.functions.retire(1, 1, 2007, 0, BENEFICIARY), "enterprise", "InvalidPeriod")
    res = w.tx(gc.functions.retire(1, 1, 2007, 1, BENEFICIARY), "enterprise")
    ev = gc.decode_events(res, "CertificatesRetired")[0]
    assert (ev.firstSerial, ev.lastSerial, ev.enterpriseOrg, ev.beneficiary) == (1, 1, org_id(USCC["enterprise"]), BENEFICIARY)
    res = w.tx(gc.functions.retire(1, 1, 2007, 2, BENEFICIARY), "enterprise")
    assert gc.decode_events(res, "CertificatesRetired")[0].firstSerial == 2     # the next serial, never serial 1 again
    # every certificate of the issuance is retired: a further retirement is refused
    refused(w, gc.functions.retire(1, 1, 2007, 1, BENEFICIARY), "enterprise", "InsufficientCertificates")
    assert gc.issuance(1).retired == 2
    r = gc.retirement(1)
    assert (r.issuanceId, r.holder, r.year, r.month) == (1, w.acct["enterprise"], 2007, 1)
    assert gc.retirementCount() == 2


def test_outsider_refused_on_every_mutating_function(plant: tuple[World, bytes, int, int]) -> None:
    w, dev, _, _ = plant
    gc = w.dep.certificates.functions
    w.tx(_issue(w, dev, 1, 0, 2), "registry")       # issuance 1 exists, so each refusal is the access check
    refused(w, _issue(w, dev, 2, 1, 1), "outsider", "NotActiveParticipant")
    refused(w, _issue(w, dev, 2, 1, 1), "enterprise2", "NotActiveParticipant")   # the plant cannot issue to itself
    refused(w, gc.transfer(1, w.acct["enterprise"], 1), "outsider", "NotAdmitted")
    refused(w, gc.retire(1, 1, 2007, 1, BENEFICIARY), "outsider", "NotActiveParticipant")
    refused(w, gc.retire(1, 1, 2007, 1, BENEFICIARY), "verifier", "NotActiveParticipant")


def test_duplicate_meter_serial_is_refused_across_enterprises(chain: World) -> None:
    w = chain
    d = w.dep.devices.functions
    serial = meter_serial_hash("ACME-GEN-0042")
    w.tx(d.registerDevice(device_id(USCC["enterprise"], "ACME-GEN-0042"), org_id(USCC["enterprise"]),
                          Signer(new_private_key()).address, 16, serial), "enterprise")
    e = refused(w, d.registerDevice(device_id(USCC["enterprise2"], "ACME-GEN-0042"), org_id(USCC["enterprise2"]),
                                    Signer(new_private_key()).address, 16, meter_serial_hash(" acme-gen-0042 ")),
                "enterprise2", "SerialInUse")
    assert bytes(list(e.args_)[1]) == device_id(USCC["enterprise"], "ACME-GEN-0042")
    refused(w, d.registerDevice(device_id(USCC["enterprise2"], "X"), org_id(USCC["enterprise2"]),
                                Signer(new_private_key()).address, 16, bytes(32)), "enterprise2", "InvalidSerialHash")
    assert w.dep.devices.deviceOfSerial(serial) == device_id(USCC["enterprise"], "ACME-GEN-0042")


def test_meter_serial_hash_refuses_an_empty_serial() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        meter_serial_hash("  ")
