# ruff: noqa: F811  (the fixtures m / market are imported from test_assets_market)
"""Consent: nothing moves without its holder (issue 12). The attacker's tests: an exchange, a
registry, a bank or an approved operator acting on a holder's assets or cash without the
holder's signed consent is refused; a used trade id cannot hide a different trade; a fill never
exceeds its order; a batch issued without serials cannot be retired under an invented range.
Each of these fails on the v1 contracts (/tmp/consent_old_contracts.txt in the branch report)."""

from __future__ import annotations

from datetime import date

import pytest

from api.settlement_service import skip_reason
from ledger.accounting.exchange_rules import DEFAULT_RULES, DayState, TradeMode
from ledger.accounting.exchange_rules import Trade as RulesTrade
from ledger.accounting.settlement import BUY, SELL, Order, Reason, SignedOrder, Trade, settlement_domain, trade_id
from ledger.crypto.primitives import Signer, keccak256
from ledger.identifiers import org_id
from ledger.offsets.serials import RetirementRequest, SerialBook, SerialRange, SerialsRefused
from tests.conftest import USCC
from tests.test_assets_market import BENEFICIARY, CCER, CEA, PURPOSE, Market, m, market  # noqa: F401

FAR = 4_000_000_000  # UTC seconds, year 2096


def _domain(m: Market):
    return settlement_domain(m.client.chain_id, m.settlement.address)


def _order(m: Market, who: str, side: int, qty: int, limit: int, nonce: int = 1, expiry: int = FAR,
           fee_cap: int = 1_000, signer: str | None = None) -> SignedOrder:
    o = Order(m.acct[who], CEA, side, qty, limit, expiry, nonce, fee_cap)
    return o.sign(_domain(m), m.keys[signer or who])


def _setup(m: Market) -> None:
    m.issue_cea("enterprise", 1_000)
    m.deposit("enterprise2", 10_000_000)
    m.tx(m.settlement.functions.setFeeAccount(m.acct["exchange"]), "exchange")


def _skip_reason(m: Market, t: Trade) -> int:
    r = m.tx(m.settlement.functions.settle([t.as_tuple()], False), "exchange")
    (ev,) = m.settlement.decode_events(r, "TradeSkipped")
    return ev.reasonCode


# ------------------------------------------------------------------ settlement
def test_exchange_cannot_settle_a_trade_the_holders_did_not_sign(m: Market) -> None:
    _setup(m)
    # the exchange signs both orders itself, naming the enterprises as accounts
    buy = _order(m, "enterprise2", BUY, 10, 9_796, signer="exchange")
    sell = _order(m, "enterprise", SELL, 10, 9_796, signer="exchange")
    assert _skip_reason(m, Trade(buy, sell, 10, 9_796)) == Reason.BAD_ORDER_SIGNATURE
    assert (m.bal("enterprise", CEA), m.cash_of("enterprise2")) == (1_000, 10_000_000)
    # with the holders' own signatures it settles
    t = Trade(_order(m, "enterprise2", BUY, 10, 9_796), _order(m, "enterprise", SELL, 10, 9_796), 10, 9_796)
    r = m.tx(m.settlement.functions.settle([t.as_tuple()], True), "exchange")
    (ev,) = m.settlement.decode_events(r, "TradeSettled")
    assert ev.tradeId == t.trade_id(_domain(m)) == m.call(m.settlement.functions.tradeIdOf(t.as_tuple()))
    assert (m.bal("enterprise", CEA), m.bal("enterprise2", CEA)) == (990, 10)


def test_a_used_trade_id_cannot_hide_a_different_trade(m: Market) -> None:
    _setup(m)
    buy, sell = _order(m, "enterprise2", BUY, 100, 10_000), _order(m, "enterprise", SELL, 100, 9_000)
    first = Trade(buy, sell, 10, 9_500)
    m.tx(m.settlement.functions.settle([first.as_tuple()], True), "exchange")
    # a different fill (other quantity or price) of the same orders has a different id: it is
    # not answered "already settled" but settled (or refused) on its own
    other = Trade(buy, sell, 20, 9_900)
    d = _domain(m)
    assert other.trade_id(d) != first.trade_id(d)
    assert other.trade_id(d) == trade_id(buy.order.digest(d), sell.order.digest(d), 0, 20, 9_900)
    r = m.tx(m.settlement.functions.settle([other.as_tuple()], True), "exchange")
    assert m.settlement.decode_events(r, "TradeAlreadySettled") == []
    assert m.bal("enterprise2", CEA) == 30


