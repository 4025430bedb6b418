// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ParticipantRegistry} from "./ParticipantRegistry.sol";
import {ParticipantGated} from "./access/ParticipantGated.sol";
import {IAdmissionListener} from "./interfaces/IAdmissionListener.sol";
import {ICarbonAssets} from "./interfaces/ICarbonAssets.sol";
import {AssetIds} from "./lib/AssetIds.sol";
import {Roles} from "./lib/Roles.sol";
import {TransferRestrictions} from "./lib/TransferRestrictions.sol";

/// @title CarbonAssets
/// @notice The carbon assets as ERC-1155 tokens: CEA (碳排放配额) by compliance year and CCER
///         (核证自愿减排量) by project and reduction year; 1 token = 1 tCO2e. Token-id bit layout:
///         see `AssetIds`.
/// @dev DESIGN.md §4. Rules:
///      - holders transfer only between admitted (ParticipantRegistry.isAdmitted), unfrozen
///        accounts, and not while paused;
///      - issuance only through the operator contracts the regulator names: CEA by Allocation
///        (CEA_ISSUER_ROLE, regulator-driven), CCER by CCERRegistry (CCER_ISSUER_ROLE,
///        registry-driven); surrender (清缴) only by Compliance; settlement deliveries only by
///        Settlement;
///      - every unit that leaves circulation is counted in exactly one bucket, so for every id
///        `totalSupply + retired + surrendered + cancelled + clawedBack == issued`;
///      - the regulator freezes / unfreezes an account (冻结) with a reason and pauses transfers;
///      - an approved ERC-1155 operator moving a holder's tokens is checked like a holder
///        (admitted, not frozen) in the transfer hook;
///      - restrictions are reported as ERC-1404 codes (`detectTransferRestriction`,
///        `messageForTransferRestriction`, shared with Settlement through TransferRestrictions);
///      - surrender, retirement and cancellation leave circulation through one internal hook
///        (`_dispose`);
///      - admission is cached per account and voided by the registry's `admissionEpoch`, which the
///        registry pushes here (IAdmissionListener) in the transaction that bumps it, so a warm
///        transfer makes no external call (docs/gas.md).
contract CarbonAssets is ParticipantGated, ERC1155, ICarbonAssets, TransferRestrictions, IAdmissionListener {
    /// @notice Operator role of Allocation: issues CEA and claws it back.
    bytes32 public constant CEA_ISSUER_ROLE = keccak256("CEA_ISSUER_ROLE");
    /// @notice Operator role of CCERRegistry: issues, retires and cancels CCER.
    bytes32 public constant CCER_ISSUER_ROLE = keccak256("CCER_ISSUER_ROLE");
    /// @notice Operator role of Compliance: burns surrendered units.
    bytes32 public constant COMPLIANCE_ROLE = keccak256("COMPLIANCE_ROLE");
    /// @notice Operator role of Settlement: delivers traded units without holder approval.
    bytes32 public constant SETTLEMENT_ROLE = keccak256("SETTLEMENT_ROLE");

    /// @notice The ways a unit leaves circulation at its holder's (or its operator's) request.
    enum Disposal {
        Surrendered,
        Retired,
        Cancelled
    }

    /// @notice Per-id supply buckets, whole tCO2e.
    struct Supply {
        uint256 issued;
        uint256 retired;
        uint256 surrendered;
        uint256 cancelled;
        uint256 clawedBack;
    }

    mapping(uint256 id => Supply) private _supply;
    /// @dev Units in circulation over all ids (ERC1155Supply's `totalSupply()`; per id it is
    ///      derived from the buckets, which saves a storage slot per id on every mint and burn).
    uint256 private _totalAll;
    mapping(bytes32 role => mapping(address account => bool)) private _operators;
    /// @dev Per account, one word: bit 0 frozen (冻结); bits 1… `admissionEpoch + 1` of the
    ///      ParticipantRegistry when the account's admission was last confirmed (0: never). A
    ///      transfer reads one word per party and the registry's epoch instead of asking the
    ///      registry twice (two external calls, four storage reads) and reading two frozen flags.
    mapping(address account => uint256) private _accounts;
    /// @dev The one word every transfer reads besides the parties': bit 0 paused; bit 1 attached
    ///      (the registry pushes every `admissionEpoch` bump here); bits 2… the registry's
    ///      `admissionEpoch` as last pushed. Detached (as deployed): transfers ask the registry.
    uint256 private _market;

    /// @notice Transfers are paused (the OpenZeppelin Pausable error).
    error EnforcedPause();
    /// @notice Transfers are not paused (the OpenZeppelin Pausable error).
    error ExpectedPause();
    /// @notice Only the deployment's ParticipantRegistry may push its admission epoch.
    error NotParticipantRegistry(address caller);
    /// @notice Caller lacks operator role `role`.
    error NotOperator(bytes32 role, address caller);
    /// @notice `role` is not one of the four operator roles.
    error UnknownOperatorRole(bytes32 role);
    /// @notice `account` is frozen by the regulator.
    error AccountIsFrozen(address account);
    /// @notice Freeze or unfreeze requested for an account already in that state.
    error FreezeUnchanged(address account, bool frozen);
    /// @notice Amount must be positive.
    error ZeroAmount();
    /// @notice Caller's operator role does not issue asset class `assetClass`.
    error WrongIssuerForClass(uint8 assetClass, address caller);
    /// @notice CCER is retired through CCERRegistry, which records the exact serials.
    error UseRegistryToRetireCcer(uint256 id);
    /// @notice A required text field (`field`) is empty.
    error MissingText(string field);

    /// @notice `amount` of `id` minted to `to` by issuer contract `operator`; `ref` names the
    ///         allocation or issuance batch.
    event Issued(address indexed to, uint256 indexed id, uint256 amount, bytes32 ref, address indexed operator);
    /// @notice Clawback of `requested` CEA of `id` from `from`; `taken` actually burnt (the rest is
    ///         recorded as a debt by Allocation).
    event ClawedBack(address indexed from, uint256 indexed id, uint256 requested, uint256 taken, bytes32 ref);
    /// @notice `amount` of `id` surrendered (清缴) by `holder` for compliance period `ref`.
    event Surrendered(address indexed holder, uint256 indexed id, uint256 amount, bytes32 ref);
    /// @notice `amount` of `id` retired (注销) by `holder`, final. For CCER `certificate` is the
    ///         CCERRegistry retirement certificate; for CEA beneficiary/purpose/reason are given here.
    event Retired(
        address indexed holder,
        uint256 indexed id,
        uint256 amount,
        bytes32 certificate,
        string beneficiary,
        string purpose,
        string reason
    );
    /// @notice `amount` of `id` cancelled from `holder`: moved to registry `destination`.
    event Cancelled(address indexed holder, uint256 indexed id, uint256 amount, bytes32 destination);
    /// @notice Regulator froze `account` (冻结) for `reason`.
    event AccountFrozen(address indexed account, string reason, address indexed by);
    /// @notice Regulator unfroze `account` for `reason`.
    event AccountUnfrozen(address indexed account, string reason, address indexed by);
    /// @notice The constitution paused transfers (the OpenZeppelin Pausable event).
    event Paused(address account);
    /// @notice The constitution resumed transfers (the OpenZeppelin Pausable event).
    event Unpaused(address account);
    /// @notice The registry pushed its `admissionEpoch` (`attached`: it will push every bump;
    ///         false: transfers ask the registry again).
    event AdmissionEpochSynced(uint64 epoch, bool attached);
    /// @notice Regulator granted operator `role` to contract `account`.
    event OperatorGranted(bytes32 indexed role, address indexed account, address indexed by);
    /// @notice Regulator revoked operator `role` from contract `account`.
    event OperatorRevoked(bytes32 indexed role, address indexed account, address indexed by);

    modifier whenNotPaused() {
        if (_market & 1 != 0) revert EnforcedPause();
        _;
    }

    modifier onlyOperator(bytes32 role) {
        if (!_operators[role][msg.sender]) revert NotOperator(role, msg.sender);
        _;
    }

    /// @param participantRegistry The deployment's ParticipantRegistry.
    constructor(ParticipantRegistry participantRegistry) ERC1155("") ParticipantGated(participantRegistry) {}

    // ------------------------------------------------------------ regulator

    /// @notice Grant operator `role` (one of the four *_ROLE constants) to `account` (the
    ///         deployment's Allocation, CCERRegistry, Compliance or Settlement contract).
    /// @dev Constitutional (DESIGN.md "Governance"). Errors: NotConstitution, UnknownOperatorRole.
    ///      Emits OperatorGranted.
    function grantOperator(bytes32 role, address account) external onlyConstitution {
        _requireKnownRole(role);
        _operators[role][account] = true;
        emit OperatorGranted(role, account, msg.sender);
    }

    /// @notice Revoke operator `role` from `account`.
    /// @dev Constitutional. Errors: NotConstitution, UnknownOperatorRole. Emits OperatorRevoked.
    function revokeOperator(bytes32 role, address account) external onlyConstitution {
        _requireKnownRole(role);
        _operators[role][account] = false;
        emit OperatorRevoked(role, account, msg.sender);
    }

    /// @notice Freeze `account` (冻结): it can neither send nor receive transfers, surrender nor
    ///         retire until unfrozen. Issuance to it and clawback from it stay possible.
    /// @param reason Free text reason, required (e.g. the enforcement decision number).
    /// @dev Errors: NotRegulator, FreezeUnchanged, MissingText. Emits AccountFrozen.
    function freeze(address account, string calldata reason) external onlyRegulator {
        if (bytes(reason).length == 0) revert MissingText("reason");
        if (_accounts[account] & 1 != 0) revert FreezeUnchanged(account, true);
        _accounts[account] |= 1;
        emit AccountFrozen(account, reason, msg.sender);
    }

    /// @notice Unfreeze `account`.
    /// @dev Errors: NotRegulator, FreezeUnchanged, MissingText. Emits AccountUnfrozen.
    function unfreeze(address account, string calldata reason) external onlyRegulator {
        if (bytes(reason).length == 0) revert MissingText("reason");
        if (_accounts[account] & 1 == 0) revert FreezeUnchanged(account, false);
        _accounts[account] &= ~uint256(1);
        emit AccountUnfrozen(account, reason, msg.sender);
    }

    /// @notice Halt all transfers, settlement deliveries, surrenders and retirements.
    /// @dev Constitutional. Errors: NotConstitution, EnforcedPause. Emits Paused.
    function pause() external onlyConstitution {
        if (_market & 1 != 0) revert EnforcedPause();
        _market |= 1;
        emit Paused(msg.sender);
    }

    /// @notice Resume after `pause`.
    /// @dev Constitutional. Errors: NotConstitution, ExpectedPause. Emits Unpaused.
    function unpause() external onlyConstitution {
        if (_market & 1 == 0) revert ExpectedPause();
        _market &= ~uint256(1);
        emit Unpaused(msg.sender);
    }

    // ------------------------------------------------------------ registry

    /// @inheritdoc IAdmissionListener
    /// @dev Called by ParticipantRegistry.setAdmissionListener (attach / detach) and on every
    ///      suspension, revocation and account removal. Errors: NotParticipantRegistry.
    ///      Emits AdmissionEpochSynced.
    function admissionEpochChanged(uint64 epoch, bool attached) external {
        if (msg.sender != address(participants)) revert NotParticipantRegistry(msg.sender);
        _market = (uint256(epoch) << 2) | (attached ? 2 : 0) | (_market & 1);
        emit AdmissionEpochSynced(epoch, attached);
    }

    // ------------------------------------------------------------ operators

    /// @inheritdoc ICarbonAssets
    /// @dev Errors: NotOperator, WrongIssuerForClass, MalformedAssetId, ZeroAmount, NotAdmitted.
    ///      Emits TransferSingle (mint) and Issued.
    function issue(address to, uint256 id, uint256 amount, bytes32 ref) external {
        AssetIds.requireWellFormed(id);
        uint8 cls = AssetIds.classOf(id);
        bytes32 role = cls == AssetIds.CEA ? CEA_ISSUER_ROLE : CCER_ISSUER_ROLE;
        if (!_operators[role][msg.sender]) revert WrongIssuerForClass(cls, msg.sender);
        if (amount == 0) revert ZeroAmount();
        if (!participants.isAdmitted(to)) revert NotAdmitted(to);
        _supply[id].issued += amount;
        _totalAll += amount;
        _mint(to, id, amount, "");
        emit Issued(to, id, amount, ref, msg.sender);
    }

    /// @inheritdoc ICarbonAssets
    /// @dev Errors: NotOperator, MalformedAssetId (CCER ids are refused: clawback is a CEA
    ///      allocation concept). Emits TransferSingle (burn, when taken > 0) and ClawedBack.
    function clawback(address from, uint256 id, uint256 amount, bytes32 ref)
        external
        onlyOperator(CEA_ISSUER_ROLE)
        returns (uint256 taken)
    {
        AssetIds.requireWellFormed(id);
        if (AssetIds.classOf(id) != AssetIds.CEA) revert WrongIssuerForClass(AssetIds.classOf(id), msg.sender);
        uint256 bal = balanceOf(from, id);
        taken = amount < bal ? amount : bal;
        if (taken > 0) {
            _supply[id].clawedBack += taken;
            _totalAll -= taken;
            _burn(from, id, taken);
        }
        emit ClawedBack(from, id, amount, taken, ref);
    }

    /// @inheritdoc ICarbonAssets
    /// @dev Errors: NotOperator, ZeroAmount, EnforcedPause, AccountIsFrozen,
    ///      ERC1155InsufficientBalance. Emits TransferSingle (burn) and Surrendered.
    function surrender(address holder, uint256 id, uint256 amount, bytes32 ref)
        external
        onlyOperator(COMPLIANCE_ROLE)
        whenNotPaused
    {
        _dispose(holder, id, amount, Disposal.Surrendered);
        emit Surrendered(holder, id, amount, ref);
    }

    /// @inheritdoc ICarbonAssets
    /// @dev Errors: NotOperator, ZeroAmount, EnforcedPause, AccountIsFrozen,
    ///      ERC1155InsufficientBalance. Emits TransferSingle (burn) and Retired.
    function retireFrom(address holder, uint256 id, uint256 amount, bytes32 certificate)
        external
        onlyOperator(CCER_ISSUER_ROLE)
        whenNotPaused
    {
        _dispose(holder, id, amount, Disposal.Retired);
        emit Retired(holder, id, amount, certificate, "", "", "");
    }

    /// @inheritdoc ICarbonAssets
    /// @dev Errors: NotOperator, ZeroAmount, EnforcedPause, AccountIsFrozen,
    ///      ERC1155InsufficientBalance. Emits TransferSingle (burn) and Cancelled.
    function cancelFrom(address holder, uint256 id, uint256 amount, bytes32 destination)
        external
        onlyOperator(CCER_ISSUER_ROLE)
        whenNotPaused
    {
        _dispose(holder, id, amount, Disposal.Cancelled);
        emit Cancelled(holder, id, amount, destination);
    }

    /// @inheritdoc ICarbonAssets
    /// @dev Errors: NotOperator, and those of any transfer (EnforcedPause, NotAdmitted,
    ///      AccountIsFrozen, ERC1155InsufficientBalance). Emits TransferSingle.
    function settlementTransfer(address from, address to, uint256 id, uint256 amount)
        external
        onlyOperator(SETTLEMENT_ROLE)
    {
        if (amount == 0) revert ZeroAmount();
        _safeTransferFrom(from, to, id, amount, "");
    }

    // ------------------------------------------------------------ holders

    /// @notice Retire (注销, voluntary cancellation) `amount` CEA of `id` from the caller's holding:
    ///         final, counted in the id's `retired` bucket. CCER is retired through CCERRegistry.
    /// @param beneficiary On whose behalf (required); purpose e.g. "carbon neutrality" (required);
    ///        reason free text (may be empty).
    /// @dev Errors: UseRegistryToRetireCcer, MalformedAssetId, MissingText, NotAdmitted (the caller's
    ///      organisation is not active), ZeroAmount, EnforcedPause, AccountIsFrozen,
    ///      ERC1155InsufficientBalance. Emits TransferSingle, Retired.
    function retire(
        uint256 id,
        uint256 amount,
        string calldata beneficiary,
        string calldata purpose,
        string calldata reason
    ) external whenNotPaused {
        AssetIds.requireWellFormed(id);
        if (AssetIds.classOf(id) != AssetIds.CEA) revert UseRegistryToRetireCcer(id);
        if (bytes(beneficiary).length == 0) revert MissingText("beneficiary");
        if (bytes(purpose).length == 0) revert MissingText("purpose");
        if (!participants.isAdmitted(msg.sender)) revert NotAdmitted(msg.sender);
        _dispose(msg.sender, id, amount, Disposal.Retired);
        emit Retired(msg.sender, id, amount, bytes32(0), beneficiary, purpose, reason);
    }

    /// @notice Approve or revoke `operator` to move all of the caller's tokens (ERC-1155).
    /// @dev Errors: NotAdmitted (the caller's organisation is not active: outsiders change no
    ///      state). Emits ApprovalForAll. Transfers by the operator still pass `_update`'s checks.
    function setApprovalForAll(address operator, bool approved) public override {
        if (!participants.isAdmitted(msg.sender)) revert NotAdmitted(msg.sender);
        super.setApprovalForAll(operator, approved);
    }

    // ------------------------------------------------------------ views

    /// @notice Supply buckets of `id` (whole tCO2e): issued, retired, surrendered, cancelled,
    ///         clawedBack; with `totalSupply(id)` they satisfy the supply invariant.
    function supplyOf(uint256 id) external view returns (Supply memory) {
        return _supply[id];
    }

    /// @notice Units of `id` in circulation (whole tCO2e): issued less retired, surrendered,
    ///         cancelled and clawed back (the ERC1155Supply view).
    function totalSupply(uint256 id) public view returns (uint256) {
        Supply storage s = _supply[id];
        return s.issued - s.retired - s.surrendered - s.cancelled - s.clawedBack;
    }

    /// @notice Units in circulation over all ids (the ERC1155Supply view).
    function totalSupply() external view returns (uint256) {
        return _totalAll;
    }

    /// @notice Whether any unit of `id` circulates (the ERC1155Supply view).
    function exists(uint256 id) external view returns (bool) {
        return totalSupply(id) > 0;
    }

    /// @inheritdoc ICarbonAssets
    function isFrozen(address account) external view returns (bool) {
        return _accounts[account] & 1 != 0;
    }

    /// @notice Whether transfers, settlement deliveries, surrenders and retirements are halted.
    function paused() public view returns (bool) {
        return _market & 1 != 0;
    }

    /// @notice Whether the registry pushes its admission epoch here (transfers then make no
    ///         external call), and the epoch last pushed.
    function admissionSync() external view returns (bool attached, uint64 epoch) {
        uint256 m = _market;
        return (m & 2 != 0, uint64(m >> 2));
    }

    /// @notice Whether `account` holds operator `role`.
    function isOperator(bytes32 role, address account) external view returns (bool) {
        return _operators[role][account];
    }

    /// @inheritdoc ICarbonAssets
    function transferCheck(address from, address to, uint256 id, uint256 amount) external view returns (uint8) {
        return detectTransferRestriction(from, to, id, amount);
    }

    /// @notice ERC-1404: the restriction code (0 none; TransferRestrictions REASON_* 1–7) on
    ///         moving `amount` of `id` from `from` to `to` now; `messageForTransferRestriction`
    ///         names it.
    function detectTransferRestriction(address from, address to, uint256 id, uint256 amount)
        public
        view
        override
        returns (uint8)
    {
        if (paused()) return REASON_PAUSED;
        if (!participants.isAdmitted(from)) return REASON_SELLER_NOT_ADMITTED;
        if (!participants.isAdmitted(to)) return REASON_BUYER_NOT_ADMITTED;
        if (_accounts[from] & 1 != 0) return REASON_SELLER_FROZEN;
        if (_accounts[to] & 1 != 0) return REASON_BUYER_FROZEN;
        if (!AssetIds.isWellFormed(id)) return REASON_MALFORMED_ASSET;
        if (balanceOf(from, id) < amount) return REASON_SELLER_LACKS_ASSET;
        return REASON_NONE;
    }

    /// @notice Id of CEA of compliance year `vintage` (AssetIds layout).
    function ceaId(uint16 vintage) external pure returns (uint256) {
        return AssetIds.cea(vintage);
    }

    /// @notice Id of CCER of `project` (> 0) and reduction year `vintage` (AssetIds layout).
    function ccerId(uint16 vintage, uint64 project) external pure returns (uint256) {
        return AssetIds.ccer(vintage, project);
    }

    /// @inheritdoc ICarbonAssets
    function balanceOf(address account, uint256 id) public view override(ERC1155, ICarbonAssets) returns (uint256) {
        return super.balanceOf(account, id);
    }

    // ------------------------------------------------------------ internals

    /// @dev Holder-to-holder movements (transfers and settlement deliveries) must be unpaused,
    ///      between admitted, unfrozen accounts, and an approved operator moving them must be admitted
    ///      and unfrozen too. Mints and burns are checked by their entry points.
    function _update(address from, address to, uint256[] memory ids, uint256[] memory values)
        internal
        override
    {
        if (from != address(0) && to != address(0)) {
            uint256 m = _market;
            if (m & 1 != 0) revert EnforcedPause();
            // attached: the registry's epoch as it pushed it; detached: ask the registry
            uint256 epoch = m & 2 != 0 ? m >> 2 : participants.admissionEpoch();
            unchecked {
                ++epoch; // < 2^64 + 1
            }
            _requireAdmittedUnfrozen(from, epoch);
            _requireAdmittedUnfrozen(to, epoch);
            // An approved operator (not the Settlement operator, whose moves carry signed orders)
            // acts for the holder and is checked like one.
            address op = msg.sender;
            if (op != from && !_operators[SETTLEMENT_ROLE][op]) _requireAdmittedUnfrozen(op, epoch);
            for (uint256 i = 0; i < ids.length;) {
                AssetIds.requireWellFormed(ids[i]);
                unchecked {
                    ++i;
                }
            }
        }
        super._update(from, to, ids, values);
    }

    /// @dev The one way units leave circulation at the holder's request (surrender, retirement,
    ///      cancellation): a positive amount, an unfrozen holder, counted in its bucket, burnt.
    function _dispose(address holder, uint256 id, uint256 amount, Disposal kind) private {
        if (amount == 0) revert ZeroAmount();
        if (_accounts[holder] & 1 != 0) revert AccountIsFrozen(holder);
        Supply storage sup = _supply[id];
        if (kind == Disposal.Surrendered) sup.surrendered += amount;
        else if (kind == Disposal.Retired) sup.retired += amount;
        else sup.cancelled += amount;
        _burn(holder, id, amount); // reverts ERC1155InsufficientBalance before the total moves
        _totalAll -= amount;
    }

    /// @dev Reverts NotAdmitted / AccountIsFrozen for `account`; confirms admission with the
    ///      registry only when the cached confirmation predates the registry's `epoch` (then
    ///      caches it), so a warm transfer reads one word per party.
    function _requireAdmittedUnfrozen(address account, uint256 epoch) private {
        uint256 w = _accounts[account];
        if (w >> 1 != epoch) {
            if (!participants.isAdmitted(account)) revert NotAdmitted(account);
            w = (epoch << 1) | (w & 1);
            _accounts[account] = w;
        }
        if (w & 1 != 0) revert AccountIsFrozen(account);
    }

    function _requireKnownRole(bytes32 role) private pure {
        if (role != CEA_ISSUER_ROLE && role != CCER_ISSUER_ROLE && role != COMPLIANCE_ROLE && role != SETTLEMENT_ROLE) {
            revert UnknownOperatorRole(role);
        }
    }
}
