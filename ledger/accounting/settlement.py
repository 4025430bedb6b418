"""Settlement trades: the signed orders and trade tuple of ``Settlement.settle``, their EIP-712
hashes and trade ids, the reason codes (ERC-1404 ``TransferRestrictions``), and the integer
bounds the contract enforces.

Consent (issue 12): each trade is a fill of a buyer's and a seller's signed order
(:class:`Order`, EIP-712 type ``Order`` in domain "CarbonLedger Settlement" / "1"); the trade id is
keccak256(buy order hash, sell order hash, fill index, quantity, price).

Units: asset quantities in whole tCO2e (1 token = 1 tCO2e), money in fen (分), prices in fen per
tCO2e (DESIGN.md §5).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from ledger.crypto.primitives import Eip712Domain, Signer, address_bytes, keccak256

#: EIP-712 domain name and version of the Settlement contract.
SETTLEMENT_DOMAIN_NAME = "CarbonLedger Settlement"
SETTLEMENT_DOMAIN_VERSION = "1"
ORDER_TYPE = (b"Order(address account,uint256 assetId,uint8 side,uint256 quantity,uint256 limitPriceFen,"
              b"uint256 maxFeeFenPerTonne,uint64 expiry,uint256 nonce)")
ORDER_TYPEHASH = keccak256(ORDER_TYPE)
#: Quantities and prices must be below 2^128 (Settlement REASON_AMOUNT_OVERFLOW).
AMOUNT_BOUND = 2**128
BUY, SELL = 0, 1


class Reason(IntEnum):
    """Settlement reason codes (``TransferRestrictions.REASON_*``, ERC-1404); 1–7 equal
    CarbonAssets.detectTransferRestriction. Code 8 (trade id 0) is no longer produced."""

    PAUSED = 1
    SELLER_NOT_ADMITTED = 2
    BUYER_NOT_ADMITTED = 3
    SELLER_FROZEN = 4
    BUYER_FROZEN = 5
    SELLER_LACKS_ASSET = 6
    MALFORMED_ASSET = 7
    ZERO_QUANTITY = 9
    ZERO_PRICE = 10
    SAME_PARTY = 11
    AMOUNT_OVERFLOW = 12
    FEE_ACCOUNT_UNAVAILABLE = 13
    BUYER_LACKS_CASH = 14
    SELLER_FEE_EXCEEDS_PROCEEDS = 15
    ORDERS_DO_NOT_MATCH = 16
    BAD_ORDER_SIGNATURE = 17
    ORDER_EXPIRED = 18
    ORDER_CANCELLED = 19
    ORDER_OVERFILLED = 20
    PRICE_OUTSIDE_LIMIT = 21
    FEE_ABOVE_ORDER_CAP = 22


def settlement_domain(chain_id: int, settlement_address: str) -> Eip712Domain:
    """The EIP-712 domain of the Settlement contract at ``settlement_address``."""
    return Eip712Domain(SETTLEMENT_DOMAIN_NAME, SETTLEMENT_DOMAIN_VERSION, chain_id, settlement_address)


def _u(value: int, bits: int, name: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
        raise ValueError(f"{name} must be an int in [0, 2^{bits}), got {value!r}")
    return value.to_bytes(32, "big")


@dataclass(frozen=True)
class Order:
    """A member's order: ``side`` BUY (0) or SELL (1) ``quantity`` tCO2e of ``asset_id`` at
    ``limit_price_fen`` fen/t at worst, paying at most ``max_fee_fen_per_tonne`` fen of fee per
    tonne filled, valid until ``expiry`` (UTC seconds); ``nonce`` makes it unique."""

    account: str
    asset_id: int
    side: int
    quantity: int
    limit_price_fen: int
    expiry: int
    nonce: int
    max_fee_fen_per_tonne: int = 0

    def struct_hash(self) -> bytes:
        """EIP-712 ``hashStruct(Order)``.

        Raises:
            ValueError: a field outside its Solidity type (uint8 side, uint64 expiry, uint256 rest).
        """
        return keccak256(ORDER_TYPEHASH + bytes(12) + address_bytes(self.account) + _u(self.asset_id, 256, "asset_id")
                         + _u(self.side, 8, "side") + _u(self.quantity, 256, "quantity")
                         + _u(self.limit_price_fen, 256, "limit_price_fen")
                         + _u(self.max_fee_fen_per_tonne, 256, "max_fee_fen_per_tonne")
                         + _u(self.expiry, 64, "expiry") + _u(self.nonce, 256, "nonce"))

    def digest(self, domain: Eip712Domain) -> bytes:
        """The EIP-712 digest the account signs (``Settlement.orderHash``)."""
        return keccak256(b"\x19\x01" + domain.separator + self.struct_hash())

    def sign(self, domain: Eip712Domain, private_key: bytes) -> SignedOrder:
        """This order signed with ``private_key`` (which must be ``account``'s for it to fill)."""
        return SignedOrder(self, Signer(private_key).sign_digest(self.digest(domain)))

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple of ``Settlement.Order``."""
        return (self.account, self.asset_id, self.side, self.quantity, self.limit_price_fen,
                self.max_fee_fen_per_tonne, self.expiry, self.nonce)


@dataclass(frozen=True)
class SignedOrder:
    """An order and its account's 65-byte signature (r ‖ s ‖ v)."""

    order: Order
    signature: bytes


def trade_id(buy_hash: bytes, sell_hash: bytes, fill_index: int, quantity: int, price_fen: int) -> bytes:
    """keccak256(abi.encode(buy order hash, sell order hash, fill index, quantity, price)) — the
    id ``Settlement`` records (``tradeIdOf``)."""
    return keccak256(buy_hash + sell_hash + _u(fill_index, 256, "fill_index") + _u(quantity, 256, "quantity")
                     + _u(price_fen, 256, "price_fen"))


@dataclass(frozen=True)
class Trade:
    """A fill of ``buy`` against ``sell``: ``quantity`` tCO2e at ``price_fen`` fen per tCO2e;
    fees in fen; ``fill_index`` numbers the fills of one order pair."""

    buy: SignedOrder
    sell: SignedOrder
    quantity: int
    price_fen: int
    fill_index: int = 0
    buyer_fee_fen: int = 0
    seller_fee_fen: int = 0

    @property
    def seller(self) -> str:
        """The seller's account (the sell order's)."""
        return self.sell.order.account

    @property
    def buyer(self) -> str:
        """The buyer's account (the buy order's)."""
        return self.buy.order.account

    @property
    def asset_id(self) -> int:
        """The traded asset id (the sell order's)."""
        return self.sell.order.asset_id

    @property
    def value_fen(self) -> int:
        """quantity × price, fen (what the buyer pays the seller before fees).

        Raises:
            ValueError: quantity or price not below 2^128 (the contract refuses such a trade
            with REASON_AMOUNT_OVERFLOW), or negative.
        """
        if not (0 <= self.quantity < AMOUNT_BOUND and 0 <= self.price_fen < AMOUNT_BOUND):
            raise ValueError("quantity and price must be in [0, 2^128) (Settlement REASON_AMOUNT_OVERFLOW)")
        return self.quantity * self.price_fen

    def trade_id(self, domain: Eip712Domain) -> bytes:
        """The id the contract gives this trade."""
        return trade_id(self.buy.order.digest(domain), self.sell.order.digest(domain), self.fill_index,
                        self.quantity, self.price_fen)

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple of ``Settlement.Trade``."""
        return (self.buy.order.as_tuple(), self.buy.signature, self.sell.order.as_tuple(), self.sell.signature,
                self.fill_index, self.quantity, self.price_fen, self.buyer_fee_fen, self.seller_fee_fen)


def matched_orders(domain: Eip712Domain, seller: tuple[str, bytes], buyer: tuple[str, bytes], asset_id: int,
                   quantity: int, price_fen: int, expiry: int, nonce: int,
                   max_fee_fen_per_tonne: int = 0) -> tuple[SignedOrder, SignedOrder]:
    """A buy and a sell order of ``quantity`` at limit ``price_fen``, each signed by its
    (account, private key): the members' consent for one fill at that price (simulation,
    benchmark and tests). Returns (buy, sell)."""
    b = Order(buyer[0], asset_id, BUY, quantity, price_fen, expiry, nonce, max_fee_fen_per_tonne)
    s = Order(seller[0], asset_id, SELL, quantity, price_fen, expiry, nonce, max_fee_fen_per_tonne)
    return b.sign(domain, buyer[1]), s.sign(domain, seller[1])
