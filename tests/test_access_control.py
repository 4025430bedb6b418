"""Every state-changing function of every contract, refused to whoever may not call it.

A table row per (contract, function) of the compiled ABIs (nonpayable and payable functions): the
account that may call it (``who``), the call (on objects that exist — a Submitted record assigned
to a verifier, the world's meter, a registered CCER project with an issued batch, CEA holdings —
so the refusal comes from the access check, not from UnknownRecord or UnknownDevice), and the
custom error expected in three cases:

* ``outsider`` — an account no organisation holds (never admitted);
* ``suspended`` — ``who`` itself, after the constitution suspended its organisation;
* ``wrong role`` — an active participant of another role (``wrong``).

Constitutional functions (DESIGN.md "Governance") are called by the registry's constitution — here a
plain ``constitution`` account the deployer handed it to, so that one table reaches every check; the
governance contracts themselves (Constitution timelock, RegulatorCouncil) are deployed beside it
with the council ``regulator`` + ``regulator2`` for their own rows.

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
from ledger.accounting.settlement import BUY, SELL, Order, SignedOrder, Trade, settlement_domain
from ledger.chain.anvil import set_balances
from ledger.chain.client import Call, ContractRevert
from ledger.contracts._generated import Constitution, RegulatorCouncil
from ledger.contracts._generated.ccer_registry import DeviceMonth
from ledger.contracts.compiler import Artifact
from ledger.contracts.governance import OPEN_EXECUTOR
from ledger.crypto.primitives import Signer, keccak256, new_private_key
from ledger.identifiers import make_uscc, org_id, uscc_bytes32
from ledger.meter_data.reading import reading_leaf
from ledger.meter_data.rounds import RoundReading, build_round, round_report_digest, rounds_domain
from tests.conftest import CAL_FROM, CAL_UNTIL, USCC, World
from tests.helpers import DAY0, all_days_but, as_tuple, declare_gap, minute_readings, report_for, sign_report

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
    timelock: Constitution | None = None
    council: RegulatorCouncil | None = None
    round_id: int = 0
    claim_id: int = 0
    claim_cert: int = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.w.dep, name)


OPERATOR = Open("the caller is an operator contract granted by the regulator (grantOperator), not a participant "
                "organisation; operator changes are the regulator's (rows grantOperator/revokeOperator)")
CONSTITUTION = Open("the caller is the constitution (the council's timelock), not an organisation that can be suspended; "
                    "a compromised council member is rotated out by the council (DESIGN.md \"Governance\")")
TIMELOCK_OPEN = Open("OpenZeppelin TimelockController: execution is open to anyone once the council's k approvals and the "
                     "delay have made the operation ready (EXECUTOR_ROLE held by address(0)); token receivers accept anything")


def _constitutional(call: Callable[[Any], Any]) -> Row:
    """A constitutional act: only the constitution; a regulator account alone is refused."""
    return Row("constitution", call, "NotConstitution", CONSTITUTION, ("regulator", "NotConstitution"))


def _op(c: Ctx) -> tuple[Any, ...]:
    """An operation of one call (pause the market) in the timelock's argument order."""
    return ([c.assets.address], [0], [c.assets.functions.pause().data], bytes(32), keccak256(b"salt"))


OCR2_TRANSMITTER = Open("OCR2: the transmitter is any member of the configured oracle set and adds no trust — the report "
                        "still needs ⌊(n + f)/2⌋ + 1 of the set's signatures; a suspended operator leaves the set when "
                        "governance reconfigures it (setOracles), and up to f such operators can neither reach nor block quorum")
CLAIM_WRITER = Open("the caller is a writer contract the constitution named (GenerationClaims.setWriter: GreenCertificates "
                    "as GEC, CCERRegistry as CCER), not an organisation; writer changes are the constitution's (row setWriter)")
REGISTRY_PUSH = Open("the caller is the deployment's ParticipantRegistry contract pushing its admission epoch (it does so "
                     "in suspend / revoke / removeAccount and when the constitution sets the listener), not an organisation")
ANY_HOLDER = Open("any admitted, unfrozen account may hold, move or retire its own assets (DESIGN.md §4 CarbonAssets); "
                  "what an account's role is does not matter")


DEADLINE = 2**40


def _buy_order(c: Ctx) -> SignedOrder:
    a, k = c.w.acct, c.w.keys
    return Order(a["enterprise2"], cea_id(2021), BUY, 1, 1000, DEADLINE, 1).sign(_settlement_domain(c), k["enterprise2"])


