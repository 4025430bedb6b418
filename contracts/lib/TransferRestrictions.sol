// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title TransferRestrictions
/// @notice ERC-1404 ("Simple Restricted Token Standard") restriction codes and messages shared by
///         CarbonAssets (codes 0–7: why a transfer of a token is refused) and Settlement (0–7 for
///         the delivery leg, 9– for the trade and its signed orders). One table, one meaning per
///         code, so the exchange, the API and the audit read one vocabulary.
/// @dev ERC-1404: `detectTransferRestriction(from, to, value)` → uint8 (0 = no restriction) and
///      `messageForTransferRestriction(code)` → text. The ERC-1155 form here adds the token id.
///      Code 8 (trade id 0) is no longer produced: trade ids are derived from the signed orders.
abstract contract TransferRestrictions {
    /// @notice No restriction.
    uint8 public constant REASON_NONE = 0;
    /// @notice CarbonAssets is paused.
    uint8 public constant REASON_PAUSED = 1;
    /// @notice Sender's (seller's) organisation is not active.
    uint8 public constant REASON_SELLER_NOT_ADMITTED = 2;
    /// @notice Receiver's (buyer's) organisation is not active.
    uint8 public constant REASON_BUYER_NOT_ADMITTED = 3;
    /// @notice Sender (seller) is frozen (冻结).
    uint8 public constant REASON_SELLER_FROZEN = 4;
    /// @notice Receiver (buyer) is frozen (冻结).
    uint8 public constant REASON_BUYER_FROZEN = 5;
    /// @notice Sender (seller) holds fewer than the amount of the asset.
    uint8 public constant REASON_SELLER_LACKS_ASSET = 6;
    /// @notice The asset id is not a well-formed CEA / CCER id.
    uint8 public constant REASON_MALFORMED_ASSET = 7;
    /// @notice Quantity is 0.
    uint8 public constant REASON_ZERO_QUANTITY = 9;
    /// @notice Price is 0.
    uint8 public constant REASON_ZERO_PRICE = 10;
    /// @notice Seller and buyer are the same account.
    uint8 public constant REASON_SAME_PARTY = 11;
    /// @notice quantity × price (+ fee) does not fit 256 bits (quantity and price must be < 2^128).
    uint8 public constant REASON_AMOUNT_OVERFLOW = 12;
    /// @notice A fee is due but no fee account is set, or it is no longer admitted.
    uint8 public constant REASON_FEE_ACCOUNT_UNAVAILABLE = 13;
    /// @notice Buyer holds less cash than value + buyer fee.
    uint8 public constant REASON_BUYER_LACKS_CASH = 14;
    /// @notice Seller fee exceeds the trade value (the fee is paid from the proceeds).
    uint8 public constant REASON_SELLER_FEE_EXCEEDS_PROCEEDS = 15;
    /// @notice The buy order is not a buy, the sell order not a sell, or their assets differ.
    uint8 public constant REASON_ORDERS_DO_NOT_MATCH = 16;
    /// @notice An order's signature is not its account's.
    uint8 public constant REASON_BAD_ORDER_SIGNATURE = 17;
    /// @notice An order is past its expiry.
    uint8 public constant REASON_ORDER_EXPIRED = 18;
    /// @notice An order was cancelled by its signer.
    uint8 public constant REASON_ORDER_CANCELLED = 19;
    /// @notice The fill would take an order beyond its quantity.
    uint8 public constant REASON_ORDER_OVERFILLED = 20;
    /// @notice The price is above the buyer's limit or below the seller's.
    uint8 public constant REASON_PRICE_OUTSIDE_LIMIT = 21;
    /// @notice A fee exceeds quantity × the order's maxFeeFenPerTonne.
    uint8 public constant REASON_FEE_ABOVE_ORDER_CAP = 22;

    /// @notice ERC-1404: why moving `amount` of `id` from `from` to `to` is refused now (0: it is not).
    function detectTransferRestriction(address from, address to, uint256 id, uint256 amount)
        public
        view
        virtual
        returns (uint8);

    /// @notice ERC-1404: the text of restriction code `code`.
    function messageForTransferRestriction(uint8 code) public pure returns (string memory) {
        if (code == REASON_NONE) return "no restriction";
        if (code == REASON_PAUSED) return "asset transfers are paused";
        if (code == REASON_SELLER_NOT_ADMITTED) return "seller not admitted";
        if (code == REASON_BUYER_NOT_ADMITTED) return "buyer not admitted";
        if (code == REASON_SELLER_FROZEN) return "seller frozen";
        if (code == REASON_BUYER_FROZEN) return "buyer frozen";
        if (code == REASON_SELLER_LACKS_ASSET) return "seller lacks the asset";
        if (code == REASON_MALFORMED_ASSET) return "malformed asset id";
        if (code == REASON_ZERO_QUANTITY) return "zero quantity";
        if (code == REASON_ZERO_PRICE) return "zero price";
        if (code == REASON_SAME_PARTY) return "seller and buyer are the same account";
        if (code == REASON_AMOUNT_OVERFLOW) return "amount overflow";
        if (code == REASON_FEE_ACCOUNT_UNAVAILABLE) return "fee account unavailable";
        if (code == REASON_BUYER_LACKS_CASH) return "buyer lacks cash";
        if (code == REASON_SELLER_FEE_EXCEEDS_PROCEEDS) return "seller fee exceeds the proceeds";
        if (code == REASON_ORDERS_DO_NOT_MATCH) return "orders do not match (side or asset)";
        if (code == REASON_BAD_ORDER_SIGNATURE) return "order not signed by its account";
        if (code == REASON_ORDER_EXPIRED) return "order expired";
        if (code == REASON_ORDER_CANCELLED) return "order cancelled by its signer";
        if (code == REASON_ORDER_OVERFILLED) return "fill exceeds the order's remaining quantity";
        if (code == REASON_PRICE_OUTSIDE_LIMIT) return "price outside the orders' limits";
        if (code == REASON_FEE_ABOVE_ORDER_CAP) return "fee above the order's cap";
        return "unknown restriction code";
    }
}
