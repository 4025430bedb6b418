// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title Constitution
/// @notice OpenZeppelin's TimelockController as the holder of CarbonLedger's constitutional power
///         (ParticipantRegistry.constitution()): every constitutional act is an operation the
///         RegulatorCouncil schedules after k-of-n approvals, that waits `getMinDelay()` seconds
///         (cancellable by any council member meanwhile) and that anyone may then execute.
/// @dev DESIGN.md "Governance". Nothing is added to OpenZeppelin's contract: proposer and canceller
///      is the council, executor is open (address(0)), admin is the timelock itself once the
///      deployer renounced the bootstrap admin role. The delay is a deployment parameter.
contract Constitution is TimelockController {
    /// @param minDelay Governance delay in seconds (the demo uses <= 30; see DESIGN.md).
    /// @param proposers Accounts given PROPOSER_ROLE and CANCELLER_ROLE (empty at deployment: the
    ///        council is granted them by the bootstrap admin).
    /// @param executors Accounts given EXECUTOR_ROLE; [address(0)] opens execution to anyone.
    /// @param admin Bootstrap admin (the deployer), which renounces after wiring; address(0) for none.
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}
