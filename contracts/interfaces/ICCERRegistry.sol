// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title ICCERRegistry
/// @notice What Compliance asks CCERRegistry about a CCER project when checking offset
///         eligibility (vintage is in the token id; project dates come from here), and the
///         surrender it reports so that the surrendered units' serials leave circulation.
interface ICCERRegistry {
    /// @notice Registration facts of CCER project `project`.
    /// @return registered whether the project exists;
    ///         registeredAt UTC seconds of project registration (项目登记);
    ///         creditingStart UTC seconds from which its reductions count;
    ///         owner the project owner's account.
    function projectDates(uint64 project)
        external
        view
        returns (bool registered, uint64 registeredAt, uint64 creditingStart, address owner);

    /// @notice Record that `holder` surrendered (清缴) `amount` tCO2e of CCER `assetId` for
    ///         compliance period `ref`: the registry marks the serials of its batches Surrendered
    ///         (CCERRegistry states which). Only a contract with CarbonAssets' COMPLIANCE_ROLE.
    function recordSurrender(address holder, uint256 assetId, uint256 amount, bytes32 ref) external;
}
