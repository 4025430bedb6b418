# ruff: noqa: F811  (the fixtures m / market are imported from test_assets_market)
"""CarbonAssets' admission cache (issue 12 "Contracts v2", gas targets; docs/gas.md): a warm
transfer reads the parties' cached admission and the registry's admission epoch from CarbonAssets'
own storage, the epoch pushed by the ParticipantRegistry in the transaction that bumps it. These
tests prove the cache never outlives a sanction: with both parties' (and an operator's) admission
cached by an earlier transfer, a suspension, revocation, account removal or freeze refuses the
very next transfer with the ERC-1404 code of TransferRestrictions and the named custom error."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.chain.client import ContractRevert
from ledger.crypto.primitives import keccak256
from ledger.identifiers import org_id
from tests.conftest import USCC
from tests.test_assets_market import CEA, NEW_ORGS, Market, m, market  # noqa: F401

ZERO = "0x" + "00" * 20
H = keccak256(b"sanction decision")


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _org(who: str) -> bytes:
    return org_id(NEW_ORGS[who][0] if who in NEW_ORGS else USCC[who])


def _refused_for(m: Market, fn: Any, who: str, error: str, account: str) -> ContractRevert:
    """``who`` calling ``fn`` is refused with ``error`` naming ``account`` (the party at fault)."""
    exc = m.refused(fn, who, error)
    assert _same(str(exc.args_[0]), m.acct[account]), exc
    return exc


def _sanction(m: Market, sanction: str, who: str) -> None:
    p, a = m.w.dep.participants.functions, m.assets.functions
    if sanction == "suspend":
        m.tx(p.suspend(_org(who), H), "regulator")
    elif sanction == "revoke":
        m.tx(p.revoke(_org(who), H), "regulator")
    elif sanction == "remove":
        m.tx(p.removeAccount(_org(who), m.acct[who]), "regulator")
    else:
        m.tx(a.freeze(m.acct[who], "enforcement decision 2024-7"), "regulator")


def test_carbon_assets_is_attached_and_every_epoch_bump_reaches_it(m: Market) -> None:
    p = m.w.dep.participants
    assert _same(m.call(p.functions.admissionListener()), m.assets.address)
    sync = m.assets.admissionSync()
    assert (sync.attached, sync.epoch) == (True, p.admissionEpoch())
    r = m.tx(p.functions.suspend(_org("enterprise2"), H), "regulator")
    (ev,) = m.assets.decode_events(r, "AdmissionEpochSynced")
    assert (ev.epoch, ev.attached) == (sync.epoch + 1, True)
    assert m.assets.admissionSync().epoch == p.admissionEpoch() == sync.epoch + 1
    m.tx(p.functions.reinstate(_org("enterprise2")), "regulator")      # no admission lost: no bump
    assert p.admissionEpoch() == sync.epoch + 1


def test_only_the_registry_pushes_the_epoch_and_only_the_constitution_names_the_listener(m: Market) -> None:
    a, p = m.assets.functions, m.w.dep.participants.functions
    for who in ("outsider", "enterprise", "regulator"):
        _refused_for(m, a.admissionEpochChanged(0, True), who, "NotParticipantRegistry", who)
        _refused_for(m, a.admissionEpochChanged(2**64 - 1, False), who, "NotParticipantRegistry", who)
    for who in ("outsider", "enterprise"):
        _refused_for(m, p.setAdmissionListener(ZERO), who, "NotConstitution", who)
    assert m.assets.admissionSync().attached is True


@pytest.mark.parametrize(("sanction", "who", "error", "code"), [
    ("suspend", "enterprise2", "NotAdmitted", 3),       # REASON_BUYER_NOT_ADMITTED
    ("suspend", "enterprise", "NotAdmitted", 2),        # REASON_SELLER_NOT_ADMITTED
    ("revoke", "enterprise2", "NotAdmitted", 3),
    ("revoke", "enterprise", "NotAdmitted", 2),
    ("remove", "enterprise2", "NotAdmitted", 3),
    ("remove", "enterprise", "NotAdmitted", 2),
    ("freeze", "enterprise2", "AccountIsFrozen", 5),    # REASON_BUYER_FROZEN
    ("freeze", "enterprise", "AccountIsFrozen", 4),     # REASON_SELLER_FROZEN
])
def test_a_sanction_refuses_the_next_transfer_though_both_admissions_are_cached(
        m: Market, sanction: str, who: str, error: str, code: int) -> None:
    a, ent, ent2 = m.assets.functions, m.acct["enterprise"], m.acct["enterprise2"]
    m.issue_cea("enterprise", 100)
    m.tx(a.safeTransferFrom(ent, ent2, CEA, 10, b""), "enterprise")     # both admissions cached
    assert m.call(a.detectTransferRestriction(ent, ent2, CEA, 1)) == 0
    _sanction(m, sanction, who)
    assert m.call(a.detectTransferRestriction(ent, ent2, CEA, 1)) == code
    assert m.call(a.transferCheck(ent, ent2, CEA, 1)) == code
    assert m.call(m.settlement.functions.messageForTransferRestriction(code)) == \
        m.call(a.messageForTransferRestriction(code))
    _refused_for(m, a.safeTransferFrom(ent, ent2, CEA, 1, b""), "enterprise", error, who)
    _refused_for(m, a.safeBatchTransferFrom(ent, ent2, [CEA], [1], b""), "enterprise", error, who)
    assert (m.bal("enterprise", CEA), m.bal("enterprise2", CEA)) == (90, 10)


def test_an_approved_operator_is_checked_like_a_holder_with_its_admission_cached(m: Market) -> None:
    a, p = m.assets.functions, m.w.dep.participants.functions
    ent, ent2 = m.acct["enterprise"], m.acct["enterprise2"]
    m.issue_cea("enterprise", 100)
    m.tx(a.setApprovalForAll(m.acct["owner"], True), "enterprise")
    m.tx(a.setApprovalForAll(m.acct["outsider"], True), "enterprise")
    move = a.safeTransferFrom(ent, ent2, CEA, 1, b"")
    m.tx(move, "owner")                                                 # the operator's admission cached
    _refused_for(m, move, "outsider", "NotAdmitted", "outsider")       # never admitted
    m.tx(p.suspend(_org("owner"), H), "regulator")
    assert m.call(a.detectTransferRestriction(ent, ent2, CEA, 1)) == 0  # the holders may move; the operator not
    _refused_for(m, move, "owner", "NotAdmitted", "owner")
    m.tx(move, "enterprise")
    m.tx(p.reinstate(_org("owner")), "regulator")
    m.tx(move, "owner")
    m.tx(a.freeze(m.acct["owner"], "enforcement decision 2024-8"), "regulator")
    _refused_for(m, move, "owner", "AccountIsFrozen", "owner")
    m.tx(a.unfreeze(m.acct["owner"], "lifted"), "regulator")
    m.tx(move, "owner")
    m.tx(p.removeAccount(_org("owner"), m.acct["owner"]), "regulator")
    _refused_for(m, move, "owner", "NotAdmitted", "owner")
    assert m.bal("enterprise2", CEA) == 4


def test_a_detached_carbon_assets_asks_the_registry_and_still_refuses(m: Market) -> None:
    a, p = m.assets.functions, m.w.dep.participants
    ent, ent2 = m.acct["enterprise"], m.acct["enterprise2"]
    m.issue_cea("enterprise", 100)
    move = a.safeTransferFrom(ent, ent2, CEA, 1, b"")
    m.tx(move, "enterprise")                                            # caches both admissions
    warm_attached = m.tx(move, "enterprise").gas_used
    r = m.tx(p.functions.setAdmissionListener(ZERO), "regulator")      # the bootstrap constitution
    (ev,) = p.decode_events(r, "AdmissionListenerSet")
    assert (_same(ev.previous, m.assets.address), _same(ev.current, ZERO)) == (True, True)
    assert m.assets.admissionSync().attached is False
    warm_detached = m.tx(move, "enterprise").gas_used
    assert warm_detached > warm_attached                               # one external call more
    epoch = p.admissionEpoch()
    m.tx(p.functions.suspend(_org("enterprise2"), H), "regulator")
    assert m.assets.admissionSync().epoch == epoch                     # nothing pushed: it asks instead
    assert m.call(a.detectTransferRestriction(ent, ent2, CEA, 1)) == 3
    _refused_for(m, move, "enterprise", "NotAdmitted", "enterprise2")
    m.tx(p.functions.reinstate(_org("enterprise2")), "regulator")
    m.tx(p.functions.setAdmissionListener(m.assets.address), "regulator")
    assert (m.assets.admissionSync().attached, m.assets.admissionSync().epoch) == (True, epoch + 1)
    m.tx(move, "enterprise")
    assert m.bal("enterprise2", CEA) == 4


def test_pause_shares_the_word_with_the_epoch_and_survives_a_push(m: Market) -> None:
    a, p = m.assets.functions, m.w.dep.participants.functions
    ent, ent2 = m.acct["enterprise"], m.acct["enterprise2"]
    m.issue_cea("enterprise", 10)
    m.refused(a.unpause(), "regulator", "ExpectedPause")
    r = m.tx(a.pause(), "regulator")
    assert m.assets.decode_events(r, "Paused")[0].account.lower() == m.acct["regulator"].lower()
    m.tx(p.suspend(_org("verifier"), H), "regulator")                  # an epoch push while paused
    assert m.call(a.paused()) is True and m.assets.admissionSync().attached is True
    assert m.call(a.detectTransferRestriction(ent, ent2, CEA, 1)) == 1  # REASON_PAUSED
    m.refused(a.safeTransferFrom(ent, ent2, CEA, 1, b""), "enterprise", "EnforcedPause")
    m.refused(a.pause(), "regulator", "EnforcedPause")
    m.tx(a.unpause(), "regulator")
    assert m.call(a.paused()) is False and m.assets.admissionSync().epoch == m.w.dep.participants.admissionEpoch()
    m.tx(a.safeTransferFrom(ent, ent2, CEA, 1, b""), "enterprise")
