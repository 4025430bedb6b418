// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title ICarbonAssets
/// @notice What Allocation, Compliance, CCERRegistry and Settlement call on CarbonAssets. Each
///         entry point is open to one operator role only, granted by the regulator to the
///         contract that owns that concern (DESIGN.md §4). Amounts are whole tCO2e.
interface ICarbonAssets {
    /// @notice Mint `amount` of `id` to `to`. CEA ids need CEA_ISSUER_ROLE (Allocation), CCER ids
    ///         CCER_ISSUER_ROLE (CCERRegistry). `ref` names the allocation / issuance batch.
    function issue(address to, uint256 id, uint256 amount, bytes32 ref) external;

    /// @notice Take back up to `amount` CEA of `id` from `from` (CEA_ISSUER_ROLE). Never makes a
    ///         balance negative: returns what was actually taken (min(balance, amount)); the caller
    ///         records the rest as a debt.
    function clawback(address from, uint256 id, uint256 amount, bytes32 ref) external returns (uint256 taken);

    /// @notice Burn `amount` of `id` held by `holder` as surrendered for compliance (清缴)
    ///         (COMPLIANCE_ROLE). `ref` names the compliance period.
    function surrender(address holder, uint256 id, uint256 amount, bytes32 ref) external;

    /// @notice Burn `amount` CCER of `id` held by `holder` as retired (注销) under retirement
    ///         certificate `certificate` (CCER_ISSUER_ROLE; the registry records serials, beneficiary
    ///         and purpose).
    function retireFrom(address holder, uint256 id, uint256 amount, bytes32 certificate) external;

    /// @notice Burn `amount` of `id` held by `holder` as cancelled: moved to another registry
    ///         (CCER_ISSUER_ROLE). `destination` names the receiving registry.
    function cancelFrom(address holder, uint256 id, uint256 amount, bytes32 destination) external;

    /// @notice Move `amount` of `id` from `from` to `to` without the holder's approval
    ///         (SETTLEMENT_ROLE: delivery leg of a settled trade). Same checks as any transfer.
    function settlementTransfer(address from, address to, uint256 id, uint256 amount) external;

    /// @notice Whether contract `account` holds operator `role` (CEA_ISSUER_ROLE, CCER_ISSUER_ROLE,
    ///         COMPLIANCE_ROLE, SETTLEMENT_ROLE: keccak256 of the name).
    function isOperator(bytes32 role, address account) external view returns (bool);

    /// @notice Whether the regulator has frozen `account` (冻结).
    function isFrozen(address account) external view returns (bool);

    /// @notice Whether `from` may deliver `amount` of `id` to `to` now, and if not why
    ///         (0 ok, 1 paused, 2 sender not admitted, 3 receiver not admitted, 4 sender frozen,
    ///         5 receiver frozen, 6 insufficient balance, 7 malformed id).
    function transferCheck(address from, address to, uint256 id, uint256 amount) external view returns (uint8);

    /// @notice ERC-1155 balance.
    function balanceOf(address account, uint256 id) external view returns (uint256);
}
