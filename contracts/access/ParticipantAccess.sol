// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Roles} from "../lib/Roles.sol";

/// @title ParticipantAccess
/// @notice The one access-control shape of CarbonLedger: "the caller must be an account of an
///         Active organisation holding role R" (routine acts, single signer) and "the caller must be
///         the constitution" (constitutional acts: k-of-n regulator approvals behind a timelock,
///         DESIGN.md "Governance"), with the shared custom errors every contract reverts with.
/// @dev Abstract: `ParticipantRegistry` answers the two questions from its own storage,
///      `ParticipantGated` (every other contract) by asking the registry. Issue 12 "One shape for
///      access control": before this base `NotRegulator` was declared eight times.
abstract contract ParticipantAccess {
    /// @notice The caller is not an account of an Active regulator organisation.
    error NotRegulator(address caller);
    /// @notice `account` is not bound to an Active organisation holding `role`
    ///         (never admitted, suspended, revoked, removed, or of another role).
    error NotActiveParticipant(address account, bytes32 role);
    /// @notice `account` is not bound to an Active organisation (any role).
    error NotAdmitted(address account);
    /// @notice The caller is not the constitution (the regulator council's timelock): this act
    ///         needs k-of-n regulator approvals and the governance delay.
    error NotConstitution(address caller);

    /// @dev Routine regulator act: one Active regulator account suffices.
    modifier onlyRegulator() {
        if (!_isActive(msg.sender, Roles.REGULATOR)) revert NotRegulator(msg.sender);
        _;
    }

    /// @dev Caller must be an account of an Active organisation holding `role`.
    modifier onlyActive(bytes32 role) {
        _requireActive(msg.sender, role);
        _;
    }

    /// @dev Constitutional act: only the constitution (DESIGN.md "Governance").
    modifier onlyConstitution() {
        _requireConstitution();
        _;
    }

    /// @dev Reverts NotActiveParticipant(account, role) unless `account` is Active with `role`.
    function _requireActive(address account, bytes32 role) internal view {
        if (!_isActive(account, role)) revert NotActiveParticipant(account, role);
    }

    /// @dev Reverts NotConstitution(msg.sender) unless the caller is the constitution.
    function _requireConstitution() internal view {
        if (msg.sender != _constitution()) revert NotConstitution(msg.sender);
    }

    /// @dev Whether `account` is bound to an Active organisation holding `role`.
    function _isActive(address account, bytes32 role) internal view virtual returns (bool);

    /// @dev The address constitutional acts must come from.
    function _constitution() internal view virtual returns (address);
}