def _settlement_domain(c: Ctx) -> Any:
    return settlement_domain(c.w.client.chain_id, c.settlement.address)


def _trade(c: Ctx) -> tuple[Any, ...]:
    a, k = c.w.acct, c.w.keys
    sell = Order(a["enterprise"], cea_id(2021), SELL, 1, 1000, DEADLINE, 1).sign(_settlement_domain(c), k["enterprise"])
    return Trade(_buy_order(c), sell, 1, 1000).as_tuple()


def _retirement(c: Ctx) -> tuple[Any, ...]:
    return (c.w.acct["owner"], c.batch_ccer, 1, "", 0, 0, "beneficiary", "purpose", "")


def _signed_retirement(c: Ctx) -> bytes:
    digest = c.w.call(c.ccer.functions.retirementDigest(_retirement(c), 0, DEADLINE))
    return Signer(c.w.keys["owner"]).sign_digest(bytes(digest))


def _signed_cancellation(c: Ctx) -> bytes:
    digest = c.w.call(c.ccer.functions.cancellationDigest(c.w.acct["owner"], c.batch_ccer, 1, H, 0, DEADLINE))
    return Signer(c.w.keys["owner"]).sign_digest(bytes(digest))


def _signed_withdrawal(c: Ctx) -> bytes:
    digest = c.w.call(c.cash.functions.withdrawalDigest(c.w.acct["enterprise"], 1, keccak256(b"ref-2"), DEADLINE))
    return Signer(c.w.keys["enterprise"]).sign_digest(bytes(digest))


