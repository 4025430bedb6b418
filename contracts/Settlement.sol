// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ParticipantRegistry} from "./ParticipantRegistry.sol";
import {ParticipantGated} from "./access/ParticipantGated.sol";
import {TransferRestrictions} from "./lib/TransferRestrictions.sol";
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
///      Consent (issue 12 "nothing moves without its holder"): the exchange only matches. Every
///      trade carries the buyer's and the seller's EIP-712 signed orders (account, asset, side,
///      quantity, limit price, fee cap, expiry, nonce); the trade id is
///      keccak256(buy order hash, sell order hash, fill index, quantity, price), so a different
///      trade can never hide behind a used id; an order's filled quantity never exceeds its
///      quantity; the price lies within both limits; the signer may cancel an order.
contract Settlement is ParticipantGated, EIP712, TransferRestrictions {
    /// @notice A member's order as it signs it (EIP-712 type `Order`).
    /// @dev side 0 buy, 1 sell; quantity whole tCO2e (< 2^128); limitPriceFen fen/t (< 2^128): the
    ///      highest a buyer pays / the lowest a seller takes; maxFeeFenPerTonne the most fee (fen)
    ///      the member accepts per tonne filled; expiry UTC seconds after which the order cannot
    ///      fill; nonce any number making the order unique.
    struct Order {
        address account;
        uint256 assetId;
        uint8 side;
        uint256 quantity;
        uint256 limitPriceFen;
        uint256 maxFeeFenPerTonne;
        uint64 expiry;
        uint256 nonce;
    }

    /// @notice A matched trade as the exchange submits it: a fill of `buy` against `sell`.
    /// @dev quantity in tCO2e; priceFen fen per tCO2e; fees in fen (0 = none). The buyer pays
    ///      quantity × priceFen + buyerFeeFen; the seller receives quantity × priceFen − sellerFeeFen.
    ///      fillIndex numbers the fills of one order pair (0, 1, …); signatures are 65-byte r‖s‖v.
    struct Trade {
        Order buy;
        bytes buySignature;
        Order sell;
        bytes sellSignature;
        uint256 fillIndex;
        uint256 quantity;
        uint256 priceFen;
        uint256 buyerFeeFen;
        uint256 sellerFeeFen;
    }

    /// @notice EIP-712 type string of `Order`.
    bytes32 public constant ORDER_TYPEHASH = keccak256(
        "Order(address account,uint256 assetId,uint8 side,uint256 quantity,uint256 limitPriceFen,uint256 maxFeeFenPerTonne,uint64 expiry,uint256 nonce)"
    );
    /// @notice Order side: buy.
    uint8 public constant SIDE_BUY = 0;
    /// @notice Order side: sell.
    uint8 public constant SIDE_SELL = 1;

    // Reason codes of TradeFailed / TradeSkipped: TransferRestrictions' codes (1–7 are
    // CarbonAssets' ERC-1404 codes, 8– Settlement's); messageForTransferRestriction names them.

    /// @notice The asset ledger (this contract holds its SETTLEMENT_ROLE).
    ICarbonAssets public immutable assets;
    /// @notice The cash deposit token (this contract is its operator).
    CashToken public immutable cash;

    /// @notice Account receiving trade fees (0: none set; trades with fees then fail).
    address public feeAccount;

    mapping(bytes32 tradeId => uint256 timestamp) private _settledAt;
    /// @dev Per order, one word: bit 255 cancelled by its signer; bits 0…127 quantity filled
    ///      (order quantities are < 2^128), so a trade reads one word per order.
    mapping(bytes32 orderHash => uint256) private _orders;

    uint256 private constant CANCELLED = 1 << 255;
    uint256 private constant FILLED_MASK = (1 << 128) - 1;

    /// @notice Atomic batch: trade `index` (`tradeId`) failed with reason `reasonCode`; nothing settled.
    error TradeFailed(uint256 index, bytes32 tradeId, uint8 reasonCode);
    /// @notice Only the order's signer (`account`) may cancel it.
    error NotOrderSigner(address caller, address account);
    /// @notice Order `orderHash` is already cancelled.
    error OrderAlreadyCancelled(bytes32 orderHash);

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
    /// @notice `account` cancelled its order `orderHash`; `filled` tCO2e of it had filled.
    event OrderCancelled(bytes32 indexed orderHash, address indexed account, uint256 filled);
    /// @notice Order `orderHash` of `account` filled `quantity` more (now `filled` of its quantity).
    event OrderFilled(bytes32 indexed orderHash, address indexed account, uint256 quantity, uint256 filled);

    /// @param participantRegistry The deployment's ParticipantRegistry.
    /// @param carbonAssets The deployment's CarbonAssets (grant this contract SETTLEMENT_ROLE).
    /// @param cashToken The deployment's CashToken (grant this contract operator).
    constructor(ParticipantRegistry participantRegistry, ICarbonAssets carbonAssets, CashToken cashToken)
        EIP712("CarbonLedger Settlement", "1")
        ParticipantGated(participantRegistry)
    {
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

    /// @notice Cancel the caller's own order: it fills no further.
    /// @param order The order as signed (its `account` must be the caller).
    /// @dev Errors: NotOrderSigner, OrderAlreadyCancelled. Emits OrderCancelled.
    function cancelOrder(Order calldata order) external {
        if (msg.sender != order.account) revert NotOrderSigner(msg.sender, order.account);
        bytes32 h = orderHash(order);
        uint256 w = _orders[h];
        if (w & CANCELLED != 0) revert OrderAlreadyCancelled(h);
        _orders[h] = w | CANCELLED;
        emit OrderCancelled(h, order.account, w & FILLED_MASK);
    }

    /// @notice Settle `trades` in order. A trade id already settled is skipped
    ///         (TradeAlreadySettled, not a failure: a retried batch is a no-op). Any other trade is
    ///         checked in full (reason codes, `messageForTransferRestriction`); if it passes, its
    ///         asset and cash legs move together and both orders' filled quantities grow. A failing
    ///         trade reverts the whole batch with TradeFailed when `atomic`, otherwise it is
    ///         reported (TradeSkipped) and the rest go on.
    /// @param trades Fills of signed orders (quantity tCO2e, priceFen fen/t, fees fen).
    /// @param atomic true: all or nothing; false: settle what can be settled.
    /// @return settled trades settled now; skipped trades failed (non-atomic only); already
    ///         trades found settled before.
    /// @dev Errors: NotExchange, TradeFailed. Emits TradeSettled, OrderFilled (×2), TradeSkipped,
    ///      TradeAlreadySettled; CarbonAssets TransferSingle and CashToken Transfer per leg.
    function settle(Trade[] calldata trades, bool atomic)
        external
        onlyActive(Roles.EXCHANGE)
        returns (uint256 settled, uint256 skipped, uint256 already)
    {
        address fee = feeAccount;
        for (uint256 i = 0; i < trades.length; ++i) {
            Trade calldata t = trades[i];
            bytes32 bh = orderHash(t.buy);
            bytes32 sh = orderHash(t.sell);
            bytes32 id = _tradeId(bh, sh, t);
            if (_settledAt[id] != 0) {
                emit TradeAlreadySettled(id);
                ++already;
                continue;
            }
            (uint8 code, uint256 value) = _check(t, bh, sh, fee);
            if (code != 0) {
                if (atomic) revert TradeFailed(i, id, code);
                emit TradeSkipped(id, code);
                ++skipped;
                continue;
            }
            _execute(t, bh, sh, id, value, fee);
            ++settled;
        }
    }

    /// @notice UTC seconds at which trade `tradeId` settled (0: not settled).
    function settledAt(bytes32 tradeId) external view returns (uint256) {
        return _settledAt[tradeId];
    }

    /// @notice tCO2e of order `orderHash_` filled so far.
    function filled(bytes32 orderHash_) external view returns (uint256) {
        return _orders[orderHash_] & FILLED_MASK;
    }

    /// @notice Whether the signer cancelled order `orderHash_`.
    function cancelled(bytes32 orderHash_) external view returns (bool) {
        return _orders[orderHash_] & CANCELLED != 0;
    }

    /// @notice EIP-712 digest of `order` (what its account signs).
    function orderHash(Order calldata order) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    ORDER_TYPEHASH,
                    order.account,
                    order.assetId,
                    order.side,
                    order.quantity,
                    order.limitPriceFen,
                    order.maxFeeFenPerTonne,
                    order.expiry,
                    order.nonce
                )
            )
        );
    }

    /// @notice Id of `trade`: keccak256(buy order hash, sell order hash, fill index, quantity,
    ///         price) — what `settledAt` and the events use.
    function tradeIdOf(Trade calldata trade) external view returns (bytes32) {
        return _tradeId(orderHash(trade.buy), orderHash(trade.sell), trade);
    }

    /// @notice What `settle` would decide for `trade` now (ignoring earlier trades of the same
    ///         batch): 0 ok, else a reason code; and its value in fen.
    function check(Trade calldata trade) external view returns (uint8 reasonCode, uint256 valueFen) {
        return _check(trade, orderHash(trade.buy), orderHash(trade.sell), feeAccount);
    }

    /// @notice ERC-1404: the restriction (0 none) on delivering `amount` of `id` from `from` to
    ///         `to` through settlement now — CarbonAssets' codes (1–7).
    function detectTransferRestriction(address from, address to, uint256 id, uint256 amount)
        public
        view
        override
        returns (uint8)
    {
        return assets.transferCheck(from, to, id, amount);
    }

    /// @dev Records the fill and moves both legs of a checked trade.
    function _execute(Trade calldata t, bytes32 bh, bytes32 sh, bytes32 id, uint256 value, address fee) private {
        _settledAt[id] = block.timestamp;
        address seller = t.sell.account;
        address buyer = t.buy.account;
        _fill(bh, buyer, t.quantity);
        _fill(sh, seller, t.quantity);
        assets.settlementTransfer(seller, buyer, t.sell.assetId, t.quantity);
        cash.settlementTransfer(buyer, seller, value);
        if (t.buyerFeeFen != 0) cash.settlementTransfer(buyer, fee, t.buyerFeeFen);
        if (t.sellerFeeFen != 0) cash.settlementTransfer(seller, fee, t.sellerFeeFen);
        emit TradeSettled(id, seller, buyer, t.sell.assetId, t.quantity, t.priceFen, value);
    }

    function _fill(bytes32 h, address account, uint256 quantity) private {
        uint256 f = _orders[h] + quantity; // not cancelled (checked): the word is the filled quantity
        _orders[h] = f;
        emit OrderFilled(h, account, quantity, f);
    }

    function _tradeId(bytes32 bh, bytes32 sh, Trade calldata t) private pure returns (bytes32) {
        return keccak256(abi.encode(bh, sh, t.fillIndex, t.quantity, t.priceFen));
    }

    function _check(Trade calldata t, bytes32 bh, bytes32 sh, address fee) private view returns (uint8, uint256) {
        Order calldata b = t.buy;
        Order calldata s = t.sell;
        if (t.quantity == 0) return (REASON_ZERO_QUANTITY, 0);
        if (t.priceFen == 0) return (REASON_ZERO_PRICE, 0);
        if (s.account == b.account) return (REASON_SAME_PARTY, 0);
        if (t.quantity >> 128 != 0 || t.priceFen >> 128 != 0) return (REASON_AMOUNT_OVERFLOW, 0);
        if (b.side != SIDE_BUY || s.side != SIDE_SELL || b.assetId != s.assetId) return (REASON_ORDERS_DO_NOT_MATCH, 0);
        if (!_signedBy(bh, t.buySignature, b.account) || !_signedBy(sh, t.sellSignature, s.account)) {
            return (REASON_BAD_ORDER_SIGNATURE, 0);
        }
        if (block.timestamp > b.expiry || block.timestamp > s.expiry) return (REASON_ORDER_EXPIRED, 0);
        uint8 state = _orderState(bh, sh, t);
        if (state != 0) return (state, 0);
        if (t.priceFen > b.limitPriceFen || t.priceFen < s.limitPriceFen) return (REASON_PRICE_OUTSIDE_LIMIT, 0);
        uint256 value = t.quantity * t.priceFen;
        if (t.buyerFeeFen > type(uint256).max - value) return (REASON_AMOUNT_OVERFLOW, value);
        if (t.buyerFeeFen > _feeCap(b, t.quantity) || t.sellerFeeFen > _feeCap(s, t.quantity)) {
            return (REASON_FEE_ABOVE_ORDER_CAP, value);
        }
        uint8 code = assets.transferCheck(s.account, b.account, s.assetId, t.quantity);
        if (code != 0) return (code, value);
        if ((t.buyerFeeFen != 0 || t.sellerFeeFen != 0) && (fee == address(0) || !participants.isAdmitted(fee))) {
            return (REASON_FEE_ACCOUNT_UNAVAILABLE, value);
        }
        if (cash.balanceOf(b.account) < value + t.buyerFeeFen) return (REASON_BUYER_LACKS_CASH, value);
        if (t.sellerFeeFen > value) return (REASON_SELLER_FEE_EXCEEDS_PROCEEDS, value);
        return (0, value);
    }

    /// @dev REASON_ORDER_CANCELLED / REASON_ORDER_OVERFILLED for the pair's stored state, else 0.
    function _orderState(bytes32 bh, bytes32 sh, Trade calldata t) private view returns (uint8) {
        uint256 bw = _orders[bh];
        uint256 sw = _orders[sh];
        if ((bw | sw) & CANCELLED != 0) return REASON_ORDER_CANCELLED;
        // filled < 2^128 and quantity < 2^128 (checked before): no overflow
        if ((bw & FILLED_MASK) + t.quantity > t.buy.quantity || (sw & FILLED_MASK) + t.quantity > t.sell.quantity) {
            return REASON_ORDER_OVERFILLED;
        }
        return 0;
    }

    /// @dev quantity × maxFeeFenPerTonne, saturating (quantity < 2^128 already checked).
    function _feeCap(Order calldata o, uint256 quantity) private pure returns (uint256) {
        if (o.maxFeeFenPerTonne >> 128 != 0) return type(uint256).max;
        return quantity * o.maxFeeFenPerTonne;
    }

    function _signedBy(bytes32 digest, bytes calldata signature, address account) private pure returns (bool) {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        return err == ECDSA.RecoverError.NoError && signer == account;
    }
}
