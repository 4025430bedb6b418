// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ParticipantRegistry} from "./ParticipantRegistry.sol";
import {ParticipantGated} from "./access/ParticipantGated.sol";
import {DeviceRegistry} from "./DeviceRegistry.sol";
import {EmissionFactorRegistry} from "./EmissionFactorRegistry.sol";
import {MeterDataAnchor} from "./MeterDataAnchor.sol";
import {MeterRounds} from "./MeterRounds.sol";
import {CalendarMonth} from "./lib/CalendarMonth.sol";
import {FactorCodes} from "./lib/FactorCodes.sol";
import {Roles} from "./lib/Roles.sol";

/// @title EmissionsRegistry
/// @notice Monthly activity data (活动数据) of key emitting enterprises with the emissions the
///         contract computes from anchored meter data or declared activity data and a published
///         factor set, the MRV status machine Draft → Submitted → Verified / Rejected → Confirmed,
///         and per (enterprise, year) running totals of confirmed data (read by Allocation and
///         Compliance).
/// @dev DESIGN.md §4 EmissionsRegistry; DESIGN.md §5 units and rounding (activity in Wh,
///      emissions in integer kgCO2 = ⌊Wh × EF / 10^7 + ½⌋, EF in kgCO2/kWh × 1e4); DESIGN.md §6
///      purchased electricity E = AD × EF_grid. Month windows are cut on-chain in the enterprise's
///      UTC offset (DESIGN.md §5 "Time"). Amendments create a new record linked to the old one.
///      Declared records (Source.Declared, evidence hash required): ElectricitySupplied in Wh
///      (emissions 0), HeatSupplied in MJ (emissions 0), FuelCombustion as fuel heat input in MJ ×
///      the factor set's per-fuel CO2 factor (kgCO2/GJ × 1e6, FactorCodes.fuelCo2) → kgCO2
///      = ⌊MJ × F / 10^9 + ½⌋. Totals: only Confirmed records are counted, and a Confirmed record
///      can never be amended (amendments replace only Draft or Rejected records), so each period
///      key contributes at most one record; annual (month 0) and monthly records of the same key
///      cannot be mixed within a year, so a year is never counted twice.
///      Completeness (issue 12, DESIGN.md §4 "Completeness", §6): the regulator enrols the sources
///      (activity type, subject) of each enterprise-year and assigns its factor set; the year is
///      closable (annualEmissions.closable, read by Allocation and Compliance) only when every
///      enrolled source is confirmed for every month (or by one annual record), or when the
///      regulator has assessed (核定) the year's emissions with a reason hash. A meter-data month
///      with a day not covered by anchored batches is refused (MissingDays) unless the enterprise
///      declared the gap and the regulator assessed its substitute Wh, which is added to the
///      metered Wh (a gap never lowers E). confirm() re-sums a meter-data record from the current
///      (superseding) batches. A month's meter data comes either from the device's batches in
///      MeterDataAnchor (sumWh) or from the meter-month's totals proved against an oracle round in
///      MeterRounds (proveMonth / monthWh; Source.AnchoredMeterRounds), under the same rules
///      (docs/meter-rounds.md "Recording a month from rounds").
contract EmissionsRegistry is ParticipantGated {
    /// @notice Kind of activity data. PurchasedElectricity comes from anchored meter data; the
    ///         others are declared with evidence (recordDeclared; FuelCombustion also by the
    ///         guideline's parameters, recordFuelCombustion).
    enum ActivityType {
        None,
        PurchasedElectricity,
        ElectricitySupplied,
        HeatSupplied,
        FuelCombustion,
        PurchasedHeat
    }

    /// @notice How the activity data and emissions of a record were obtained (数据获取方式):
    ///         Calculation (核算: declared activity data × factors) or OnlineMonitoring (在线监测:
    ///         device-signed meter data anchored by the oracle quorum).
    enum AcquisitionMethod {
        None,
        Calculation,
        OnlineMonitoring
    }

    /// @notice A fuel-combustion declaration by the guideline's parameters (recordFuelCombustion).
    /// @dev Units and scales: consumption FC in t (solid/liquid) or 10^4 Nm³ (gas) × 1000;
    ///      ncv GJ/t (or GJ/10^4 Nm³) × 1e6; carbonContent tC/GJ × 1e9; oxidationRate fraction × 1e6
    ///      (<= 1e6). ncv, carbonContent or oxidationRate 0 = use the factor set's default
    ///      (FactorCodes.fuelNcv / fuelCarbonContent / fuelOxidationRate), flagged in the record.
    struct FuelDeclaration {
        bytes32 fuel;
        uint16 year;
        uint8 month;
        uint64 consumption;
        uint64 ncv;
        uint64 carbonContent;
        uint32 oxidationRate;
        uint256 factorSetId;
        bytes32 evidenceHash;
        uint256 amends;
    }

    /// @notice The guideline parameters a fuel-combustion record was computed with (as used,
    ///         defaults resolved), scales as in FuelDeclaration; defaultsMask bit 0 NCV, bit 1 CC,
    ///         bit 2 OF taken from the factor set's defaults.
    struct FuelParameters {
        uint64 consumption;
        uint64 ncv;
        uint64 carbonContent;
        uint32 oxidationRate;
        uint8 defaultsMask;
    }

    /// @notice MRV status of a record.
    enum Status {
        None,
        Draft,
        Submitted,
        Verified,
        Rejected,
        Confirmed
    }

    /// @notice Where the activity amount comes from: AnchoredMeterData = the device's batches in
    ///         MeterDataAnchor (sumWh), Declared = declared with evidence, AnchoredMeterRounds = the
    ///         meter-month's totals proved against an oracle round in MeterRounds (monthWh).
    enum Source {
        None,
        AnchoredMeterData,
        Declared,
        AnchoredMeterRounds
    }

    /// @notice One monthly (or annual: month 0) activity record.
    /// @dev Units: periodStart/periodEnd UTC seconds [start, end); activityAmount Wh for
    ///      electricity (purchased or supplied), MJ for heat supplied and for fuel heat input;
    ///      factorValue EF × 1e4 (kgCO2/kWh) for purchased electricity, kgCO2/GJ × 1e6 for fuel,
    ///      0 for supplied electricity and heat; emissionsKg integer kgCO2. `device` is the meter
    ///      for anchored data and the declared subject otherwise (fuel code for FuelCombustion,
    ///      the enterprise's own unit identifier or 0 for ElectricitySupplied / HeatSupplied).
    struct Record {
        bytes32 enterprise;
        ActivityType activityType;
        Source source;
        uint16 year;
        uint8 month;
        uint64 periodStart;
        uint64 periodEnd;
        bytes32 device;
        uint32 firstBatchIndex;
        uint32 lastBatchIndex;
        uint256 activityAmount;
        uint256 factorSetId;
        uint256 factorValue;
        uint256 emissionsKg;
        Status status;
        address verifier;
        bytes32 evidenceHash;
        bytes32 verificationReportHash;
        bytes32 findingsHash;
        uint256 amends;
        uint256 amendedBy;
        uint32 batches;
        uint64 readings;
    }

    /// @notice A source of an enterprise-year enrolled by the regulator: (activity type, subject)
    ///         with subject = the meter (PurchasedElectricity), the fuel code (FuelCombustion) or
    ///         the declared subject of recordDeclared; confirmedMonths bit 0 = an annual record,
    ///         bit m = month m confirmed.
    struct EnrolledSource {
        ActivityType activityType;
        bytes32 subject;
        uint16 confirmedMonths;
    }

    /// @notice A gap declared in a meter's month: dayMask bit d − 1 = local day d (of the month
    ///         window in the enterprise's UTC offset); reasonHash the enterprise's reason;
    ///         substituteWh the regulator's assessed substitute for the gap days (0 = not yet
    ///         assessed; declaring again resets it) with its basis hash.
    struct Gap {
        uint32 dayMask;
        bytes32 reasonHash;
        uint256 substituteWh;
        bytes32 basisHash;
    }

    /// @notice The gap a meter-data record was made with: activityAmount = meteredWh + substituteWh.
    struct RecordGap {
        uint32 dayMask;
        uint256 meteredWh;
        uint256 substituteWh;
    }

    /// @notice The regulator's assessed (核定) emissions of an enterprise-year, kgCO2, with the
    ///         purchased-electricity part and the reason's hash.
    struct Assessment {
        bool assessed;
        uint256 emissionsKg;
        uint256 purchasedElectricityKg;
        bytes32 reasonHash;
    }

    /// @notice What Allocation and Compliance read for an enterprise-year (see annualEmissions).
    /// @dev complete: at least one source enrolled and every enrolled source complete; closable:
    ///      complete or assessed; emissionsKg / purchasedElectricityKg: the assessed values when
    ///      assessed, else the confirmed totals (kgCO2); electricitySuppliedWh (Wh) and heatSuppliedMJ
    ///      (MJ) are always the confirmed totals; factorSetId the assigned set (0 = none).
    struct AnnualEmissions {
        bool closable;
        bool complete;
        bool assessed;
        uint256 emissionsKg;
        uint256 purchasedElectricityKg;
        uint256 electricitySuppliedWh;
        uint256 heatSuppliedMJ;
        uint32 confirmedRecords;
        uint32 enrolledSources;
        uint32 completeSources;
        uint256 factorSetId;
        bytes32 reasonHash;
    }

    /// @notice Quantity code a purchased-electricity meter must measure (average active power, W; COMMON.md).
    uint16 public constant QUANTITY_ACTIVE_POWER_W = 1;
    /// @notice Wh × (kgCO2/kWh × 1e4) → kgCO2 divisor: 1000 (Wh→kWh) × 1e4 (EF scale) (DESIGN.md §5).
    uint256 public constant KG_DIVISOR = 10_000_000;
    /// @notice Earliest reporting year accepted (so every month window starts after the unix epoch).
    uint16 public constant MIN_YEAR = 1971;
    /// @notice Latest reporting year accepted (four-digit years).
    uint16 public constant MAX_YEAR = 9999;

    /// @notice Device registry: meter ownership and measured quantity.
    DeviceRegistry public immutable devices;
    /// @notice Emission-factor registry: the published factor sets.
    EmissionFactorRegistry public immutable factors;
    /// @notice Meter-data anchor: the anchored batches activity data is summed from.
    MeterDataAnchor public immutable anchor;
    /// @notice Meter rounds: the proved meter-months activity data is read from (Source.AnchoredMeterRounds).
    MeterRounds public immutable rounds;

    /// @notice Running totals of Confirmed records of one enterprise and reporting year.
    /// @dev emissionsKg kgCO2 (all activity types), purchasedElectricityKg its purchased-electricity
    ///      part; electricitySuppliedWh Wh; heatSuppliedMJ MJ;
    ///      confirmedRecords count of records added.
    struct Totals {
        uint256 emissionsKg;
        uint256 purchasedElectricityKg;
        uint256 electricitySuppliedWh;
        uint256 heatSuppliedMJ;
        uint32 confirmedRecords;
    }

    /// @notice Fuel heat input MJ × (kgCO2/GJ × 1e6) → kgCO2 divisor: 1000 (MJ→GJ) × 1e6 (factor scale).
    uint256 public constant FUEL_KG_DIVISOR = 1_000_000_000;
    /// @notice Oxidation rate 100 % at its scale (fraction × 1e6).
    uint256 public constant OXIDATION_RATE_ONE = 1_000_000;
    /// @notice FC(t×1e3) × NCV(GJ/t×1e6) × CC(tC/GJ×1e9) × OF(×1e6) × 44 → kgCO2 divisor:
    ///         12 × 1e3 × 1e6 × 1e9 × 1e6 / 1e3 (t→kg) = 12e21 (DESIGN.md §6, 44/12 = CO2/C molar mass).
    uint256 public constant GUIDELINE_FUEL_DIVISOR = 12e21;
    /// @notice FC(t×1e3) × NCV(GJ/t×1e6) → MJ divisor: 1e6.
    uint256 public constant HEAT_INPUT_DIVISOR = 1e6;
    /// @notice CC(tC/GJ×1e9) × OF(×1e6) × 44 → kgCO2/GJ × 1e6 divisor: 12 × 1e6.
    uint256 public constant FUEL_FACTOR_DIVISOR = 12e6;
    /// @notice Purchased heat MJ × EF_heat (tCO2/GJ × 1e6) → kgCO2 divisor: 1e3 (MJ→GJ) × 1e6 / 1e3 (t→kg) = 1e6.
    uint256 public constant HEAT_KG_DIVISOR = 1e6;
    /// @notice defaultsMask bit: NCV taken from the factor set.
    uint8 public constant DEFAULT_NCV = 1;
    /// @notice defaultsMask bit: carbon content taken from the factor set.
    uint8 public constant DEFAULT_CC = 2;
    /// @notice defaultsMask bit: oxidation rate taken from the factor set.
    uint8 public constant DEFAULT_OF = 4;
    /// @notice confirmedMonths of a source complete by monthly records: bits 1..12.
    uint16 public constant ALL_MONTHS = 0x1FFE;
    /// @notice Seconds of a local day (fixed UTC offsets, no DST: DESIGN.md §5 "Time").
    uint64 public constant DAY_SECONDS = 86_400;

    uint256 private _recordCount;
    mapping(uint256 recordId => Record) private _records;
    mapping(bytes32 key => uint256 recordId) private _currentRecord;
    mapping(bytes32 enterprise => mapping(uint16 year => Totals)) private _totals;
    /// @dev (enterprise, activity type, subject, year) → 1 annual records, 2 monthly records.
    mapping(bytes32 yearKey => uint8 granularity) private _granularity;
    mapping(uint256 recordId => FuelParameters) private _fuelParameters;
    mapping(bytes32 enterprise => mapping(uint16 year => EnrolledSource[])) private _sources;
    /// @dev (enterprise, activity type, subject, year) → index + 1 in _sources (0 = not enrolled).
    mapping(bytes32 sourceKey => uint256 indexPlusOne) private _sourceIndex;
    /// @dev (enterprise, activity type, subject, year) → confirmed months (bit 0 annual, bit m month m).
    mapping(bytes32 sourceKey => uint16 months) private _confirmedMonths;
    mapping(bytes32 enterprise => mapping(uint16 year => uint32)) private _completeSources;
    mapping(bytes32 enterprise => mapping(uint16 year => uint256 factorSetId)) private _assignedSet;
    mapping(bytes32 enterprise => mapping(uint16 year => bool)) private _setInUse;
    mapping(bytes32 enterprise => mapping(uint16 year => Assessment)) private _assessments;
    /// @dev (device, year, month) → declared gap.
    mapping(bytes32 gapKey => Gap) private _gaps;
    mapping(uint256 recordId => RecordGap) private _recordGaps;

    /// @notice The caller is not an Active enterprise account of the record's enterprise.
    error NotRecordEnterprise(uint256 recordId, address caller);
    /// @notice The caller is not the verifier assigned to the record (or is no longer an Active verifier).
    error NotAssignedVerifier(uint256 recordId, address caller);
    /// @notice The proposed verifier is not an Active VERIFIER_ROLE account.
    error InvalidVerifier(address verifier);
    /// @notice The device is not owned by the caller's enterprise.
    error DeviceNotOwned(bytes32 deviceId, bytes32 org);
    /// @notice The device measures another quantity.
    error WrongQuantity(bytes32 deviceId, uint16 quantityCode, uint16 expected);
    /// @notice Month must be 1..12 and MIN_YEAR <= year <= MAX_YEAR.
    error InvalidPeriod(uint16 year, uint8 month);
    /// @notice The organisation is unknown (no UTC offset to cut its months).
    error UnknownEnterprise(bytes32 enterprise);
    /// @notice The factor set does not exist or does not apply to the reporting year.
    error FactorSetNotApplicable(uint256 factorSetId, uint16 year);
    /// @notice The factor set lacks the required factor.
    error FactorMissing(uint256 factorSetId, bytes32 code);
    /// @notice The factor's scale is not the scale the formula uses.
    error FactorScaleMismatch(uint256 factorSetId, bytes32 code, uint8 scale, uint8 expected);
    /// @notice A current record exists for this period; amend it by passing its id as `amends`.
    error RecordExists(uint256 currentRecordId, uint256 amends);
    /// @notice `amends` names a record but the period has no current record to amend.
    error NoRecordToAmend(uint256 amends);
    /// @notice The current record cannot be amended in its status (only Draft or Rejected can).
    error CannotAmend(uint256 recordId, Status status);
    /// @notice The record was amended by a newer record; act on that one.
    error RecordAmended(uint256 recordId, uint256 amendedBy);
    /// @notice No record with this id.
    error UnknownRecord(uint256 recordId);
    /// @notice The record is in `current` status, the operation needs `expected`.
    error InvalidStatus(uint256 recordId, Status current, Status expected);
    /// @notice Declared records are ElectricitySupplied, HeatSupplied or FuelCombustion.
    error NotDeclarable(ActivityType activityType);
    /// @notice A declared record needs its evidence hash.
    error MissingEvidenceHash();
    /// @notice A declared amount must be positive.
    error ZeroAmount();
    /// @notice FuelCombustion needs a nonzero fuel code as subject.
    error MissingFuelCode();
    /// @notice ElectricitySupplied / HeatSupplied take no factor set (pass 0).
    error UnexpectedFactorSet(uint256 factorSetId);
    /// @notice Annual (month 0) and monthly records of the same key cannot be mixed in one year.
    error GranularityConflict(uint16 year, uint8 month);
    /// @notice The oxidation rate is above 100 % (scale 1e6).
    error InvalidOxidationRate(uint256 oxidationRate);
    /// @notice A factor-set default is too large for its parameter (NCV and CC are uint64).
    error FactorOutOfRange(uint256 factorSetId, bytes32 code, uint256 value);
    /// @notice A fuel declaration leaving NCV, CC or OF to the defaults (bits in `defaultsMask`)
    ///         needs a factor set holding them; factorSetId was 0.
    error FactorSetRequired(uint8 defaultsMask);
    /// @notice A verification outcome needs the verification report's hash.
    error MissingReportHash();
    /// @notice A rejection needs the findings' hash.
    error MissingFindingsHash();
    /// @notice The record names a factor set other than the one the regulator assigned to the
    ///         enterprise-year (`assigned` 0: none assigned yet).
    error FactorSetNotAssigned(bytes32 enterprise, uint16 year, uint256 factorSetId, uint256 assigned);
    /// @notice The enterprise-year's factor set is already used by a record.
    error FactorSetAlreadyAssigned(bytes32 enterprise, uint16 year, uint256 assigned);
    /// @notice Enrolment arrays empty, of different lengths, or naming activity type None.
    error InvalidSources();
    /// @notice The source is already enrolled for the enterprise-year.
    error AlreadyEnrolled(bytes32 enterprise, uint16 year, ActivityType activityType, bytes32 subject);
    /// @notice Days of the month (bit d − 1 = day d) not covered by the record's anchored batches
    ///         nor declared as a gap.
    error MissingDays(bytes32 device, uint16 year, uint8 month, uint32 missingMask);
    /// @notice A gap is declared for the month but the regulator has not assessed its substitute.
    error GapNotAssessed(bytes32 device, uint16 year, uint8 month);
    /// @notice No gap is declared for the month.
    error NoGapDeclared(bytes32 device, uint16 year, uint8 month);
    /// @notice The day mask names days after the month's last day (`daysInMonth`).
    error InvalidDayMask(uint32 dayMask, uint256 daysInMonth);
    /// @notice A gap, assessment or substitute needs its reason (or basis) hash.
    error MissingReasonHash();
    /// @notice Assessed purchased-electricity emissions exceed the assessed total.
    error InvalidAssessment(uint256 emissionsKg, uint256 purchasedElectricityKg);
    /// @notice An assessment may not be below the confirmed emissions (核定 never lowers E).
    error AssessmentBelowConfirmed(uint256 emissionsKg, uint256 confirmedKg);
    /// @notice The enterprise-year is already assessed.
    error AlreadyAssessed(bytes32 enterprise, uint16 year);

    /// @notice Activity data and its emissions were recorded (status Draft).
    /// @dev `period` = year × 100 + month (e.g. 202403), indexed so auditors can filter by month.
    ///      The UTC window is in the record (periodStart/periodEnd) and from monthWindow().
    event ActivityRecorded(
        uint256 indexed recordId,
        bytes32 indexed enterprise,
        uint32 indexed period,
        uint16 year,
        uint8 month,
        ActivityType activityType,
        bytes32 device,
        uint256 activityAmount,
        uint256 factorSetId,
        uint256 factorValue,
        uint256 emissionsKg,
        uint32 batches,
        uint64 readings,
        bytes32 evidenceHash,
        uint256 amends
    );
    /// @notice How a record's data was obtained (every record; see AcquisitionMethod).
    event AcquisitionMethodRecorded(uint256 indexed recordId, AcquisitionMethod method);
    /// @notice The guideline parameters of a fuel-combustion record (see FuelParameters; units
    ///         t×1e3 or 10^4 Nm³×1e3, GJ/t×1e6, tC/GJ×1e9, fraction×1e6).
    event FuelParametersRecorded(
        uint256 indexed recordId,
        bytes32 indexed fuel,
        uint64 consumption,
        uint64 ncv,
        uint64 carbonContent,
        uint32 oxidationRate,
        uint8 defaultsMask
    );
    /// @notice A Draft record was submitted for verification.
    event RecordSubmitted(uint256 indexed recordId, bytes32 indexed enterprise, address indexed submitter);
    /// @notice A verifier was assigned to a Submitted record.
    event VerifierAssigned(uint256 indexed recordId, bytes32 indexed enterprise, address indexed verifier);
    /// @notice The assigned verifier attested the record (Verified).
    event RecordAttested(
        uint256 indexed recordId, address indexed verifier, bytes32 verificationReportHash, bytes32 findingsHash
    );
    /// @notice The assigned verifier rejected the record (Rejected; the enterprise may amend it).
    event RecordRejected(
        uint256 indexed recordId, address indexed verifier, bytes32 verificationReportHash, bytes32 findingsHash
    );
    /// @notice The regulator confirmed verified emissions (Confirmed, final).
    event RecordConfirmed(uint256 indexed recordId, bytes32 indexed enterprise, uint256 emissionsKg);
    /// @notice The enterprise's confirmed totals for `year` changed (after a confirmation).
    /// @dev Units: emissionsKg kgCO2, electricitySuppliedWh Wh, heatSuppliedMJ MJ (running totals).
    event ConfirmedTotalsUpdated(
        bytes32 indexed enterprise,
        uint16 indexed year,
        uint256 emissionsKg,
        uint256 electricitySuppliedWh,
        uint256 heatSuppliedMJ,
        uint32 confirmedRecords
    );

    /// @notice The regulator enrolled a source of an enterprise-year (see EnrolledSource).
    event SourceEnrolled(bytes32 indexed enterprise, uint16 indexed year, ActivityType activityType, bytes32 subject);
    /// @notice The regulator assigned the factor set of an enterprise-year.
    event FactorSetAssigned(bytes32 indexed enterprise, uint16 indexed year, uint256 indexed factorSetId, address by);
    /// @notice The enterprise declared a gap in a meter's month (dayMask bit d − 1 = day d).
    event GapDeclared(
        bytes32 indexed device, bytes32 indexed enterprise, uint16 year, uint8 month, uint32 dayMask, bytes32 reasonHash
    );
    /// @notice The regulator assessed the substitute of a declared gap, Wh.
    event GapAssessed(
        bytes32 indexed device, bytes32 indexed enterprise, uint16 year, uint8 month, uint256 substituteWh, bytes32 basisHash
    );
    /// @notice A meter-data record was made with a declared gap: activity = meteredWh + substituteWh.
    event RecordGapApplied(uint256 indexed recordId, uint32 dayMask, uint256 meteredWh, uint256 substituteWh);
    /// @notice The regulator assessed (核定) an enterprise-year's emissions, kgCO2.
    event EmissionsAssessed(
        bytes32 indexed enterprise,
        uint16 indexed year,
        uint256 emissionsKg,
        uint256 purchasedElectricityKg,
        bytes32 reasonHash,
        address by
    );
    /// @notice confirm() re-summed a meter-data record from the current batches and its figures
    ///         changed (Wh / MJ activity, kgCO2).
    event RecordRecomputed(
        uint256 indexed recordId, uint256 oldActivityAmount, uint256 newActivityAmount, uint256 oldEmissionsKg, uint256 newEmissionsKg
    );

    /// @param participantRegistry Deployed ParticipantRegistry.
    /// @param deviceRegistry Deployed DeviceRegistry.
    /// @param factorRegistry Deployed EmissionFactorRegistry.
    /// @param meterDataAnchor Deployed MeterDataAnchor.
    /// @param meterRounds Deployed MeterRounds (of the same MeterDataAnchor).
    constructor(
        ParticipantRegistry participantRegistry,
        DeviceRegistry deviceRegistry,
        EmissionFactorRegistry factorRegistry,
        MeterDataAnchor meterDataAnchor,
        MeterRounds meterRounds
    ) ParticipantGated(participantRegistry) {
        devices = deviceRegistry;
        factors = factorRegistry;
        anchor = meterDataAnchor;
        rounds = meterRounds;
    }

    // ------------------------------------------------------------------ enterprise

    /// @notice Records a month of purchased electricity from the device's anchored meter data and
    ///         computes its emissions with the factor set's grid factor (status Draft).
    /// @param deviceId Meter owned by the caller's enterprise measuring active power (quantity code 1).
    /// @param year Reporting year (1971..9999).
    /// @param month 1..12; the window is local midnight of day 1 to that of the next month in the
    ///        enterprise's UTC offset.
    /// @param firstBatchIndex First index into the device's anchored batch list for the month.
    /// @param lastBatchIndex Last index (inclusive); the range must be exactly the month's batches.
    /// @param factorSetId Factor set applying to `year` and holding GRID_EF (kgCO2/kWh × 1e4).
    /// @param evidenceHash Hash of supporting evidence (e.g. SHA-256 of the encrypted invoice).
    /// @param amends 0 for the first record of the period, else the id of the current Draft or
    ///        Rejected record it replaces.
    /// @return recordId Sequential id starting at 1.
    /// @dev DESIGN.md §6: E_elec = AD × EF_grid; DESIGN.md §5: kgCO2 = (Wh × EF + 5e6) / 1e7.
    ///      One current record per (enterprise, activity type, device, year, month). Completeness
    ///      (issue 12): factorSetId must be the set assigned to the enterprise-year
    ///      (FactorSetNotAssigned); every local day of the month must be covered by the batches or
    ///      declared as a gap (MissingDays), a declared gap needs the regulator's substitute
    ///      (GapNotAssessed), and AD = metered Wh + substitute Wh (RecordGapApplied, recordGap).
    function recordPurchasedElectricity(
        bytes32 deviceId,
        uint16 year,
        uint8 month,
        uint32 firstBatchIndex,
        uint32 lastBatchIndex,
        uint256 factorSetId,
        bytes32 evidenceHash,
        uint256 amends
    ) external returns (uint256 recordId) {
        recordId = _recordMeter(
            deviceId, year, month, firstBatchIndex, lastBatchIndex, factorSetId, evidenceHash, amends, Source.AnchoredMeterData
        );
    }

    /// @notice Records a month of purchased electricity from the meter-month's totals proved in
    ///         MeterRounds (one Merkle proof against the month's closing oracle round, stored by
    ///         MeterRounds.proveMonth) and computes its emissions exactly as recordPurchasedElectricity
    ///         does (status Draft, Source.AnchoredMeterRounds).
    /// @param deviceId Meter owned by the caller's enterprise measuring active power (quantity code 1).
    /// @param year Reporting year (1971..9999).
    /// @param month 1..12 (the enterprise's local month, as the totals leaf's).
    /// @param factorSetId The factor set assigned to the enterprise-year, holding GRID_EF (kgCO2/kWh × 1e4).
    /// @param evidenceHash Hash of supporting evidence.
    /// @param amends 0 for the first record of the period, else the current Draft or Rejected record
    ///        (of either source: one current record per period).
    /// @return recordId Sequential id.
    /// @dev docs/meter-rounds.md "Recording a month from rounds". Same rules as the batch path:
    ///      DESIGN.md §6 E_elec = AD × EF_grid, §5 kgCO2 = (Wh × EF + 5e6) / 1e7; the assigned factor
    ///      set (FactorSetNotAssigned); every local day must have a reading or be a declared gap
    ///      (MissingDays; a day before the first round counts as missing), a declared gap needs the
    ///      regulator's substitute (GapNotAssessed) and AD = proved Wh + substitute Wh. confirm()
    ///      re-reads the proved month (MonthProofSuperseded if its round was corrected since).
    ///      Errors: NotActiveParticipant, DeviceNotOwned, WrongQuantity, InvalidPeriod,
    ///      UnknownEnterprise, FactorSetNotApplicable, FactorMissing, FactorScaleMismatch,
    ///      FactorSetNotAssigned, MonthNotProven, MonthProofSuperseded, MissingDays, GapNotAssessed,
    ///      RecordExists, NoRecordToAmend, CannotAmend.
    function recordPurchasedElectricityFromRounds(
        bytes32 deviceId,
        uint16 year,
        uint8 month,
        uint256 factorSetId,
        bytes32 evidenceHash,
        uint256 amends
    ) external returns (uint256 recordId) {
        recordId = _recordMeter(deviceId, year, month, 0, 0, factorSetId, evidenceHash, amends, Source.AnchoredMeterRounds);
    }

    /// @dev The shared body of the two meter-data record paths (batches or rounds).
    function _recordMeter(
        bytes32 deviceId,
        uint16 year,
        uint8 month,
        uint32 firstBatchIndex,
        uint32 lastBatchIndex,
        uint256 factorSetId,
        bytes32 evidenceHash,
        uint256 amends,
        Source source
    ) private returns (uint256 recordId) {
        if (!participants.isActive(msg.sender, Roles.ENTERPRISE)) {
            revert NotActiveParticipant(msg.sender, Roles.ENTERPRISE);
        }
        bytes32 org = participants.orgOf(msg.sender);
        _requireMeter(deviceId, org);
        (uint64 periodStart, uint64 periodEnd) = monthWindow(org, year, month);
        uint256 ef = _gridFactor(factorSetId, year);
        _requireAssignedSet(org, year, factorSetId);

        recordId = ++_recordCount;
        Record storage r = _records[recordId];
        r.enterprise = org;
        r.activityType = ActivityType.PurchasedElectricity;
        r.source = source;
        r.year = year;
        r.month = month;
        r.periodStart = periodStart;
        r.periodEnd = periodEnd;
        r.device = deviceId;
        r.firstBatchIndex = firstBatchIndex;
        r.lastBatchIndex = lastBatchIndex;
        r.factorSetId = factorSetId;
        r.factorValue = ef;
        _meterActivity(recordId, r);
        r.status = Status.Draft;
        r.evidenceHash = evidenceHash;
        r.amends = amends;
        _linkAmendment(recordId, r, amends);
        _emitRecorded(recordId, r);
    }

    /// @notice Records declared activity data (with evidence) of the caller's enterprise (status
    ///         Draft): electricity supplied (供电量), heat supplied (供热量), fuel combustion as
    ///         heat input, or purchased heat (购入热力).
    /// @param activityType ElectricitySupplied, HeatSupplied, FuelCombustion or PurchasedHeat.
    /// @param subject FuelCombustion: fuel code (nonzero, e.g. bytes32("COAL")), whose factor is
    ///        FactorCodes.fuelCo2(subject); otherwise the enterprise's unit or supplier identifier or 0.
    /// @param year Reporting year (1971..9999).
    /// @param month 0 = the whole year, or 1..12 (windows in the enterprise's UTC offset). Annual
    ///        and monthly records of one (type, subject) cannot be mixed within a year.
    /// @param amount ElectricitySupplied: Wh; HeatSupplied and PurchasedHeat: MJ; FuelCombustion:
    ///        fuel heat input MJ (consumption × NCV); > 0.
    /// @param factorSetId FuelCombustion: factor set applying to `year` holding fuelCo2(subject)
    ///        in kgCO2/GJ × 1e6; PurchasedHeat: one holding HEAT_EF in tCO2/GJ × 1e6; otherwise 0.
    /// @param evidenceHash Hash of the supporting evidence (nonzero).
    /// @param amends 0 for the first record of the period, else the current Draft or Rejected record.
    /// @return recordId Sequential id.
    /// @dev DESIGN.md §6 fuel combustion E = FC × NCV × CC × OF × 44/12 with the per-fuel
    ///      factor CC × OF × 44/12 published as one value; the guideline's formula itself is
    ///      UNCONFIRMED (china_rules.md §1). kgCO2 = ⌊MJ × F / 10^9 + ½⌋ (fuelEmissionsKg),
    ///      mirrored by ledger/units.py `fuel_emissions_kg`. PurchasedHeat (DESIGN.md §6 E_heat =
    ///      AD_heat (GJ) × EF_heat (tCO2/GJ)): kgCO2 = ⌊MJ × EF / 10^6 + ½⌋ (heatEmissionsKg, mirrored
    ///      by ledger/units.py `heat_emissions_kg`). Supplied electricity and heat carry no
    ///      emissions; they are the outputs Allocation multiplies by benchmarks (国环规气候〔2023〕1号).
    ///      Acquisition method: Calculation (AcquisitionMethodRecorded).
    ///      FuelCombustion and PurchasedHeat use the factor set assigned to the enterprise-year.
    ///      Errors: NotActiveParticipant, NotDeclarable, ZeroAmount, MissingEvidenceHash,
    ///      MissingFuelCode, UnexpectedFactorSet, FactorSetNotAssigned, InvalidPeriod, FactorSetNotApplicable,
    ///      FactorMissing, FactorScaleMismatch, GranularityConflict, RecordExists, NoRecordToAmend,
    ///      CannotAmend.
    function recordDeclared(
        ActivityType activityType,
        bytes32 subject,
        uint16 year,
        uint8 month,
        uint256 amount,
        uint256 factorSetId,
        bytes32 evidenceHash,
        uint256 amends
    ) external returns (uint256 recordId) {
        if (!participants.isActive(msg.sender, Roles.ENTERPRISE)) {
            revert NotActiveParticipant(msg.sender, Roles.ENTERPRISE);
        }
        if (
            activityType != ActivityType.ElectricitySupplied && activityType != ActivityType.HeatSupplied
                && activityType != ActivityType.FuelCombustion && activityType != ActivityType.PurchasedHeat
        ) revert NotDeclarable(activityType);
        if (amount == 0) revert ZeroAmount();
        if (evidenceHash == bytes32(0)) revert MissingEvidenceHash();
        bytes32 org = participants.orgOf(msg.sender);
        (uint64 periodStart, uint64 periodEnd) = _periodWindow(org, year, month);
        uint256 f;
        if (activityType == ActivityType.FuelCombustion) {
            if (subject == bytes32(0)) revert MissingFuelCode();
            f = _factor(factorSetId, year, FactorCodes.fuelCo2(subject), FactorCodes.FUEL_CO2_SCALE);
            _requireAssignedSet(org, year, factorSetId);
        } else if (activityType == ActivityType.PurchasedHeat) {
            f = _factor(factorSetId, year, FactorCodes.HEAT_EF, FactorCodes.HEAT_EF_SCALE);
            _requireAssignedSet(org, year, factorSetId);
        } else if (factorSetId != 0) {
            revert UnexpectedFactorSet(factorSetId);
        }
        _claimGranularity(org, activityType, subject, year, month);

        recordId = ++_recordCount;
        Record storage r = _records[recordId];
        r.enterprise = org;
        r.activityType = activityType;
        r.source = Source.Declared;
        r.year = year;
        r.month = month;
        r.periodStart = periodStart;
        r.periodEnd = periodEnd;
        r.device = subject;
        r.activityAmount = amount;
        r.factorSetId = factorSetId;
        r.factorValue = f;
        if (activityType == ActivityType.FuelCombustion) r.emissionsKg = fuelEmissionsKg(amount, f);
        else if (activityType == ActivityType.PurchasedHeat) r.emissionsKg = heatEmissionsKg(amount, f);
        r.status = Status.Draft;
        r.evidenceHash = evidenceHash;
        r.amends = amends;
        _linkAmendment(recordId, r, amends);
        _emitRecorded(recordId, r);
    }

    /// @notice Records declared fuel combustion (化石燃料燃烧) of the caller's enterprise by the
    ///         guideline's method from consumption, net calorific value, carbon content per heat
    ///         value and oxidation rate (status Draft), with evidence.
    /// @param d The declaration (see FuelDeclaration for units and scales): fuel code (nonzero);
    ///        year 1971..9999; month 0 (whole year) or 1..12; consumption > 0; ncv, carbonContent,
    ///        oxidationRate measured values or 0 for the factor set's default; oxidationRate <= 1e6;
    ///        factorSetId applying to `year` (may be 0 only when no default is used); evidenceHash
    ///        nonzero; amends 0 or the current Draft/Rejected record of (FuelCombustion, fuel, year, month).
    /// @return recordId Sequential id.
    /// @dev DESIGN.md §6 / 企业温室气体排放核算与报告指南 发电设施 and GB/T 32150:
    ///      E = FC × NCV × CC × OF × 44/12 (the guideline's formula text is UNCONFIRMED,
    ///      china_rules.md §1; defaults, e.g. coal CC 0.03085 tC/GJ from June 2022 (CONFIRMED-S) and
    ///      coal OF 99 % (PARTIAL), come from the factor set with its citation).
    ///      kgCO2 = ⌊FC × NCV × CC × OF × 44 / (12 × 10^21) + ½⌋ in one integer step
    ///      (guidelineFuelEmissionsKg); the record also stores heat input MJ = ⌊FC × NCV / 10^6 + ½⌋
    ///      as activityAmount and the composite factor ⌊CC × OF × 44 / (12 × 10^6) + ½⌋ kgCO2/GJ × 1e6
    ///      as factorValue (display; emissions are not recomputed from these rounded values).
    ///      Shares the period key of recordDeclared(FuelCombustion), so one fuel-month is declared
    ///      once. Acquisition method: Calculation. Python: ledger/units.py `guideline_fuel_emissions_kg`.
    ///      A nonzero factorSetId must be the set assigned to the enterprise-year (FactorSetNotAssigned).
    ///      Errors: NotActiveParticipant, MissingFuelCode, ZeroAmount, MissingEvidenceHash,
    ///      InvalidOxidationRate, FactorSetRequired, InvalidPeriod, FactorSetNotApplicable,
    ///      FactorMissing, FactorScaleMismatch, GranularityConflict, RecordExists, NoRecordToAmend,
    ///      CannotAmend.
    function recordFuelCombustion(FuelDeclaration calldata d) external returns (uint256 recordId) {
        if (!participants.isActive(msg.sender, Roles.ENTERPRISE)) {
            revert NotActiveParticipant(msg.sender, Roles.ENTERPRISE);
        }
        if (d.fuel == bytes32(0)) revert MissingFuelCode();
        if (d.consumption == 0) revert ZeroAmount();
        if (d.evidenceHash == bytes32(0)) revert MissingEvidenceHash();
        if (d.oxidationRate > OXIDATION_RATE_ONE) revert InvalidOxidationRate(d.oxidationRate);
        bytes32 org = participants.orgOf(msg.sender);
        (uint64 periodStart, uint64 periodEnd) = _periodWindow(org, d.year, d.month);
        FuelParameters memory fp = _resolveFuelParameters(d);
        if (d.factorSetId != 0) _requireAssignedSet(org, d.year, d.factorSetId);
        _claimGranularity(org, ActivityType.FuelCombustion, d.fuel, d.year, d.month);

        recordId = ++_recordCount;
        Record storage r = _records[recordId];
        r.enterprise = org;
        r.activityType = ActivityType.FuelCombustion;
        r.source = Source.Declared;
        r.year = d.year;
        r.month = d.month;
        r.periodStart = periodStart;
        r.periodEnd = periodEnd;
        r.device = d.fuel;
        r.activityAmount = fuelHeatInputMJ(fp.consumption, fp.ncv);
        r.factorSetId = d.factorSetId;
        r.factorValue = fuelCo2Factor(fp.carbonContent, fp.oxidationRate);
        r.emissionsKg = guidelineFuelEmissionsKg(fp.consumption, fp.ncv, fp.carbonContent, fp.oxidationRate);
        r.status = Status.Draft;
        r.evidenceHash = d.evidenceHash;
        r.amends = d.amends;
        _fuelParameters[recordId] = fp;
        _linkAmendment(recordId, r, d.amends);
        _emitRecorded(recordId, r);
        emit FuelParametersRecorded(
            recordId, d.fuel, fp.consumption, fp.ncv, fp.carbonContent, fp.oxidationRate, fp.defaultsMask
        );
    }

    /// @notice Submits a Draft record for verification.
    /// @param recordId Record of the caller's enterprise, Draft and not amended.
    /// @dev DESIGN.md §4: Draft → Submitted.
    function submit(uint256 recordId) external {
        Record storage r = _existingRecord(recordId);
        if (!participants.isActive(msg.sender, Roles.ENTERPRISE) || participants.orgOf(msg.sender) != r.enterprise) {
            revert NotRecordEnterprise(recordId, msg.sender);
        }
        if (r.amendedBy != 0) revert RecordAmended(recordId, r.amendedBy);
        _requireStatus(recordId, r, Status.Draft);
        r.status = Status.Submitted;
        emit RecordSubmitted(recordId, r.enterprise, msg.sender);
    }

    // ------------------------------------------------------------------ regulator and verifier

    /// @notice Assigns (or re-assigns) the verifier (核查机构) of a Submitted record.
    /// @param recordId Submitted record.
    /// @param verifier Active VERIFIER_ROLE account.
    /// @dev DESIGN.md §1: the regulator organises verification (核查).
    function assignVerifier(uint256 recordId, address verifier) external {
        _requireRegulator();
        Record storage r = _existingRecord(recordId);
        if (!participants.isActive(verifier, Roles.VERIFIER)) revert InvalidVerifier(verifier);
        _requireStatus(recordId, r, Status.Submitted);
        r.verifier = verifier;
        emit VerifierAssigned(recordId, r.enterprise, verifier);
    }

    /// @notice Attests a Submitted record after verification.
    /// @param recordId Submitted record assigned to the caller.
    /// @param verificationReportHash Hash of the verification report (nonzero).
    /// @param findingsHash Hash of the findings (may be zero when there are none).
    /// @dev DESIGN.md §4: Submitted → Verified by the assigned verifier, with report hash and findings.
    function attest(uint256 recordId, bytes32 verificationReportHash, bytes32 findingsHash) external {
        Record storage r = _verifierRecord(recordId, verificationReportHash);
        r.status = Status.Verified;
        r.verificationReportHash = verificationReportHash;
        r.findingsHash = findingsHash;
        emit RecordAttested(recordId, msg.sender, verificationReportHash, findingsHash);
    }

    /// @notice Rejects a Submitted record; the enterprise may then amend it.
    /// @param recordId Submitted record assigned to the caller.
    /// @param verificationReportHash Hash of the verification report (nonzero).
    /// @param findingsHash Hash of the findings explaining the rejection (nonzero).
    /// @dev DESIGN.md §4: Submitted → Rejected by the assigned verifier, with report hash and findings.
    function reject(uint256 recordId, bytes32 verificationReportHash, bytes32 findingsHash) external {
        if (findingsHash == bytes32(0)) revert MissingFindingsHash();
        Record storage r = _verifierRecord(recordId, verificationReportHash);
        r.status = Status.Rejected;
        r.verificationReportHash = verificationReportHash;
        r.findingsHash = findingsHash;
        emit RecordRejected(recordId, msg.sender, verificationReportHash, findingsHash);
    }

    /// @notice Confirms verified emissions (final) and adds the record to its enterprise's
    ///         confirmed totals for the record's year.
    /// @param recordId Verified record.
    /// @dev DESIGN.md §4: Verified → Confirmed by the regulator. A Confirmed record cannot be
    ///      amended (CannotAmend), so it is counted exactly once. A meter-data record is first
    ///      re-summed from the current (superseding) batches of its range plus its gap's substitute
    ///      (RecordRecomputed when the figures change; MissingDays if a day is no longer covered).
    ///      Marks the record's month (or the year, month 0) of its source confirmed (completeness).
    ///      Errors: NotRegulator, UnknownRecord, InvalidStatus, MissingDays.
    function confirm(uint256 recordId) external {
        _requireRegulator();
        Record storage r = _existingRecord(recordId);
        _requireStatus(recordId, r, Status.Verified);
        if (r.source != Source.Declared) _recompute(recordId, r);
        r.status = Status.Confirmed;
        emit RecordConfirmed(recordId, r.enterprise, r.emissionsKg);
        Totals storage t = _totals[r.enterprise][r.year];
        t.emissionsKg += r.emissionsKg;
        if (r.activityType == ActivityType.PurchasedElectricity) t.purchasedElectricityKg += r.emissionsKg;
        else if (r.activityType == ActivityType.ElectricitySupplied) t.electricitySuppliedWh += r.activityAmount;
        else if (r.activityType == ActivityType.HeatSupplied) t.heatSuppliedMJ += r.activityAmount;
        ++t.confirmedRecords;
        _markConfirmed(r);
        emit ConfirmedTotalsUpdated(
            r.enterprise, r.year, t.emissionsKg, t.electricitySuppliedWh, t.heatSuppliedMJ, t.confirmedRecords
        );
    }

    // ------------------------------------------------------------------ completeness

    /// @notice Enrols the sources of an enterprise-year (its monitoring plan's scope): the year is
    ///         complete only when each is confirmed for every month (or by one annual record).
    /// @param enterprise Existing organisation id.
    /// @param year Reporting year (1971..9999).
    /// @param activityTypes One per source (not None).
    /// @param subjects The source's subject: the meter for PurchasedElectricity (owned by the
    ///        enterprise), the fuel code for FuelCombustion (nonzero), else the declared subject.
    /// @dev The regulator enrols (not the enterprise): it keeps the list of covered entities and
    ///      their sources (名录, 环办气候函〔2022〕111号, china_rules.md §1, CONFIRMED-P number only) and
    ///      approves the data-quality control plan naming them (条例 Art. 11, CONFIRMED-P). Sources
    ///      cannot be removed (an error is settled by assessEmissions). Errors: NotRegulator,
    ///      InvalidSources, InvalidPeriod, UnknownEnterprise, MissingFuelCode, DeviceNotOwned,
    ///      WrongQuantity, AlreadyEnrolled.
    function enrolSources(
        bytes32 enterprise,
        uint16 year,
        ActivityType[] calldata activityTypes,
        bytes32[] calldata subjects
    ) external {
        _requireRegulator();
        uint256 n = activityTypes.length;
        if (n == 0 || subjects.length != n) revert InvalidSources();
        monthWindow(enterprise, year, 1);
        for (uint256 i = 0; i < n; ++i) {
            _enrolSource(enterprise, year, activityTypes[i], subjects[i]);
        }
    }

    /// @notice Assigns the factor set of an enterprise-year; records of that year must name it.
    /// @param enterprise Existing organisation id.
    /// @param year Reporting year (1971..9999).
    /// @param factorSetId Published set applying to `year`.
    /// @dev Issue 12: the factor set is the regulator's choice, not the record's. It can be
    ///      re-assigned only until a record of the enterprise-year has used it.
    ///      Errors: NotRegulator, InvalidPeriod, UnknownEnterprise, FactorSetNotApplicable,
    ///      FactorSetAlreadyAssigned.
    function assignFactorSet(bytes32 enterprise, uint16 year, uint256 factorSetId) external {
        _requireRegulator();
        monthWindow(enterprise, year, 1);
        if (!factors.appliesTo(factorSetId, year)) revert FactorSetNotApplicable(factorSetId, year);
        uint256 assigned = _assignedSet[enterprise][year];
        if (_setInUse[enterprise][year]) revert FactorSetAlreadyAssigned(enterprise, year, assigned);
        _assignedSet[enterprise][year] = factorSetId;
        emit FactorSetAssigned(enterprise, year, factorSetId, msg.sender);
    }

    /// @notice Declares the days of a meter's month with no (or incomplete) data: the gap the
    ///         record of that month may have. Declaring again replaces the gap and clears its
    ///         substitute (to be assessed again); dayMask 0 withdraws it.
    /// @param deviceId Meter of the caller's enterprise measuring active power.
    /// @param year Reporting year.
    /// @param month 1..12.
    /// @param dayMask Bit d − 1 = local day d; no bit beyond the month's last day.
    /// @param reasonHash Hash of the reason (e.g. the source's imputed minutes, outside the run).
    /// @dev The gap never lowers E: its days take the regulator's substitute (assessGap). Errors:
    ///      NotActiveParticipant, DeviceNotOwned, WrongQuantity, InvalidPeriod, InvalidDayMask,
    ///      MissingReasonHash.
    function declareGap(bytes32 deviceId, uint16 year, uint8 month, uint32 dayMask, bytes32 reasonHash) external {
        if (!participants.isActive(msg.sender, Roles.ENTERPRISE)) {
            revert NotActiveParticipant(msg.sender, Roles.ENTERPRISE);
        }
        bytes32 org = participants.orgOf(msg.sender);
        _requireMeter(deviceId, org);
        (uint64 start, uint64 end) = monthWindow(org, year, month);
        uint256 daysInMonth = (end - start) / DAY_SECONDS;
        if (uint256(dayMask) >> daysInMonth != 0) revert InvalidDayMask(dayMask, daysInMonth);
        if (reasonHash == bytes32(0)) revert MissingReasonHash();
        _gaps[_gapKey(deviceId, year, month)] = Gap(dayMask, reasonHash, 0, 0);
        emit GapDeclared(deviceId, org, year, month, dayMask, reasonHash);
    }

    /// @notice Sets the substitute of a declared gap (the regulator's assessed value, 核定), Wh.
    /// @param deviceId Meter with a declared gap in the month.
    /// @param year Reporting year.
    /// @param month 1..12.
    /// @param substituteWh Wh added to the metered Wh of the month's record (> 0).
    /// @param basisHash Hash of the basis of the value (nonzero).
    /// @dev china_rules.md names no missing-data substitute for purchased electricity (the
    ///      guideline's default values cover fuel parameters, §1; the guideline text is
    ///      UNCONFIRMED), so the substitute is the regulator's assessed value. The verifier's
    ///      attestation of the record covers it. Errors: NotRegulator, NoGapDeclared, ZeroAmount,
    ///      MissingReasonHash.
    function assessGap(bytes32 deviceId, uint16 year, uint8 month, uint256 substituteWh, bytes32 basisHash)
        external
    {
        _requireRegulator();
        Gap storage g = _gaps[_gapKey(deviceId, year, month)];
        if (g.dayMask == 0) revert NoGapDeclared(deviceId, year, month);
        if (substituteWh == 0) revert ZeroAmount();
        if (basisHash == bytes32(0)) revert MissingReasonHash();
        g.substituteWh = substituteWh;
        g.basisHash = basisHash;
        (bytes32 org,,,,) = devices.device(deviceId);
        emit GapAssessed(deviceId, org, year, month, substituteWh, basisHash);
    }

    /// @notice Assesses (核定) an enterprise-year's emissions: the year becomes closable on this
    ///         value (e.g. a non-reporter, or sources never confirmed).
    /// @param enterprise Existing organisation id.
    /// @param year Reporting year.
    /// @param emissionsKg_ Assessed emissions, kgCO2 (>= the confirmed total).
    /// @param purchasedElectricityKg Its purchased-electricity part, kgCO2 (<= emissionsKg_).
    /// @param reasonHash Hash of the reasoned decision (nonzero).
    /// @dev Once per enterprise-year; never below the confirmed emissions (AssessmentBelowConfirmed).
    ///      Errors: NotRegulator, MissingReasonHash, InvalidPeriod, UnknownEnterprise,
    ///      InvalidAssessment, AssessmentBelowConfirmed, AlreadyAssessed.
    function assessEmissions(
        bytes32 enterprise,
        uint16 year,
        uint256 emissionsKg_,
        uint256 purchasedElectricityKg,
        bytes32 reasonHash
    ) external {
        _requireRegulator();
        if (reasonHash == bytes32(0)) revert MissingReasonHash();
        monthWindow(enterprise, year, 1);
        if (purchasedElectricityKg > emissionsKg_) revert InvalidAssessment(emissionsKg_, purchasedElectricityKg);
        uint256 confirmedKg = _totals[enterprise][year].emissionsKg;
        if (emissionsKg_ < confirmedKg) revert AssessmentBelowConfirmed(emissionsKg_, confirmedKg);
        Assessment storage a = _assessments[enterprise][year];
        if (a.assessed) revert AlreadyAssessed(enterprise, year);
        _assessments[enterprise][year] = Assessment(true, emissionsKg_, purchasedElectricityKg, reasonHash);
        emit EmissionsAssessed(enterprise, year, emissionsKg_, purchasedElectricityKg, reasonHash, msg.sender);
    }

    // ------------------------------------------------------------------ views

    /// @notice The figures Allocation and Compliance use for an enterprise-year (see AnnualEmissions).
    /// @param enterprise Organisation id.
    /// @param year Reporting year.
    function annualEmissions(bytes32 enterprise, uint16 year) external view returns (AnnualEmissions memory y) {
        Totals storage t = _totals[enterprise][year];
        Assessment storage a = _assessments[enterprise][year];
        y.enrolledSources = uint32(_sources[enterprise][year].length);
        y.completeSources = _completeSources[enterprise][year];
        y.complete = y.enrolledSources != 0 && y.completeSources == y.enrolledSources;
        y.assessed = a.assessed;
        y.closable = y.complete || a.assessed;
        y.emissionsKg = a.assessed ? a.emissionsKg : t.emissionsKg;
        y.purchasedElectricityKg = a.assessed ? a.purchasedElectricityKg : t.purchasedElectricityKg;
        y.electricitySuppliedWh = t.electricitySuppliedWh;
        y.heatSuppliedMJ = t.heatSuppliedMJ;
        y.confirmedRecords = t.confirmedRecords;
        y.factorSetId = _assignedSet[enterprise][year];
        y.reasonHash = a.reasonHash;
    }

    /// @notice The enrolled sources of an enterprise-year with their confirmed months.
    function enrolledSources(bytes32 enterprise, uint16 year) external view returns (EnrolledSource[] memory out) {
        EnrolledSource[] storage src = _sources[enterprise][year];
        out = new EnrolledSource[](src.length);
        for (uint256 i = 0; i < src.length; ++i) {
            out[i] = src[i];
            out[i].confirmedMonths = _confirmedMonths[_sourceKey(enterprise, src[i].activityType, src[i].subject, year)];
        }
    }

    /// @notice The factor set assigned to an enterprise-year (0 = none).
    function assignedFactorSet(bytes32 enterprise, uint16 year) external view returns (uint256) {
        return _assignedSet[enterprise][year];
    }

    /// @notice The gap declared for a meter's month (dayMask 0 = none).
    function gap(bytes32 deviceId, uint16 year, uint8 month) external view returns (Gap memory) {
        return _gaps[_gapKey(deviceId, year, month)];
    }

    /// @notice The gap a meter-data record was made with (all zero: none).
    /// @param recordId Record id; reverts UnknownRecord if it does not exist.
    function recordGap(uint256 recordId) external view returns (RecordGap memory) {
        _existingRecord(recordId);
        return _recordGaps[recordId];
    }

    /// @dev Days of [windowStart, windowEnd) (bit d − 1 = day d, 86,400 s from windowStart) not
    ///      fully covered by the current batches at indices firstIndex..lastIndex of `device`
    ///      (callers ran MeterDataAnchor.sumWh on the range first). Batches never overlap
    ///      (MeterDataAnchor), so a day is covered when its batch seconds add up to 86,400.
    function _missingDays(bytes32 device, uint32 firstIndex, uint32 lastIndex, uint64 windowStart, uint64 windowEnd)
        private
        view
        returns (uint32 mask)
    {
        uint256 daysInWindow = (windowEnd - windowStart) / DAY_SECONDS;
        uint256[] memory covered = new uint256[](daysInWindow);
        for (uint256 i = firstIndex; i <= lastIndex; ++i) {
            MeterDataAnchor.Batch memory b = anchor.batch(anchor.currentBatch(anchor.deviceBatchAt(device, i)));
            uint256 s = b.start;
            while (s < b.end) {
                uint256 d = (s - windowStart) / DAY_SECONDS;
                uint256 dayEnd = windowStart + (d + 1) * DAY_SECONDS;
                uint256 segEnd = b.end < dayEnd ? b.end : dayEnd;
                covered[d] += segEnd - s;
                s = segEnd;
            }
        }
        for (uint256 d = 0; d < daysInWindow; ++d) {
            if (covered[d] < DAY_SECONDS) mask |= uint32(1 << d);
        }
    }

    /// @notice A record.
    /// @param recordId Record id; reverts UnknownRecord if it does not exist.
    function record(uint256 recordId) external view returns (Record memory) {
        return _existingRecord(recordId);
    }

    /// @notice Running totals of an enterprise's Confirmed records of reporting year `year`.
    /// @param enterprise Organisation id.
    /// @param year Reporting year.
    /// @return emissionsKgTotal Confirmed emissions, kgCO2 (all activity types).
    /// @return electricitySuppliedWh Confirmed electricity supplied (供电量), Wh.
    /// @return heatSuppliedMJ Confirmed heat supplied (供热量), MJ.
    /// @return confirmedRecords Number of Confirmed records counted.
    function confirmedTotals(bytes32 enterprise, uint16 year)
        external
        view
        returns (uint256 emissionsKgTotal, uint256 electricitySuppliedWh, uint256 heatSuppliedMJ, uint32 confirmedRecords)
    {
        Totals storage t = _totals[enterprise][year];
        return (t.emissionsKg, t.electricitySuppliedWh, t.heatSuppliedMJ, t.confirmedRecords);
    }

    /// @notice Number of records (ids 1..recordCount()).
    function recordCount() external view returns (uint256) {
        return _recordCount;
    }

    /// @notice The current (latest, not amended) record id for a period; 0 if none.
    /// @param enterprise Organisation id.
    /// @param activityType Activity type.
    /// @param device Device id.
    /// @param year Reporting year.
    /// @param month 1..12 (0 = annual).
    function currentRecord(bytes32 enterprise, ActivityType activityType, bytes32 device, uint16 year, uint8 month)
        external
        view
        returns (uint256)
    {
        return _currentRecord[_periodKey(enterprise, activityType, device, year, month)];
    }

    /// @notice UTC bounds of (year, month) in the enterprise's local time: local midnight of day 1
    ///         to local midnight of day 1 of the next month.
    /// @param enterprise Organisation id (any existing organisation).
    /// @param year Year (1971..9999).
    /// @param month 1..12.
    /// @return start UTC seconds, inclusive.
    /// @return end UTC seconds, exclusive.
    /// @dev DESIGN.md §5 "Time": months cut in the enterprise's configured UTC offset;
    ///      start = daysFromCivil(year, month, 1) × 86400 − utcOffsetSeconds.
    function monthWindow(bytes32 enterprise, uint16 year, uint8 month)
        public
        view
        returns (uint64 start, uint64 end)
    {
        if (month == 0 || month > 12 || year < MIN_YEAR || year > MAX_YEAR) revert InvalidPeriod(year, month);
        (,, int32 utcOffsetSeconds, ParticipantRegistry.Status status) = participants.organisation(enterprise);
        if (status == ParticipantRegistry.Status.None) revert UnknownEnterprise(enterprise);
        return CalendarMonth.window(year, month, utcOffsetSeconds);
    }

    /// @notice Emissions in kgCO2 of `wh` Wh at grid factor `ef` (kgCO2/kWh × 1e4), rounded half up.
    /// @param wh Activity data, Wh.
    /// @param ef Emission factor, kgCO2/kWh × 1e4 (5703 = 0.5703).
    /// @dev DESIGN.md §5: ⌊Wh × EF / 10^7 + ½⌋ = (Wh × EF + 5_000_000) / 10_000_000; mirrored by
    ///      ledger/units.py `emissions_kg`.
    function emissionsKg(uint256 wh, uint256 ef) public pure returns (uint256) {
        return (wh * ef + KG_DIVISOR / 2) / KG_DIVISOR;
    }

    /// @notice Fuel-combustion emissions in kgCO2 of `heatMJ` MJ of fuel heat input at CO2 factor
    ///         `factor` (kgCO2/GJ × 1e6), rounded half up.
    /// @param heatMJ Fuel heat input (consumption × NCV), MJ.
    /// @param factor Per-fuel CO2 factor CC × OF × 44/12, kgCO2/GJ × 1e6.
    /// @dev ⌊MJ × F / 10^9 + ½⌋ = (MJ × F + 5e8) / 1e9; mirrored by ledger/units.py `fuel_emissions_kg`.
    function fuelEmissionsKg(uint256 heatMJ, uint256 factor) public pure returns (uint256) {
        return (heatMJ * factor + FUEL_KG_DIVISOR / 2) / FUEL_KG_DIVISOR;
    }

    /// @notice Fuel-combustion emissions in kgCO2 by the guideline's parameters, rounded half up once.
    /// @param consumption FC, t (or 10^4 Nm³) × 1000.
    /// @param ncv NCV, GJ/t (or GJ/10^4 Nm³) × 1e6.
    /// @param carbonContent CC, tC/GJ × 1e9.
    /// @param oxidationRate OF, fraction × 1e6.
    /// @dev DESIGN.md §6 E = FC × NCV × CC × OF × 44/12: ⌊FC·NCV·CC·OF·44 / (12·10^21) + ½⌋ (DESIGN.md §5
    ///      half up); mirrored by ledger/units.py `guideline_fuel_emissions_kg`. Reverts (panic) only
    ///      on overflow, impossible for the uint64/uint32 inputs of recordFuelCombustion.
    function guidelineFuelEmissionsKg(uint256 consumption, uint256 ncv, uint256 carbonContent, uint256 oxidationRate)
        public
        pure
        returns (uint256)
    {
        return (consumption * ncv * carbonContent * oxidationRate * 44 + GUIDELINE_FUEL_DIVISOR / 2)
            / GUIDELINE_FUEL_DIVISOR;
    }

    /// @notice Fuel heat input in MJ: ⌊FC × NCV / 10^6 + ½⌋ (FC t × 1000, NCV GJ/t × 1e6).
    /// @param consumption FC, t (or 10^4 Nm³) × 1000.
    /// @param ncv NCV, GJ/t (or GJ/10^4 Nm³) × 1e6.
    /// @dev Mirrored by ledger/units.py `fuel_heat_input_mj`.
    function fuelHeatInputMJ(uint256 consumption, uint256 ncv) public pure returns (uint256) {
        return (consumption * ncv + HEAT_INPUT_DIVISOR / 2) / HEAT_INPUT_DIVISOR;
    }

    /// @notice Composite fuel CO2 factor CC × OF × 44/12 in kgCO2/GJ × 1e6, rounded half up.
    /// @param carbonContent CC, tC/GJ × 1e9.
    /// @param oxidationRate OF, fraction × 1e6.
    /// @dev ⌊CC·OF·44 / (12·10^6) + ½⌋; mirrored by ledger/units.py `fuel_co2_factor_scaled`.
    function fuelCo2Factor(uint256 carbonContent, uint256 oxidationRate) public pure returns (uint256) {
        return (carbonContent * oxidationRate * 44 + FUEL_FACTOR_DIVISOR / 2) / FUEL_FACTOR_DIVISOR;
    }

    /// @notice Purchased-heat emissions in kgCO2 of `heatMJ` MJ at `ef` tCO2/GJ × 1e6, rounded half up.
    /// @param heatMJ Purchased heat AD, MJ.
    /// @param ef EF_heat, tCO2/GJ × 1e6.
    /// @dev DESIGN.md §6 E_heat = AD × EF: ⌊MJ × EF / 10^6 + ½⌋; mirrored by ledger/units.py
    ///      `heat_emissions_kg`.
    function heatEmissionsKg(uint256 heatMJ, uint256 ef) public pure returns (uint256) {
        return (heatMJ * ef + HEAT_KG_DIVISOR / 2) / HEAT_KG_DIVISOR;
    }

    /// @notice How a record's data was obtained: OnlineMonitoring for anchored meter data,
    ///         Calculation for declared data.
    /// @param recordId Record id; reverts UnknownRecord if it does not exist.
    function acquisitionMethod(uint256 recordId) public view returns (AcquisitionMethod) {
        return _methodOf(_existingRecord(recordId));
    }

    /// @notice The guideline parameters of a record made by recordFuelCombustion (all zero for
    ///         other records), defaults resolved; see FuelParameters.
    /// @param recordId Record id; reverts UnknownRecord if it does not exist.
    function fuelParameters(uint256 recordId) external view returns (FuelParameters memory) {
        _existingRecord(recordId);
        return _fuelParameters[recordId];
    }

    /// @notice Factor code of the CO2 factor of fuel `fuel` (FactorCodes.fuelCo2), kgCO2/GJ × 1e6.
    /// @param fuel Fuel code, e.g. bytes32("COAL").
    function fuelFactorCode(bytes32 fuel) external pure returns (bytes32) {
        return FactorCodes.fuelCo2(fuel);
    }

    // ------------------------------------------------------------------ internals

    /// @dev Metered Wh, batches, readings and days not covered of a meter-data record: summed over
    ///      its batch range (AnchoredMeterData) or the month proved in MeterRounds (AnchoredMeterRounds).
    function _metered(Record storage r)
        private
        view
        returns (uint256 metered, uint32 batches, uint64 readings, uint32 missing)
    {
        if (r.source == Source.AnchoredMeterRounds) {
            (uint64 wh, uint32 n, uint32 mask) = rounds.monthWh(r.device, r.year, r.month);
            return (wh, 0, n, mask);
        }
        (metered, batches, readings) =
            anchor.sumWh(r.device, r.firstBatchIndex, r.lastBatchIndex, r.periodStart, r.periodEnd);
        missing = _missingDays(r.device, r.firstBatchIndex, r.lastBatchIndex, r.periodStart, r.periodEnd);
    }

    /// @dev Metered Wh of the record (batches or proved round totals) plus its declared gap's substitute (issue 12).
    function _meterActivity(uint256 recordId, Record storage r) private {
        uint256 metered;
        uint32 missing;
        (metered, r.batches, r.readings, missing) = _metered(r);
        Gap storage g = _gaps[_gapKey(r.device, r.year, r.month)];
        if (missing & ~g.dayMask != 0) revert MissingDays(r.device, r.year, r.month, missing & ~g.dayMask);
        if (g.dayMask != 0) {
            if (g.substituteWh == 0) revert GapNotAssessed(r.device, r.year, r.month);
            _recordGaps[recordId] = RecordGap(g.dayMask, metered, g.substituteWh);
            emit RecordGapApplied(recordId, g.dayMask, metered, g.substituteWh);
        }
        r.activityAmount = metered + g.substituteWh;
        r.emissionsKg = emissionsKg(r.activityAmount, r.factorValue);
    }

    /// @dev confirm(): re-sum from the current batches, or re-read the proved month (a supersession
    ///      after recording counts).
    function _recompute(uint256 recordId, Record storage r) private {
        (uint256 metered,, uint64 readings, uint32 missing) = _metered(r);
        RecordGap storage rg = _recordGaps[recordId];
        if (missing & ~rg.dayMask != 0) revert MissingDays(r.device, r.year, r.month, missing & ~rg.dayMask);
        uint256 amount = metered + rg.substituteWh;
        if (amount == r.activityAmount) return;
        uint256 oldAmount = r.activityAmount;
        uint256 oldKg = r.emissionsKg;
        r.activityAmount = amount;
        r.readings = readings;
        r.emissionsKg = emissionsKg(amount, r.factorValue);
        if (rg.dayMask != 0) rg.meteredWh = metered;
        emit RecordRecomputed(recordId, oldAmount, amount, oldKg, r.emissionsKg);
    }

    function _markConfirmed(Record storage r) private {
        bytes32 key = _sourceKey(r.enterprise, r.activityType, r.device, r.year);
        uint16 before = _confirmedMonths[key];
        uint16 now_ = before | uint16(1 << r.month);
        _confirmedMonths[key] = now_;
        if (_sourceIndex[key] != 0 && !_complete(before) && _complete(now_)) ++_completeSources[r.enterprise][r.year];
    }

    function _enrolSource(bytes32 enterprise, uint16 year, ActivityType activityType, bytes32 subject) private {
        if (activityType == ActivityType.None) revert InvalidSources();
        if (activityType == ActivityType.FuelCombustion && subject == bytes32(0)) revert MissingFuelCode();
        if (activityType == ActivityType.PurchasedElectricity) _requireMeter(subject, enterprise);
        bytes32 key = _sourceKey(enterprise, activityType, subject, year);
        if (_sourceIndex[key] != 0) revert AlreadyEnrolled(enterprise, year, activityType, subject);
        EnrolledSource[] storage src = _sources[enterprise][year];
        src.push(EnrolledSource(activityType, subject, 0));
        _sourceIndex[key] = src.length;
        if (_complete(_confirmedMonths[key])) ++_completeSources[enterprise][year];
        emit SourceEnrolled(enterprise, year, activityType, subject);
    }

    function _complete(uint16 months) private pure returns (bool) {
        return months & 1 != 0 || months & ALL_MONTHS == ALL_MONTHS;
    }

    function _requireAssignedSet(bytes32 org, uint16 year, uint256 factorSetId) private {
        uint256 assigned = _assignedSet[org][year];
        if (assigned == 0 || assigned != factorSetId) revert FactorSetNotAssigned(org, year, factorSetId, assigned);
        if (!_setInUse[org][year]) _setInUse[org][year] = true;
    }

    function _sourceKey(bytes32 enterprise, ActivityType activityType, bytes32 subject, uint16 year)
        private
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(enterprise, activityType, subject, year));
    }

    function _gapKey(bytes32 deviceId, uint16 year, uint8 month) private pure returns (bytes32) {
        return keccak256(abi.encode(deviceId, year, month));
    }

    /// @dev Measured values as given; zeros replaced by the factor set's defaults (flagged).
    function _resolveFuelParameters(FuelDeclaration calldata d) private view returns (FuelParameters memory fp) {
        fp.consumption = d.consumption;
        fp.ncv = d.ncv;
        fp.carbonContent = d.carbonContent;
        fp.oxidationRate = d.oxidationRate;
        if (d.ncv == 0) fp.defaultsMask |= DEFAULT_NCV;
        if (d.carbonContent == 0) fp.defaultsMask |= DEFAULT_CC;
        if (d.oxidationRate == 0) fp.defaultsMask |= DEFAULT_OF;
        if (d.factorSetId == 0) {
            if (fp.defaultsMask != 0) revert FactorSetRequired(fp.defaultsMask);
            return fp;
        }
        if (!factors.appliesTo(d.factorSetId, d.year)) revert FactorSetNotApplicable(d.factorSetId, d.year);
        if (d.ncv == 0) fp.ncv = _default64(d, FactorCodes.fuelNcv(d.fuel), FactorCodes.FUEL_NCV_SCALE);
        if (d.carbonContent == 0) {
            fp.carbonContent = _default64(d, FactorCodes.fuelCarbonContent(d.fuel), FactorCodes.FUEL_CC_SCALE);
        }
        if (d.oxidationRate == 0) {
            uint256 rate = _factor(d.factorSetId, d.year, FactorCodes.fuelOxidationRate(d.fuel), FactorCodes.FUEL_OF_SCALE);
            if (rate > OXIDATION_RATE_ONE) revert InvalidOxidationRate(rate);
            fp.oxidationRate = uint32(rate);
        }
    }

    function _default64(FuelDeclaration calldata d, bytes32 code, uint8 scale) private view returns (uint64) {
        uint256 v = _factor(d.factorSetId, d.year, code, scale);
        if (v > type(uint64).max) revert FactorOutOfRange(d.factorSetId, code, v);
        return uint64(v);
    }

    function _methodOf(Record storage r) private view returns (AcquisitionMethod) {
        return r.source == Source.Declared ? AcquisitionMethod.Calculation : AcquisitionMethod.OnlineMonitoring;
    }

    /// @dev Month 1..12: monthWindow; month 0: local midnight of 1 January to that of the next year.
    function _periodWindow(bytes32 org, uint16 year, uint8 month) private view returns (uint64 start, uint64 end) {
        if (month != 0) return monthWindow(org, year, month);
        (start,) = monthWindow(org, year, 1);
        (, end) = monthWindow(org, year, 12);
    }

    function _claimGranularity(bytes32 org, ActivityType activityType, bytes32 subject, uint16 year, uint8 month)
        private
    {
        bytes32 key = keccak256(abi.encode(org, activityType, subject, year));
        uint8 wanted = month == 0 ? 1 : 2;
        uint8 g = _granularity[key];
        if (g == 0) _granularity[key] = wanted;
        else if (g != wanted) revert GranularityConflict(year, month);
    }

    function _requireMeter(bytes32 deviceId, bytes32 org) private view {
        (bytes32 ownerOrg,, uint16 quantityCode,,) = devices.device(deviceId);
        if (ownerOrg != org) revert DeviceNotOwned(deviceId, org);
        if (quantityCode != QUANTITY_ACTIVE_POWER_W) {
            revert WrongQuantity(deviceId, quantityCode, QUANTITY_ACTIVE_POWER_W);
        }
    }

    function _gridFactor(uint256 factorSetId, uint16 year) private view returns (uint256 value) {
        return _factor(factorSetId, year, FactorCodes.GRID_EF, FactorCodes.GRID_EF_SCALE);
    }

    function _factor(uint256 factorSetId, uint16 year, bytes32 code, uint8 expected)
        private
        view
        returns (uint256 value)
    {
        if (!factors.appliesTo(factorSetId, year)) revert FactorSetNotApplicable(factorSetId, year);
        if (!factors.hasFactor(factorSetId, code)) revert FactorMissing(factorSetId, code);
        uint8 scale;
        (value, scale) = factors.factor(factorSetId, code);
        if (scale != expected) revert FactorScaleMismatch(factorSetId, code, scale, expected);
    }

    /// @dev One current record per period key. A new record either opens the period (amends = 0)
    ///      or replaces the current one, which must be Draft or Rejected (DESIGN.md §4: amendments
    ///      create a new version linked to the old).
    function _linkAmendment(uint256 recordId, Record storage r, uint256 amends) private {
        bytes32 key = _periodKey(r.enterprise, r.activityType, r.device, r.year, r.month);
        uint256 current = _currentRecord[key];
        if (current == 0 && amends != 0) revert NoRecordToAmend(amends);
        if (current != amends) revert RecordExists(current, amends);
        if (current != 0) {
            Record storage old = _records[current];
            if (old.status != Status.Draft && old.status != Status.Rejected) revert CannotAmend(current, old.status);
            old.amendedBy = recordId;
        }
        _currentRecord[key] = recordId;
    }

    function _emitRecorded(uint256 recordId, Record storage r) private {
        emit ActivityRecorded(
            recordId,
            r.enterprise,
            uint32(r.year) * 100 + r.month,
            r.year,
            r.month,
            r.activityType,
            r.device,
            r.activityAmount,
            r.factorSetId,
            r.factorValue,
            r.emissionsKg,
            r.batches,
            r.readings,
            r.evidenceHash,
            r.amends
        );
        emit AcquisitionMethodRecorded(recordId, _methodOf(r));
    }

    function _verifierRecord(uint256 recordId, bytes32 verificationReportHash)
        private
        view
        returns (Record storage r)
    {
        r = _existingRecord(recordId);
        if (r.verifier != msg.sender || !participants.isActive(msg.sender, Roles.VERIFIER)) {
            revert NotAssignedVerifier(recordId, msg.sender);
        }
        _requireStatus(recordId, r, Status.Submitted);
        if (verificationReportHash == bytes32(0)) revert MissingReportHash();
    }

    function _requireRegulator() private view {
        if (!participants.isActive(msg.sender, Roles.REGULATOR)) revert NotRegulator(msg.sender);
    }

    function _requireStatus(uint256 recordId, Record storage r, Status expected) private view {
        if (r.status != expected) revert InvalidStatus(recordId, r.status, expected);
    }

    function _existingRecord(uint256 recordId) private view returns (Record storage r) {
        r = _records[recordId];
        if (r.status == Status.None) revert UnknownRecord(recordId);
    }

    function _periodKey(bytes32 enterprise, ActivityType activityType, bytes32 device, uint16 year, uint8 month)
        private
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(enterprise, activityType, device, year, month));
    }
}
