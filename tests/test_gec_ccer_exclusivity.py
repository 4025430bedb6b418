"""GEC or CCER, never both (issue 13) on a real Anvil: a renewable plant's generation device-month
claimed by green electricity certificates (GreenCertificates.issue) cannot back a CCER batch
(CCERRegistry.issueGenerationBatch) and the reverse; another month is free; a month is claimed
once; only the two writer contracts write GenerationClaims; bad device-months are refused; a CCER
batch without device-months (non-generation projects) stays valid and claims nothing.

The rule's status is UNCONFIRMED (docs/gec.md "GEC or CCER, never both")."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.chain.client import ContractRevert
from ledger.contracts._generated.ccer_registry import DeviceMonth
from ledger.crypto.primitives import keccak256
from ledger.identifiers import device_id
from tests.conftest import USCC, World
from tests.test_api_market import env, h, problem  # noqa: F401  (env: the API app fixture)
from tests.test_green_certificates import FEB, JAN, MAR, WIND, _anchor_hours, _plant, refused

PROJECT, VINTAGE = 2016_01, 2016
REF = keccak256(b"issuance decision")
GEC, CCER = 1, 2


@pytest.fixture()
def plant(chain: World) -> tuple[World, bytes]:
    """enterprise2's wind farm meter with January (2.7 MWh) and February (1.4 MWh) 2016 anchored,
    and CCER project PROJECT owned by enterprise2."""
    w = chain
    dev = _plant(w)
    _anchor_hours(w, dev, JAN, FEB, [1_350_000, 1_350_000], 1)
    _anchor_hours(w, dev, FEB, MAR, [1_400_000], 10)
    w.tx(w.dep.ccer.functions.registerProject(PROJECT, w.acct["enterprise2"], keccak256(b"CCER-01-001-V01"),
                                              b"620000".ljust(32, b"\0"), 1_700_000_000, 1_600_761_600, "wind farm"), "registry")
    return w, dev


def _gec(w: World, dev: bytes, month: int, index: int, certificates: int) -> Any:
    return w.dep.certificates.functions.issue(dev, 2016, month, WIND, index, index, certificates, w.acct["enterprise2"])


def _ccer(w: World, months: list[DeviceMonth], amount: int = 3) -> Any:
    return w.dep.ccer.functions.issueGenerationBatch(PROJECT, VINTAGE, amount, "", 0, 0, REF, months)


def test_writers_are_wired_at_deployment(chain: World) -> None:
    gc, d = chain.dep.generation_claims, chain.dep
    assert (gc.GEC(), gc.CCER()) == (GEC, CCER)
    assert gc.writerInstrument(d.certificates.address) == GEC
    assert gc.writerInstrument(d.ccer.address) == CCER
    assert d.certificates.generationClaims() == gc.address == d.ccer.generationClaims()


def test_gec_month_refuses_a_ccer_batch_naming_it(plant: tuple[World, bytes]) -> None:
    w, dev = plant
    res = w.tx(_gec(w, dev, 1, 0, 2), "registry")
    [ev] = w.dep.generation_claims.decode_events(res, "GenerationClaimed")
    assert (ev.device, ev.year, ev.month, ev.instrument, ev.record, ev.writer) == (dev, 2016, 1, GEC, 1, w.dep.certificates.address)
    # the project exists and the amount is valid: the refusal is the exclusivity check, naming the GEC issuance
    e = refused(w, _ccer(w, [DeviceMonth(dev, 2016, 2), DeviceMonth(dev, 2016, 1)]), "registry", "GenerationAlreadyClaimed")
    assert list(e.args_) == [dev, 2016, 1, GEC, 1]
    assert w.dep.ccer.batchCount() == 0
    assert w.dep.generation_claims.claimOf(dev, 2016, 2).instrument == 0      # the refused batch claimed nothing


def test_ccer_month_refuses_gec_and_another_month_is_free(plant: tuple[World, bytes]) -> None:
    w, dev = plant
    gc = w.dep.generation_claims
    res = w.tx(_ccer(w, [DeviceMonth(dev, 2016, 1)]), "registry")
    batch = w.dep.ccer.decode_events(res, "BatchIssued")[0].batchId
    [ev] = gc.decode_events(res, "GenerationClaimed")
    assert (ev.month, ev.instrument, ev.record, ev.writer) == (1, CCER, batch, w.dep.ccer.address)
    c = gc.claimOf(dev, 2016, 1)
    assert (c.instrument, c.record) == (CCER, batch)
    # January is anchored (2.7 MWh) and the first month of the plant: only the claim refuses it
    e = refused(w, _gec(w, dev, 1, 0, 2), "registry", "GenerationAlreadyClaimed")
    assert list(e.args_) == [dev, 2016, 1, CCER, batch]
    refused(w, _gec(w, dev, 1, 0, 0), "registry", "GenerationAlreadyClaimed")    # nor closed without a certificate
    # February is free: issued as GEC from its own 1.4 MWh (January's energy is not carried in)
    res = w.tx(_gec(w, dev, 2, 1, 1), "registry")
    issued = w.dep.certificates.decode_events(res, "MonthIssued")[0]
    assert (issued.anchoredWh, issued.certificates, issued.carriedWh) == (1_400_000, 1, 400_000)
    c = gc.claimOf(dev, 2016, 2)
    assert (c.instrument, c.record) == (GEC, 1)


def test_a_month_closed_without_certificates_is_claimed_by_gec(plant: tuple[World, bytes]) -> None:
    """A GEC month whose Wh are all carried forward still backs GEC (the carry reaches later certificates)."""
    w, dev = plant
    w.tx(_gec(w, dev, 1, 0, 0), "registry")
    c = w.dep.generation_claims.claimOf(dev, 2016, 1)
    assert (c.instrument, c.record) == (GEC, 0)
    e = refused(w, _ccer(w, [DeviceMonth(dev, 2016, 1)]), "registry", "GenerationAlreadyClaimed")
    assert list(e.args_) == [dev, 2016, 1, GEC, 0]


def test_a_month_backs_one_ccer_batch_only(plant: tuple[World, bytes]) -> None:
    w, dev = plant
    w.tx(_ccer(w, [DeviceMonth(dev, 2016, 1)]), "registry")
    e = refused(w, _ccer(w, [DeviceMonth(dev, 2016, 1)]), "registry", "GenerationAlreadyClaimed")
    assert list(e.args_) == [dev, 2016, 1, CCER, 1]
    e = refused(w, _ccer(w, [DeviceMonth(dev, 2016, 3), DeviceMonth(dev, 2016, 3)]), "registry", "GenerationAlreadyClaimed")
    assert list(e.args_)[1:3] == [2016, 3]
    res = w.tx(_ccer(w, [DeviceMonth(dev, 2016, 3), DeviceMonth(dev, 2016, 4)]), "registry")
    assert [e.month for e in w.dep.generation_claims.decode_events(res, "GenerationClaimed")] == [3, 4]


def test_ccer_batch_without_device_months_stays_valid(plant: tuple[World, bytes]) -> None:
    w, dev = plant
    res = w.tx(w.dep.ccer.functions.issueBatch(PROJECT, VINTAGE, 5, "", 0, 0, REF), "registry")
    assert w.dep.ccer.decode_events(res, "BatchIssued")[0].amount == 5
    assert w.dep.generation_claims.decode_events(res, "GenerationClaimed") == []
    assert w.dep.generation_claims.claimOf(dev, 2016, 1).instrument == 0
    w.tx(_gec(w, dev, 1, 0, 2), "registry")


def test_only_the_writer_contracts_write_claims(plant: tuple[World, bytes]) -> None:
    w, dev = plant
    gc = w.dep.generation_claims.functions
    months = [DeviceMonth(dev, 2016, 1)]
    for who in ("outsider", "registry", "regulator", "enterprise2"):
        e = refused(w, gc.claim(months, 1), who, "NotClaimWriter")
        assert str(list(e.args_)[0]).lower() == w.acct[who].lower()
    refused(w, gc.setWriter(w.acct["outsider"], GEC), "outsider", "NotConstitution")
    refused(w, gc.setWriter(w.acct["registry"], CCER), "registry", "NotConstitution")
    refused(w, gc.setWriter(w.acct["registry"], 3), "regulator", "InvalidInstrument")   # the deployer holds the constitution
    # revoking CCERRegistry's writer role stops generation-backed CCER issuance
    res = w.tx(gc.setWriter(w.dep.ccer.address, 0), "regulator")
    assert w.dep.generation_claims.decode_events(res, "WriterSet")[0].instrument == 0
    refused(w, _ccer(w, months), "registry", "NotClaimWriter")


def test_outsider_cannot_issue_a_generation_batch(plant: tuple[World, bytes]) -> None:
    w, dev = plant
    for who in ("outsider", "enterprise2"):
        refused(w, _ccer(w, [DeviceMonth(dev, 2016, 1)]), who, "NotActiveParticipant")


def test_bad_device_months_are_refused(plant: tuple[World, bytes]) -> None:
    w, dev = plant
    unknown = device_id(USCC["enterprise2"], "NO-SUCH-METER")
    e = refused(w, _ccer(w, [DeviceMonth(unknown, 2016, 1)]), "registry", "UnknownDevice")
    assert list(e.args_) == [unknown]
    e = refused(w, _ccer(w, [DeviceMonth(w.device, 2007, 1)]), "registry", "NotGenerationMeter")   # the world's consumption meter
    assert list(e.args_)[0] == w.device and list(e.args_)[1] != 16
    for year, month in ((2016, 13), (2016, 0), (1969, 12)):
        e = refused(w, _ccer(w, [DeviceMonth(dev, year, month)]), "registry", "InvalidPeriod")
        assert list(e.args_) == [year, month]
    refused(w, _ccer(w, []), "registry", "NoDeviceMonths")
    refused(w, _ccer(w, [DeviceMonth(dev, 2016, 1)], amount=0), "registry", "InvalidAmount")
    refused(w, w.dep.ccer.functions.issueGenerationBatch(PROJECT + 1, VINTAGE, 1, "", 0, 0, REF, [DeviceMonth(dev, 2016, 1)]),
            "registry", "UnknownProject")
    assert w.dep.ccer.batchCount() == 0
    with pytest.raises(ContractRevert) as exc:
        w.dep.generation_claims.claimOf(dev, 2016, 13)
    assert exc.value.error == "InvalidPeriod"


def test_api_issuance_claims_the_named_generation_months(plant: tuple[World, bytes], request: pytest.FixtureRequest) -> None:
    _, dev = plant
    w, http, keys = request.getfixturevalue("env")      # the API app of tests/test_api_market.py on this chain
    months = [{"device": "0x" + dev.hex(), "year": 2016, "month": 1}, {"device": "0x" + dev.hex(), "year": 2016, "month": 2}]
    r = http.post("/v1/registry/issuances", json={"project": PROJECT, "vintage": VINTAGE, "amount": 3, "generation": months},
                  headers=h(keys, "registry", "g1"))
    assert r.status_code == 201, r.text
    batch = r.json()["batch_id"]
    for m in (1, 2):
        c = w.dep.generation_claims.claimOf(dev, 2016, m)
        assert (c.instrument, c.record) == (CCER, batch)
    again = problem(http.post("/v1/registry/issuances", json={"project": PROJECT, "vintage": VINTAGE, "amount": 3,
                                                              "generation": months[1:]}, headers=h(keys, "registry", "g2")),
                    409, "contract-refused")
    assert again["error"] == "GenerationAlreadyClaimed"
    refused(w, _gec(w, dev, 2, 1, 1), "registry", "GenerationAlreadyClaimed")
    for i, bad in enumerate(([], [{**months[0], "month": 13}], [{**months[0], "device": "0x12"}])):
        problem(http.post("/v1/registry/issuances", json={"project": PROJECT, "vintage": VINTAGE, "amount": 3, "generation": bad},
                          headers=h(keys, "registry", f"bad{i}")), 422, "validation-error")
    # without "generation" the batch claims nothing (non-generation projects)
    r = http.post("/v1/registry/issuances", json={"project": PROJECT, "vintage": VINTAGE, "amount": 3}, headers=h(keys, "registry", "g4"))
    assert r.status_code == 201, r.text
    assert w.dep.generation_claims.claimOf(dev, 2016, 3).instrument == 0
