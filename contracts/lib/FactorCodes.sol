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
    /// @dev Market-based residual-mix factor of purchased electricity not covered by retired
    ///      certificates, kgCO2/kWh (= tCO2/MWh) at GRID_EF_SCALE (EF × 1e4), GHG Protocol Scope 2
    ///      Guidance 2015, market-based method (residual mix). No official Chinese residual-mix factor is in
    ///      china_rules.md: the value is the regulator's to publish in a factor set with its
    ///      citation (UNCONFIRMED; docs/gec.md "Market-based scope 2"). Python:
    ///      ledger/accounting/emissions.py `residual_ef_code`.
    bytes32 internal constant RESIDUAL_EF = keccak256("RESIDUAL_EF_KGCO2_PER_KWH");
    /// @dev Decimal scale of per-fuel CO2 factors: kgCO2/GJ × 1e6 (DESIGN.md §5 "other factors ...
    ///      1e6"), e.g. 111.985 kgCO2/GJ → 111_985_000.
    uint8 internal constant FUEL_CO2_SCALE = 6;

    /// @notice Factor code of the CO2 factor of fuel `fuel` (e.g. bytes32("COAL")): kgCO2 per GJ of
    ///         fuel heat input = carbon content per heat value (tC/GJ) × oxidation rate × 44/12 × 1000
    ///         (DESIGN.md §6), at FUEL_CO2_SCALE. Python: ledger/units.py `fuel_co2_code`.
    function fuelCo2(bytes32 fuel) internal pure returns (bytes32) {
        return keccak256(abi.encode("FUEL_CO2_KGCO2_PER_GJ", fuel));
    }

    /// @dev Purchased-heat emission factor EF_heat, tCO2/GJ (DESIGN.md §6 E_heat = AD_heat × EF_heat).
    ///      No official value is in china_rules.md: the regulator publishes it with its citation.
    bytes32 internal constant HEAT_EF = keccak256("HEAT_EF_TCO2_PER_GJ");
    /// @dev Decimal scale of HEAT_EF values: tCO2/GJ × 1e6 (DESIGN.md §5 "other factors ... 1e6").
    uint8 internal constant HEAT_EF_SCALE = 6;
    /// @dev Decimal scale of a fuel's default net calorific value NCV: GJ/t (solid, liquid) or
    ///      GJ/10^4 Nm³ (gas) × 1e6.
    uint8 internal constant FUEL_NCV_SCALE = 6;
    /// @dev Decimal scale of a fuel's default carbon content per heat value CC: tC/GJ × 1e9
    ///      (0.03085 → 30_850_000).
    uint8 internal constant FUEL_CC_SCALE = 9;
    /// @dev Decimal scale of a fuel's default oxidation rate OF: fraction × 1e6 (99 % → 990_000).
    uint8 internal constant FUEL_OF_SCALE = 6;

    /// @notice Factor code of the default net calorific value (低位发热量) of fuel `fuel`, at
    ///         FUEL_NCV_SCALE. Python: ledger/units.py `fuel_ncv_code`.
    function fuelNcv(bytes32 fuel) internal pure returns (bytes32) {
        return keccak256(abi.encode("FUEL_NCV_GJ_PER_UNIT", fuel));
    }

    /// @notice Factor code of the default carbon content per heat value (单位热值含碳量) of fuel
    ///         `fuel`, at FUEL_CC_SCALE (e.g. coal 0.03085 tC/GJ, china_rules.md §1, CONFIRMED-S
    ///         values). Python: ledger/units.py `fuel_cc_code`.
    function fuelCarbonContent(bytes32 fuel) internal pure returns (bytes32) {
        return keccak256(abi.encode("FUEL_CC_TC_PER_GJ", fuel));
    }

    /// @notice Factor code of the default oxidation rate (碳氧化率) of fuel `fuel`, at FUEL_OF_SCALE
    ///         (coal 99 %: china_rules.md §1, PARTIAL). Python: ledger/units.py `fuel_of_code`.
    function fuelOxidationRate(bytes32 fuel) internal pure returns (bytes32) {
        return keccak256(abi.encode("FUEL_OF_FRACTION", fuel));
    }
}
