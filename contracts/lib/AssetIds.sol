// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title AssetIds
/// @notice Bit layout of CarbonAssets token ids (ERC-1155). 1 token = 1 tCO2e.
///
///         | bits      | field        | meaning                                                   |
///         | --------- | ------------ | --------------------------------------------------------- |
///         | 255 … 248 | asset class  | 1 = CEA (碳排放配额), 2 = CCER (核证自愿减排量)               |
///         | 247 … 232 | vintage      | CEA: compliance year; CCER: year the reduction occurred   |
///         | 231 … 64  | reserved     | zero                                                      |
///         |  63 … 0   | project      | CCER: registry project number (> 0); CEA: zero            |
///
///         Python mirror: `ledger.assets.asset_id` / `parse_asset_id` (tested bit-identical).
library AssetIds {
    /// @notice Asset class of a carbon allowance (CEA).
    uint8 internal constant CEA = 1;
    /// @notice Asset class of an offset credit (CCER).
    uint8 internal constant CCER = 2;

    /// @notice The id is not a well-formed CEA or CCER id (class, vintage, project, reserved bits).
    error MalformedAssetId(uint256 id);

    /// @notice Id of CEA of compliance year `vintage`.
    function cea(uint16 vintage) internal pure returns (uint256) {
        return (uint256(CEA) << 248) | (uint256(vintage) << 232);
    }

    /// @notice Id of CCER of project `project` (> 0) and reduction year `vintage`.
    function ccer(uint16 vintage, uint64 project) internal pure returns (uint256) {
        return (uint256(CCER) << 248) | (uint256(vintage) << 232) | uint256(project);
    }

    /// @notice Asset class (1 CEA, 2 CCER) of `id`.
    function classOf(uint256 id) internal pure returns (uint8) {
        return uint8(id >> 248);
    }

    /// @notice Vintage year of `id`.
    function vintageOf(uint256 id) internal pure returns (uint16) {
        return uint16(id >> 232);
    }

    /// @notice Project number of `id` (0 for CEA).
    function projectOf(uint256 id) internal pure returns (uint64) {
        return uint64(id);
    }

    /// @notice Reverts `MalformedAssetId` unless `id` is a CEA id with project 0 or a CCER id with
    ///         project > 0, a non-zero vintage and zero reserved bits.
    function requireWellFormed(uint256 id) internal pure {
        if (!isWellFormed(id)) revert MalformedAssetId(id);
    }

    /// @notice Whether `id` is a CEA id with project 0 or a CCER id with project > 0, a non-zero
    ///         vintage and zero reserved bits.
    function isWellFormed(uint256 id) internal pure returns (bool) {
        uint8 cls = classOf(id);
        bool reservedClear = (id >> 64) & ((uint256(1) << 168) - 1) == 0;
        return reservedClear && vintageOf(id) != 0
            && ((cls == CEA && projectOf(id) == 0) || (cls == CCER && projectOf(id) != 0));
    }
}
