// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {Roles} from "./lib/Roles.sol";
import {ParticipantAccess} from "./access/ParticipantAccess.sol";
import {IAdmissionListener} from "./interfaces/IAdmissionListener.sol";

/// @title ParticipantRegistry
/// @notice Organisations admitted to the carbon market (regulator, key emitting enterprises,
///         verifiers, oracle operators, exchange, registry, CCER project owners), their accounts,
///         role and status. Every other CarbonLedger contract asks this registry who may act.
/// @dev DESIGN.md §4: only the regulator admits or suspends; DESIGN.md "Governance": acts on the
///      constitutional roles (regulator, exchange, registry, settlement bank) — admitting, binding or
///      removing their accounts, suspending, reinstating, revoking them — only the constitution
///      (`constitution`, the regulator council's timelock) performs; the rest one regulator account.
///      Each organisation has exactly one role; an account belongs to at most one organisation. The OpenZeppelin role bits are kept
///      in step with the organisation data (an account holds its organisation's role exactly while
///      it is bound to it and the organisation is Active), so `hasRole` == `isActive`; the public
///      grant/revoke/renounce entry points are closed — all role changes go through admission.
contract ParticipantRegistry is AccessControl, ParticipantAccess {
    using EnumerableSet for EnumerableSet.AddressSet;

    /// @notice Lifecycle of an organisation. `Revoked` is final.
    enum Status {
        None,
        Active,
        Suspended,
        Revoked
    }

    /// @dev One storage slot for role and uscc each; offset and status share a slot.
    struct Organisation {
        bytes32 role;
        bytes32 uscc;
        int32 utcOffsetSeconds;
        Status status;
    }

    /// @notice Role id of the regulator (主管部门): keccak256("REGULATOR_ROLE").
    bytes32 public constant REGULATOR_ROLE = Roles.REGULATOR;
    /// @notice Role id of key emitting enterprises (重点排放单位): keccak256("ENTERPRISE_ROLE").
    bytes32 public constant ENTERPRISE_ROLE = Roles.ENTERPRISE;
    /// @notice Role id of verifiers (核查机构): keccak256("VERIFIER_ROLE").
    bytes32 public constant VERIFIER_ROLE = Roles.VERIFIER;
    /// @notice Role id of oracle operators: keccak256("ORACLE_ROLE").
    bytes32 public constant ORACLE_ROLE = Roles.ORACLE;
    /// @notice Role id of the exchange (交易机构): keccak256("EXCHANGE_ROLE").
    bytes32 public constant EXCHANGE_ROLE = Roles.EXCHANGE;
    /// @notice Role id of the registry (注册登记机构): keccak256("REGISTRY_ROLE").
    bytes32 public constant REGISTRY_ROLE = Roles.REGISTRY;
    /// @notice Role id of CCER project owners (项目业主): keccak256("PROJECT_OWNER_ROLE").
    bytes32 public constant PROJECT_OWNER_ROLE = Roles.PROJECT_OWNER;
    /// @notice Role id of the settlement bank (结算银行): keccak256("SETTLEMENT_BANK_ROLE").
    bytes32 public constant SETTLEMENT_BANK_ROLE = Roles.SETTLEMENT_BANK;
    /// @notice Role id of accredited calibration bodies (计量检定机构): keccak256("CALIBRATION_BODY_ROLE").
    bytes32 public constant CALIBRATION_BODY_ROLE = Roles.CALIBRATION_BODY;

    /// @notice Largest accepted |UTC offset| in seconds (UTC±14:00).
    int32 public constant MAX_UTC_OFFSET_SECONDS = 14 * 3_600;
    /// @notice UTC offset of the regulator organisation admitted at deployment: +08:00 (DESIGN.md §5).
    int32 public constant REGULATOR_UTC_OFFSET_SECONDS = 8 * 3_600;
    /// @notice Length in characters of a unified social credit code (GB 32100-2015).
    uint256 public constant USCC_LENGTH = 18;

    mapping(bytes32 orgId => Organisation) private _organisations;
    mapping(bytes32 orgId => EnumerableSet.AddressSet) private _accounts;
    mapping(address account => bytes32 orgId) private _orgOf;
    bytes32[] private _orgIds;
    mapping(address account => bytes32 x25519PublicKey) private _encryptionKeys;
    mapping(bytes32 orgId => ConsortiumNode) private _nodes;

    /// @notice An organisation's consortium node (issue 11 "Node permissioning from the ledger").
    /// @dev `nodeId`: the devp2p node id, the 64-byte uncompressed secp256k1 public key of the node
    ///      key (no 0x04 prefix), as in `enode://<id>@<endpoint>`; `endpoint`: "host:port" (TCP).
    struct ConsortiumNode {
        bytes nodeId;
        string endpoint;
    }

    /// @notice Length of a devp2p node id in bytes (uncompressed secp256k1 public key without its prefix).
    uint256 public constant NODE_ID_LENGTH = 64;
    /// @notice Longest accepted node endpoint "host:port" in bytes (a DNS name is at most 253).
    uint256 public constant MAX_ENDPOINT_LENGTH = 260;

    /// @notice The address constitutional acts come from: the deployer while the deployment
    ///         bootstraps, then the Constitution timelock of the regulator council (DESIGN.md "Governance").
    address public constitution;
    /// @notice Bumped whenever an account may have lost its admission (an organisation suspended
    ///         or revoked, an account removed). Contracts that cache "admitted" (CarbonAssets)
    ///         confirm it again after a bump, so a cached admission never outlives a sanction.
    uint64 public admissionEpoch;
    /// @notice The contract told of every `admissionEpoch` bump in the bumping transaction
    ///         (CarbonAssets, whose transfers then read the epoch from their own storage instead
    ///         of calling this registry: docs/gas.md), or the zero address. Set constitutionally.
    address public admissionListener;

    /// @notice An organisation with this id was already admitted.
    error OrganisationExists(bytes32 orgId);
    /// @notice No organisation with this id was admitted.
    error UnknownOrganisation(bytes32 orgId);
    /// @notice The organisation id 0 is reserved ("no organisation").
    error InvalidOrganisationId();
    /// @notice `account` is already bound to organisation `orgId`.
    error AccountAlreadyBound(address account, bytes32 orgId);
    /// @notice `account` is not bound to organisation `orgId`.
    error AccountNotInOrganisation(address account, bytes32 orgId);
    /// @notice The zero address cannot be bound to an organisation.
    error InvalidAccount();
    /// @notice `role` is not one of the seven participant roles.
    error InvalidRole(bytes32 role);
    /// @notice |offset| exceeds 14 h.
    error InvalidUtcOffset(int32 utcOffsetSeconds);
    /// @notice The USCC is not 18 characters [0-9A-Z] right-padded with zero bytes.
    error InvalidUscc();
    /// @notice The organisation is in `current` status, the operation needs `expected`.
    error InvalidOrganisationStatus(bytes32 orgId, Status current, Status expected);
    /// @notice The organisation was revoked; revocation is final.
    error OrganisationRevoked(bytes32 orgId);
    /// @notice A regulator cannot suspend or revoke its own organisation.
    error CannotSanctionOwnOrganisation(bytes32 orgId);
    /// @notice Removing this account would leave the caller's regulator organisation without accounts.
    error LastRegulatorAccount(bytes32 orgId, address account);
    /// @notice Organisation index out of range.
    error OrganisationIndexOutOfRange(uint256 index, uint256 count);
    /// @notice Role bits change only through admit / addAccount / removeAccount / suspend / reinstate / revoke.
    error RoleChangesGoThroughAdmission();
    /// @notice The constitution cannot be handed to the zero address.
    error InvalidConstitution();
    /// @notice The all-zero X25519 public key is not a key.
    error InvalidEncryptionKey();
    /// @notice A node id is not 64 bytes (or starts with 32 zero bytes), or the endpoint is empty or too long.
    error InvalidNode(uint256 nodeIdLength, uint256 endpointLength);

    /// @notice An organisation was admitted with its first account.
    event ParticipantAdmitted(
        bytes32 indexed orgId,
        bytes32 indexed role,
        address indexed account,
        bytes32 uscc,
        int32 utcOffsetSeconds,
        string name
    );
    /// @notice An account was bound to an organisation.
    event AccountAdded(bytes32 indexed orgId, address indexed account, address indexed by);
    /// @notice An account was unbound from an organisation.
    event AccountRemoved(bytes32 indexed orgId, address indexed account, address indexed by);
    /// @notice An organisation was suspended (its accounts lose their role until reinstated).
    event ParticipantSuspended(bytes32 indexed orgId, bytes32 reasonHash, address indexed by);
    /// @notice A suspended organisation was reinstated.
    event ParticipantReinstated(bytes32 indexed orgId, address indexed by);
    /// @notice An organisation was revoked (final).
    event ParticipantRevoked(bytes32 indexed orgId, bytes32 reasonHash, address indexed by);
    /// @notice An account registered (or replaced) its X25519 public key for encrypted evidence.
    event EncryptionKeySet(address indexed account, bytes32 indexed orgId, bytes32 x25519PublicKey);
    /// @notice Constitutional power passed from `previous` to `current` (bootstrap hand-over to the
    ///         council's timelock, or a constitutional change of timelock).
    event ConstitutionTransferred(address indexed previous, address indexed current);
    /// @notice The constitution made `current` the admission listener in place of `previous`
    ///         (zero: none).
    event AdmissionListenerSet(address indexed previous, address indexed current, address indexed by);
    /// @notice An organisation registered (or replaced) its consortium node: `enode://<nodeId hex>@<endpoint>`.
    event NodeRegistered(bytes32 indexed orgId, address indexed by, bytes nodeId, string endpoint);

    /// @notice Deploys the registry and admits the regulator (主管部门) organisation.
    /// @param regulatorAccount First account of the regulator organisation.
    /// @param regulatorOrgId Organisation id of the regulator (nonzero).
    /// @param regulatorUscc Regulator's unified social credit code, 18 ASCII chars right-padded.
    /// @dev The regulator's clock is +08:00 (Beijing time), the national default of DESIGN.md §5.
    ///      The constructor takes no name, so ParticipantAdmitted carries an empty one.
    ///      The deployer holds the constitution until it hands it over (`transferConstitution`).
    constructor(address regulatorAccount, bytes32 regulatorOrgId, bytes32 regulatorUscc) {
        constitution = msg.sender;
        emit ConstitutionTransferred(address(0), msg.sender);
        _admit(regulatorOrgId, Roles.REGULATOR, regulatorUscc, REGULATOR_UTC_OFFSET_SECONDS, regulatorAccount);
        emit ParticipantAdmitted(
            regulatorOrgId, Roles.REGULATOR, regulatorAccount, regulatorUscc, REGULATOR_UTC_OFFSET_SECONDS, ""
        );
    }

    // ------------------------------------------------------------------ regulator actions

    /// @notice Admits an organisation with one role and its first account.
    /// @param orgId New organisation id (nonzero, unused).
    /// @param role One of the seven role constants.
    /// @param uscc Unified social credit code 统一社会信用代码: 18 chars [0-9A-Z], right-padded with zeros.
    /// @param utcOffsetSeconds Local clock minus UTC in seconds (28800 = +08:00); |x| <= 50400.
    /// @param account First account (must not be bound to any organisation).
    /// @param name Registered name; emitted only, never stored.
    /// @dev DESIGN.md §4 ParticipantRegistry: only the regulator admits; a constitutional role
    ///      (`isConstitutionalRole`) only the constitution. USCC layout per GB 32100-2015.
    ///      Errors: NotRegulator, NotConstitution, and the validation errors.
    function admit(
        bytes32 orgId,
        bytes32 role,
        bytes32 uscc,
        int32 utcOffsetSeconds,
        address account,
        string calldata name
    ) external {
        _authorise(role);
        _admit(orgId, role, uscc, utcOffsetSeconds, account);
        emit ParticipantAdmitted(orgId, role, account, uscc, utcOffsetSeconds, name);
    }

    /// @notice Binds another account to an existing (not revoked) organisation.
    /// @param orgId Organisation id.
    /// @param account Account to bind (not bound to any organisation).
    /// @dev The account gets the organisation's role at once if the organisation is Active.
    ///      Constitutional for an organisation of a constitutional role.
    function addAccount(bytes32 orgId, address account) external {
        Organisation storage org = _authorised(orgId);
        if (org.status == Status.Revoked) revert OrganisationRevoked(orgId);
        _bind(orgId, org, account);
        emit AccountAdded(orgId, account, msg.sender);
    }

    /// @notice Unbinds an account from its organisation (e.g. a key was rotated or compromised).
    /// @param orgId Organisation id the account is bound to.
    /// @param account Account to unbind.
    /// @dev Allowed in every status (removing access is always safe); refuses to empty the
    ///      caller's own regulator organisation, which would lock the regulator out.
    ///      Constitutional for an organisation of a constitutional role (a regulator key is rotated by
    ///      the council, never by a single regulator key).
    function removeAccount(bytes32 orgId, address account) external {
        Organisation storage org = _authorised(orgId);
        if (_orgOf[account] != orgId || account == address(0)) {
            revert AccountNotInOrganisation(account, orgId);
        }
        if ((org.role == Roles.REGULATOR || orgId == _orgOf[msg.sender]) && _accounts[orgId].length() == 1) {
            revert LastRegulatorAccount(orgId, account);
        }
        _accounts[orgId].remove(account);
        delete _orgOf[account];
        _bumpAdmissionEpoch();
        _revokeRole(org.role, account);
        emit AccountRemoved(orgId, account, msg.sender);
    }

    /// @notice Suspends an Active organisation: its accounts lose their role until reinstated.
    /// @param orgId Organisation id (not the caller's own).
    /// @param reasonHash Hash of the suspension decision document.
    /// @dev DESIGN.md §4: only the regulator suspends; constitutional for a constitutional role.
    function suspend(bytes32 orgId, bytes32 reasonHash) external {
        _authorised(orgId);
        Organisation storage org = _sanctionable(orgId);
        if (org.status != Status.Active) revert InvalidOrganisationStatus(orgId, org.status, Status.Active);
        org.status = Status.Suspended;
        _bumpAdmissionEpoch();
        _setRoleOfAccounts(orgId, org.role, false);
        emit ParticipantSuspended(orgId, reasonHash, msg.sender);
    }

    /// @notice Reinstates a Suspended organisation: its accounts regain their role.
    /// @param orgId Organisation id.
    function reinstate(bytes32 orgId) external {
        Organisation storage org = _authorised(orgId);
        if (org.status != Status.Suspended) {
            revert InvalidOrganisationStatus(orgId, org.status, Status.Suspended);
        }
        org.status = Status.Active;
        _setRoleOfAccounts(orgId, org.role, true);
        emit ParticipantReinstated(orgId, msg.sender);
    }

    /// @notice Revokes an Active or Suspended organisation for good.
    /// @param orgId Organisation id (not the caller's own).
    /// @param reasonHash Hash of the revocation decision document.
    /// @dev Revocation is final; accounts stay bound (for the audit trail) until removed.
    function revoke(bytes32 orgId, bytes32 reasonHash) external {
        _authorised(orgId);
        Organisation storage org = _sanctionable(orgId);
        if (org.status == Status.Revoked) revert OrganisationRevoked(orgId);
        org.status = Status.Revoked;
        _bumpAdmissionEpoch();
        _setRoleOfAccounts(orgId, org.role, false);
        emit ParticipantRevoked(orgId, reasonHash, msg.sender);
    }

    /// @notice Hands the constitutional power to `newConstitution` (constitutional: at bootstrap the
    ///         deployer hands it to the council's timelock and keeps nothing).
    /// @param newConstitution The new constitution (nonzero), normally a Constitution timelock.
    /// @dev Errors: NotConstitution, InvalidConstitution. Emits ConstitutionTransferred.
    function transferConstitution(address newConstitution) external onlyConstitution {
        if (newConstitution == address(0)) revert InvalidConstitution();
        emit ConstitutionTransferred(constitution, newConstitution);
        constitution = newConstitution;
    }

    /// @notice Makes `listener` (the deployment's CarbonAssets, or zero for none) the contract told of
    ///         every `admissionEpoch` bump; the previous listener is told it is detached (it then
    ///         asks the registry on every transfer again), the new one is told the current epoch.
    /// @param listener An IAdmissionListener whose `admissionEpochChanged` accepts this registry.
    /// @dev Constitutional (DESIGN.md "Governance"): a listener that reverted would block
    ///      suspensions, so only the council names it. Errors: NotConstitution, and whatever the
    ///      listeners revert with. Emits AdmissionListenerSet.
    function setAdmissionListener(address listener) external onlyConstitution {
        address previous = admissionListener;
        admissionListener = listener;
        emit AdmissionListenerSet(previous, listener, msg.sender);
        if (previous != address(0)) IAdmissionListener(previous).admissionEpochChanged(admissionEpoch, false);
        if (listener != address(0)) IAdmissionListener(listener).admissionEpochChanged(admissionEpoch, true);
    }

    // ------------------------------------------------------------------ account actions

    /// @notice Registers (or replaces) the caller's X25519 public key, to which evidence data keys
    ///         are wrapped (issue 6 "Evidence": readers' public keys registered in ParticipantRegistry).
    /// @param x25519PublicKey RFC 7748 X25519 public key, 32 bytes as sent on the wire (u-coordinate,
    ///        little-endian); nonzero.
    /// @dev Only an account bound to an Active organisation (any role) may register; the key stays
    ///      readable after the account is removed (readers are chosen among current accounts).
    ///      Errors: NotAdmitted, InvalidEncryptionKey.
    function setEncryptionKey(bytes32 x25519PublicKey) external {
        if (!isAdmitted(msg.sender)) revert NotAdmitted(msg.sender);
        if (x25519PublicKey == bytes32(0)) revert InvalidEncryptionKey();
        _encryptionKeys[msg.sender] = x25519PublicKey;
        emit EncryptionKeySet(msg.sender, _orgOf[msg.sender], x25519PublicKey);
    }

    /// @notice Registers the caller's organisation's consortium node, replacing the one registered
    ///         before; the network's reconciler peers every admitted organisation's node with the
    ///         others and disconnects the node of an organisation no longer admitted.
    /// @param nodeId devp2p node id: the node key's 64-byte uncompressed secp256k1 public key (no prefix).
    /// @param endpoint "host:port" of the node's P2P listener (TCP), 1..260 bytes.
    /// @dev Issue 11 "Node permissioning from the ledger". Only an account of an Active organisation
    ///      (any role) registers, and only its own organisation's node. Errors: NotAdmitted, InvalidNode.
    function registerNode(bytes calldata nodeId, string calldata endpoint) external {
        if (!isAdmitted(msg.sender)) revert NotAdmitted(msg.sender);
        uint256 endpointLength = bytes(endpoint).length;
        if (
            nodeId.length != NODE_ID_LENGTH || bytes32(nodeId[:32]) == bytes32(0) || endpointLength == 0
                || endpointLength > MAX_ENDPOINT_LENGTH
        ) revert InvalidNode(nodeId.length, endpointLength);
        bytes32 orgId = _orgOf[msg.sender];
        _nodes[orgId] = ConsortiumNode(nodeId, endpoint);
        emit NodeRegistered(orgId, msg.sender, nodeId, endpoint);
    }

    // ------------------------------------------------------------------ closed OZ entry points

    /// @notice Closed: role changes go through admit / addAccount / removeAccount.
    /// @dev Always reverts `RoleChangesGoThroughAdmission()`.
    function grantRole(bytes32, address) public pure override {
        revert RoleChangesGoThroughAdmission();
    }

    /// @notice Closed: role changes go through removeAccount / suspend / revoke.
    /// @dev Always reverts `RoleChangesGoThroughAdmission()`.
    function revokeRole(bytes32, address) public pure override {
        revert RoleChangesGoThroughAdmission();
    }

    /// @notice Closed: an account leaves its organisation through the regulator's removeAccount.
    /// @dev Always reverts `RoleChangesGoThroughAdmission()`.
    function renounceRole(bytes32, address) public pure override {
        revert RoleChangesGoThroughAdmission();
    }

    // ------------------------------------------------------------------ views

    /// @notice Whether acts on organisations of `role` are constitutional: the regulator (who rules),
    ///         the exchange (moves holdings in settlement), the registry (issues CCER) and the
    ///         settlement bank (mints cash) — issue 12 "Governance".
    /// @param role Role id.
    function isConstitutionalRole(bytes32 role) public pure returns (bool) {
        return role == Roles.REGULATOR || role == Roles.EXCHANGE || role == Roles.REGISTRY
            || role == Roles.SETTLEMENT_BANK;
    }

    /// @notice Whether `account` is bound to an Active organisation holding `role`.
    /// @param account Account to check.
    /// @param role Role id.
    function isActive(address account, bytes32 role) public view returns (bool) {
        bytes32 orgId = _orgOf[account];
        if (orgId == bytes32(0)) return false;
        Organisation storage org = _organisations[orgId];
        return org.status == Status.Active && org.role == role;
    }

    /// @notice Whether `account` is bound to an Active organisation, whatever its role (the
    ///         "admitted" test of asset transfers and settlement, DESIGN.md §4).
    /// @param account Account to check.
    function isAdmitted(address account) public view returns (bool) {
        bytes32 orgId = _orgOf[account];
        return orgId != bytes32(0) && _organisations[orgId].status == Status.Active;
    }

    /// @notice Reverts `NotActiveParticipant(account, role)` unless `isActive(account, role)`.
    /// @param account Account to check.
    /// @param role Role id.
    function requireActive(address account, bytes32 role) external view {
        if (!isActive(account, role)) revert NotActiveParticipant(account, role);
    }

    /// @notice Organisation id an account is bound to (0 if none).
    /// @param account Account.
    function orgOf(address account) external view returns (bytes32) {
        return _orgOf[account];
    }

    /// @notice An organisation's role, USCC, UTC offset (seconds) and status.
    /// @param orgId Organisation id; unknown ids return zeros and Status.None.
    function organisation(bytes32 orgId)
        external
        view
        returns (bytes32 role, bytes32 uscc, int32 utcOffsetSeconds, Status status)
    {
        Organisation storage org = _organisations[orgId];
        return (org.role, org.uscc, org.utcOffsetSeconds, org.status);
    }

    /// @notice Accounts currently bound to an organisation (unordered).
    /// @param orgId Organisation id.
    function accountsOf(bytes32 orgId) external view returns (address[] memory) {
        return _accounts[orgId].values();
    }

    /// @notice X25519 public key registered by `account` (0 if none).
    /// @param account Account.
    function encryptionKeyOf(address account) external view returns (bytes32) {
        return _encryptionKeys[account];
    }

    /// @notice The consortium node an organisation registered (empty if none); whether it may peer
    ///         is the organisation's status (`organisation(orgId)`).
    /// @param orgId Organisation id.
    function nodeOf(bytes32 orgId) external view returns (bytes memory nodeId, string memory endpoint) {
        ConsortiumNode storage node = _nodes[orgId];
        return (node.nodeId, node.endpoint);
    }

    /// @notice Number of organisations ever admitted (for exporting a node allowlist).
    function organisationCount() external view returns (uint256) {
        return _orgIds.length;
    }

    /// @notice Organisation id by admission order.
    /// @param index 0-based admission index (< organisationCount()).
    function organisationAt(uint256 index) external view returns (bytes32) {
        if (index >= _orgIds.length) revert OrganisationIndexOutOfRange(index, _orgIds.length);
        return _orgIds[index];
    }

    // ------------------------------------------------------------------ internals

    /// @dev An account may have lost its admission: bump the epoch and tell the listener (in this
    ///      transaction, so its cached admissions are void before any further transfer).
    function _bumpAdmissionEpoch() private {
        uint64 epoch = ++admissionEpoch;
        address listener = admissionListener;
        if (listener != address(0)) IAdmissionListener(listener).admissionEpochChanged(epoch, true);
    }

    function _isActive(address account, bytes32 role) internal view override returns (bool) {
        return isActive(account, role);
    }

    function _constitution() internal view override returns (address) {
        return constitution;
    }

    /// @dev Routine acts: an Active regulator account or the constitution; acts on a constitutional
    ///      role: the constitution only.
    function _authorise(bytes32 role) private view {
        if (msg.sender == constitution) return;
        if (isConstitutionalRole(role)) revert NotConstitution(msg.sender);
        if (!isActive(msg.sender, Roles.REGULATOR)) revert NotRegulator(msg.sender);
    }

    /// @dev The caller may act on organisation `orgId` (by its role); then the organisation, which must exist.
    function _authorised(bytes32 orgId) private view returns (Organisation storage org) {
        _authorise(_organisations[orgId].role);
        org = _existing(orgId);
    }

    function _admit(bytes32 orgId, bytes32 role, bytes32 uscc, int32 utcOffsetSeconds, address account)
        private
    {
        if (orgId == bytes32(0)) revert InvalidOrganisationId();
        if (_organisations[orgId].status != Status.None) revert OrganisationExists(orgId);
        if (!Roles.isKnown(role)) revert InvalidRole(role);
        if (!_isWellFormedUscc(uscc)) revert InvalidUscc();
        if (utcOffsetSeconds > MAX_UTC_OFFSET_SECONDS || utcOffsetSeconds < -MAX_UTC_OFFSET_SECONDS) {
            revert InvalidUtcOffset(utcOffsetSeconds);
        }
        Organisation storage org = _organisations[orgId];
        org.role = role;
        org.uscc = uscc;
        org.utcOffsetSeconds = utcOffsetSeconds;
        org.status = Status.Active;
        _orgIds.push(orgId);
        _bind(orgId, org, account);
    }

    function _bind(bytes32 orgId, Organisation storage org, address account) private {
        if (account == address(0)) revert InvalidAccount();
        bytes32 bound = _orgOf[account];
        if (bound != bytes32(0)) revert AccountAlreadyBound(account, bound);
        _orgOf[account] = orgId;
        _accounts[orgId].add(account);
        if (org.status == Status.Active) _grantRole(org.role, account);
    }

    function _existing(bytes32 orgId) private view returns (Organisation storage org) {
        org = _organisations[orgId];
        if (org.status == Status.None) revert UnknownOrganisation(orgId);
    }

    function _sanctionable(bytes32 orgId) private view returns (Organisation storage org) {
        org = _existing(orgId);
        if (orgId == _orgOf[msg.sender]) revert CannotSanctionOwnOrganisation(orgId);
    }

    function _setRoleOfAccounts(bytes32 orgId, bytes32 role, bool granted) private {
        EnumerableSet.AddressSet storage accounts = _accounts[orgId];
        uint256 n = accounts.length();
        for (uint256 i = 0; i < n; ++i) {
            if (granted) _grantRole(role, accounts.at(i));
            else _revokeRole(role, accounts.at(i));
        }
    }

    /// @dev GB 32100-2015: 18 characters from digits and upper-case letters; stored as ASCII in
    ///      the high 18 bytes, the low 14 bytes zero. (The check character is validated off-chain.)
    function _isWellFormedUscc(bytes32 uscc) private pure returns (bool) {
        if (uint256(uscc) & ((uint256(1) << (8 * (32 - USCC_LENGTH))) - 1) != 0) return false;
        for (uint256 i = 0; i < USCC_LENGTH; ++i) {
            bytes1 c = uscc[i];
            bool digit = c >= "0" && c <= "9";
            bool upper = c >= "A" && c <= "Z";
            if (!digit && !upper) return false;
        }
        return true;
    }
}