def _period() -> tuple[tuple[Any, ...], tuple[str, ...]]:
    return ((DAY0 + 10**8, 2000, True, 500, 2019, 2030, 2015, 2030, 0, 0, 0, 0, True), ("d", "g", "g", "c", "v", "e", "p"))


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
    ("ParticipantRegistry", "transferConstitution"): _constitutional(lambda c: c.participants.functions.transferConstitution(
        c.w.acct["outsider"])),
    ("ParticipantRegistry", "setAdmissionListener"): _constitutional(lambda c: c.participants.functions.setAdmissionListener(
        c.assets.address)),
    ("ParticipantRegistry", "setEncryptionKey"): Row("enterprise", lambda c: c.participants.functions.setEncryptionKey(
        keccak256(b"x25519")), "NotAdmitted", "NotAdmitted", ("verifier", Open("every admitted participant registers its own reader key"))),
    ("ParticipantRegistry", "registerNode"): Row("exchange", lambda c: c.participants.functions.registerNode(
        b"\x01" * 64, "127.0.0.1:30303"), "NotAdmitted", "NotAdmitted",
        ("verifier", Open("every admitted organisation registers its own consortium node"))),
    # --------------------------------------------------------------- DeviceRegistry
    ("DeviceRegistry", "registerDevice"): Row("enterprise", lambda c: c.devices.functions.registerDevice(
        keccak256(b"dev-9"), org_id(USCC["enterprise"]), c.w.acct["outsider"], 1, keccak256(b"serial dev-9")),
        "NotDeviceAdministrator", "NotDeviceAdministrator", ("verifier", "NotDeviceAdministrator")),
    ("DeviceRegistry", "recordCalibration"): Row("calibration", lambda c: c.devices.functions.recordCalibration(
        c.w.device, CAL_FROM + 1, CAL_UNTIL, H), "NotCalibrationBody", "NotCalibrationBody", ("enterprise", "NotCalibrationBody")),
    ("DeviceRegistry", "revokeDevice"): Row("enterprise", lambda c: c.devices.functions.revokeDevice(c.w.device, H),
                                            "NotDeviceAdministrator", "NotDeviceAdministrator", ("enterprise2", "NotDeviceAdministrator")),
    # --------------------------------------------------------------- EmissionFactorRegistry
    ("EmissionFactorRegistry", "publishFactorSet"): _constitutional(lambda c: c.factors.functions.publishFactorSet(
        2011, 2012, [H], [1], [0], "c", "l")),
    ("EmissionFactorRegistry", "retireFactorSet"): _constitutional(lambda c: c.factors.functions.retireFactorSet(c.w.factor_set, H)),
    # --------------------------------------------------------------- MeterDataAnchor
    ("MeterDataAnchor", "setOracles"): _constitutional(lambda c: c.anchor.functions.setOracles(
        [c.w.acct[f"oracle-{i}"] for i in (1, 2, 3, 4)], 1)),
    ("MeterDataAnchor", "anchor"): Row("oracle-1", lambda c: c.anchor.functions.anchor(*_day_report(c, 1)),
                                       "NotOracle", OCR2_TRANSMITTER, ("enterprise", "NotOracle")),
    ("MeterDataAnchor", "supersede"): Row("oracle-1", lambda c: c.anchor.functions.supersede(c.batch_id, *_day_report(c, 0, c.batch_id), H),
                                          "NotOracle", OCR2_TRANSMITTER, ("enterprise", "NotOracle")),
    # --------------------------------------------------------------- MeterRounds
    ("MeterRounds", "anchorRound"): Row("oracle-1", lambda c: c.rounds.functions.anchorRound(*_round_report(c, 1)),
                                        "NotOracle", OCR2_TRANSMITTER, ("enterprise", "NotOracle")),
    ("MeterRounds", "supersedeRound"): Row("oracle-1", lambda c: c.rounds.functions.supersedeRound(
        c.round_id, *_round_report(c, 0, c.round_id), H), "NotOracle", OCR2_TRANSMITTER, ("enterprise", "NotOracle")),
    ("MeterRounds", "proveMonth"): Row("enterprise", lambda c: c.rounds.functions.proveMonth(
        c.round_id, (c.w.device, 2007, 1, 1, 3, 0, 0), []), "NotDeviceOwner", "NotDeviceOwner", ("verifier", "NotDeviceOwner")),
    # --------------------------------------------------------------- EmissionsRegistry
    ("EmissionsRegistry", "recordPurchasedElectricityFromRounds"): Row("enterprise", lambda c: c.emissions.functions.
        recordPurchasedElectricityFromRounds(c.w.device, 2007, 2, c.w.factor_set, H, 0), "NotActiveParticipant",
        "NotActiveParticipant", ("verifier", "NotActiveParticipant")),
    ("EmissionsRegistry", "recordPurchasedElectricity"): Row("enterprise", lambda c: c.emissions.functions.recordPurchasedElectricity(
        c.w.device, 2007, 2, 0, 0, c.w.factor_set, H, 0), "NotActiveParticipant", "NotActiveParticipant", ("verifier", "NotActiveParticipant")),
    ("EmissionsRegistry", "recordDeclared"): Row("enterprise", lambda c: c.emissions.functions.recordDeclared(
        3, bytes(32), YEAR, 0, 10**9, 0, H, 0), "NotActiveParticipant", "NotActiveParticipant", ("verifier", "NotActiveParticipant")),
    ("EmissionsRegistry", "recordFuelCombustion"): Row("enterprise", lambda c: c.emissions.functions.recordFuelCombustion(
        *_fuel_args(c)), "NotActiveParticipant", "NotActiveParticipant", ("verifier", "NotActiveParticipant")),
    ("EmissionsRegistry", "submit"): Row("enterprise", lambda c: c.emissions.functions.submit(c.rid),
                                         "NotRecordEnterprise", "NotRecordEnterprise", ("enterprise2", "NotRecordEnterprise")),
    ("EvidenceRegistry", "anchorAlert"): Row("regulator", lambda c: c.evidence.functions.anchorAlert(H),
                                             "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("EmissionsRegistry", "assignVerifier"): Row("regulator", lambda c: c.emissions.functions.assignVerifier(c.rid, c.w.acct["verifier2"]),
                                                 "NotRegulator", "NotRegulator", ("verifier", "NotRegulator")),
    ("EmissionsRegistry", "attest"): Row("verifier", lambda c: c.emissions.functions.attest(c.rid, H, bytes(32)),
                                         "NotAssignedVerifier", "NotAssignedVerifier", ("verifier2", "NotAssignedVerifier")),
    ("EmissionsRegistry", "reject"): Row("verifier", lambda c: c.emissions.functions.reject(c.rid, H, H),
                                         "NotAssignedVerifier", "NotAssignedVerifier", ("verifier2", "NotAssignedVerifier")),
    ("EmissionsRegistry", "confirm"): Row("regulator", lambda c: c.emissions.functions.confirm(c.rid),
                                          "NotRegulator", "NotRegulator", ("verifier", "NotRegulator")),
    ("EmissionsRegistry", "enrolSources"): Row("regulator", lambda c: c.emissions.functions.enrolSources(
        org_id(USCC["enterprise"]), 2007, [1], [c.w.device]), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("EmissionsRegistry", "assignFactorSet"): Row("regulator", lambda c: c.emissions.functions.assignFactorSet(
        org_id(USCC["enterprise"]), 2008, c.w.factor_set), "NotRegulator", "NotRegulator", ("verifier", "NotRegulator")),
    ("EmissionsRegistry", "declareGap"): Row("enterprise", lambda c: c.emissions.functions.declareGap(
        c.w.device, 2007, 2, 1, H), "NotActiveParticipant", "NotActiveParticipant", ("verifier", "NotActiveParticipant")),
    ("EmissionsRegistry", "assessGap"): Row("regulator", lambda c: c.emissions.functions.assessGap(
        c.w.device, 2007, 1, 5, H), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    ("EmissionsRegistry", "assessEmissions"): Row("regulator", lambda c: c.emissions.functions.assessEmissions(
        org_id(USCC["enterprise"]), 2007, 10**6, 0, H), "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
    # --------------------------------------------------------------- NeutralityClaims
    ("NeutralityClaims", "declare"): Row("enterprise", lambda c: c.claims.functions.declare(_claim_declaration(c)),
                                         "NotActiveParticipant", "NotActiveParticipant", ("verifier", "NotActiveParticipant")),
    ("NeutralityClaims", "withdraw"): Row("enterprise", lambda c: c.claims.functions.withdraw(c.claim_id),
                                          "NotClaimant", "NotClaimant", ("enterprise2", "NotClaimant")),
    ("NeutralityClaims", "assignVerifier"): Row("regulator", lambda c: c.claims.functions.assignVerifier(c.claim_id, c.w.acct["verifier"]),
                                                "NotRegulator", "NotRegulator", ("verifier", "NotRegulator")),
    ("NeutralityClaims", "verify"): Row("verifier", lambda c: c.claims.functions.verify(c.claim_id, H),
                                        "NotAssignedVerifier", "NotAssignedVerifier", ("verifier2", "NotAssignedVerifier")),
    ("NeutralityClaims", "invalidate"): Row("regulator", lambda c: c.claims.functions.invalidate(c.claim_id, H),
                                            "NotRegulator", "NotRegulator", ("enterprise", "NotRegulator")),
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
    ("CarbonAssets", "admissionEpochChanged"): Row("ParticipantRegistry contract", lambda c: c.assets.functions.admissionEpochChanged(
        0, True), "NotParticipantRegistry", REGISTRY_PUSH, ("regulator", "NotParticipantRegistry")),
    ("CarbonAssets", "pause"): _constitutional(lambda c: c.assets.functions.pause()),
    ("CarbonAssets", "unpause"): _constitutional(lambda c: c.assets.functions.unpause()),
    ("CarbonAssets", "grantOperator"): _constitutional(lambda c: c.assets.functions.grantOperator(
        bytes(c.w.call(c.assets.functions.CEA_ISSUER_ROLE())), c.w.acct["enterprise"])),
    ("CarbonAssets", "revokeOperator"): _constitutional(lambda c: c.assets.functions.revokeOperator(
        bytes(c.w.call(c.assets.functions.CCER_ISSUER_ROLE())), c.ccer.address)),
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
        PROJECT + 1, c.w.acct["owner"], H, b"620000".ljust(32, b"\0"), 1_700_000_000, 1_600_761_600, "wind"), "NotActiveParticipant", "NotActiveParticipant", ("enterprise", "NotActiveParticipant")),
    ("CCERRegistry", "issueBatch"): Row("registry", lambda c: c.ccer.functions.issueBatch(PROJECT, VINTAGE, 5, "", 0, 0, H),
                                        "NotActiveParticipant", "NotActiveParticipant", ("enterprise", "NotActiveParticipant")),
    ("CCERRegistry", "issueGenerationBatch"): Row("registry", lambda c: c.ccer.functions.issueGenerationBatch(
        PROJECT, VINTAGE, 5, "", 0, 0, H, [DeviceMonth(c.w.device, 2007, 1)]),
        "NotActiveParticipant", "NotActiveParticipant", ("enterprise", "NotActiveParticipant")),
    # --------------------------------------------------------------- GenerationClaims (issue 13: GEC or CCER)
    ("GenerationClaims", "claim"): Row("GreenCertificates / CCERRegistry contract", lambda c: c.generation_claims.functions.claim(
        [DeviceMonth(c.w.device, 2007, 1)], 1), "NotClaimWriter", CLAIM_WRITER, ("registry", "NotClaimWriter")),
    ("GenerationClaims", "setWriter"): _constitutional(lambda c: c.generation_claims.functions.setWriter(c.w.acct["enterprise"], 1)),
    ("CCERRegistry", "retire"): Row("owner", lambda c: c.ccer.functions.retire(_retirement(c)),
                                    "NotHolderOrRegistry", "NotAdmitted", ("registry", "NotHolderOrRegistry")),
    # --------------------------------------------------------------- GreenCertificates (issue 13)
    ("GreenCertificates", "issue"): Row("registry", lambda c: c.certificates.functions.issue(
        c.w.device, 2007, 1, 1, 0, 0, 0, c.w.acct["enterprise"]),
        "NotActiveParticipant", "NotActiveParticipant", ("enterprise", "NotActiveParticipant")),
    ("GreenCertificates", "transfer"): Row("enterprise", lambda c: c.certificates.functions.transfer(1, c.w.acct["enterprise2"], 1),
                                           "NotAdmitted", "NotAdmitted", ("verifier", ANY_HOLDER)),
    ("GreenCertificates", "retire"): Row("enterprise", lambda c: c.certificates.functions.retire(1, 1, 2016, 1, H),
                                         "NotActiveParticipant", "NotActiveParticipant", ("verifier", "NotActiveParticipant")),
    ("CCERRegistry", "retireFor"): Row("registry", lambda c: c.ccer.functions.retireFor(_retirement(c), DEADLINE, _signed_retirement(c)),
                                       "NotActiveParticipant", "NotActiveParticipant", ("enterprise", "NotActiveParticipant")),
    ("CCERRegistry", "cancel"): Row("owner", lambda c: c.ccer.functions.cancel(c.batch_ccer, 1, H),
                                    "NotAdmitted", "NotAdmitted", ("enterprise", "ERC1155InsufficientBalance")),
    ("CCERRegistry", "cancelFor"): Row("registry", lambda c: c.ccer.functions.cancelFor(c.w.acct["owner"], c.batch_ccer, 1, H, DEADLINE,
                                                                                     _signed_cancellation(c)),
                                       "NotActiveParticipant", "NotActiveParticipant", ("enterprise", "NotActiveParticipant")),
    ("CCERRegistry", "recordSurrender"): Row("Compliance contract", lambda c: c.ccer.functions.recordSurrender(
        c.w.acct["owner"], c.ccer_token, 1, H), "NotComplianceOperator", OPERATOR, ("registry", "NotComplianceOperator")),
    ("CCERRegistry", "clawbackCancel"): _constitutional(lambda c: c.ccer.functions.clawbackCancel(c.w.acct["owner"], c.batch_ccer, 1, H, H)),
    # --------------------------------------------------------------- CashToken
    ("CashToken", "deposit"): Row("bank", lambda c: c.cash.functions.deposit(c.w.acct["enterprise"], 100, keccak256(b"ref-1")),
                                  "NotActiveParticipant", "NotActiveParticipant", ("enterprise", "NotActiveParticipant")),
    ("CashToken", "withdraw"): Row("bank", lambda c: c.cash.functions.withdraw(c.w.acct["enterprise"], 1, keccak256(b"ref-2"), DEADLINE,
                                                                          _signed_withdrawal(c)),
                                   "NotActiveParticipant", "NotActiveParticipant", ("enterprise", "NotActiveParticipant")),
    ("CashToken", "orderWithdrawal"): _constitutional(lambda c: c.cash.functions.orderWithdrawal(c.w.acct["enterprise"], 1,
                                                                                                  keccak256(b"ref-3"), H)),
    ("CashToken", "grantOperator"): _constitutional(lambda c: c.cash.functions.grantOperator(c.w.acct["exchange"])),
    ("CashToken", "revokeOperator"): _constitutional(lambda c: c.cash.functions.revokeOperator(c.settlement.address)),
    ("CashToken", "settlementTransfer"): Row("settlement contract", lambda c: c.cash.functions.settlementTransfer(
        c.w.acct["enterprise"], c.w.acct["enterprise2"], 1), "NotOperator", OPERATOR, ("bank", "NotOperator")),
    # --------------------------------------------------------------- Settlement
    ("Settlement", "settle"): Row("exchange", lambda c: c.settlement.functions.settle([_trade(c)], True), "NotActiveParticipant", "NotActiveParticipant", ("enterprise", "NotActiveParticipant")),
    ("Settlement", "cancelOrder"): Row("enterprise2", lambda c: c.settlement.functions.cancelOrder(_buy_order(c).order.as_tuple()),
                                       "NotOrderSigner", Open("an order's signer may cancel it whatever its organisation's state: "
                                                              "cancelling only withdraws consent"),
                                       ("exchange", "NotOrderSigner")),
    ("Settlement", "setFeeAccount"): Row("exchange", lambda c: c.settlement.functions.setFeeAccount(c.w.acct["exchange"]),
                                         "NotActiveParticipant", "NotActiveParticipant", ("regulator", "NotActiveParticipant")),
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
    ("Allocation", "setComplianceContract"): _constitutional(lambda c: c.allocation.functions.setComplianceContract(
        c.w.acct["exchange"])),
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
    # --------------------------------------------------------------- RegulatorCouncil (k-of-n approvals)
    ("RegulatorCouncil", "approve"): Row("regulator", lambda c: c.council.functions.approve(*_op(c)),
                                         "NotCouncilMember", "NotCouncilMember", ("enterprise", "NotCouncilMember")),
    ("RegulatorCouncil", "cancel"): Row("regulator", lambda c: c.council.functions.cancel(keccak256(b"op")),
                                        "NotCouncilMember", "NotCouncilMember", ("verifier", "NotCouncilMember")),
    ("RegulatorCouncil", "setCouncil"): Row("Constitution contract", lambda c: c.council.functions.setCouncil(
        [c.w.acct["regulator"]], 1), "NotTimelock", OPERATOR, ("regulator", "NotTimelock")),
    # --------------------------------------------------------------- Constitution (OpenZeppelin TimelockController)
    ("Constitution", "schedule"): Row("RegulatorCouncil contract", lambda c: c.timelock.functions.schedule(
        c.assets.address, 0, c.assets.functions.pause().data, bytes(32), H, 60), "AccessControlUnauthorizedAccount", OPERATOR,
        ("regulator", "AccessControlUnauthorizedAccount")),
    ("Constitution", "scheduleBatch"): Row("RegulatorCouncil contract", lambda c: c.timelock.functions.scheduleBatch(*_op(c), 60),
                                           "AccessControlUnauthorizedAccount", OPERATOR, ("regulator", "AccessControlUnauthorizedAccount")),
    ("Constitution", "cancel"): Row("RegulatorCouncil contract", lambda c: c.timelock.functions.cancel(keccak256(b"op")),
                                    "AccessControlUnauthorizedAccount", OPERATOR, ("regulator", "AccessControlUnauthorizedAccount")),
    ("Constitution", "execute"): Row("anyone", lambda c: c.timelock.functions.execute(
        c.assets.address, 0, c.assets.functions.pause().data, bytes(32), H), TIMELOCK_OPEN, TIMELOCK_OPEN, ("regulator", TIMELOCK_OPEN)),
    ("Constitution", "executeBatch"): Row("anyone", lambda c: c.timelock.functions.executeBatch(*_op(c)),
                                          TIMELOCK_OPEN, TIMELOCK_OPEN, ("regulator", TIMELOCK_OPEN)),
    ("Constitution", "updateDelay"): Row("Constitution contract", lambda c: c.timelock.functions.updateDelay(1),
                                         "TimelockUnauthorizedCaller", OPERATOR, ("regulator", "TimelockUnauthorizedCaller")),
    ("Constitution", "grantRole"): Row("Constitution contract", lambda c: c.timelock.functions.grantRole(
        c.w.call(c.timelock.functions.PROPOSER_ROLE()), c.w.acct["outsider"]), "AccessControlUnauthorizedAccount", OPERATOR,
        ("regulator", "AccessControlUnauthorizedAccount")),
    ("Constitution", "revokeRole"): Row("Constitution contract", lambda c: c.timelock.functions.revokeRole(
        c.w.call(c.timelock.functions.PROPOSER_ROLE()), c.council.address), "AccessControlUnauthorizedAccount", OPERATOR,
        ("regulator", "AccessControlUnauthorizedAccount")),
    ("Constitution", "renounceRole"): Row("RegulatorCouncil contract", lambda c: c.timelock.functions.renounceRole(
        c.w.call(c.timelock.functions.PROPOSER_ROLE()), c.council.address), "AccessControlBadConfirmation", OPERATOR,
        ("regulator", "AccessControlBadConfirmation")),
    ("Constitution", "onERC721Received"): Row("anyone", lambda c: c.timelock.functions.onERC721Received(
        c.w.acct["outsider"], c.w.acct["outsider"], 1, b""), TIMELOCK_OPEN, TIMELOCK_OPEN, ("regulator", TIMELOCK_OPEN)),
    ("Constitution", "onERC1155Received"): Row("anyone", lambda c: c.timelock.functions.onERC1155Received(
        c.w.acct["outsider"], c.w.acct["outsider"], 1, 1, b""), TIMELOCK_OPEN, TIMELOCK_OPEN, ("regulator", TIMELOCK_OPEN)),
    ("Constitution", "onERC1155BatchReceived"): Row("anyone", lambda c: c.timelock.functions.onERC1155BatchReceived(
        c.w.acct["outsider"], c.w.acct["outsider"], [1], [1], b""), TIMELOCK_OPEN, TIMELOCK_OPEN, ("regulator", TIMELOCK_OPEN)),
}


