"""Every state-changing function of every contract, refused to whoever may not call it.

A table row per (contract, function) of the compiled ABIs (nonpayable and payable functions): the
account that may call it (``who``), the call (on objects that exist — a Submitted record assigned
to a verifier, the world's meter, a registered CCER project with an issued batch, CEA holdings —
so the refusal comes from the access check, not from UnknownRecord or UnknownDevice), and the
custom error expected in three cases:

* ``outsider`` — an account no organisation holds (never admitted);
* ``suspended`` — ``who`` itself, after the regulator suspended its organisation (a second
  regulator suspends the first for the regulator's functions);
* ``wrong role`` — an active participant of another role (``wrong``).

A case the function admits by design says so (:class:`Open` with the reason) instead of an error.
A function in an ABI without a row fails :func:`test_every_state_changing_function_has_a_row`, so
a function added later must get one. Interfaces (no bytecode) are covered by the rows of the
contract that implements them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ledger.accounting.assets import ccer_id, cea_id
from ledger.chain.anvil import set_balances
from ledger.chain.client import Call, ContractRevert
from ledger.contracts.compiler import Artifact
from ledger.crypto.primitives import keccak256, new_private_key
from ledger.identifiers import make_uscc, org_id, uscc_bytes32
from tests.conftest import CAL_UNTIL, USCC, World
from tests.helpers import DAY0, as_tuple, minute_readings, report_for, sign_report

YEAR = 2024
PROJECT, VINTAGE = 1001, 2021
H = keccak256(b"reason")


@dataclass(frozen=True)
class Open:
    """The case is allowed by design; ``why`` says why."""

    why: str


Expect = str | Open


@dataclass(frozen=True)
class Row:
    """One function: ``who`` may call ``call(ctx)`` (an account of the world, or for operator rows the
    contract granted the operator role); the error expected in each of the three refused cases."""

    who: str
    call: Callable[[Any], Any]
    outsider: Expect
    suspended: Expect
    wrong: tuple[str, Expect]


@dataclass
class Ctx:
    """The deployed world with the objects the calls refer to: ``rid`` a record Submitted and
    assigned to ``verifier``; ``batch_id`` the anchored batch of 2007-01-01; ``ccer_token`` the token id
    of project 1001's 2021 CCER, of which ``owner`` holds batch ``batch_ccer``; ``enterprise`` holds
    10 CEA of 2021."""

    w: World
    rid: int
    batch_id: int
    ccer_token: int
    batch_ccer: int

    def __getattr__(self, name: str) -> Any:
        return getattr(self.w.dep, name)


OPERATOR = Open("the caller is an operator contract granted by the regulator (grantOperator), not a participant "
                "organisation; operator changes are the regulator's (rows grantOperator/revokeOperator)")
ANY_HOLDER = Open("any admitted, unfrozen account may hold, move or retire its own assets (DESIGN.md §4 CarbonAssets); "
                  "what an account's role is does not matter")


def _trade(c: Ctx) -> tuple[Any, ...]:
    a = c.w.acct
    return (keccak256(b"trade-1"), a["enterprise"], a["enterprise2"], cea_id(2021), 1, 1000, 0, 0)


def _period() -> tuple[tuple[Any, ...], tuple[str, ...]]:
    return ((DAY0 + 10**8, 2000, True, 500, 2019, 2030, 2015, 2030, 0, 0, 0, 0), ("d", "g", "g", "c", "v", "e"))


ROWS: dict[tuple[str, str], Row] = {
    # --------------------------------------------------------------- ParticipantRegistry
    ("ParticipantRegistry", "admit"): Row("regulator", lambda c: c.participants.functions.admit(
        keccak256(b"new-org"), c.w.dep.role("ENTERPRISE_ROLE"), uscc_bytes32(make_uscc("9", "1", "110108", "MA77NEW1")), 0,
        c.w.acct["device"], "new"), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("ParticipantRegistry", "addAccount"): Row("regulator", lambda c: c.participants.functions.addAccount(
        org_id(USCC["enterprise"]), c.w.acct["device"]), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("ParticipantRegistry", "removeAccount"): Row("regulator", lambda c: c.participants.functions.removeAccount(
        org_id(USCC["enterprise"]), c.w.acct["enterprise"]), "NotRegulator", "NotRegulator", ("verifier", "NotRegulator")),
    ("ParticipantRegistry", "suspend"): Row("regulator", lambda c: c.participants.functions.suspend(
        org_id(USCC["enterprise"]), H), "NotRegulator", "NotRegulator", ("enterprise2", "NotRegulator")),
    ("ParticipantRegistry", "reinstate"): Row("regulator", lambda c: c.participants.functions.reinstate(
        org_id(USCC["enterprise"])), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("ParticipantRegistry", "revoke"): Row("regulator", lambda c: c.participants.functions.revoke(
        org_id(USCC["enterprise"]), H), "NotRegulator", "NotRegulator", ("exchange", "NotRegulator")),
    ("ParticipantRegistry", "setEncryptionKey"): Row("enterprise", lambda c: c.participants.functions.setEncryptionKey(
        keccak256(b"x25519")), "NotAdmitted", "NotAdmitted", ("verifier", Open("every admitted participant registers its own reader key"))),
    ("ParticipantRegistry", "registerNode"): Row("exchange", lambda c: c.participants.functions.registerNode(
        b"\x01" * 64, "127.0.0.1:30303"), "NotAdmitted", "NotAdmitted",
        ("verifier", Open("every admitted organisation registers its own consortium node"))),
    # --------------------------------------------------------------- DeviceRegistry
    ("DeviceRegistry", "registerDevice"): Row("enterprise", lambda c: c.devices.functions.registerDevice(
        keccak256(b"dev-9"), org_id(USCC["enterprise"]), c.w.acct["outsider"], 1, CAL_UNTIL, H),
        "NotDeviceAdministrator", "NotDeviceAdministrator", ("verifier", "NotDeviceAdministrator")),
    ("DeviceRegistry", "recordCalibration"): Row("enterprise", lambda c: c.devices.functions.recordCalibration(
        c.w.device, CAL_UNTIL, H), "NotDeviceAdministrator", "NotDeviceAdministrator", ("enterprise2", "NotDeviceAdministrator")),
    ("DeviceRegistry", "revokeDevice"): Row("enterprise", lambda c: c.devices.functions.revokeDevice(c.w.device, H),
                                            "NotDeviceAdministrator", "NotDeviceAdministrator", ("enterprise2", "NotDeviceAdministrator")),
    # --------------------------------------------------------------- EmissionFactorRegistry
    ("EmissionFactorRegistry", "publishFactorSet"): Row("regulator", lambda c: c.factors.functions.publishFactorSet(
        2011, 2012, [H], [1], [0], "c", "l"), "NotRegulator", "NotRegulator", ("verifier", "NotRegulator")),
    # --------------------------------------------------------------- MeterDataAnchor
    ("MeterDataAnchor", "setOracles"): Row("regulator", lambda c: c.anchor.functions.setOracles(
        [c.w.acct["oracle-1"], c.w.acct["oracle-2"]], 2), "NotRegulator", "NotRegulator", ("oracle-1", "NotRegulator")),
    ("MeterDataAnchor", "anchor"): Row("oracle-1", lambda c: c.anchor.functions.anchor(*_day_report(c, 1)),
                                       "NotOracle", "NotOracle", ("enterprise", "NotOracle")),
    ("MeterDataAnchor", "supersede"): Row("oracle-1", lambda c: c.anchor.functions.supersede(c.batch_id, *_day_report(c, 0, c.batch_id), H),
                                          "NotOracle", "NotOracle", ("enterprise", "NotOracle")),
    # --------------------------------------------------------------- EmissionsRegistry
    ("EmissionsRegistry", "recordPurchasedElectricity"): Row("enterprise", lambda c: c.emissions.functions.recordPurchasedElectricity(
        c.w.device, 2007, 2, 0, 0, c.w.factor_set, H, 0), "NotActiveParticipant", "NotActiveParticipant", ("verifier", "NotActiveParticipant")),
    ("EmissionsRegistry", "recordDeclared"): Row("enterprise", lambda c: c.emissions.functions.recordDeclared(
        3, bytes(32), YEAR, 0, 10**9, 0, H, 0), "NotActiveParticipant", "NotActiveParticipant", ("verifier", "NotActiveParticipant")),
    ("EmissionsRegistry", "recordFuelCombustion"): Row("enterprise", lambda c: c.emissions.functions.recordFuelCombustion(
        *_fuel_args(c)), "NotActiveParticipant", "NotActiveParticipant", ("verifier", "NotActiveParticipant")),
    ("EmissionsRegistry", "submit"): Row("enterprise", lambda c: c.emissions.functions.submit(c.rid),
                                         "NotRecordEnterprise", "NotRecordEnterprise", ("enterprise2", "NotRecordEnterprise")),
    ("EmissionsRegistry", "assignVerifier"): Row("regulator", lambda c: c.emissions.functions.assignVerifier(c.rid, c.w.acct["verifier2"]),
                                                 "NotRegulator", "NotRegulator", ("verifier", "NotRegulator")),
    ("EmissionsRegistry", "attest"): Row("verifier", lambda c: c.emissions.functions.attest(c.rid, H, bytes(32)),
                                         "NotAssignedVerifier", "NotAssignedVerifier", ("verifier2", "NotAssignedVerifier")),
    ("EmissionsRegistry", "reject"): Row("verifier", lambda c: c.emissions.functions.reject(c.rid, H, H),
                                         "NotAssignedVerifier", "NotAssignedVerifier", ("verifier2", "NotAssignedVerifier")),
    ("EmissionsRegistry", "confirm"): Row("regulator", lambda c: c.emissions.functions.confirm(c.rid),
                                          "NotRegulator", "NotRegulator", ("verifier", "NotRegulator")),
    # --------------------------------------------------------------- EvidenceRegistry
    ("EvidenceRegistry", "attach"): Row("enterprise", lambda c: c.evidence.functions.attach(c.rid, H, H, "invoice"),
                                        "NotRecordEnterprise", "NotRecordEnterprise", ("enterprise2", "NotRecordEnterprise")),
    # --------------------------------------------------------------- CarbonAssets
    ("CarbonAssets", "issue"): Row("issuer", lambda c: c.assets.functions.issue(c.w.acct["enterprise"], cea_id(2021), 1, H),
                                   "WrongIssuerForClass", OPERATOR, ("regulator", "WrongIssuerForClass")),
    ("CarbonAssets", "clawback"): Row("issuer", lambda c: c.assets.functions.clawback(c.w.acct["enterprise"], cea_id(2021), 1, H),
                                  "NotOperator", OPERATOR, ("regulator", "NotOperator")),
    ("CarbonAssets", "surrender"): Row("issuer", lambda c: c.assets.functions.surrender(c.w.acct["enterprise"], cea_id(2021), 1, H),
                                  "NotOperator", OPERATOR, ("regulator", "NotOperator")),
    ("CarbonAssets", "settlementTransfer"): Row("settlement contract", lambda c: c.assets.functions.settlementTransfer(
        c.w.acct["enterprise"], c.w.acct["enterprise2"], cea_id(2021), 1), "NotOperator", OPERATOR, ("exchange", "NotOperator")),
    ("CarbonAssets", "cancelFrom"): Row("CCERRegistry contract", lambda c: c.assets.functions.cancelFrom(c.w.acct["owner"], c.ccer_token, 1, H),
                                        "NotOperator", OPERATOR, ("registry", "NotOperator")),
    ("CarbonAssets", "retireFrom"): Row("CCERRegistry contract", lambda c: c.assets.functions.retireFrom(c.w.acct["owner"], c.ccer_token, 1, H),
                                        "NotOperator", OPERATOR, ("registry", "NotOperator")),
    ("CarbonAssets", "freeze"): Row("regulator", lambda c: c.assets.functions.freeze(c.w.acct["enterprise"], "enforcement"),
                                    "NotRegulator", "NotRegulator", ("enterprise2", "NotRegulator")),
    ("CarbonAssets", "unfreeze"): Row("regulator", lambda c: c.assets.functions.unfreeze(c.w.acct["enterprise"], "lifted"),
                                      "NotRegulator", "NotRegulator", ("enterprise2", "NotRegulator")),
    ("CarbonAssets", "pause"): Row("regulator", lambda c: c.assets.functions.pause(), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("CarbonAssets", "unpause"): Row("regulator", lambda c: c.assets.functions.unpause(), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("CarbonAssets", "grantOperator"): Row("regulator", lambda c: c.assets.functions.grantOperator(
        bytes(c.w.call(c.assets.functions.CEA_ISSUER_ROLE())), c.w.acct["enterprise"]), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("CarbonAssets", "revokeOperator"): Row("regulator", lambda c: c.assets.functions.revokeOperator(
        bytes(c.w.call(c.assets.functions.CCER_ISSUER_ROLE())), c.ccer.address), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("CarbonAssets", "retire"): Row("enterprise", lambda c: c.assets.functions.retire(cea_id(2021), 1, "beneficiary", "purpose", ""),
                                    "NotAdmitted", "NotAdmitted", ("verifier", ANY_HOLDER)),
    ("CarbonAssets", "safeTransferFrom"): Row("enterprise", lambda c: c.assets.functions.safeTransferFrom(
        c.w.acct["enterprise"], c.w.acct["enterprise2"], cea_id(2021), 1, b""), "ERC1155MissingApprovalForAll", "NotAdmitted", ("enterprise2", "ERC1155MissingApprovalForAll")),
    ("CarbonAssets", "safeBatchTransferFrom"): Row("enterprise", lambda c: c.assets.functions.safeBatchTransferFrom(
        c.w.acct["enterprise"], c.w.acct["enterprise2"], [cea_id(2021)], [1], b""), "ERC1155MissingApprovalForAll", "NotAdmitted", ("enterprise2", "ERC1155MissingApprovalForAll")),
    ("CarbonAssets", "setApprovalForAll"): Row("enterprise", lambda c: c.assets.functions.setApprovalForAll(c.w.acct["enterprise2"], True),
                                               "NotAdmitted", "NotAdmitted", ("verifier", ANY_HOLDER)),
    # --------------------------------------------------------------- CCERRegistry
    ("CCERRegistry", "registerProject"): Row("registry", lambda c: c.ccer.functions.registerProject(
        PROJECT + 1, c.w.acct["owner"], H, b"620000".ljust(32, b"\0"), 1_700_000_000, 1_600_761_600, "wind"), "NotRegistry", "NotRegistry", ("enterprise", "NotRegistry")),
    ("CCERRegistry", "issueBatch"): Row("registry", lambda c: c.ccer.functions.issueBatch(PROJECT, VINTAGE, 5, "", 0, 0, H),
                                        "NotRegistry", "NotRegistry", ("enterprise", "NotRegistry")),
    ("CCERRegistry", "retire"): Row("registry", lambda c: c.ccer.functions.retire(
        (c.w.acct["owner"], c.batch_ccer, 1, "", 0, 0, "beneficiary", "purpose", "")), "NotHolderOrRegistry", "NotHolderOrRegistry", ("enterprise", "NotHolderOrRegistry")),
    ("CCERRegistry", "cancel"): Row("registry", lambda c: c.ccer.functions.cancel(c.w.acct["owner"], PROJECT, VINTAGE, 1, H),
                                    "NotRegistry", "NotRegistry", ("enterprise", "NotRegistry")),
    # --------------------------------------------------------------- CashToken
    ("CashToken", "deposit"): Row("bank", lambda c: c.cash.functions.deposit(c.w.acct["enterprise"], 100, keccak256(b"ref-1")),
                                  "NotSettlementBank", "NotSettlementBank", ("enterprise", "NotSettlementBank")),
    ("CashToken", "withdraw"): Row("bank", lambda c: c.cash.functions.withdraw(c.w.acct["enterprise"], 1, keccak256(b"ref-2")),
                                   "NotSettlementBank", "NotSettlementBank", ("enterprise", "NotSettlementBank")),
    ("CashToken", "grantOperator"): Row("regulator", lambda c: c.cash.functions.grantOperator(c.w.acct["exchange"]),
                                        "NotRegulator", "NotRegulator", ("bank", "NotRegulator")),
    ("CashToken", "revokeOperator"): Row("regulator", lambda c: c.cash.functions.revokeOperator(c.settlement.address),
                                         "NotRegulator", "NotRegulator", ("bank", "NotRegulator")),
    ("CashToken", "settlementTransfer"): Row("settlement contract", lambda c: c.cash.functions.settlementTransfer(
        c.w.acct["enterprise"], c.w.acct["enterprise2"], 1), "NotOperator", OPERATOR, ("bank", "NotOperator")),
    # --------------------------------------------------------------- Settlement
    ("Settlement", "settle"): Row("exchange", lambda c: c.settlement.functions.settle([_trade(c)], True), "NotExchange", "NotExchange", ("enterprise", "NotExchange")),
    ("Settlement", "setFeeAccount"): Row("exchange", lambda c: c.settlement.functions.setFeeAccount(c.w.acct["exchange"]),
                                         "NotExchange", "NotExchange", ("regulator", "NotExchange")),
    # --------------------------------------------------------------- Allocation
    ("Allocation", "publishBenchmarkSet"): Row("regulator", lambda c: c.allocation.functions.publishBenchmarkSet(
        2019, 2030, 7000, [(keccak256(b"COAL"), 877_000, 126_000, 1_000_000, False)], "citation"), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("Allocation", "enrol"): Row("regulator", lambda c: c.allocation.functions.enrol(
        org_id(USCC["enterprise2"]), keccak256(b"GAS"), c.w.acct["enterprise2"]), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("Allocation", "enrolBatch"): Row("regulator", lambda c: c.allocation.functions.enrolBatch(
        [org_id(USCC["enterprise2"])], [keccak256(b"GAS")], [c.w.acct["enterprise2"]]), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("Allocation", "preAllocate"): Row("regulator", lambda c: c.allocation.functions.preAllocate(
        YEAR, 1, org_id(USCC["enterprise"]), 10**12, 10**9, H), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("Allocation", "preAllocateBatch"): Row("regulator", lambda c: c.allocation.functions.preAllocateBatch(
        YEAR, 1, [org_id(USCC["enterprise"])], [10**12], [10**9], [H]), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("Allocation", "finalAllocate"): Row("regulator", lambda c: c.allocation.functions.finalAllocate(YEAR, org_id(USCC["enterprise"])),
                                         "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("Allocation", "finalAllocateBatch"): Row("regulator", lambda c: c.allocation.functions.finalAllocateBatch(
        YEAR, [org_id(USCC["enterprise"])]), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("Allocation", "recordDeduction"): Row("Compliance contract", lambda c: c.allocation.functions.recordDeduction(
        YEAR, org_id(USCC["enterprise"]), 1), "NotCompliance", OPERATOR, ("regulator", "NotCompliance")),
    ("Allocation", "recoverDebt"): Row("regulator", lambda c: c.allocation.functions.recoverDebt(YEAR, org_id(USCC["enterprise"])),
                                       "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("Allocation", "setComplianceContract"): Row("regulator", lambda c: c.allocation.functions.setComplianceContract(
        c.w.acct["exchange"]), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    # --------------------------------------------------------------- Compliance
    ("Compliance", "openPeriod"): Row("regulator", lambda c: c.compliance.functions.openPeriod(YEAR + 1, *_period()),
                                      "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("Compliance", "publishPrice"): Row("regulator", lambda c: c.compliance.functions.publishPrice(YEAR, 9_800, "SEEE"),
                                        "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("Compliance", "close"): Row("regulator", lambda c: c.compliance.functions.close(YEAR, org_id(USCC["enterprise"])),
                                 "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("Compliance", "closeBatch"): Row("regulator", lambda c: c.compliance.functions.closeBatch(YEAR, [org_id(USCC["enterprise"])]),
                                      "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("Compliance", "markRefusesToCorrect"): Row("regulator", lambda c: c.compliance.functions.markRefusesToCorrect(
        org_id(USCC["enterprise"]), YEAR), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("Compliance", "surrender"): Row("enterprise", lambda c: c.compliance.functions.surrender(YEAR, cea_id(2021), 1),
                                     "NotActiveParticipant", "NotActiveParticipant", ("verifier", "NotActiveParticipant")),
}


def _day_report(c: Ctx, day: int, supersedes: int = 0) -> tuple[Any, list[bytes]]:
    """A quorum-signed report of day ``day`` of January 2007 (``supersedes``: a batch id)."""
    w = c.w
    rs = minute_readings(w.device, DAY0 + day * 86_400, [1_000_000, 2_000_000, 500_000], first_seq=100 + 10 * day)
    rep, _ = report_for(rs, w.call(c.anchor.functions.configDigest()), DAY0 + day * 86_400, DAY0 + (day + 1) * 86_400,
                        supersedes=supersedes.to_bytes(32, "big"))
    return as_tuple(rep), sign_report(rep, c.w.dep.domain.separator, [w.oracle_signer(1), w.oracle_signer(2)])


def _fuel_args(c: Ctx) -> tuple[Any, ...]:
    """A FuelDeclaration of zeros: the caller check comes before any check of the values."""
    (decl,) = next(i for i in c.emissions.abi if i.get("name") == "recordFuelCombustion")["inputs"]
    return (_zero(decl),)


def _zero(item: dict[str, Any]) -> Any:
    t = item["type"]
    if t == "tuple":
        return tuple(_zero(c) for c in item["components"])
    if t.endswith("[]"):
        return []
    if t.startswith("bytes"):
        return bytes(int(t[5:]) if t[5:] else 0)
    if t == "address":
        return "0x" + "00" * 20
    if t == "string":
        return ""
    if t == "bool":
        return False
    return 0


# ----------------------------------------------------------------------------- fixture
@pytest.fixture(scope="module")
def ctx(world: World) -> Iterator[Ctx]:
    """The objects of :class:`Ctx` on the session world, plus a second regulator (who suspends the
    first in the regulator's rows) and an ``issuer`` operator EOA; reverted at the end."""
    w, d = world, world.dep
    c = w.client
    snap = c.rpc("evm_snapshot")
    try:
        for name in ("regulator2", "issuer"):
            if name not in w.acct:
                w.keys[name] = new_private_key()
                w.acct[name] = c.add_account(w.keys[name])
        set_balances(c, [w.acct["regulator2"], w.acct["issuer"]])
        uscc2 = make_uscc("1", "1", "310000", "MB1C0002")
        w.tx(d.participants.functions.admit(org_id(uscc2), d.role("REGULATOR_ROLE"), uscc_bytes32(uscc2), 28800,
                                            w.acct["regulator2"], "second regulator"), "regulator")
        res = w.tx(d.anchor.functions.anchor(*_day_report(Ctx(w, 0, 0, 0, 0), 0)), "oracle-1")
        batch_id = d.anchor.decode_events(res, "BatchAnchored")[0].batchId
        em = d.emissions.functions
        res = w.tx(em.recordPurchasedElectricity(w.device, 2007, 1, 0, 0, w.factor_set, H, 0), "enterprise")
        rid = d.emissions.decode_events(res, "ActivityRecorded")[0].recordId
        w.tx(em.submit(rid), "enterprise")
        w.tx(em.assignVerifier(rid, w.acct["verifier"]), "regulator")
        w.tx(d.ccer.functions.registerProject(PROJECT, w.acct["owner"], H, b"620000".ljust(32, b"\0"), 1_700_000_000,
                                             1_600_761_600, "Gansu wind farm"), "registry")
        res = w.tx(d.ccer.functions.issueBatch(PROJECT, VINTAGE, 100, "", 0, 0, H), "registry")
        batch_ccer = d.ccer.decode_events(res, "BatchIssued")[0].batchId
        cea_role = bytes(c.call(d.assets.functions.CEA_ISSUER_ROLE()))
        w.tx(d.assets.functions.grantOperator(cea_role, w.acct["issuer"]), "regulator")
        w.tx(d.assets.functions.issue(w.acct["enterprise"], cea_id(2021), 10, H), "issuer")
        yield Ctx(w, rid, batch_id, ccer_id(VINTAGE, PROJECT), batch_ccer)
    finally:
        c.rpc("evm_revert", snap)
        c.rewind()


def _outcome(c: Ctx, fn: Any, who: str) -> str:
    """The custom error ``who`` gets from ``fn`` (pre-flight), or "ok"."""
    try:
        c.w.client.preflight([Call.of(fn, c.w.acct[who])])
    except ContractRevert as exc:
        return exc.error or f"revert {exc}"
    return "ok"


def _suspended_outcome(c: Ctx, fn: Callable[[Ctx], Any], who: str) -> str:
    """``who``'s outcome after the regulator suspended its organisation (reverted afterwards)."""
    w = c.w
    snap = w.client.rpc("evm_snapshot")
    try:
        org = bytes(w.call(w.dep.participants.functions.orgOf(w.acct[who])))
        w.tx(w.dep.participants.functions.suspend(org, H), "regulator2" if who == "regulator" else "regulator")
        return _outcome(c, fn(c), who)
    finally:
        w.client.rpc("evm_revert", snap)
        w.client.rewind()


def _state_changing(artifacts: dict[str, Artifact]) -> dict[str, set[str]]:
    return {n: {f["name"] for f in a.abi if f.get("type") == "function" and f.get("stateMutability") in ("nonpayable", "payable")}
            for n, a in artifacts.items()}


# ----------------------------------------------------------------------------- tests
def test_every_state_changing_function_has_a_row(artifacts: dict[str, Artifact]) -> None:
    deployed = {n for n, a in artifacts.items() if a.bytecode and a.bytecode not in ("0x", "")}
    want = {(n, f) for n, fs in _state_changing(artifacts).items() if n in deployed for f in fs}
    assert want - set(ROWS) == set(), "add a row to tests/test_access_control.py ROWS for each of these"
    assert set(ROWS) - want == set(), "rows for functions no ABI has"
    implementing = {"ICarbonAssets": "CarbonAssets", "ICCERRegistry": "CCERRegistry"}
    for n, fs in _state_changing(artifacts).items():
        if n not in deployed:
            assert {(implementing[n], f) for f in fs} <= set(ROWS), n     # interfaces: their contract's rows


def test_every_refusal_in_the_table(ctx: Ctx) -> None:
    got: dict[tuple[str, str], tuple[str, str, str]] = {}
    bad = []
    for key, row in ROWS.items():
        wrong_who, wrong_want = row.wrong
        out = _outcome(ctx, row.call(ctx), "outsider")
        sus = _suspended_outcome(ctx, row.call, row.who) if not isinstance(row.suspended, Open) else "open"
        wr = _outcome(ctx, row.call(ctx), wrong_who)
        got[key] = (out, sus, wr)
        for case, want, have in (("outsider", row.outsider, out), ("suspended", row.suspended, sus), ("wrong role", wrong_want, wr)):
            if isinstance(want, Open):
                continue
            if have != want:
                bad.append((key, case, want, have))
    assert not bad, "\n".join(map(str, bad)) + "\n\nall:\n" + "\n".join(f"{k}: {v}" for k, v in got.items())
