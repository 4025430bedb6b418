// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ParticipantRegistry} from "./ParticipantRegistry.sol";
import {ParticipantGated} from "./access/ParticipantGated.sol";
import {EmissionsRegistry} from "./EmissionsRegistry.sol";
import {Allocation} from "./Allocation.sol";
import {CarbonAssets} from "./CarbonAssets.sol";
import {ICCERRegistry} from "./interfaces/ICCERRegistry.sol";
import {AssetIds} from "./lib/AssetIds.sol";
import {Roles} from "./lib/Roles.sol";

/// @title Compliance
/// @notice Surrender (清缴) and compliance status (履约) per enterprise and compliance year:
///         E = confirmed emissions in whole tonnes, A = final allocation, the obligation
///         (应清缴配额) under the period's rules, CEA and CCER surrendered, and after the deadline
///         Compliant or Shortfall with its penalty range and the 1:1 deduction from next year's
///         allocation.
/// @dev DESIGN.md §4 Compliance. Every rule is a parameter of the period, opened by the regulator
///      with a citation per parameter (emitted; their hash stored):
///      - E = ⌊kgCO2 / 1000 + ½⌋ (DESIGN.md §5: obligation in whole tonnes, half up), read live
///        from EmissionsRegistry.annualEmissions (complete confirmed data or the regulator's
///        assessed value; purchased-electricity emissions only where the period's
///        countsPurchasedElectricity says so) until the enterprise's period is closed;
///      - obligation = min(E, A) for gas units when gasCapToAllocation, else min(E, A + ⌊E ×
///        gapCapBps / 10000⌋) when gapCapBps > 0, else E (2019–2022: 20 % gap cap and gas rule,
///        环办气候函〔2021〕492号 per ICAP, CONFIRMED-S); A is the gross final allocation (before any
///        deduction), so a deduction never lowers the obligation;
///      - CCER ≤ ⌊obligation × ccerCapBps / 10000⌋ cumulative (500 bps, 碳排放权交易管理办法（试行）
///        Art. 29: 5 % of 应清缴配额), only eligible vintages and project dates;
///      - surrender needs the final allocation (核定) of the year (a registry settles against the
///        final figure), may not exceed the obligation, and is open until the deadline (inclusive);
///      - after the deadline the regulator closes each enterprise's period (price P published
///        first): Compliant, or Shortfall S = obligation − surrendered with penalty 5 × S × P …
///        10 × S × P fen (《碳排放权交易管理暂行条例》 Art. 24, CONFIRMED-P) and a Pending deduction
///        of S from year + 1; the regulator's markRefusesToCorrect makes the deduction Effective
///        (Allocation applies it to year + 1);
///      - late correction: while Shortfall with the deduction still Pending, the enterprise may
///        surrender the outstanding units; when fully surrendered the status becomes CorrectedLate
///        and the pending deduction is Cancelled, the penalty range stays (OUR reading of Art. 24:
///        责令改正 then 拒不改正 → 核减).
contract Compliance is ParticipantGated {
    /// @notice Status of an enterprise's compliance year.
    enum Status {
        Open,
        Compliant,
        Shortfall,
        CorrectedLate
    }

    /// @notice State of the 1:1 deduction of a shortfall from next year's allocation.
    enum DeductionStatus {
        None,
        Pending,
        Effective,
        Cancelled
    }

    /// @notice Rules of a compliance period (one compliance year).
    /// @dev deadline UTC seconds (surrender allowed while block.timestamp <= deadline); bps basis
    ///      points; vintages are years (inclusive ranges; from 0 and to 0 = none eligible);
    ///      project date bounds UTC seconds, inclusive, 0 = unbounded on that side;
    ///      countsPurchasedElectricity: purchased-electricity (indirect) emissions count in E
    ///      (国环规气候〔2023〕1号 for 2021–22: yes, CONFIRMED-P; the 2023–24 plan: no, CONFIRMED-S;
    ///      china_rules.md §3b/§3c).
    struct PeriodParams {
        uint64 deadline;
        uint16 gapCapBps;
        bool gasCapToAllocation;
        uint16 ccerCapBps;
        uint16 ceaVintageFrom;
        uint16 ceaVintageTo;
        uint16 ccerVintageFrom;
        uint16 ccerVintageTo;
        uint64 projectRegisteredFrom;
        uint64 projectRegisteredTo;
        uint64 creditingStartFrom;
        uint64 creditingStartTo;
        bool countsPurchasedElectricity;
    }

    /// @notice The citation of each parameter group (document + article; UNCONFIRMED where
    ///         china_rules.md says so). All required.
    struct PeriodCitations {
        string deadline;
        string gapCap;
        string gasCap;
        string ccerCap;
        string ceaVintages;
        string ccerEligibility;
        string purchasedElectricity;
    }

    struct Period {
        PeriodParams params;
        bytes32 citationsHash;
        bool opened;
        uint256 priceFen;
    }

    /// @notice One enterprise's compliance year. Amounts tCO2e; E/A/obligation frozen at close.
    struct Account {
        Status status;
        DeductionStatus deduction;
        uint256 ceaSurrendered;
        uint256 ccerSurrendered;
        uint256 emissionsT;
        uint256 allocationT;
        uint256 obligation;
        uint256 shortfallAtClose;
        uint256 deductionAmount;
    }

    /// @notice One row of the compliance status table. Amounts tCO2e, penalties fen. Before close
    ///         E, A and obligation are live (0 with allocationFinal false before the final
    ///         allocation); shortfall is what is still outstanding.
    struct StatusRow {
        bytes32 enterprise;
        bool allocationFinal;
        uint256 emissionsT;
        uint256 allocationT;
        uint256 obligation;
        uint256 ceaSurrendered;
        uint256 ccerSurrendered;
        uint256 ccerCap;
        Status status;
        uint256 shortfall;
        uint256 shortfallAtClose;
        uint256 penaltyMinFen;
        uint256 penaltyMaxFen;
        DeductionStatus deduction;
        uint256 deductionAmount;
    }

    /// @notice Basis points per 1.
    uint256 public constant BPS = 10_000;
    /// @notice Lower penalty multiple of S × P (《碳排放权交易管理暂行条例》 Art. 24: 5倍以上).
    uint256 public constant PENALTY_MIN_MULTIPLE = 5;
    /// @notice Upper penalty multiple of S × P (《碳排放权交易管理暂行条例》 Art. 24: 10倍以下).
    uint256 public constant PENALTY_MAX_MULTIPLE = 10;

    /// @notice Confirmed emissions (E).
    EmissionsRegistry public immutable emissions;
    /// @notice Final allocations (A), gas-unit flag, deductions.
    Allocation public immutable allocation;
    /// @notice Asset contract; this contract needs COMPLIANCE_ROLE to burn surrendered units.
    CarbonAssets public immutable assets;
    /// @notice CCER project registry consulted for project dates (address 0: no CCER accepted).
    ICCERRegistry public immutable ccerRegistry;

    mapping(uint16 year => Period) private _periods;
    mapping(uint16 year => mapping(bytes32 enterprise => Account)) private _accounts;

    /// @notice A period for this year is already open (periods are immutable).
    error PeriodExists(uint16 year);
    /// @notice No period is open for this year.
    error PeriodNotOpen(uint16 year);
    /// @notice A parameter is out of range (`field` names it).
    error InvalidParameter(string field);
    /// @notice A citation is missing (`field` names the parameter group).
    error MissingCitation(string field);
    /// @notice The price of the year was already published.
    error PriceAlreadyPublished(uint16 year, uint256 priceFen);
    /// @notice Closing needs the published price P.
    error PriceNotPublished(uint16 year);
    /// @notice Amount must be positive.
    error ZeroAmount();
    /// @notice The final allocation of the year is not made yet.
    error AllocationNotFinal(uint16 year, bytes32 enterprise);
    /// @notice The asset id is not CEA or CCER of an eligible vintage for the period.
    error IneligibleVintage(uint16 year, uint256 assetId, uint16 vintage);
    /// @notice The CCER project is not registered or its dates fall outside the period's bounds.
    error IneligibleProject(uint64 project, uint64 registeredAt, uint64 creditingStart);
    /// @notice The surrender would exceed the obligation.
    error ExceedsObligation(uint256 obligation, uint256 surrendered, uint256 amount);
    /// @notice The CCER surrender would exceed the offset cap.
    error CcerCapExceeded(uint256 cap, uint256 ccerSurrendered, uint256 amount);
    /// @notice After the deadline only an enterprise in Shortfall with a Pending deduction may
    ///         surrender (late correction).
    error SurrenderClosed(uint16 year, uint64 deadline, Status status, DeductionStatus deduction);
    /// @notice Closing is only possible after the deadline.
    error DeadlineNotPassed(uint16 year, uint64 deadline);
    /// @notice The enterprise's period is already closed.
    error AlreadyClosed(uint16 year, bytes32 enterprise, Status status);
    /// @notice The operation needs a Shortfall with a Pending deduction.
    error NoPendingDeduction(uint16 year, bytes32 enterprise, DeductionStatus deduction);
    /// @notice Batch must not be empty.
    error EmptyBatch();

    /// @notice The regulator opened the compliance period of `year` with its rules and citations.
    event PeriodOpened(uint16 indexed year, PeriodParams params, PeriodCitations citations, address indexed by);
    /// @notice The regulator published P: average CEA price of the month before the deadline, fen/t.
    event PricePublished(uint16 indexed year, uint256 priceFen, string citation, address indexed by);
    /// @notice `amount` tCO2e of `assetId` surrendered by `holder` for `enterprise`'s year;
    ///         `late` for a late correction.
    event Surrendered(
        uint16 indexed year,
        bytes32 indexed enterprise,
        uint256 indexed assetId,
        address holder,
        uint256 amount,
        bool isCcer,
        bool late
    );
    /// @notice The period of `enterprise` was closed: E, A, obligation, surrendered (tCO2e), status.
    event PeriodClosed(
        uint16 indexed year,
        bytes32 indexed enterprise,
        Status status,
        uint256 emissionsT,
        uint256 allocationT,
        uint256 obligation,
        uint256 surrendered
    );
    /// @notice A shortfall S (tCO2e) with its penalty range (fen) and a Pending deduction of S from year + 1.
    event ShortfallRecorded(
        uint16 indexed year,
        bytes32 indexed enterprise,
        uint256 shortfall,
        uint256 priceFen,
        uint256 penaltyMinFen,
        uint256 penaltyMaxFen
    );
    /// @notice The enterprise corrected its shortfall late; the pending deduction is cancelled.
    event CorrectedLate(uint16 indexed year, bytes32 indexed enterprise);
    /// @notice The regulator marked the enterprise as refusing to correct: `amount` tCO2e deducted
    ///         from its allocation of `year` + 1.
    event DeductionEffective(uint16 indexed year, bytes32 indexed enterprise, uint256 amount, address indexed by);

    /// @param participantRegistry Deployed ParticipantRegistry.
    /// @param emissionsRegistry Deployed EmissionsRegistry.
    /// @param allocation_ Deployed Allocation (this contract must be its Compliance contract).
    /// @param carbonAssets Deployed CarbonAssets (this contract needs COMPLIANCE_ROLE).
    /// @param ccerRegistry_ Deployed CCER registry (ICCERRegistry), or address 0 (no CCER).
    constructor(
        ParticipantRegistry participantRegistry,
        EmissionsRegistry emissionsRegistry,
        Allocation allocation_,
        CarbonAssets carbonAssets,
        ICCERRegistry ccerRegistry_
    ) ParticipantGated(participantRegistry) {
        emissions = emissionsRegistry;
        allocation = allocation_;
        assets = carbonAssets;
        ccerRegistry = ccerRegistry_;
    }

    // ------------------------------------------------------------------ regulator

    /// @notice Opens the compliance period of `year` with its rules (immutable once opened).
    /// @param year Compliance year (the emissions / allocation year).
    /// @param p Rules: deadline UTC seconds (> 0); gapCapBps 0..10000 (2000 for the 2019–2022 plans,
    ///        0 = no gap cap); gasCapToAllocation; ccerCapBps 0..10000 (500, 管理办法（试行）Art. 29);
    ///        CEA and CCER vintage ranges (from <= to); CCER project date bounds (UTC seconds,
    ///        0 = unbounded, from <= to when both set); countsPurchasedElectricity.
    /// @param c One citation per parameter group (all nonempty).
    /// @dev Errors: NotRegulator, PeriodExists, InvalidParameter, MissingCitation.
    function openPeriod(uint16 year, PeriodParams calldata p, PeriodCitations calldata c) external onlyRegulator {
        if (year == 0) revert InvalidParameter("year");
        Period storage per = _periods[year];
        if (per.opened) revert PeriodExists(year);
        _validate(p, c);
        per.params = p;
        per.citationsHash = keccak256(abi.encode(c));
        per.opened = true;
        emit PeriodOpened(year, p, c, msg.sender);
    }

    /// @notice Publishes P for `year`: the average CEA price of the month before the deadline.
    /// @param year Compliance year with an open period.
    /// @param priceFen Price, fen per tCO2e (> 0).
    /// @param citation Source of the average (e.g. the exchange's certified monthly average).
    /// @dev 《碳排放权交易管理暂行条例》 Art. 24 (清缴时限前1个月市场交易平均成交价格). Published
    ///      once. Errors: NotRegulator, PeriodNotOpen, ZeroAmount, MissingCitation, PriceAlreadyPublished.
    function publishPrice(uint16 year, uint256 priceFen, string calldata citation) external onlyRegulator {
        Period storage per = _period(year);
        if (priceFen == 0) revert ZeroAmount();
        if (bytes(citation).length == 0) revert MissingCitation("price");
        if (per.priceFen != 0) revert PriceAlreadyPublished(year, per.priceFen);
        per.priceFen = priceFen;
        emit PricePublished(year, priceFen, citation, msg.sender);
    }

    /// @notice Closes `enterprise`'s compliance year after the deadline: Compliant, or Shortfall
    ///         with its penalty range and a Pending deduction.
    /// @param year Compliance year whose deadline has passed and whose price is published.
    /// @param enterprise Organisation id with a final allocation for `year`.
    /// @dev Errors: NotRegulator, PeriodNotOpen, DeadlineNotPassed, PriceNotPublished,
    ///      AlreadyClosed, AllocationNotFinal.
    function close(uint16 year, bytes32 enterprise) external onlyRegulator {
        Period storage per = _closable(year);
        _close(per, year, enterprise);
    }

    /// @notice Batch of `close` (all or nothing).
    /// @dev Errors: those of close, EmptyBatch.
    function closeBatch(uint16 year, bytes32[] calldata enterprises) external onlyRegulator {
        if (enterprises.length == 0) revert EmptyBatch();
        Period storage per = _closable(year);
        for (uint256 i = 0; i < enterprises.length; ++i) {
            _close(per, year, enterprises[i]);
        }
    }

    /// @notice Marks an enterprise in Shortfall as refusing to correct (拒不改正): the outstanding
    ///         shortfall is deducted 1:1 from its allocation of `year` + 1 (Allocation).
    /// @param enterprise Organisation id.
    /// @param year Compliance year of the shortfall.
    /// @dev 《碳排放权交易管理暂行条例》 Art. 24. Errors: NotRegulator, NoPendingDeduction, and
    ///      Allocation's NotCompliance when this contract is not Allocation's Compliance contract.
    function markRefusesToCorrect(bytes32 enterprise, uint16 year) external onlyRegulator {
        Account storage a = _accounts[year][enterprise];
        if (a.status != Status.Shortfall || a.deduction != DeductionStatus.Pending) {
            revert NoPendingDeduction(year, enterprise, a.deduction);
        }
        uint256 amount = a.obligation - a.ceaSurrendered - a.ccerSurrendered;
        a.deduction = DeductionStatus.Effective;
        a.deductionAmount = amount;
        emit DeductionEffective(year, enterprise, amount, msg.sender);
        allocation.recordDeduction(year + 1, enterprise, amount);
    }

    // ------------------------------------------------------------------ enterprise

    /// @notice Surrenders (清缴) `amount` of `assetId` from the caller's account for its
    ///         enterprise's compliance year `year` (burnt; counted in the id's surrendered bucket).
    /// @param year Compliance year with an open period.
    /// @param assetId CEA of an eligible vintage, or CCER of an eligible vintage and project.
    /// @param amount tCO2e (> 0); total surrendered may not exceed the obligation, CCER not
    ///        ⌊obligation × ccerCapBps / 10000⌋.
    /// @dev Until the deadline (inclusive); afterwards only as late correction (Shortfall with a
    ///      Pending deduction). Errors: NotActiveParticipant, PeriodNotOpen, ZeroAmount,
    ///      SurrenderClosed, AllocationNotFinal, IneligibleVintage, IneligibleProject,
    ///      ExceedsObligation, CcerCapExceeded, and CarbonAssets' (AccountIsFrozen, EnforcedPause,
    ///      ERC1155InsufficientBalance, NotOperator) and, for CCER, CCERRegistry's
    ///      (NotComplianceOperator when this contract lacks COMPLIANCE_ROLE). A CCER surrender marks its
    ///      serials Surrendered in CCERRegistry (`recordSurrender`: oldest batch, lowest serials first).
    function surrender(uint16 year, uint256 assetId, uint256 amount) external {
        if (!participants.isActive(msg.sender, Roles.ENTERPRISE)) {
            revert NotActiveParticipant(msg.sender, Roles.ENTERPRISE);
        }
        Period storage per = _period(year);
        if (amount == 0) revert ZeroAmount();
        bytes32 org = participants.orgOf(msg.sender);
        Account storage a = _accounts[year][org];
        bool late = block.timestamp > per.params.deadline;
        uint256 obligation;
        if (late) {
            if (a.status != Status.Shortfall || a.deduction != DeductionStatus.Pending) {
                revert SurrenderClosed(year, per.params.deadline, a.status, a.deduction);
            }
            obligation = a.obligation;
        } else {
            bool finalised;
            (finalised,, obligation,) = _live(per, year, org);
            if (!finalised) revert AllocationNotFinal(year, org);
        }
        bool isCcer = _requireEligible(per.params, year, assetId);
        uint256 surrendered = a.ceaSurrendered + a.ccerSurrendered;
        if (surrendered + amount > obligation) revert ExceedsObligation(obligation, surrendered, amount);
        if (isCcer) {
            uint256 cap = ccerCap(obligation, per.params.ccerCapBps);
            if (a.ccerSurrendered + amount > cap) revert CcerCapExceeded(cap, a.ccerSurrendered, amount);
            a.ccerSurrendered += amount;
        } else {
            a.ceaSurrendered += amount;
        }
        emit Surrendered(year, org, assetId, msg.sender, amount, isCcer, late);
        if (late && surrendered + amount == obligation) {
            a.status = Status.CorrectedLate;
            a.deduction = DeductionStatus.Cancelled;
            emit CorrectedLate(year, org);
        }
        assets.surrender(msg.sender, assetId, amount, periodRef(year));
        // issue 12: the surrendered CCER's serials leave circulation in the registry too
        if (isCcer) ccerRegistry.recordSurrender(msg.sender, assetId, amount, periodRef(year));
    }

    // ------------------------------------------------------------------ views

    /// @notice The period's rules, citations hash, whether open, and P (fen/t, 0 = unpublished).
    function period(uint16 year)
        external
        view
        returns (PeriodParams memory params, bytes32 citationsHash, bool opened, uint256 priceFen)
    {
        Period storage per = _periods[year];
        return (per.params, per.citationsHash, per.opened, per.priceFen);
    }

    /// @notice Raw account of an enterprise's compliance year.
    function account(uint16 year, bytes32 enterprise) external view returns (Account memory) {
        return _accounts[year][enterprise];
    }

    /// @notice Compliance status table rows for `enterprises` in `year` (see StatusRow).
    /// @dev Errors: PeriodNotOpen.
    function statusTable(uint16 year, bytes32[] calldata enterprises) external view returns (StatusRow[] memory rows) {
        Period storage per = _period(year);
        rows = new StatusRow[](enterprises.length);
        for (uint256 i = 0; i < enterprises.length; ++i) {
            rows[i] = _row(per, year, enterprises[i]);
        }
    }

    /// @notice One status row (see StatusRow).
    /// @dev Errors: PeriodNotOpen.
    function status(uint16 year, bytes32 enterprise) external view returns (StatusRow memory) {
        return _row(_period(year), year, enterprise);
    }

    /// @notice Whole tonnes from kgCO2, rounded half up: ⌊kg / 1000 + ½⌋ (DESIGN.md §5).
    function emissionsTonnes(uint256 kg) public pure returns (uint256) {
        return (kg + 500) / 1000;
    }

    /// @notice Obligation in tCO2e from E and A (tCO2e) under the period's rules.
    /// @param emissionsT E, tCO2e.
    /// @param allocationT A, tCO2e (gross final allocation).
    /// @param gapCapBps Gap cap, bps of E (0 = none).
    /// @param gasCapToAllocation Whether gas units owe at most A.
    /// @param gasUnit Whether the enterprise's unit category is a gas unit.
    /// @dev min(E, A) for gas units under the gas rule; min(E, A + ⌊E × gapCapBps / 10000⌋) with a
    ///      gap cap; else E. Mirrored by ledger/compliance.py `obligation_tonnes`.
    function obligationOf(
        uint256 emissionsT,
        uint256 allocationT,
        uint16 gapCapBps,
        bool gasCapToAllocation,
        bool gasUnit
    ) public pure returns (uint256) {
        if (gasUnit && gasCapToAllocation) return emissionsT < allocationT ? emissionsT : allocationT;
        if (gapCapBps != 0) {
            uint256 capped = allocationT + (emissionsT * gapCapBps) / BPS;
            return emissionsT < capped ? emissionsT : capped;
        }
        return emissionsT;
    }

    /// @notice CCER cap in tCO2e: ⌊obligation × ccerCapBps / 10000⌋ (管理办法（试行）Art. 29).
    function ccerCap(uint256 obligation, uint16 ccerCapBps) public pure returns (uint256) {
        return (obligation * ccerCapBps) / BPS;
    }

    /// @notice Penalty range in fen for shortfall `shortfallT` tCO2e at price `priceFen` fen/t:
    ///         5 × S × P … 10 × S × P (《碳排放权交易管理暂行条例》 Art. 24).
    function penaltyRange(uint256 shortfallT, uint256 priceFen) public pure returns (uint256 minFen, uint256 maxFen) {
        return (PENALTY_MIN_MULTIPLE * shortfallT * priceFen, PENALTY_MAX_MULTIPLE * shortfallT * priceFen);
    }

    /// @notice CarbonAssets `ref` of surrenders for compliance year `year`: bytes32(uint256(year)).
    function periodRef(uint16 year) public pure returns (bytes32) {
        return bytes32(uint256(year));
    }

    // ------------------------------------------------------------------ internals

    function _validate(PeriodParams calldata p, PeriodCitations calldata c) private pure {
        if (p.deadline == 0) revert InvalidParameter("deadline");
        if (p.gapCapBps > BPS) revert InvalidParameter("gapCapBps");
        if (p.ccerCapBps > BPS) revert InvalidParameter("ccerCapBps");
        if (p.ceaVintageFrom == 0 || p.ceaVintageFrom > p.ceaVintageTo) revert InvalidParameter("ceaVintages");
        if (p.ccerVintageFrom > p.ccerVintageTo) revert InvalidParameter("ccerVintages");
        if (p.projectRegisteredTo != 0 && p.projectRegisteredFrom > p.projectRegisteredTo) {
            revert InvalidParameter("projectRegistered");
        }
        if (p.creditingStartTo != 0 && p.creditingStartFrom > p.creditingStartTo) {
            revert InvalidParameter("creditingStart");
        }
        if (bytes(c.deadline).length == 0) revert MissingCitation("deadline");
        if (bytes(c.gapCap).length == 0) revert MissingCitation("gapCap");
        if (bytes(c.gasCap).length == 0) revert MissingCitation("gasCap");
        if (bytes(c.ccerCap).length == 0) revert MissingCitation("ccerCap");
        if (bytes(c.ceaVintages).length == 0) revert MissingCitation("ceaVintages");
        if (bytes(c.ccerEligibility).length == 0) revert MissingCitation("ccerEligibility");
        if (bytes(c.purchasedElectricity).length == 0) revert MissingCitation("purchasedElectricity");
    }

    /// @dev Returns whether `assetId` is CCER; reverts unless eligible for the period.
    function _requireEligible(PeriodParams storage p, uint16 year, uint256 assetId) private view returns (bool) {
        uint16 vintage = AssetIds.vintageOf(assetId);
        if (!AssetIds.isWellFormed(assetId)) revert IneligibleVintage(year, assetId, vintage);
        if (AssetIds.classOf(assetId) == AssetIds.CEA) {
            if (vintage < p.ceaVintageFrom || vintage > p.ceaVintageTo) revert IneligibleVintage(year, assetId, vintage);
            return false;
        }
        if (vintage < p.ccerVintageFrom || vintage > p.ccerVintageTo || address(ccerRegistry) == address(0)) {
            revert IneligibleVintage(year, assetId, vintage);
        }
        uint64 project = AssetIds.projectOf(assetId);
        (bool registered, uint64 registeredAt, uint64 creditingStart,) = ccerRegistry.projectDates(project);
        if (
            !registered || !_within(registeredAt, p.projectRegisteredFrom, p.projectRegisteredTo)
                || !_within(creditingStart, p.creditingStartFrom, p.creditingStartTo)
        ) revert IneligibleProject(project, registeredAt, creditingStart);
        return true;
    }

    function _within(uint64 t, uint64 from, uint64 to) private pure returns (bool) {
        return (from == 0 || t >= from) && (to == 0 || t <= to);
    }

    /// @dev Live E, A, obligation from EmissionsRegistry.annualEmissions (confirmed or assessed,
    ///      less purchased electricity where the period does not count it) and Allocation.
    function _live(Period storage per, uint16 year, bytes32 enterprise)
        private
        view
        returns (bool finalised, uint256 emissionsT, uint256 obligation, uint256 allocationT)
    {
        bool gasUnit;
        (finalised, allocationT, gasUnit) = allocation.finalAllocationOf(year, enterprise);
        if (!finalised) return (false, 0, 0, 0);
        EmissionsRegistry.AnnualEmissions memory y = emissions.annualEmissions(enterprise, year);
        uint256 kg = y.emissionsKg;
        if (!per.params.countsPurchasedElectricity) kg -= y.purchasedElectricityKg;
        emissionsT = emissionsTonnes(kg);
        obligation = obligationOf(
            emissionsT, allocationT, per.params.gapCapBps, per.params.gasCapToAllocation, gasUnit
        );
    }

    function _closable(uint16 year) private view returns (Period storage per) {
        per = _period(year);
        if (block.timestamp <= per.params.deadline) revert DeadlineNotPassed(year, per.params.deadline);
        if (per.priceFen == 0) revert PriceNotPublished(year);
    }

    function _close(Period storage per, uint16 year, bytes32 enterprise) private {
        Account storage a = _accounts[year][enterprise];
        if (a.status != Status.Open) revert AlreadyClosed(year, enterprise, a.status);
        (bool finalised, uint256 e, uint256 obligation, uint256 al) = _live(per, year, enterprise);
        if (!finalised) revert AllocationNotFinal(year, enterprise);
        a.emissionsT = e;
        a.allocationT = al;
        a.obligation = obligation;
        uint256 surrendered = a.ceaSurrendered + a.ccerSurrendered;
        if (surrendered >= obligation) {
            a.status = Status.Compliant;
            emit PeriodClosed(year, enterprise, Status.Compliant, e, al, obligation, surrendered);
        } else {
            uint256 s = obligation - surrendered;
            a.status = Status.Shortfall;
            a.deduction = DeductionStatus.Pending;
            a.shortfallAtClose = s;
            a.deductionAmount = s;
            emit PeriodClosed(year, enterprise, Status.Shortfall, e, al, obligation, surrendered);
            (uint256 pMin, uint256 pMax) = penaltyRange(s, per.priceFen);
            emit ShortfallRecorded(year, enterprise, s, per.priceFen, pMin, pMax);
        }
    }

    function _row(Period storage per, uint16 year, bytes32 enterprise) private view returns (StatusRow memory r) {
        Account storage a = _accounts[year][enterprise];
        r.enterprise = enterprise;
        r.status = a.status;
        r.ceaSurrendered = a.ceaSurrendered;
        r.ccerSurrendered = a.ccerSurrendered;
        r.deduction = a.deduction;
        r.deductionAmount = a.deductionAmount;
        r.shortfallAtClose = a.shortfallAtClose;
        if (a.status == Status.Open) {
            (r.allocationFinal, r.emissionsT, r.obligation, r.allocationT) = _live(per, year, enterprise);
        } else {
            r.allocationFinal = true;
            r.emissionsT = a.emissionsT;
            r.allocationT = a.allocationT;
            r.obligation = a.obligation;
        }
        uint256 surrendered = a.ceaSurrendered + a.ccerSurrendered;
        r.shortfall = r.obligation > surrendered ? r.obligation - surrendered : 0;
        r.ccerCap = ccerCap(r.obligation, per.params.ccerCapBps);
        (r.penaltyMinFen, r.penaltyMaxFen) = penaltyRange(a.shortfallAtClose, per.priceFen);
    }

    function _period(uint16 year) private view returns (Period storage per) {
        per = _periods[year];
        if (!per.opened) revert PeriodNotOpen(year);
    }
}
