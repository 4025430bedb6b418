// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ParticipantRegistry} from "./ParticipantRegistry.sol";
import {ParticipantGated} from "./access/ParticipantGated.sol";
import {FactorCodes} from "./lib/FactorCodes.sol";
import {Roles} from "./lib/Roles.sol";

/// @title EmissionFactorRegistry
/// @notice Versioned, immutable emission-factor sets (排放因子): grid factor, fuel NCV, carbon
///         content, oxidation rate, heat factor, benchmarks — each a fixed-point integer with a
///         stated decimal scale, effective for a range of reporting years, with its source cited.
/// @dev DESIGN.md §4 EmissionFactorRegistry: a published set is immutable (there is no update
///      function); DESIGN.md "Governance": publishing and retiring a set are constitutional acts
///      (k-of-n regulator approvals and the governance delay), a retired set applies to no year. DESIGN.md §6: sources of every default value are
///      cited in the factor set (the citation text is emitted; its keccak256 is stored).
contract EmissionFactorRegistry is ParticipantGated {
    /// @notice Purchased-electricity grid emission factor, kgCO2/kWh (= tCO2/MWh) at scale 4:
    ///         value 5703 means 0.5703 (2022 national grid average, 环办气候函〔2023〕43号).
    bytes32 public constant GRID_EF = FactorCodes.GRID_EF;
    /// @notice Decimal scale every GRID_EF entry must use (DESIGN.md §5: EF × 1e4).
    uint8 public constant GRID_EF_SCALE = FactorCodes.GRID_EF_SCALE;
    /// @notice Market-based residual-mix factor of purchased electricity (GHG Protocol Scope 2
    ///         Guidance 2015), kgCO2/kWh at scale 4 like GRID_EF; no official Chinese value
    ///         (UNCONFIRMED): the regulator publishes it with its citation.
    bytes32 public constant RESIDUAL_EF = FactorCodes.RESIDUAL_EF;

    struct Factor {
        uint256 value;
        uint8 scale;
        bool present;
    }

    struct FactorSet {
        uint16 fromYear;
        uint16 toYear;
        address publisher;
        bytes32 citationHash;
        bytes32[] codes;
        bool retired;
        mapping(bytes32 code => Factor) factors;
    }

    mapping(uint256 factorSetId => FactorSet) private _sets;
    uint256 private _setCount;

    /// @notice fromYear must be nonzero and <= toYear.
    error InvalidYearRange(uint16 fromYear, uint16 toYear);
    /// @notice codes, values and scales must be non-empty and of equal length.
    error InvalidFactorArrays(uint256 codes, uint256 values, uint256 scales);
    /// @notice A code appears twice in one set.
    error DuplicateFactorCode(bytes32 code);
    /// @notice A factor code must be nonzero.
    error InvalidFactorCode();
    /// @notice Factor values must be > 0.
    error InvalidFactorValue(bytes32 code, uint256 value);
    /// @notice A factor has a scale other than the one its code is defined with.
    error InvalidFactorScale(bytes32 code, uint8 scale, uint8 expected);
    /// @notice Every factor set must cite its source.
    error MissingCitation();
    /// @notice No factor set with this id.
    error UnknownFactorSet(uint256 factorSetId);
    /// @notice The set has no factor with this code.
    error UnknownFactor(uint256 factorSetId, bytes32 code);
    /// @notice The set was already retired.
    error FactorSetAlreadyRetired(uint256 factorSetId);

    /// @notice A factor set was published (immutable from now on).
    event FactorSetPublished(
        uint256 indexed factorSetId,
        uint16 fromYear,
        uint16 toYear,
        bytes32[] codes,
        uint256[] values,
        uint8[] scales,
        string citation,
        string label
    );

    /// @notice A factor set was retired: from now on it applies to no reporting year (records
    ///         already made with it keep their figures).
    event FactorSetRetired(uint256 indexed factorSetId, bytes32 reasonHash, address indexed by);

    /// @param participantRegistry The deployed ParticipantRegistry.
    constructor(ParticipantRegistry participantRegistry) ParticipantGated(participantRegistry) {
    }

    /// @notice Publishes an immutable set of emission factors effective for reporting years
    ///         fromYear..toYear (inclusive).
    /// @param fromYear First reporting year the set applies to (nonzero).
    /// @param toYear Last reporting year the set applies to (>= fromYear).
    /// @param codes Factor codes (e.g. GRID_EF), nonzero, no duplicates.
    /// @param values Factor values as integers: real value = value / 10^scale; each > 0.
    /// @param scales Decimal scale of each value (GRID_EF and RESIDUAL_EF must use 4: kgCO2/kWh × 1e4).
    /// @param citation Source reference (document number, table); emitted, its keccak256 stored.
    /// @param label Human-readable name of the set; emitted only.
    /// @return factorSetId Sequential id starting at 1.
    /// @dev DESIGN.md §4: a published set is immutable. Constitutional (DESIGN.md "Governance").
    ///      Errors: NotConstitution, MissingCitation, InvalidYearRange, InvalidFactorArrays, ...
    function publishFactorSet(
        uint16 fromYear,
        uint16 toYear,
        bytes32[] calldata codes,
        uint256[] calldata values,
        uint8[] calldata scales,
        string calldata citation,
        string calldata label
    ) external onlyConstitution returns (uint256 factorSetId) {
        if (bytes(citation).length == 0) revert MissingCitation();
        factorSetId = _store(fromYear, toYear, codes, values, scales, keccak256(bytes(citation)));
        emit FactorSetPublished(factorSetId, fromYear, toYear, codes, values, scales, citation, label);
    }

    /// @notice Retires a factor set (e.g. published in error or superseded): it applies to no
    ///         reporting year from now on, so no new record can use it; its factors stay readable.
    /// @param factorSetId Set id.
    /// @param reasonHash Hash of the decision document.
    /// @dev Constitutional (DESIGN.md "Governance"). Errors: NotConstitution, UnknownFactorSet,
    ///      FactorSetAlreadyRetired. Emits FactorSetRetired.
    function retireFactorSet(uint256 factorSetId, bytes32 reasonHash) external onlyConstitution {
        FactorSet storage set = _existing(factorSetId);
        if (set.retired) revert FactorSetAlreadyRetired(factorSetId);
        set.retired = true;
        emit FactorSetRetired(factorSetId, reasonHash, msg.sender);
    }

    /// @notice Whether the set was retired (it exists and applies to no year any more).
    /// @param factorSetId Set id.
    function isRetired(uint256 factorSetId) external view returns (bool) {
        return _sets[factorSetId].retired;
    }

    /// @notice A factor's integer value and decimal scale (real value = value / 10^scale).
    /// @param factorSetId Set id.
    /// @param code Factor code.
    /// @dev Reverts UnknownFactor(setId, code) if the set does not hold the code (or does not exist).
    function factor(uint256 factorSetId, bytes32 code) external view returns (uint256 value, uint8 scale) {
        Factor storage f = _sets[factorSetId].factors[code];
        if (!f.present) revert UnknownFactor(factorSetId, code);
        return (f.value, f.scale);
    }

    /// @notice Whether the set exists and holds a factor with this code.
    /// @param factorSetId Set id.
    /// @param code Factor code.
    function hasFactor(uint256 factorSetId, bytes32 code) external view returns (bool) {
        return _sets[factorSetId].factors[code].present;
    }

    /// @notice A set's effective years, citation hash and publisher.
    /// @param factorSetId Set id; reverts UnknownFactorSet if it does not exist.
    function factorSet(uint256 factorSetId)
        external
        view
        returns (uint16 fromYear, uint16 toYear, bytes32 citationHash, address publisher)
    {
        FactorSet storage set = _existing(factorSetId);
        return (set.fromYear, set.toYear, set.citationHash, set.publisher);
    }

    /// @notice The factor codes of a set, in publication order.
    /// @param factorSetId Set id; reverts UnknownFactorSet if it does not exist.
    function factorCodes(uint256 factorSetId) external view returns (bytes32[] memory) {
        return _existing(factorSetId).codes;
    }

    /// @notice Whether the set exists, is not retired and applies to reporting year `year`
    ///         (fromYear <= year <= toYear).
    /// @param factorSetId Set id.
    /// @param year Reporting year.
    function appliesTo(uint256 factorSetId, uint16 year) external view returns (bool) {
        FactorSet storage set = _sets[factorSetId];
        return set.fromYear != 0 && !set.retired && set.fromYear <= year && year <= set.toYear;
    }

    /// @notice Number of published sets (ids are 1..factorSetCount()).
    function factorSetCount() external view returns (uint256) {
        return _setCount;
    }

    function _store(
        uint16 fromYear,
        uint16 toYear,
        bytes32[] calldata codes,
        uint256[] calldata values,
        uint8[] calldata scales,
        bytes32 citationHash
    ) private returns (uint256 factorSetId) {
        if (fromYear == 0 || fromYear > toYear) revert InvalidYearRange(fromYear, toYear);
        uint256 n = codes.length;
        if (n == 0 || values.length != n || scales.length != n) {
            revert InvalidFactorArrays(n, values.length, scales.length);
        }
        factorSetId = ++_setCount;
        FactorSet storage set = _sets[factorSetId];
        set.fromYear = fromYear;
        set.toYear = toYear;
        set.publisher = msg.sender;
        set.citationHash = citationHash;
        for (uint256 i = 0; i < n; ++i) {
            bytes32 code = codes[i];
            if (code == bytes32(0)) revert InvalidFactorCode();
            if (values[i] == 0) revert InvalidFactorValue(code, values[i]);
            if ((code == GRID_EF || code == RESIDUAL_EF) && scales[i] != GRID_EF_SCALE) {
                revert InvalidFactorScale(code, scales[i], GRID_EF_SCALE);
            }
            Factor storage f = set.factors[code];
            if (f.present) revert DuplicateFactorCode(code);
            f.value = values[i];
            f.scale = scales[i];
            f.present = true;
            set.codes.push(code);
        }
    }

    function _existing(uint256 factorSetId) private view returns (FactorSet storage set) {
        set = _sets[factorSetId];
        if (set.fromYear == 0) revert UnknownFactorSet(factorSetId);
    }
}
