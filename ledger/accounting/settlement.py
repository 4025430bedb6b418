"""Settlement trades: the trade tuple of Settlement.settle: registry serial strings, the
Settlement trade tuple and reason codes, the CCER retirement request, and a Python mirror of the
registry's serial allocation (``SerialBook``) that tests compare with the contract.

Units: asset quantities in whole tCO2e (1 token = 1 tCO2e), money in fen (分), prices in fen per
tCO2e (DESIGN.md §5).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from ledger.crypto.primitives import keccak256


# ----------------------------------------------------------------------------- settlement
class Reason(IntEnum):
    """Settlement reason codes (``Settlement.REASON_*``); 1–7 equal CarbonAssets.transferCheck."""

    PAUSED = 1
    SELLER_NOT_ADMITTED = 2
    BUYER_NOT_ADMITTED = 3
    SELLER_FROZEN = 4
    BUYER_FROZEN = 5
    SELLER_LACKS_ASSET = 6
    MALFORMED_ASSET = 7
    INVALID_TRADE_ID = 8
    ZERO_QUANTITY = 9
    ZERO_PRICE = 10
    SAME_PARTY = 11
    AMOUNT_OVERFLOW = 12
    FEE_ACCOUNT_UNAVAILABLE = 13
    BUYER_LACKS_CASH = 14
    SELLER_FEE_EXCEEDS_PROCEEDS = 15


def trade_id(text: str) -> bytes:
    """32-byte trade id of an exchange trade reference (keccak256 of its UTF-8 text)."""
    return keccak256(b"CarbonLedger trade" + text.encode())


@dataclass(frozen=True)
class Trade:
    """A matched trade: ``quantity`` tCO2e of ``asset_id`` from ``seller`` to ``buyer`` at
    ``price_fen`` fen per tCO2e; fees in fen."""

    trade_id: bytes
    seller: str
    buyer: str
    asset_id: int
    quantity: int
    price_fen: int
    buyer_fee_fen: int = 0
    seller_fee_fen: int = 0

    @property
    def value_fen(self) -> int:
        """quantity × price, fen (what the buyer pays the seller before fees)."""
        return self.quantity * self.price_fen

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple of ``Settlement.Trade``."""
        return (self.trade_id, self.seller, self.buyer, self.asset_id, self.quantity, self.price_fen,
                self.buyer_fee_fen, self.seller_fee_fen)