def _day_report(c: Ctx, day: int, supersedes: int = 0) -> tuple[Any, list[bytes]]:
    """A quorum-signed report of day ``day`` of January 2007 (``supersedes``: a batch id)."""
    w = c.w
    rs = minute_readings(w.device, DAY0 + day * 86_400, [1_000_000, 2_000_000, 500_000], first_seq=100 + 10 * day)
    rep, _ = report_for(rs, w.call(c.anchor.functions.configDigest()), DAY0 + day * 86_400, DAY0 + (day + 1) * 86_400,
                        supersedes=supersedes.to_bytes(32, "big"))
    return as_tuple(rep), sign_report(rep, c.w.dep.domain.separator, [w.oracle_signer(i) for i in (1, 2, 3)])


def _round_report(c: Ctx, day: int, supersedes: int = 0) -> tuple[Any, list[bytes]]:
    """A quorum-signed MeterRounds report of day ``day`` of January 2007 (``supersedes``: a round id)."""
    w = c.w
    rs = minute_readings(w.device, DAY0 + day * 86_400, [1_000_000, 2_000_000, 500_000], first_seq=100 + 10 * day)
    start = DAY0 + day * 86_400
    tree = build_round(start, start + 86_400, [RoundReading(r.device, r.start, r.end, r.value, reading_leaf(r, bytes(65)))
                                               for r in rs], {w.device: 3_600})
    rep = tree.report(w.call(c.anchor.functions.configDigest()), supersedes.to_bytes(32, "big"))
    d = round_report_digest(rounds_domain(w.client.chain_id, c.rounds.address).separator, rep)
    return ((rep.config_digest, rep.start, rep.end, rep.devices, rep.readings, rep.root, rep.supersedes),
            [w.oracle_signer(i).sign_digest(d) for i in (1, 2, 3)])


