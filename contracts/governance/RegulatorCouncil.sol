// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {ParticipantRegistry} from "../ParticipantRegistry.sol";
import {ParticipantGated} from "../access/ParticipantGated.sol";
import {Roles} from "../lib/Roles.sol";

/// @title RegulatorCouncil
/// @notice k-of-n approval of constitutional acts by the regulator's accounts: each member approves
///         an operation (a batch of calls); the k-th approval schedules it on the Constitution
///         (TimelockController) with the governance delay; any member can cancel it until it is
///         executed. A member approves only while it is also an Active regulator account.
/// @dev DESIGN.md "Governance" (issue 12: "need k of n regulator approvals and a delay during which
///      they can be cancelled"). Operation ids are the timelock's `hashOperationBatch`. Approvals
///      are counted per membership version: changing the council (only through the timelock
///      itself, e.g. to rotate a compromised member key) voids approvals not yet scheduled, so a
///      removed key's approvals stop counting at the rotation; operations it helped schedule before
///      stay scheduled (its acts up to the rotation stay valid).
contract RegulatorCouncil is ParticipantGated {
    /// @notice The timelock this council is proposer and canceller of.
    TimelockController public immutable timelock;

    /// @notice Approvals needed to schedule an operation (k).
    uint8 public threshold;
    /// @notice Bumped at every council change; approvals of earlier versions do not count.
    uint64 public membersVersion;

    address[] private _members;
    mapping(address account => bool) private _isMember;
    mapping(bytes32 ballot => uint256) private _approvals;
    mapping(bytes32 ballot => mapping(address member => bool)) private _approved;
    mapping(bytes32 id => uint64) private _round;

    /// @notice Council of `n` members with threshold `k`: need 1 <= k <= n, k > n/2 (two disjoint
    ///         majorities cannot exist), n <= 32, no zero or repeated member.
    error InvalidCouncil(uint256 n, uint256 k);
    /// @notice `account` is repeated or zero in a council.
    error InvalidMember(address account);
    /// @notice The caller is not a council member, or no longer an Active regulator account.
    error NotCouncilMember(address caller);
    /// @notice The member already approved this operation in this round.
    error AlreadyApproved(bytes32 id, address member);
    /// @notice The operation is already scheduled or done on the timelock.
    error AlreadyScheduled(bytes32 id);
    /// @notice Only the timelock (a constitutional act) changes the council.
    error NotTimelock(address caller);
    /// @notice An operation's arrays differ in length or are empty.
    error InvalidOperation(uint256 targets, uint256 values, uint256 payloads);

    /// @notice `member` approved operation `id` (the calls are in the event for the other members
    ///         to read before approving).
    event OperationApproved(
        bytes32 indexed id,
        address indexed member,
        uint256 approvals,
        uint256 threshold,
        address[] targets,
        uint256[] values,
        bytes[] payloads,
        bytes32 predecessor,
        bytes32 salt
    );
    /// @notice Operation `id` reached the threshold and was scheduled; executable from `readyAt`.
    event OperationScheduled(bytes32 indexed id, uint256 readyAt);
    /// @notice `member` cancelled operation `id` (scheduled or still collecting approvals).
    event OperationCancelled(bytes32 indexed id, address indexed member, bool wasScheduled);
    /// @notice The council became `members` with threshold `threshold` (version `version`).
    event CouncilChanged(uint64 indexed version, address[] members, uint8 threshold);

    modifier onlyMember() {
        if (!_isMember[msg.sender] || !_isActive(msg.sender, Roles.REGULATOR)) revert NotCouncilMember(msg.sender);
        _;
    }

    /// @param participantRegistry The deployment's ParticipantRegistry.
    /// @param timelock_ The Constitution (TimelockController) the council proposes to.
    /// @param members_ Regulator accounts (n); threshold_ k approvals schedule an operation.
    constructor(
        ParticipantRegistry participantRegistry,
        TimelockController timelock_,
        address[] memory members_,
        uint8 threshold_
    ) ParticipantGated(participantRegistry) {
        timelock = timelock_;
        _setCouncil(members_, threshold_);
    }

    /// @notice Approves a batch of calls to be made by the constitution; the k-th approval
    ///         schedules it on the timelock with its minimum delay (seconds).
    /// @param targets Contracts called; values Wei sent with each call (0 in CarbonLedger);
    ///        payloads ABI-encoded calls; predecessor operation id that must be done first (0: none);
    ///        salt distinguishes otherwise equal operations.
    /// @return id The timelock operation id (hashOperationBatch).
    /// @dev Errors: NotCouncilMember, InvalidOperation, AlreadyScheduled, AlreadyApproved. Emits
    ///      OperationApproved; on the k-th, OperationScheduled and the timelock's CallScheduled.
    function approve(
        address[] calldata targets,
        uint256[] calldata values,
        bytes[] calldata payloads,
        bytes32 predecessor,
        bytes32 salt
    ) external onlyMember returns (bytes32 id) {
        if (targets.length == 0 || values.length != targets.length || payloads.length != targets.length) {
            revert InvalidOperation(targets.length, values.length, payloads.length);
        }
        id = timelock.hashOperationBatch(targets, values, payloads, predecessor, salt);
        if (timelock.getTimestamp(id) != 0) revert AlreadyScheduled(id);
        bytes32 b = _ballot(id);
        if (_approved[b][msg.sender]) revert AlreadyApproved(id, msg.sender);
        _approved[b][msg.sender] = true;
        uint256 n = ++_approvals[b];
        emit OperationApproved(id, msg.sender, n, threshold, targets, values, payloads, predecessor, salt);
        if (n == threshold) {
            uint256 delay = timelock.getMinDelay();
            timelock.scheduleBatch(targets, values, payloads, predecessor, salt, delay);
            emit OperationScheduled(id, block.timestamp + delay);
        }
    }

    /// @notice Cancels operation `id`: a scheduled one on the timelock, and the approvals collected
    ///         so far (a new round of approvals starts from zero).
    /// @param id Operation id (hashOperationBatch).
    /// @dev Errors: NotCouncilMember; the timelock's TimelockUnexpectedOperationState if it was
    ///      already executed. Emits OperationCancelled (and the timelock's Cancelled).
    function cancel(bytes32 id) external onlyMember {
        bool scheduled = timelock.isOperationPending(id);
        if (scheduled) timelock.cancel(id);
        ++_round[id];
        emit OperationCancelled(id, msg.sender, scheduled);
    }

    /// @notice Replaces the council (constitutional: only the timelock, i.e. itself k-of-n
    ///         approved and delayed). Used to rotate a member's key after a compromise.
    /// @param members_ New members (regulator accounts); threshold_ new k.
    /// @dev Errors: NotTimelock, InvalidCouncil, InvalidMember. Voids unscheduled approvals.
    function setCouncil(address[] calldata members_, uint8 threshold_) external {
        if (msg.sender != address(timelock)) revert NotTimelock(msg.sender);
        _setCouncil(members_, threshold_);
    }

    /// @notice The members (n) in order.
    function members() external view returns (address[] memory) {
        return _members;
    }

    /// @notice Whether `account` is a council member (it must also be an Active regulator to act).
    function isMember(address account) external view returns (bool) {
        return _isMember[account];
    }

    /// @notice Approvals operation `id` has collected in the current round and membership version.
    function approvals(bytes32 id) external view returns (uint256) {
        return _approvals[_ballot(id)];
    }

    /// @notice Whether `member` approved operation `id` in the current round and membership version.
    function hasApproved(bytes32 id, address member) external view returns (bool) {
        return _approved[_ballot(id)][member];
    }

    function _ballot(bytes32 id) private view returns (bytes32) {
        return keccak256(abi.encode(membersVersion, _round[id], id));
    }

    function _setCouncil(address[] memory members_, uint8 threshold_) private {
        uint256 n = members_.length;
        if (n == 0 || n > 32 || threshold_ == 0 || threshold_ > n || uint256(threshold_) * 2 <= n) {
            revert InvalidCouncil(n, threshold_);
        }
        for (uint256 i = 0; i < _members.length; ++i) {
            _isMember[_members[i]] = false;
        }
        delete _members;
        for (uint256 i = 0; i < n; ++i) {
            address m = members_[i];
            if (m == address(0) || _isMember[m]) revert InvalidMember(m);
            _isMember[m] = true;
            _members.push(m);
        }
        threshold = threshold_;
        uint64 version = ++membersVersion;
        emit CouncilChanged(version, members_, threshold_);
    }
}
