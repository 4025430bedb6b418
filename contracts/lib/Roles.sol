// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Roles
/// @notice The participant roles of CarbonLedger (DESIGN.md §1), as OpenZeppelin-style role ids
///         `keccak256("<NAME>_ROLE")`. ParticipantRegistry exposes the same values as public
///         constants; other contracts use this library to avoid an external call per check.
library Roles {
    /// @dev 主管部门 — admits participants, publishes factor sets, confirms emissions.
    bytes32 internal constant REGULATOR = keccak256("REGULATOR_ROLE");
    /// @dev 重点排放单位 — registers meters, records and submits activity data.
    bytes32 internal constant ENTERPRISE = keccak256("ENTERPRISE_ROLE");
    /// @dev 核查机构 — attests or rejects submitted records.
    bytes32 internal constant VERIFIER = keccak256("VERIFIER_ROLE");
    /// @dev Oracle operator — signs and anchors meter-data batches.
    bytes32 internal constant ORACLE = keccak256("ORACLE_ROLE");
    /// @dev 交易机构 — settles trades.
    bytes32 internal constant EXCHANGE = keccak256("EXCHANGE_ROLE");
    /// @dev 注册登记机构 — issues CCER, records retirements.
    bytes32 internal constant REGISTRY = keccak256("REGISTRY_ROLE");
    /// @dev CCER 项目业主 — receives issued CCER.
    bytes32 internal constant PROJECT_OWNER = keccak256("PROJECT_OWNER_ROLE");
    /// @dev 结算银行 — mints and burns the cash deposit token against deposits and withdrawals.
    bytes32 internal constant SETTLEMENT_BANK = keccak256("SETTLEMENT_BANK_ROLE");
    /// @dev 计量检定机构 — accredited calibration body: records meter calibrations (计量法 Art. 9).
    bytes32 internal constant CALIBRATION_BODY = keccak256("CALIBRATION_BODY_ROLE");

    /// @notice Whether `role` is one of the nine participant roles above.
    function isKnown(bytes32 role) internal pure returns (bool) {
        return role == REGULATOR || role == ENTERPRISE || role == VERIFIER || role == ORACLE
            || role == EXCHANGE || role == REGISTRY || role == PROJECT_OWNER || role == SETTLEMENT_BANK
            || role == CALIBRATION_BODY;
    }
}
