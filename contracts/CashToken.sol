// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ParticipantRegistry} from "./ParticipantRegistry.sol";
import {ParticipantGated} from "./access/ParticipantGated.sol";
import {Roles} from "./lib/Roles.sol";

/// @title CashToken
/// @notice "CarbonLedger CNY deposit": an ERC-20 deposit token with 0 decimals, 1 unit = 1 fen
///         (分, 0.01 CNY), backed 1:1 by money held at the settlement bank (结算银行). The bank mints
///         it against deposits and burns it against withdrawals; it moves between holders only
///         through settlement (the operator contract named by the regulator), never by ordinary
///         `transfer` / `transferFrom`.
/// @dev DESIGN.md §4 Settlement ("a cash token (ERC-20 deposit token in fen 分)") and §5 ("Money:
///      integer fen"). Holders must be admitted (ParticipantRegistry.isAdmitted) to receive or to
///      pay; a withdrawal is possible from any holder so that money can always leave. Settlement
///      timing and DvP wording of 《碳排放权结算管理规则（试行）》 are UNCONFIRMED (china_rules.md §5).
///      Consent (issue 12): the bank burns a holder's cash only with the holder's EIP-712 signed
///      withdrawal request (its bank reference is its nonce), or on the constitution's order (k of n
///      regulators after the governance delay) with a reason hash.
contract CashToken is ParticipantGated, ERC20, EIP712 {
    /// @notice EIP-712 type of a holder's signed withdrawal request.
    bytes32 public constant WITHDRAWAL_TYPEHASH =
        keccak256("Withdrawal(address from,uint256 amount,bytes32 bankRef,uint256 deadline)");

    mapping(address account => bool) private _operators;
    mapping(bytes32 bankRef => bool) private _usedBankRefs;

    /// @notice Caller is not a settlement operator.
    error NotOperator(address caller);
    /// @notice The deposit token moves only through settlement.
    error TransfersOnlyThroughSettlement();
    /// @notice Amount must be positive (fen).
    error ZeroAmount();
    /// @notice Bank reference must be non-zero and used once (a retried bank message mints or
    ///         burns nothing twice).
    error BankRefInvalidOrUsed(bytes32 bankRef);
    /// @notice The signature is not `holder`'s withdrawal request.
    error InvalidHolderSignature(address holder);
    /// @notice The signed request's deadline (UTC seconds) has passed.
    error RequestExpired(uint256 deadline);
    /// @notice A regulator-ordered withdrawal needs a non-zero reason hash.
    error MissingReason();
    /// @notice Operator grant or revoke that changes nothing.
    error OperatorUnchanged(address account, bool isOperator);

    /// @notice `amount` fen deposited at the bank for `to` and minted; `bankRef` names the bank's
    ///         credit entry.
    event Deposited(address indexed to, uint256 amount, bytes32 indexed bankRef, address indexed bank);
    /// @notice `amount` fen burnt from `from` and paid out by the bank under `bankRef`.
    event Withdrawn(address indexed from, uint256 amount, bytes32 indexed bankRef, address indexed bank);
    /// @notice Regulator `by` ordered the withdrawal under `bankRef` from `from` for reason `reasonHash`.
    event WithdrawalOrdered(address indexed from, uint256 amount, bytes32 indexed bankRef, bytes32 reasonHash, address indexed by);
    /// @notice Regulator made `account` (the Settlement contract) a settlement operator.
    event OperatorGranted(address indexed account, address indexed by);
    /// @notice Regulator removed settlement operator `account`.
    event OperatorRevoked(address indexed account, address indexed by);

    /// @param participantRegistry The deployment's ParticipantRegistry.
    constructor(ParticipantRegistry participantRegistry)
        ERC20("CarbonLedger CNY deposit", "CNYD")
        EIP712("CarbonLedger CashToken", "1")
        ParticipantGated(participantRegistry)
    {
    }

    /// @notice 0: one unit is one fen (分), the smallest CNY amount (DESIGN.md §5).
    function decimals() public pure override returns (uint8) {
        return 0;
    }

    // ------------------------------------------------------------ bank

    /// @notice Mint `amount` fen to `to` against money received by the settlement bank.
    /// @param to Admitted account credited; amount fen (> 0); bankRef the bank's unique reference.
    /// @dev Errors: NotSettlementBank, ZeroAmount, BankRefInvalidOrUsed, NotAdmitted.
    ///      Emits Transfer (mint) and Deposited.
    function deposit(address to, uint256 amount, bytes32 bankRef) external onlyActive(Roles.SETTLEMENT_BANK) {
        if (amount == 0) revert ZeroAmount();
        _useBankRef(bankRef);
        _mint(to, amount);
        emit Deposited(to, amount, bankRef, msg.sender);
    }

    /// @notice Burn `amount` fen from `from` at its request: the bank pays it out of the deposit
    ///         account.
    /// @param from Holder debited; amount fen (> 0); bankRef the bank's unique reference (also the
    ///        request's nonce); deadline UTC seconds after which the request is refused;
    ///        signature the holder's EIP-712 `Withdrawal` signature (65 bytes r‖s‖v).
    /// @dev Errors: NotActiveParticipant (not the bank), ZeroAmount, RequestExpired, InvalidHolderSignature,
    ///      BankRefInvalidOrUsed, ERC20InsufficientBalance. Emits Transfer (burn) and Withdrawn.
    function withdraw(address from, uint256 amount, bytes32 bankRef, uint256 deadline, bytes calldata signature)
        external
        onlyActive(Roles.SETTLEMENT_BANK)
    {
        if (amount == 0) revert ZeroAmount();
        if (block.timestamp > deadline) revert RequestExpired(deadline);
        (address signer, ECDSA.RecoverError err,) =
            ECDSA.tryRecover(withdrawalDigest(from, amount, bankRef, deadline), signature);
        if (err != ECDSA.RecoverError.NoError || signer != from) revert InvalidHolderSignature(from);
        _useBankRef(bankRef);
        _burn(from, amount);
        emit Withdrawn(from, amount, bankRef, msg.sender);
    }

    /// @notice EIP-712 digest a holder signs to ask for a withdrawal.
    function withdrawalDigest(address from, uint256 amount, bytes32 bankRef, uint256 deadline)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(WITHDRAWAL_TYPEHASH, from, amount, bankRef, deadline)));
    }

    // ------------------------------------------------------------ regulator

    /// @notice Regulator's order (a clawback): burn `amount` fen from `from` without its request (the
    ///         bank pays it out as the order says), for the reason whose hash is `reasonHash`.
    ///         Constitutional: k of n regulators after the governance delay, so a stolen regulator key
    ///         alone cannot burn anyone's cash (issue 12, "Consent").
    /// @dev Errors: NotConstitution, ZeroAmount, MissingReason, BankRefInvalidOrUsed,
    ///      ERC20InsufficientBalance. Emits Transfer (burn), Withdrawn and WithdrawalOrdered.
    function orderWithdrawal(address from, uint256 amount, bytes32 bankRef, bytes32 reasonHash)
        external
        onlyConstitution
    {
        if (amount == 0) revert ZeroAmount();
        if (reasonHash == bytes32(0)) revert MissingReason();
        _useBankRef(bankRef);
        _burn(from, amount);
        emit Withdrawn(from, amount, bankRef, msg.sender);
        emit WithdrawalOrdered(from, amount, bankRef, reasonHash, msg.sender);
    }

    /// @notice Make `account` (the deployment's Settlement contract) a settlement operator.
    /// @dev Constitutional. Errors: NotConstitution, OperatorUnchanged. Emits OperatorGranted.
    function grantOperator(address account) external onlyConstitution {
        if (_operators[account]) revert OperatorUnchanged(account, true);
        _operators[account] = true;
        emit OperatorGranted(account, msg.sender);
    }

    /// @notice Remove settlement operator `account`.
    /// @dev Constitutional. Errors: NotConstitution, OperatorUnchanged. Emits OperatorRevoked.
    function revokeOperator(address account) external onlyConstitution {
        if (!_operators[account]) revert OperatorUnchanged(account, false);
        _operators[account] = false;
        emit OperatorRevoked(account, msg.sender);
    }

    // ------------------------------------------------------------ operator

    /// @notice Move `amount` fen from `from` to `to` (payment leg of a settled trade, or a fee).
    /// @dev Errors: NotOperator, ZeroAmount, NotAdmitted (either party), ERC20InsufficientBalance.
    ///      Emits Transfer.
    function settlementTransfer(address from, address to, uint256 amount) external {
        if (!_operators[msg.sender]) revert NotOperator(msg.sender);
        if (amount == 0) revert ZeroAmount();
        _transfer(from, to, amount);
    }

    // ------------------------------------------------------------ closed ERC-20 entry points

    /// @notice Refused: the deposit token moves only through settlement.
    /// @dev Errors: TransfersOnlyThroughSettlement.
    function transfer(address, uint256) public pure override returns (bool) {
        revert TransfersOnlyThroughSettlement();
    }

    /// @notice Refused: the deposit token moves only through settlement.
    /// @dev Errors: TransfersOnlyThroughSettlement.
    function transferFrom(address, address, uint256) public pure override returns (bool) {
        revert TransfersOnlyThroughSettlement();
    }

    /// @notice Refused: allowances would be meaningless (no `transferFrom`).
    /// @dev Errors: TransfersOnlyThroughSettlement.
    function approve(address, uint256) public pure override returns (bool) {
        revert TransfersOnlyThroughSettlement();
    }

    // ------------------------------------------------------------ views

    /// @notice Whether `account` is a settlement operator.
    function isOperator(address account) external view returns (bool) {
        return _operators[account];
    }

    /// @notice Whether bank reference `bankRef` has been used by a deposit or withdrawal.
    function bankRefUsed(bytes32 bankRef) external view returns (bool) {
        return _usedBankRefs[bankRef];
    }

    // ------------------------------------------------------------ internals

    /// @dev Receivers (mint, transfer) and payers (transfer) must be admitted; burns are open.
    function _update(address from, address to, uint256 value) internal override {
        if (to != address(0) && !participants.isAdmitted(to)) revert NotAdmitted(to);
        if (from != address(0) && to != address(0) && !participants.isAdmitted(from)) revert NotAdmitted(from);
        super._update(from, to, value);
    }

    function _useBankRef(bytes32 bankRef) private {
        if (bankRef == bytes32(0) || _usedBankRefs[bankRef]) revert BankRefInvalidOrUsed(bankRef);
        _usedBankRefs[bankRef] = true;
    }
}