def test_a_fill_never_exceeds_the_orders_quantity(m: Market) -> None:
    _setup(m)
    buy, sell = _order(m, "enterprise2", BUY, 10, 10_000), _order(m, "enterprise", SELL, 50, 9_000)
    m.tx(m.settlement.functions.settle([Trade(buy, sell, 6, 9_500).as_tuple()], True), "exchange")
    assert _skip_reason(m, Trade(buy, sell, 6, 9_500, fill_index=1)) == Reason.ORDER_OVERFILLED
    m.tx(m.settlement.functions.settle([Trade(buy, sell, 4, 9_500, fill_index=1).as_tuple()], True), "exchange")
    assert m.call(m.settlement.functions.filled(buy.order.digest(_domain(m)))) == 10
    assert m.bal("enterprise2", CEA) == 10


def test_price_limits_expiry_fee_caps_and_sides_are_the_orders(m: Market) -> None:
    _setup(m)
    buy, sell = _order(m, "enterprise2", BUY, 10, 10_000), _order(m, "enterprise", SELL, 10, 9_000)
    assert _skip_reason(m, Trade(buy, sell, 1, 10_001)) == Reason.PRICE_OUTSIDE_LIMIT
    assert _skip_reason(m, Trade(buy, sell, 1, 8_999)) == Reason.PRICE_OUTSIDE_LIMIT
    assert _skip_reason(m, Trade(buy, sell, 1, 9_500, buyer_fee_fen=1_001)) == Reason.FEE_ABOVE_ORDER_CAP
    assert _skip_reason(m, Trade(sell, buy, 1, 9_500)) == Reason.ORDERS_DO_NOT_MATCH
    now = int(m.client.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    old = _order(m, "enterprise2", BUY, 10, 10_000, nonce=2, expiry=now - 1)
    assert _skip_reason(m, Trade(old, sell, 1, 9_500)) == Reason.ORDER_EXPIRED


def test_orders_are_cancellable_by_their_signer_only(m: Market) -> None:
    _setup(m)
    buy, sell = _order(m, "enterprise2", BUY, 10, 10_000), _order(m, "enterprise", SELL, 10, 9_000)
    s = m.settlement.functions
    m.refused(s.cancelOrder(buy.order.as_tuple()), "exchange", "NotOrderSigner")
    r = m.tx(s.cancelOrder(buy.order.as_tuple()), "enterprise2")
    assert m.settlement.decode_events(r, "OrderCancelled")[0].orderHash == buy.order.digest(_domain(m))
    m.refused(s.cancelOrder(buy.order.as_tuple()), "enterprise2", "OrderAlreadyCancelled")
    assert _skip_reason(m, Trade(buy, sell, 1, 9_500)) == Reason.ORDER_CANCELLED


def test_erc1404_codes_and_messages_are_shared_by_assets_and_settlement(m: Market) -> None:
    _setup(m)
    a, s = m.assets.functions, m.settlement.functions
    ent, ent2 = m.acct["enterprise"], m.acct["enterprise2"]
    assert m.call(a.detectTransferRestriction(ent, ent2, CEA, 1)) == 0
    assert m.call(a.detectTransferRestriction(ent, m.acct["outsider"], CEA, 1)) == Reason.BUYER_NOT_ADMITTED
    assert m.call(s.detectTransferRestriction(ent, ent2, CEA, 5_000)) == Reason.SELLER_LACKS_ASSET
    for code in [0, *Reason]:
        text = m.call(a.messageForTransferRestriction(int(code)))
        assert text == m.call(s.messageForTransferRestriction(int(code))) and text != "unknown restriction code"


# ------------------------------------------------------------------ approved operators
def test_an_approved_operator_that_is_frozen_or_not_admitted_cannot_move_tokens(m: Market) -> None:
    m.issue_cea("enterprise", 100)
    a, ent, ent2 = m.assets.functions, m.acct["enterprise"], m.acct["enterprise2"]
    m.tx(a.setApprovalForAll(m.acct["verifier"], True), "enterprise")
    m.tx(a.freeze(m.acct["verifier"], "决定书 2024-7"), "regulator")
    m.refused(a.safeTransferFrom(ent, ent2, CEA, 1, b""), "verifier", "AccountIsFrozen")
    m.tx(a.unfreeze(m.acct["verifier"], "lifted"), "regulator")
    m.tx(a.safeTransferFrom(ent, ent2, CEA, 1, b""), "verifier")
    # the operator's organisation suspended: refused as not admitted
    m.tx(m.w.dep.participants.functions.suspend(org_id(USCC["verifier"]), keccak256(b"suspension")), "regulator")
    m.refused(a.safeTransferFrom(ent, ent2, CEA, 1, b""), "verifier", "NotAdmitted")
    assert m.bal("enterprise2", CEA) == 1


# ------------------------------------------------------------------ registry
def _batch(m: Market, amount: int = 100, serials: SerialRange | None = None) -> int:
    return m.issue_batch(amount, serials or SerialRange("CCER-CN-1001-2021-", 1, amount))


def test_registry_cannot_retire_a_holders_ccer_without_its_signature(m: Market) -> None:
    b = _batch(m)
    req = RetirementRequest(m.acct["owner"], b, 10, "Anyone at all", PURPOSE)
    m.refused(m.registry.functions.retire(req.as_tuple()), "registry", "NotHolderOrRegistry")
    deadline = FAR
    forged = Signer(m.keys["registry"]).sign_digest(m.call(m.registry.functions.retirementDigest(req.as_tuple(), 0, deadline)))
    m.refused(m.registry.functions.retireFor(req.as_tuple(), deadline, forged), "registry", "InvalidHolderSignature")
    good = Signer(m.keys["owner"]).sign_digest(m.call(m.registry.functions.retirementDigest(req.as_tuple(), 0, deadline)))
    m.refused(m.registry.functions.retireFor(req.as_tuple(), deadline, good), "enterprise", "NotActiveParticipant")
    m.tx(m.registry.functions.retireFor(req.as_tuple(), deadline, good), "registry")
    assert m.bal("owner", CCER) == 90
    # the signature is spent (nonce used): a replay is refused
    m.refused(m.registry.functions.retireFor(req.as_tuple(), deadline, good), "registry", "InvalidHolderSignature")


def test_registry_cannot_cancel_a_holders_ccer_and_a_clawback_is_the_regulators_with_a_reason(m: Market) -> None:
    b = _batch(m)
    r = m.registry.functions
    owner, dest = m.acct["owner"], keccak256(b"Verra")
    forged = Signer(m.keys["registry"]).sign_digest(m.call(r.cancellationDigest(owner, b, 5, dest, 0, FAR)))
    m.refused(r.cancelFor(owner, b, 5, dest, FAR, forged), "registry", "InvalidHolderSignature")
    m.refused(r.clawbackCancel(owner, b, 5, dest, keccak256(b"fraud")), "registry", "NotConstitution")
    m.refused(r.clawbackCancel(owner, b, 5, dest, bytes(32)), "regulator", "MissingReason")
    tx = m.tx(r.clawbackCancel(owner, b, 5, dest, keccak256(b"fraud")), "regulator")
    (ev,) = m.registry.decode_events(tx, "CreditsCancelled")
    # cancellation marks the batch's lowest free serials
    assert (ev.serialStart, ev.serialEnd, ev.reasonHash) == (1, 5, keccak256(b"fraud"))
    assert m.call(r.retiredOverlap(keccak256(b"CCER-CN-1001-2021-"), 3, 3)).found is True
    good = Signer(m.keys["owner"]).sign_digest(m.call(r.cancellationDigest(owner, b, 5, dest, 0, FAR)))
    tx = m.tx(r.cancelFor(owner, b, 5, dest, FAR, good), "registry")
    assert m.registry.decode_events(tx, "CreditsCancelled")[0].serialStart == 6
    m.tx(r.cancel(b, 1, dest), "owner")
    assert m.bal("owner", CCER) == 89


def test_a_batch_without_serials_cannot_be_retired_under_an_invented_range(m: Market) -> None:
    b = m.issue_batch(50)
    invented = RetirementRequest(m.acct["owner"], b, 10, BENEFICIARY, PURPOSE, "", SerialRange("INVENTED-", 1, 10))
    m.refused(m.registry.functions.retire(invented.as_tuple()), "owner", "SerialsOutsideBatch")
    m.tx(m.registry.functions.retire(RetirementRequest(m.acct["owner"], b, 10, BENEFICIARY, PURPOSE).as_tuple()), "owner")
    assert m.bal("owner", CCER) == 40


# ------------------------------------------------------------------ bank
def test_bank_cannot_burn_a_holders_cash_without_its_signed_request(m: Market) -> None:
    m.deposit("enterprise", 1_000)
    c, ent, ref = m.cash.functions, m.acct["enterprise"], keccak256(b"ICBC-W-1")
    forged = Signer(m.keys["bank"]).sign_digest(m.call(c.withdrawalDigest(ent, 400, ref, FAR)))
    m.refused(c.withdraw(ent, 400, ref, FAR, forged), "bank", "InvalidHolderSignature")
    good = Signer(m.keys["enterprise"]).sign_digest(m.call(c.withdrawalDigest(ent, 400, ref, FAR)))
    m.refused(c.withdraw(ent, 401, ref, FAR, good), "bank", "InvalidHolderSignature")
    m.tx(c.withdraw(ent, 400, ref, FAR, good), "bank")
    m.refused(c.withdraw(ent, 400, ref, FAR, good), "bank", "BankRefInvalidOrUsed")
    late = Signer(m.keys["enterprise"]).sign_digest(m.call(c.withdrawalDigest(ent, 1, keccak256(b"W-2"), 1)))
    m.refused(c.withdraw(ent, 1, keccak256(b"W-2"), 1, late), "bank", "RequestExpired")
    # the regulator's order, with a reason
    m.refused(c.orderWithdrawal(ent, 100, keccak256(b"W-3"), keccak256(b"court order")), "bank", "NotConstitution")
    m.refused(c.orderWithdrawal(ent, 100, keccak256(b"W-3"), bytes(32)), "regulator", "MissingReason")
    r = m.tx(c.orderWithdrawal(ent, 100, keccak256(b"W-3"), keccak256(b"court order")), "regulator")
    assert m.cash.decode_events(r, "WithdrawalOrdered")[0].reasonHash == keccak256(b"court order")
    assert m.cash_of("enterprise") == 500


def test_cached_admission_never_outlives_a_suspension_or_an_account_removal(m: Market) -> None:
    m.issue_cea("enterprise", 100)
    a, ent, ent2 = m.assets.functions, m.acct["enterprise"], m.acct["enterprise2"]
    p = m.w.dep.participants.functions
    m.tx(a.safeTransferFrom(ent, ent2, CEA, 1, b""), "enterprise")       # both admissions cached now
    epoch = m.call(p.admissionEpoch())
    m.tx(p.suspend(org_id(USCC["enterprise2"]), keccak256(b"suspension")), "regulator")
    assert m.call(p.admissionEpoch()) == epoch + 1
    m.refused(a.safeTransferFrom(ent, ent2, CEA, 1, b""), "enterprise", "NotAdmitted")
    m.tx(p.reinstate(org_id(USCC["enterprise2"])), "regulator")
    m.tx(a.safeTransferFrom(ent, ent2, CEA, 1, b""), "enterprise")
    m.tx(p.removeAccount(org_id(USCC["enterprise2"]), ent2), "regulator")
    m.refused(a.safeTransferFrom(ent, ent2, CEA, 1, b""), "enterprise", "NotAdmitted")
    assert m.bal("enterprise2", CEA) == 2


def test_the_apis_reason_texts_are_the_contracts_erc1404_messages(m: Market) -> None:
    for code in Reason:
        assert skip_reason(int(code)) == m.call(m.settlement.functions.messageForTransferRestriction(int(code))), code


def test_the_python_mirrors_refuse_what_the_contracts_bound() -> None:
    o = Order("0x" + "11" * 20, CEA, BUY, 1, 1, 2**64 - 1, 0)
    o.struct_hash()
    with pytest.raises(ValueError):
        Order("0x" + "11" * 20, CEA, BUY, 1, 1, 2**64, 0).struct_hash()       # expiry is uint64
    with pytest.raises(ValueError):
        Order("0x" + "11" * 20, CEA, 256, 1, 1, 1, 0).struct_hash()           # side is uint8
    signed = SignedOrder(o, b"")
    with pytest.raises(ValueError):
        _ = Trade(signed, signed, 2**128, 1).value_fen                       # REASON_AMOUNT_OVERFLOW
    assert Trade(signed, signed, 2**128 - 1, 1).value_fen == 2**128 - 1
    st = DayState(date(2024, 1, 2), 5000, DEFAULT_RULES)
    big = RulesTrade("t", date(2024, 1, 2), "a", "b", 2**128, 5000, TradeMode.BLOCK, CEA)
    assert "amount_overflow" in [v.code for v in st.check(big)]
    book = SerialBook()
    with pytest.raises(SerialsRefused):
        book.issue(1, SerialRange("", 0, 0), 2**64)                           # uint64 amount