def _claim_declaration(c: Ctx, certificate_id: int = 0) -> tuple[Any, ...]:
    """An event claim (no record) of 1 000 kgCO2 backed by the enterprise's 1 t retirement
    ``certificate_id`` (default: a fresh one, not bound to ``c.claim_id``)."""
    return (keccak256(b"event"), 1, 1_600_000_000, 1_600_086_400, 1_000, H, [], [certificate_id or c.claim_cert])


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
def ctx(world: World, artifacts: dict[str, Artifact]) -> Iterator[Ctx]:
    """The objects of :class:`Ctx` on the session world, plus a second regulator account (with the
    first, the council of the governance contracts' rows), an ``issuer`` operator EOA, and the
    registry's constitution handed from the deployer to a ``constitution`` account (who suspends
    organisations in the ``suspended`` cases); reverted at the end."""
    w, d = world, world.dep
    c = w.client
    snap = c.rpc("evm_snapshot")
    try:
        for name in ("regulator2", "issuer", "constitution"):
            if name not in w.acct:
                w.keys[name] = new_private_key()
                w.acct[name] = c.add_account(w.keys[name])
        set_balances(c, [w.acct["regulator2"], w.acct["issuer"], w.acct["constitution"]])
        uscc2 = make_uscc("1", "1", "310000", "MB1C0002")
        w.tx(d.participants.functions.admit(org_id(uscc2), d.role("REGULATOR_ROLE"), uscc_bytes32(uscc2), 28800,
                                            w.acct["regulator2"], "second regulator"), "regulator")
        res = w.tx(d.anchor.functions.anchor(*_day_report(Ctx(w, 0, 0, 0, 0), 0)), "oracle-1")
        batch_id = d.anchor.decode_events(res, "BatchAnchored")[0].batchId
        res = w.tx(d.rounds.functions.anchorRound(*_round_report(Ctx(w, 0, 0, 0, 0), 0)), "oracle-1")
        round_id = d.rounds.decode_events(res, "RoundAnchored")[0].roundId
        em = d.emissions.functions
        declare_gap(w, 2007, 1, all_days_but([1]))                          # only 1 January is anchored
        res = w.tx(em.recordPurchasedElectricity(w.device, 2007, 1, 0, 0, w.factor_set, H, 0), "enterprise")
        rid = d.emissions.decode_events(res, "ActivityRecorded")[0].recordId
        w.tx(em.submit(rid), "enterprise")
        w.tx(em.assignVerifier(rid, w.acct["verifier"]), "regulator")
        w.tx(d.ccer.functions.registerProject(PROJECT, w.acct["owner"], H, b"620000".ljust(32, b"\0"), 1_700_000_000,
                                             1_600_761_600, "Gansu wind farm"), "registry")
        res = w.tx(d.ccer.functions.issueBatch(PROJECT, VINTAGE, 100, "", 0, 0, H), "registry")
        batch_ccer = d.ccer.decode_events(res, "BatchIssued")[0].batchId
        # a neutrality claim of the enterprise (an event claim backed by a 1 t retirement) and a second
        # retirement of its own for the declare row
        w.tx(d.assets.functions.safeTransferFrom(w.acct["owner"], w.acct["enterprise"], ccer_id(VINTAGE, PROJECT), 2, b""), "owner")
        certs = []
        for _ in range(2):
            res = w.tx(d.ccer.functions.retire((w.acct["enterprise"], batch_ccer, 1, "", 0, 0, "enterprise", "neutrality", "")),
                       "enterprise")
            certs.append(d.ccer.decode_events(res, "RetirementCertified")[0].certificateId)
        res = w.tx(d.claims.functions.declare(_claim_declaration(Ctx(w, 0, 0, 0, 0), certs[0])), "enterprise")
        claim_id = d.claims.decode_events(res, "ClaimDeclared")[0].claimId
        w.tx(d.claims.functions.assignVerifier(claim_id, w.acct["verifier"]), "regulator")
        cea_role = bytes(c.call(d.assets.functions.CEA_ISSUER_ROLE()))
        w.tx(d.assets.functions.grantOperator(cea_role, w.acct["issuer"]), "regulator")
        w.tx(d.assets.functions.issue(w.acct["enterprise"], cea_id(2021), 10, H), "issuer")
        w.tx(d.participants.functions.transferConstitution(w.acct["constitution"]), "regulator")
        reg = w.acct["regulator"]
        timelock = Constitution.deploy(c, reg, artifacts["Constitution"].bytecode, 60, [], [OPEN_EXECUTOR], reg)
        council = RegulatorCouncil.deploy(c, reg, artifacts["RegulatorCouncil"].bytecode, d.participants.address, timelock.address,
                                          [reg, w.acct["regulator2"]], 2)
        c.send([timelock.grantRole(timelock.PROPOSER_ROLE(), council.address, sender=reg),
                timelock.grantRole(timelock.CANCELLER_ROLE(), council.address, sender=reg),
                timelock.renounceRole(timelock.DEFAULT_ADMIN_ROLE(), reg, sender=reg)])
        yield Ctx(w, rid, batch_id, ccer_id(VINTAGE, PROJECT), batch_ccer, timelock, council, round_id, claim_id, certs[1])
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
    """``who``'s outcome after the constitution suspended its organisation (reverted afterwards)."""
    w = c.w
    snap = w.client.rpc("evm_snapshot")
    try:
        org = bytes(w.call(w.dep.participants.functions.orgOf(w.acct[who])))
        w.tx(w.dep.participants.functions.suspend(org, H), "constitution")
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
    implementing = {"ICarbonAssets": "CarbonAssets", "ICCERRegistry": "CCERRegistry", "IAdmissionListener": "CarbonAssets"}
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
