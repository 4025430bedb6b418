// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title FactorCodes
/// @notice Codes and fixed scales of the emission factors the contracts compute with.
///         EmissionFactorRegistry exposes the same values as public constants.
library FactorCodes {
    /// @dev Purchased-electricity grid emission factor, kgCO2/kWh (= tCO2/MWh), e.g. the 2022 national
    ///      grid average 0.5703 of 环办气候函〔2023〕43号.
    bytes32 internal constant GRID_EF = keccak256("GRID_EF_KGCO2_PER_KWH");
    /// @dev Decimal scale of GRID_EF values: EF × 1e4 (0.5703 → 5703), DESIGN.md §5.
    uint8 internal constant GRID_EF_SCALE = 4;
}
