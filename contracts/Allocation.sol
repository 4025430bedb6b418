// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ParticipantRegistry} from "./ParticipantRegistry.sol";
import {ParticipantGated} from "./access/ParticipantGated.sol";
import {EmissionsRegistry} from "./EmissionsRegistry.sol";
import {CarbonAssets} from "./CarbonAssets.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {AssetIds} from "./lib/AssetIds.sol";
import {Roles} from "./lib/Roles.sol";

/// @title Allocation
/// @notice Free allocation of CEA (配额分配) to covered enterprises by the benchmark method:
///         the regulator publishes immutable benchmark sets, enrols each enterprise with its unit
///         category and holding account, issues the pre-allocation (预分配) at the start of the
///         year and, once emissions are confirmed, the final allocation (核定) computed on-chain
///         from confirmed activity data; the difference to the pre-allocation is issued or clawed
///         back, and what cannot be clawed back is recorded as a debt (never a negative balance).
/// @dev DESIGN.md §4 Allocation. Formula (国环规气候〔2023〕1号, CONFIRMED-P; same structure in
///      国环规气候〔2020〕3号): 机组配额量 = 供电基准值 × 供电量 × 修正系数 + 供热基准值 × 供热量.
///      Fixed point: benchmarks in tCO2/MWh × 1e6 and tCO2/GJ × 1e6, correction factor × 1e6
///      (1_000_000 = 1.0). With electricity in Wh and heat in MJ:
///        num = Wh × B_supply × C + MJ × B_heat × 1e9   (units of 1e-18 tCO2)
///        final tonnes = ⌊num / 1e18 + ½⌋
///        pre tonnes   = ⌊num × bps / 1e22 + ½⌋       (basis = previous year's output)
///      Rounding to whole tonnes half up is OUR choice (china_rules.md: rounding rules
///      UNCONFIRMED). One rounding per result, mirrored by ledger/compliance.py.
///      CEA go to the enterprise's holding account (登记账户), named by the regulator at enrolment
///      and required to be an Active ENTERPRISE_ROLE account of that organisation; it is
///      snapshotted into each year's entry at pre-allocation. Deductions recorded by Compliance
///      (暂行条例 Art. 24: 等量核减 of next year's allocation) reduce the year's net issuance.
contract Allocation is ParticipantGated {
    /// @notice Scale of benchmarks and correction factors: value = real × 1e6.
    uint256 public constant FACTOR_SCALE = 1_000_000;
    /// @notice Basis points per 1 (pre-allocation fraction).
    uint256 public constant BPS = 10_000;
    /// @notice Divisor from the fixed-point numerator to tonnes (Wh→MWh 1e6 × two 1e6 scales).
    uint256 public constant TONNE_DIVISOR = 1e18;
    /// @notice Multiplier bringing MJ × (tCO2/GJ × 1e6) to the numerator's 1e-18 t units.
    uint256 public constant HEAT_MULTIPLIER = 1e9;
    /// @notice ClawedBack / Issued reference of pre-allocation.
    bytes32 public constant REF_PRE = "PRE_ALLOCATION";
    /// @notice ClawedBack / Issued reference of the final true-up.
    bytes32 public constant REF_FINAL = "FINAL_ALLOCATION";
    /// @notice ClawedBack reference of a compliance deduction applied after the final allocation.
    bytes32 public constant REF_DEDUCTION = "COMPLIANCE_DEDUCTION";
    /// @notice ClawedBack reference of a debt recovery.
    bytes32 public constant REF_DEBT = "DEBT_RECOVERY";

    /// @notice Benchmarks of one unit category in a set.
    /// @dev supplyBenchmark tCO2/MWh × 1e6 (0.877 → 877_000); heatBenchmark tCO2/GJ × 1e6
    ///      (0.126 → 126_000; 0 = the category allocates nothing for heat); correctionFactor × 1e6
    ///      (1_000_000 where the plan's correction formulas are UNCONFIRMED, china_rules.md §3a);
    ///      gasUnit marks 燃气机组 (Compliance's gas rule).
    struct BenchmarkInput {
        bytes32 category;
        uint64 supplyBenchmark;
        uint64 heatBenchmark;
        uint64 correctionFactor;
        bool gasUnit;
    }

    struct Benchmark {
        uint64 supplyBenchmark;
        uint64 heatBenchmark;
        uint64 correctionFactor;
        bool gasUnit;
        bool present;
    }

    struct BenchmarkSet {
        uint16 fromYear;
        uint16 toYear;
        uint16 preAllocationBps;
        address publisher;
        bytes32 citationHash;
        bytes32[] categories;
        mapping(bytes32 category => Benchmark) benchmarks;
    }

    /// @notice Covered enterprise: unit category and holding account.
    struct Enrolment {
        bytes32 category;
        address holdingAccount;
    }

    /// @notice Allocation of one enterprise for one year. Amounts whole tCO2e (CEA of vintage
    ///         `year`): preAllocation issued at pre-allocation; finalAllocation gross (before
    ///         deductions); finalIssued issued at the true-up; clawedBack taken back (true-up,
    ///         deductions applied after the final allocation, debt recovery); deduction recorded by
    ///         Compliance; debt not yet recovered. The enterprise's net entitlement is
    ///         finalAllocation − deduction = preAllocation + finalIssued − clawedBack − debt.
    /// @dev Packed into five slots (gas of batch allocation); amounts are SafeCast to uint128.
    ///      The confirmed totals the final allocation used are in the FinalAllocated event.
    struct Entry {
        address account;
        uint32 setId;
        bool preAllocated;
        bool finalised;
        bytes32 category;
        uint128 preAllocation;
        uint128 finalAllocation;
        uint128 finalIssued;
        uint128 clawedBack;
        uint128 deduction;
        uint128 debt;
    }

    /// @dev Confirmed totals read at the final allocation (kgCO2, Wh, MJ).
    struct Totals {
        uint256 emissionsKg;
        uint256 electricityWh;
        uint256 heatMJ;
    }

    /// @notice Source of confirmed activity totals.
    EmissionsRegistry public immutable emissions;
    /// @notice The asset contract CEA are issued on (this contract needs CEA_ISSUER_ROLE).
    CarbonAssets public immutable assets;
    /// @notice Compliance contract allowed to record deductions (set by the regulator).
    address public compliance;

    uint32 private _setCount;
    mapping(uint256 setId => BenchmarkSet) private _sets;
    mapping(bytes32 enterprise => Enrolment) private _enrolments;
    mapping(uint16 year => mapping(bytes32 enterprise => Entry)) private _entries;

    /// @notice The caller is not the Compliance contract named by the regulator.
    error NotCompliance(address caller);
    /// @notice fromYear must be nonzero and <= toYear.
    error InvalidYearRange(uint16 fromYear, uint16 toYear);
    /// @notice Pre-allocation fraction must be 1..10000 basis points.
    error InvalidPreAllocationBps(uint16 bps);
    /// @notice A benchmark set needs at least one category.
    error NoCategories();
    /// @notice A category id must be nonzero.
    error InvalidCategory();
    /// @notice A category appears twice in one set.
    error DuplicateCategory(bytes32 category);
    /// @notice Supply benchmark and correction factor must be > 0.
    error InvalidBenchmark(bytes32 category);
    /// @notice Every benchmark set must cite the allocation plan it comes from.
    error MissingCitation();
    /// @notice No benchmark set with this id.
    error UnknownBenchmarkSet(uint256 setId);
    /// @notice The set does not cover the year.
    error SetNotApplicable(uint256 setId, uint16 year);
    /// @notice The set has no benchmarks for the category.
    error CategoryNotInSet(uint256 setId, bytes32 category);
    /// @notice The holding account is not an Active enterprise account of the organisation.
    error InvalidHoldingAccount(bytes32 enterprise, address account);
    /// @notice The enterprise is not enrolled (no category / holding account).
    error NotEnrolled(bytes32 enterprise);
    /// @notice The enterprise already received its pre-allocation for the year.
    error AlreadyPreAllocated(uint16 year, bytes32 enterprise);
    /// @notice The enterprise has no pre-allocation for the year.
    error NotPreAllocated(uint16 year, bytes32 enterprise);
    /// @notice The final allocation of the year was already made.
    error AlreadyFinalised(uint16 year, bytes32 enterprise);
    /// @notice The enterprise's year is not closable: not every month of every enrolled source is
    ///         Confirmed and the regulator has not assessed its emissions (EmissionsRegistry.annualEmissions).
    error EmissionsNotConfirmed(uint16 year, bytes32 enterprise);
    /// @notice Batch arrays differ in length or are empty.
    error InvalidBatch(uint256 enterprises, uint256 others);
    /// @notice A deduction or the Compliance address must be nonzero.
    error ZeroValue();
    /// @notice No debt to recover.
    error NoDebt(uint16 year, bytes32 enterprise);

    /// @notice The regulator published an immutable benchmark set.
    /// @dev Units as in BenchmarkInput; preAllocationBps basis points.
    event BenchmarkSetPublished(
        uint256 indexed setId,
        uint16 fromYear,
        uint16 toYear,
        uint16 preAllocationBps,
        BenchmarkInput[] benchmarks,
        string citation
    );
    /// @notice The regulator enrolled (or re-enrolled) a covered enterprise.
    event Enrolled(bytes32 indexed enterprise, bytes32 indexed category, address indexed holdingAccount);
    /// @notice The regulator named the Compliance contract that records deductions.
    event ComplianceContractSet(address indexed compliance, address indexed by);
    /// @notice Pre-allocation issued: `amount` tCO2e CEA of vintage `year` from basisWh Wh and
    ///         basisHeatMJ MJ of the basis year.
    event PreAllocated(
        uint16 indexed year,
        bytes32 indexed enterprise,
        uint256 indexed setId,
        bytes32 category,
        address account,
        uint256 basisWh,
        uint256 basisHeatMJ,
        uint256 amount,
        bytes32 evidenceHash
    );
    /// @notice Final allocation made: finalAllocation tCO2e computed from the confirmed totals
    ///         (kgCO2, Wh, MJ); net of `deduction`, `issuedNow` issued or `clawbackRequested`
    ///         clawed back of which `clawedBackNow` was taken.
    event FinalAllocated(
        uint16 indexed year,
        bytes32 indexed enterprise,
        uint256 emissionsKg,
        uint256 electricityWh,
        uint256 heatMJ,
        uint256 finalAllocation,
        uint256 deduction,
        uint256 issuedNow,
        uint256 clawbackRequested,
        uint256 clawedBackNow
    );
    /// @notice A clawback fell short of holdings: `amount` tCO2e recorded as debt (total `debt`).
    event DebtRecorded(uint16 indexed year, bytes32 indexed enterprise, uint256 amount, uint256 debt);
    /// @notice `amount` tCO2e of debt recovered by clawback (remaining `debt`).
    event DebtRecovered(uint16 indexed year, bytes32 indexed enterprise, uint256 amount, uint256 debt);
    /// @notice Compliance recorded a deduction of `amount` tCO2e from the year's allocation;
    ///         `appliedNow` when the year was already final (clawed back at once).
    event DeductionRecorded(uint16 indexed year, bytes32 indexed enterprise, uint256 amount, bool appliedNow);

    /// @param participantRegistry Deployed ParticipantRegistry.
    /// @param emissionsRegistry Deployed EmissionsRegistry (confirmedTotals).
    /// @param carbonAssets Deployed CarbonAssets; the regulator grants this contract CEA_ISSUER_ROLE.
    constructor(ParticipantRegistry participantRegistry, EmissionsRegistry emissionsRegistry, CarbonAssets carbonAssets) ParticipantGated(participantRegistry) {
        emissions = emissionsRegistry;
        assets = carbonAssets;
    }

    // ------------------------------------------------------------------ regulator

    /// @notice Publishes an immutable benchmark set for years fromYear..toYear.
    /// @param fromYear First compliance year covered (nonzero).
    /// @param toYear Last compliance year covered (>= fromYear).
    /// @param preAllocationBps Pre-allocation fraction of the basis, basis points 1..10000
    ///        (7000 = 70 %, 国环规气候〔2020〕3号 per ICAP / 环办气候函〔2021〕492号, CONFIRMED-S).
    /// @param benchmarks Per category: supply benchmark tCO2/MWh × 1e6 (> 0), heat benchmark
    ///        tCO2/GJ × 1e6 (0 allowed), correction factor × 1e6 (> 0), gas-unit flag.
    /// @param citation The allocation plan (document number, table) the values come from.
    /// @return setId Sequential id starting at 1.
    /// @dev Errors: NotRegulator, MissingCitation, InvalidYearRange, InvalidPreAllocationBps,
    ///      NoCategories, InvalidCategory, DuplicateCategory, InvalidBenchmark.
    function publishBenchmarkSet(
        uint16 fromYear,
        uint16 toYear,
        uint16 preAllocationBps,
        BenchmarkInput[] calldata benchmarks,
        string calldata citation
    ) external onlyRegulator returns (uint256 setId) {
        if (bytes(citation).length == 0) revert MissingCitation();
        if (fromYear == 0 || fromYear > toYear) revert InvalidYearRange(fromYear, toYear);
        if (preAllocationBps == 0 || preAllocationBps > BPS) revert InvalidPreAllocationBps(preAllocationBps);
        if (benchmarks.length == 0) revert NoCategories();
        setId = ++_setCount;
        BenchmarkSet storage s = _sets[setId];
        s.fromYear = fromYear;
        s.toYear = toYear;
        s.preAllocationBps = preAllocationBps;
        s.publisher = msg.sender;
        s.citationHash = keccak256(bytes(citation));
        for (uint256 i = 0; i < benchmarks.length; ++i) {
            BenchmarkInput calldata b = benchmarks[i];
            if (b.category == bytes32(0)) revert InvalidCategory();
            if (s.benchmarks[b.category].present) revert DuplicateCategory(b.category);
            if (b.supplyBenchmark == 0 || b.correctionFactor == 0) revert InvalidBenchmark(b.category);
            s.benchmarks[b.category] = Benchmark(b.supplyBenchmark, b.heatBenchmark, b.correctionFactor, b.gasUnit, true);
            s.categories.push(b.category);
        }
        emit BenchmarkSetPublished(setId, fromYear, toYear, preAllocationBps, benchmarks, citation);
    }

    /// @notice Names the Compliance contract allowed to record deductions (replaces any earlier one).
    /// @param complianceContract Deployed Compliance (nonzero).
    /// @dev Errors: NotRegulator, ZeroValue.
    function setComplianceContract(address complianceContract) external onlyConstitution {
        if (complianceContract == address(0)) revert ZeroValue();
        compliance = complianceContract;
        emit ComplianceContractSet(complianceContract, msg.sender);
    }

    /// @notice Enrols a covered enterprise (纳入名录): its unit category and holding account.
    /// @param enterprise Organisation id.
    /// @param category Unit category, e.g. "COAL_GT300", "COAL_LE300", "COAL_UNCONVENTIONAL",
    ///        "GAS" (the four categories of 国环规气候〔2020〕3号 / 〔2023〕1号); nonzero.
    /// @param holdingAccount Active ENTERPRISE_ROLE account of `enterprise` receiving its CEA.
    /// @dev Re-enrolment changes future years only (entries snapshot category and account at
    ///      pre-allocation). Errors: NotRegulator, InvalidCategory, InvalidHoldingAccount.
    function enrol(bytes32 enterprise, bytes32 category, address holdingAccount) external onlyRegulator {
        _enrol(enterprise, category, holdingAccount);
    }

    /// @notice Batch of `enrol` (same rules, all or nothing).
    /// @dev Errors: those of enrol, InvalidBatch.
    function enrolBatch(bytes32[] calldata enterprises, bytes32[] calldata categories, address[] calldata accounts)
        external
        onlyRegulator
    {
        uint256 n = enterprises.length;
        if (n == 0 || categories.length != n || accounts.length != n) revert InvalidBatch(n, categories.length);
        for (uint256 i = 0; i < n; ++i) {
            _enrol(enterprises[i], categories[i], accounts[i]);
        }
    }

    /// @notice Issues the pre-allocation of `year` to an enrolled enterprise: ⌊basis × benchmarks ×
    ///         fraction⌉ tCO2e CEA of vintage `year` (rounded half up).
    /// @param year Compliance year (= CEA vintage), covered by the set.
    /// @param setId Benchmark set covering `year` with the enterprise's category.
    /// @param enterprise Enrolled organisation id.
    /// @param basisWh Electricity supplied in the basis year, Wh (2019–20: 2018 output; 2021–22:
    ///        2021 output — china_rules.md §3).
    /// @param basisHeatMJ Heat supplied in the basis year, MJ.
    /// @param evidenceHash Hash of the basis data (may be zero).
    /// @return amount tCO2e issued (0 issues nothing but still records the entry).
    /// @dev Errors: NotRegulator, UnknownBenchmarkSet, SetNotApplicable, NotEnrolled,
    ///      CategoryNotInSet, AlreadyPreAllocated, and CarbonAssets' (NotAdmitted, WrongIssuerForClass).
    function preAllocate(
        uint16 year,
        uint256 setId,
        bytes32 enterprise,
        uint256 basisWh,
        uint256 basisHeatMJ,
        bytes32 evidenceHash
    ) external onlyRegulator returns (uint256 amount) {
        BenchmarkSet storage s = _applicableSet(setId, year);
        return _preAllocate(year, setId, s, enterprise, basisWh, basisHeatMJ, evidenceHash);
    }

    /// @notice Batch of `preAllocate` with one set (all or nothing); used by the national simulation.
    /// @dev Errors: those of preAllocate, InvalidBatch.
    function preAllocateBatch(
        uint16 year,
        uint256 setId,
        bytes32[] calldata enterprises,
        uint256[] calldata basisWh,
        uint256[] calldata basisHeatMJ,
        bytes32[] calldata evidenceHashes
    ) external onlyRegulator {
        uint256 n = enterprises.length;
        if (n == 0 || basisWh.length != n || basisHeatMJ.length != n || evidenceHashes.length != n) {
            revert InvalidBatch(n, basisWh.length);
        }
        BenchmarkSet storage s = _applicableSet(setId, year);
        for (uint256 i = 0; i < n; ++i) {
            _preAllocate(year, setId, s, enterprises[i], basisWh[i], basisHeatMJ[i], evidenceHashes[i]);
        }
    }

    /// @notice Final allocation (核定) of `year`: computed from the enterprise's confirmed
    ///         electricity supplied and heat supplied (EmissionsRegistry.confirmedTotals) with the
    ///         benchmarks of its pre-allocation; final − deductions − pre-allocation is issued,
    ///         or clawed back from the holding account, the part not held becoming a debt.
    /// @param year Compliance year.
    /// @param enterprise Pre-allocated organisation id whose `year` is closable.
    /// @return finalAllocation Gross final allocation, tCO2e (before deductions).
    /// @dev Completeness (issue 12): refused until the year is closable — every month of every
    ///      enrolled source Confirmed, or the regulator's assessed (核定) value — so a non-reporter
    ///      cannot keep its pre-allocation and one confirmed activity type cannot stand for the
    ///      year. Outputs are the confirmed totals (an assessment sets emissions only: a
    ///      non-reporter's final allocation is 0 and its pre-allocation is clawed back).
    ///      Errors: NotRegulator, NotPreAllocated, AlreadyFinalised, EmissionsNotConfirmed.
    function finalAllocate(uint16 year, bytes32 enterprise) external onlyRegulator returns (uint256 finalAllocation) {
        return _finalAllocate(year, enterprise);
    }

    /// @notice Batch of `finalAllocate` (all or nothing); used by the national simulation.
    /// @dev Errors: those of finalAllocate, InvalidBatch.
    function finalAllocateBatch(uint16 year, bytes32[] calldata enterprises) external onlyRegulator {
        if (enterprises.length == 0) revert InvalidBatch(0, 0);
        for (uint256 i = 0; i < enterprises.length; ++i) {
            _finalAllocate(year, enterprises[i]);
        }
    }

    /// @notice Claws back outstanding debt of `year` from the holding account (as far as held).
    /// @param year CEA vintage of the debt.
    /// @param enterprise Organisation id.
    /// @return taken tCO2e recovered now.
    /// @dev Errors: NotRegulator, NoDebt.
    function recoverDebt(uint16 year, bytes32 enterprise) external onlyRegulator returns (uint256 taken) {
        Entry storage e = _entries[year][enterprise];
        if (e.debt == 0) revert NoDebt(year, enterprise);
        uint256 owed = e.debt;
        taken = assets.clawback(e.account, AssetIds.cea(year), owed, REF_DEBT);
        e.debt = SafeCast.toUint128(owed - taken);
        e.clawedBack += SafeCast.toUint128(taken);
        emit DebtRecovered(year, enterprise, taken, e.debt);
    }

    // ------------------------------------------------------------------ compliance

    /// @notice Records a deduction (等量核减) of `amount` tCO2e from the enterprise's allocation of
    ///         `year` (Compliance calls it with year = shortfall year + 1 once the regulator marks
    ///         the enterprise as refusing to correct). Applied at the final allocation, or clawed
    ///         back at once (debt for the part not held) when `year` is already final.
    /// @param year Allocation year the deduction applies to.
    /// @param enterprise Organisation id.
    /// @param amount tCO2e (> 0).
    /// @dev 《碳排放权交易管理暂行条例》 Art. 24. Errors: NotCompliance, ZeroValue.
    function recordDeduction(uint16 year, bytes32 enterprise, uint256 amount) external {
        if (msg.sender != compliance || compliance == address(0)) revert NotCompliance(msg.sender);
        if (amount == 0) revert ZeroValue();
        Entry storage e = _entries[year][enterprise];
        e.deduction += SafeCast.toUint128(amount);
        emit DeductionRecorded(year, enterprise, amount, e.finalised);
        if (e.finalised) _clawback(year, enterprise, e, amount, REF_DEDUCTION);
    }

    // ------------------------------------------------------------------ views

    /// @notice A benchmark set's years, pre-allocation fraction (bps), citation hash, publisher
    ///         and categories.
    /// @dev Errors: UnknownBenchmarkSet.
    function benchmarkSet(uint256 setId)
        external
        view
        returns (
            uint16 fromYear,
            uint16 toYear,
            uint16 preAllocationBps,
            bytes32 citationHash,
            address publisher,
            bytes32[] memory categories
        )
    {
        BenchmarkSet storage s = _existingSet(setId);
        return (s.fromYear, s.toYear, s.preAllocationBps, s.citationHash, s.publisher, s.categories);
    }

    /// @notice Benchmarks of `category` in set `setId` (units as in BenchmarkInput).
    /// @dev Errors: UnknownBenchmarkSet, CategoryNotInSet.
    function benchmark(uint256 setId, bytes32 category) external view returns (Benchmark memory) {
        return _benchmark(_existingSet(setId), setId, category);
    }

    /// @notice Number of published benchmark sets (ids 1..benchmarkSetCount()).
    function benchmarkSetCount() external view returns (uint256) {
        return _setCount;
    }

    /// @notice Enrolment of an enterprise (category 0 = not enrolled).
    function enrolment(bytes32 enterprise) external view returns (Enrolment memory) {
        return _enrolments[enterprise];
    }

    /// @notice The allocation entry of an enterprise for a year (all zero before pre-allocation).
    function entry(uint16 year, bytes32 enterprise) external view returns (Entry memory) {
        return _entries[year][enterprise];
    }

    /// @notice What Compliance needs: whether the final allocation is made, its gross amount
    ///         (tCO2e, before deductions) and whether the unit is a gas unit.
    function finalAllocationOf(uint16 year, bytes32 enterprise)
        external
        view
        returns (bool finalised, uint256 finalAllocation, bool gasUnit)
    {
        Entry storage e = _entries[year][enterprise];
        if (!e.finalised) return (false, 0, false);
        return (true, e.finalAllocation, _sets[e.setId].benchmarks[e.category].gasUnit);
    }

    /// @notice Allocation in whole tCO2e: ⌊(Wh × B_s × C + MJ × B_h × 1e9) / 1e18 + ½⌋.
    /// @param electricityWh Electricity supplied, Wh.
    /// @param heatMJ Heat supplied, MJ.
    /// @param supplyBenchmark tCO2/MWh × 1e6.
    /// @param heatBenchmark tCO2/GJ × 1e6.
    /// @param correctionFactor × 1e6.
    /// @dev Mirrored by ledger/compliance.py `allocation_tonnes`.
    function allocationTonnes(
        uint256 electricityWh,
        uint256 heatMJ,
        uint256 supplyBenchmark,
        uint256 heatBenchmark,
        uint256 correctionFactor
    ) public pure returns (uint256) {
        uint256 num = _numerator(electricityWh, heatMJ, supplyBenchmark, heatBenchmark, correctionFactor);
        return (num + TONNE_DIVISOR / 2) / TONNE_DIVISOR;
    }

    /// @notice Pre-allocation in whole tCO2e: ⌊num × bps / 1e22 + ½⌋ (num as in allocationTonnes).
    /// @param preAllocationBps Fraction of the basis, basis points.
    /// @dev Mirrored by ledger/compliance.py `pre_allocation_tonnes`.
    function preAllocationTonnes(
        uint256 basisWh,
        uint256 basisHeatMJ,
        uint256 supplyBenchmark,
        uint256 heatBenchmark,
        uint256 correctionFactor,
        uint256 preAllocationBps
    ) public pure returns (uint256) {
        uint256 num = _numerator(basisWh, basisHeatMJ, supplyBenchmark, heatBenchmark, correctionFactor);
        uint256 div = TONNE_DIVISOR * BPS;
        return (num * preAllocationBps + div / 2) / div;
    }

    // ------------------------------------------------------------------ internals

    function _numerator(uint256 wh, uint256 mj, uint256 bs, uint256 bh, uint256 c) private pure returns (uint256) {
        return wh * bs * c + mj * bh * HEAT_MULTIPLIER;
    }

    function _enrol(bytes32 enterprise, bytes32 category, address holdingAccount) private {
        if (category == bytes32(0)) revert InvalidCategory();
        if (
            participants.orgOf(holdingAccount) != enterprise || enterprise == bytes32(0)
                || !participants.isActive(holdingAccount, Roles.ENTERPRISE)
        ) revert InvalidHoldingAccount(enterprise, holdingAccount);
        _enrolments[enterprise] = Enrolment(category, holdingAccount);
        emit Enrolled(enterprise, category, holdingAccount);
    }

    function _preAllocate(
        uint16 year,
        uint256 setId,
        BenchmarkSet storage s,
        bytes32 enterprise,
        uint256 basisWh,
        uint256 basisHeatMJ,
        bytes32 evidenceHash
    ) private returns (uint256 amount) {
        Enrolment storage en = _enrolments[enterprise];
        if (en.category == bytes32(0)) revert NotEnrolled(enterprise);
        Benchmark storage b = _benchmark(s, setId, en.category);
        Entry storage e = _entries[year][enterprise];
        if (e.preAllocated) revert AlreadyPreAllocated(year, enterprise);
        amount = preAllocationTonnes(
            basisWh, basisHeatMJ, b.supplyBenchmark, b.heatBenchmark, b.correctionFactor, s.preAllocationBps
        );
        e.setId = uint32(setId);
        e.preAllocated = true;
        e.category = en.category;
        e.account = en.holdingAccount;
        e.preAllocation = SafeCast.toUint128(amount);
        emit PreAllocated(
            year, enterprise, setId, en.category, en.holdingAccount, basisWh, basisHeatMJ, amount, evidenceHash
        );
        if (amount > 0) assets.issue(en.holdingAccount, AssetIds.cea(year), amount, REF_PRE);
    }

    function _finalAllocate(uint16 year, bytes32 enterprise) private returns (uint256 finalAllocation) {
        Entry storage e = _entries[year][enterprise];
        if (!e.preAllocated) revert NotPreAllocated(year, enterprise);
        if (e.finalised) revert AlreadyFinalised(year, enterprise);
        EmissionsRegistry.AnnualEmissions memory y = emissions.annualEmissions(enterprise, year);
        if (!y.closable) revert EmissionsNotConfirmed(year, enterprise);
        Totals memory t = Totals(y.emissionsKg, y.electricitySuppliedWh, y.heatSuppliedMJ);
        Benchmark storage b = _sets[e.setId].benchmarks[e.category];
        finalAllocation =
            allocationTonnes(t.electricityWh, t.heatMJ, b.supplyBenchmark, b.heatBenchmark, b.correctionFactor);
        e.finalised = true;
        e.finalAllocation = SafeCast.toUint128(finalAllocation);
        // The enterprise ends up holding final − deduction of this vintage from this contract;
        // it was issued the pre-allocation so far.
        uint256 owedOut = uint256(e.preAllocation) + e.deduction;
        if (finalAllocation > owedOut) {
            uint256 issueNow = finalAllocation - owedOut;
            e.finalIssued = SafeCast.toUint128(issueNow);
            _emitFinal(year, enterprise, e, t, issueNow, 0, 0);
            assets.issue(e.account, AssetIds.cea(year), issueNow, REF_FINAL);
        } else if (owedOut > finalAllocation) {
            uint256 claw = owedOut - finalAllocation;
            uint256 taken = _clawback(year, enterprise, e, claw, REF_FINAL);
            _emitFinal(year, enterprise, e, t, 0, claw, taken);
        } else {
            _emitFinal(year, enterprise, e, t, 0, 0, 0);
        }
    }

    function _emitFinal(
        uint16 year,
        bytes32 enterprise,
        Entry storage e,
        Totals memory t,
        uint256 issued,
        uint256 claw,
        uint256 taken
    ) private {
        emit FinalAllocated(
            year,
            enterprise,
            t.emissionsKg,
            t.electricityWh,
            t.heatMJ,
            e.finalAllocation,
            e.deduction,
            issued,
            claw,
            taken
        );
    }

    /// @dev Takes up to `amount` CEA of vintage `year` from the entry's holding account; the rest
    ///      becomes debt (never a negative balance: CarbonAssets.clawback returns what it took).
    function _clawback(uint16 year, bytes32 enterprise, Entry storage e, uint256 amount, bytes32 ref)
        private
        returns (uint256 taken)
    {
        taken = assets.clawback(e.account, AssetIds.cea(year), amount, ref);
        e.clawedBack += SafeCast.toUint128(taken);
        if (taken < amount) {
            e.debt += SafeCast.toUint128(amount - taken);
            emit DebtRecorded(year, enterprise, amount - taken, e.debt);
        }
    }

    function _applicableSet(uint256 setId, uint16 year) private view returns (BenchmarkSet storage s) {
        s = _existingSet(setId);
        if (year < s.fromYear || year > s.toYear) revert SetNotApplicable(setId, year);
    }

    function _existingSet(uint256 setId) private view returns (BenchmarkSet storage s) {
        s = _sets[setId];
        if (s.fromYear == 0) revert UnknownBenchmarkSet(setId);
    }

    function _benchmark(BenchmarkSet storage s, uint256 setId, bytes32 category)
        private
        view
        returns (Benchmark storage b)
    {
        b = s.benchmarks[category];
        if (!b.present) revert CategoryNotInSet(setId, category);
    }
}
