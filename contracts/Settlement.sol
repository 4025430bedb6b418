// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ParticipantRegistry} from "./ParticipantRegistry.sol";
import {ParticipantGated} from "./access/ParticipantGated.sol";
import {CashToken} from "./CashToken.sol";
import {ICarbonAssets} from "./interfaces/ICarbonAssets.sol";
import {Roles} from "./lib/Roles.sol";

/// @title Settlement
/// @notice Settles the exchange's matched trades: per trade, atomic delivery versus payment
///         (券款对付) — the seller's CarbonAssets units to the buyer and the buyer's CashToken fen
///         to the seller, with optional fees to the exchange's fee account — many trades per
///         transaction, each trade id at most once.
/// @dev DESIGN.md §4 Settlement. This contract holds CarbonAssets.SETTLEMENT_ROLE and is a
///      CashToken operator (both granted by the regulator); it moves only what an active exchange
///      (交易机构, Roles.EXCHANGE) submits. Quantities are whole tCO2e (minimum step 1 t) and prices
///      are fen per tonne (minimum step CNY 0.01 = 1 fen): 《碳排放权交易管理规则（试行）》,
///      china_rules.md §5 (CONFIRMED-S). "Sell quantity ≤ tradable holding, buy amount ≤ available
///      funds" (same rules, §5) are the holding checks below. Settlement timing (T+0 / T+1) is
///      UNCONFIRMED (china_rules.md §5): a trade settles when submitted.
///      Asset ids follow the CarbonAssets token-id bit layout (`AssetIds`): bits 255…248 asset
///      class (1 CEA, 2 CCER), 247…232 vintage year, 231…64 reserved (zero), 63…0 CCER project
///      number (0 for CEA); malformed ids are refused (REASON_MALFORMED_ASSET).
///      Every trade is checked in full before anything moves, so a failing trade never moves
///      half of its legs; `atomic` chooses whether it reverts the batch or is skipped.
contract Settlement is ParticipantGated {
    /// @notice A matched trade as the exchange submits it.
    /// @dev quantity in tCO2e; priceFen fen per tCO2e; fees in fen (0 = none). The buyer pays
    ///      quantity × priceFen + buyerFeeFen; the seller receives quantity × priceFen − sellerFeeFen.
    struct Trade {
        bytes32 tradeId;
        address seller;
        address buyer;
        uint256 assetId;
        uint256 quantity;
        uint256 priceFen;
        uint256 buyerFeeFen;
        uint256 sellerFeeFen;
    }

    // Reason codes of TradeFailed / TradeSkipped. 1–7 are CarbonAssets.transferCheck's codes.
    /// @notice CarbonAssets is paused.
    uint8 public constant REASON_PAUSED = 1;
    /// @notice Seller's organisation is not active.
    uint8 public constant REASON_SELLER_NOT_ADMITTED = 2;
    /// @notice Buyer's organisation is not active.
    uint8 public constant REASON_BUYER_NOT_ADMITTED = 3;
    /// @notice Seller is frozen (冻结).
    uint8 public constant REASON_SELLER_FROZEN = 4;
    /// @notice Buyer is frozen (冻结).
    uint8 public constant REASON_BUYER_FROZEN = 5;
    /// @notice Seller holds fewer than `quantity` units of the asset.
    uint8 public constant REASON_SELLER_LACKS_ASSET = 6;
    /// @notice The asset id is not a well-formed CEA / CCER id.
    uint8 public constant REASON_MALFORMED_ASSET = 7;
    /// @notice Trade id 0 is reserved.
    uint8 public constant REASON_INVALID_TRADE_ID = 8;
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

    /// @notice The asset ledger (this contract holds its SETTLEMENT_ROLE).
    ICarbonAssets public immutable assets;
    /// @notice The cash deposit token (this contract is its operator).
    CashToken public immutable cash;

    /// @notice Account receiving trade fees (0: none set; trades with fees then fail).
    address public feeAccount;

    mapping(bytes32 tradeId => uint256 timestamp) private _settledAt;

    /// @notice Atomic batch: trade `index` (`tradeId`) failed with reason `reasonCode`; nothing settled.
    error TradeFailed(uint256 index, bytes32 tradeId, uint8 reasonCode);

    /// @notice Trade settled: `quantity` tCO2e of `assetId` from `seller` to `buyer` at `priceFen`
    ///         fen/t, `valueFen` = quantity × priceFen paid by the buyer to the seller.
    event TradeSettled(
        bytes32 indexed tradeId,
        address indexed seller,
        address indexed buyer,
        uint256 assetId,
        uint256 quantity,
        uint256 priceFen,
        uint256 valueFen
    );
    /// @notice Trade `tradeId` was already settled: this submission changed nothing.
    event TradeAlreadySettled(bytes32 indexed tradeId);
    /// @notice Trade `tradeId` was not settled (non-atomic batch) for reason `reasonCode`.
    event TradeSkipped(bytes32 indexed tradeId, uint8 reasonCode);
    /// @notice Exchange account `by` set the fee account to `account`.
    event FeeAccountSet(address indexed account, address indexed by);

    /// @param participantRegistry The deployment's ParticipantRegistry.
    /// @param carbonAssets The deployment's CarbonAssets (grant this contract SETTLEMENT_ROLE).
    /// @param cashToken The deployment's CashToken (grant this contract operator).
    constructor(ParticipantRegistry participantRegistry, ICarbonAssets carbonAssets, CashToken cashToken) ParticipantGated(participantRegistry) {
        assets = carbonAssets;
        cash = cashToken;
    }

    /// @notice Set the account that receives trade fees (an admitted account, typically the
    ///         exchange's own), or 0 for none.
    /// @dev Errors: NotExchange, NotAdmitted. Emits FeeAccountSet.
    function setFeeAccount(address account) external onlyActive(Roles.EXCHANGE) {
        if (account != address(0) && !participants.isAdmitted(account)) revert NotAdmitted(account);
        feeAccount = account;
        emit FeeAccountSet(account, msg.sender);
    }

    /// @notice Settle `trades` in order. A trade id already settled is skipped
    ///         (TradeAlreadySettled, not a failure: a retried batch is a no-op). Any other trade is
    ///         checked in full (reason codes REASON_*); if it passes, its asset and cash legs move
    ///         together. A failing trade reverts the whole batch with TradeFailed when `atomic`,
    ///         otherwise it is reported (TradeSkipped) and the rest go on.
    /// @param trades Matched trades (quantity tCO2e, priceFen fen/t, fees fen).
    /// @param atomic true: all or nothing; false: settle what can be settled.
    /// @return settled trades settled now; skipped trades failed (non-atomic only); already
    ///         trades found settled before.
    /// @dev Errors: NotExchange, TradeFailed. Emits TradeSettled, TradeSkipped,
    ///      TradeAlreadySettled; CarbonAssets TransferSingle and CashToken Transfer per leg.
    function settle(Trade[] calldata trades, bool atomic)
        external
        onlyActive(Roles.EXCHANGE)
        returns (uint256 settled, uint256 skipped, uint256 already)
    {
        address fee = feeAccount;
        for (uint256 i = 0; i < trades.length; ++i) {
            Trade calldata t = trades[i];
            if (_settledAt[t.tradeId] != 0) {
                emit TradeAlreadySettled(t.tradeId);
                ++already;
                continue;
            }
            (uint8 code, uint256 value) = _check(t, fee);
            if (code != 0) {
                if (atomic) revert TradeFailed(i, t.tradeId, code);
                emit TradeSkipped(t.tradeId, code);
                ++skipped;
                continue;
            }
            _settledAt[t.tradeId] = block.timestamp;
            assets.settlementTransfer(t.seller, t.buyer, t.assetId, t.quantity);
            cash.settlementTransfer(t.buyer, t.seller, value);
            if (t.buyerFeeFen != 0) cash.settlementTransfer(t.buyer, fee, t.buyerFeeFen);
            if (t.sellerFeeFen != 0) cash.settlementTransfer(t.seller, fee, t.sellerFeeFen);
            emit TradeSettled(t.tradeId, t.seller, t.buyer, t.assetId, t.quantity, t.priceFen, value);
            ++settled;
        }
    }

    /// @notice UTC seconds at which trade `tradeId` settled (0: not settled).
    function settledAt(bytes32 tradeId) external view returns (uint256) {
        return _settledAt[tradeId];
    }

    /// @notice What `settle` would decide for `trade` now (ignoring earlier trades of the same
    ///         batch): 0 ok, else a REASON_* code; and its value in fen.
    function check(Trade calldata trade) external view returns (uint8 reasonCode, uint256 valueFen) {
        return _check(trade, feeAccount);
    }

    function _check(Trade calldata t, address fee) private view returns (uint8, uint256) {
        if (t.tradeId == bytes32(0)) return (REASON_INVALID_TRADE_ID, 0);
        if (t.quantity == 0) return (REASON_ZERO_QUANTITY, 0);
        if (t.priceFen == 0) return (REASON_ZERO_PRICE, 0);
        if (t.seller == t.buyer) return (REASON_SAME_PARTY, 0);
        if (t.quantity >> 128 != 0 || t.priceFen >> 128 != 0) return (REASON_AMOUNT_OVERFLOW, 0);
        uint256 value = t.quantity * t.priceFen;
        if (t.buyerFeeFen > type(uint256).max - value) return (REASON_AMOUNT_OVERFLOW, value);
        uint8 code = assets.transferCheck(t.seller, t.buyer, t.assetId, t.quantity);
        if (code != 0) return (code, value);
        if ((t.buyerFeeFen != 0 || t.sellerFeeFen != 0) && (fee == address(0) || !participants.isAdmitted(fee))) {
            return (REASON_FEE_ACCOUNT_UNAVAILABLE, value);
        }
        if (cash.balanceOf(t.buyer) < value + t.buyerFeeFen) return (REASON_BUYER_LACKS_CASH, value);
        if (t.sellerFeeFen > value) return (REASON_SELLER_FEE_EXCEEDS_PROCEEDS, value);
        return (0, value);
    }
}
