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
    /// @dev Decimal scale of per-fuel CO2 factors: kgCO2/GJ × 1e6 (DESIGN.md §5 "other factors ...
    ///      1e6"), e.g. 111.985 kgCO2/GJ → 111_985_000.
    uint8 internal constant FUEL_CO2_SCALE = 6;

    /// @notice Factor code of the CO2 factor of fuel `fuel` (e.g. bytes32("COAL")): kgCO2 per GJ of
    ///         fuel heat input = carbon content per heat value (tC/GJ) × oxidation rate × 44/12 × 1000
    ///         (DESIGN.md §6), at FUEL_CO2_SCALE. Python: ledger/units.py `fuel_co2_code`.
    function fuelCo2(bytes32 fuel) internal pure returns (bytes32) {
        return keccak256(abi.encode("FUEL_CO2_KGCO2_PER_GJ", fuel));
    }
}
