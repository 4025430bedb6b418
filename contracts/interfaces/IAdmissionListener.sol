// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title IAdmissionListener
/// @notice A contract that caches "account admitted" (CarbonAssets) and is told by the
///         ParticipantRegistry of every `admissionEpoch` bump, in the transaction that bumps it,
///         so a cached admission never outlives a suspension, revocation or account removal
///         (issue 12 "Contracts v2", gas targets: docs/gas.md).
interface IAdmissionListener {
    /// @notice The registry's `admissionEpoch` is now `epoch`; `attached`: this contract will be
    ///         told of every further bump (false: it was detached and must ask the registry).
    /// @dev Only the ParticipantRegistry may call it.
    function admissionEpochChanged(uint64 epoch, bool attached) external;
}
