// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ParticipantRegistry} from "../ParticipantRegistry.sol";
import {ParticipantAccess} from "./ParticipantAccess.sol";

/// @title ParticipantGated
/// @notice Base of every CarbonLedger contract other than the registry itself: its access checks
///         ask the deployment's ParticipantRegistry who is an Active participant of which role and
///         who the constitution is.
abstract contract ParticipantGated is ParticipantAccess {
    /// @notice The participant registry consulted for roles, admission and the constitution.
    ParticipantRegistry public immutable participants;

    /// @param participantRegistry The deployment's ParticipantRegistry.
    constructor(ParticipantRegistry participantRegistry) {
        participants = participantRegistry;
    }

    function _isActive(address account, bytes32 role) internal view override returns (bool) {
        return participants.isActive(account, role);
    }

    function _constitution() internal view override returns (address) {
        return participants.constitution();
    }
}
