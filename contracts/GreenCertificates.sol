// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ParticipantRegistry} from "./ParticipantRegistry.sol";
import {ParticipantGated} from "./access/ParticipantGated.sol";
import {DeviceRegistry} from "./DeviceRegistry.sol";
import {MeterDataAnchor} from "./MeterDataAnchor.sol";
import {EmissionsRegistry} from "./EmissionsRegistry.sol";
import {EmissionFactorRegistry} from "./EmissionFactorRegistry.sol";
import {FactorCodes} from "./lib/FactorCodes.sol";
import {Roles} from "./lib/Roles.sol";
import {CalendarMonth} from "./lib/CalendarMonth.sol";
import {GenerationClaims} from "./GenerationClaims.sol";

/// @title GreenCertificates
/// @notice Green electricity certificates (绿证, GEC): issued per renewable plant (a generation
///         meter) and month from the meter's anchored energy only, 1 certificate = 1 MWh, the Wh
///         below a whole MWh carried into the plant's next issued month; transferred between
///         admitted accounts; retired once against an enterprise's purchased electricity of a
///         period (year, month) for a beneficiary.
/// @dev Issue 13 "Green electricity certificates"; docs/gec.md gives each rule's source and status
///      (1 GEC = 1 MWh: UNCONFIRMED — china_rules.md has no GEC entry; lead 发改能源〔2023〕1044号).
///      Serials are global and sequential: each issuance holds [firstSerial, lastSerial]; within an
///      issuance, retirements take serials in order, so a serial is retired at most once. The
///      carried Wh of a plant are never rounded away and never counted twice because each plant's
///      months are issued once, in strictly increasing order, and the carry moves forward only.
///      Retire cap (issue 13 "Dual reporting of purchased electricity", GHG Protocol Scope 2
///      Guidance 2015, "Scope 2 Quality Criteria": a certificate is claimed once, for
///      consumption it matches): the Wh covered by an enterprise's retirements for a period never
///      exceed its Confirmed purchased electricity of that period in EmissionsRegistry
///      (confirmedPurchaseWh; ExceedsConfirmedPurchase). docs/gec.md "Market-based scope 2".
contract GreenCertificates is ParticipantGated {
    /// @notice Wh per certificate: 1 certificate = 1 MWh.
    uint64 public constant WH_PER_CERTIFICATE = 1_000_000;
    /// @notice Quantity code of a generation meter (average generated active power in W,
    ///         oracles/quantities.py GENERATION_POWER); only such meters back certificates.
    uint16 public constant GENERATION_QUANTITY_CODE = 16;

    /// @notice One issuance: certificates [firstSerial, lastSerial] of one plant and vintage month.
    /// @dev technology: 1 wind, 2 solar, 3 hydro, 4 other renewables (biomass, waste, geothermal…);
    ///      retired = how many of the issuance's serials are retired (taken from firstSerial up).
    struct Issuance {
        bytes32 device;
        bytes32 plantOrg;
        uint64 firstSerial;
        uint64 lastSerial;
        uint64 retired;
        uint16 year;
        uint8 month;
        uint8 technology;
    }

    /// @notice A plant's issuance state: its technology, last issued vintage month (0 before the
    ///         first) and the Wh carried into its next month (< 1 MWh when every month was issued in full).
    struct Plant {
        uint64 carriedWh;
        uint16 lastYear;
        uint8 lastMonth;
        uint8 technology;
    }

    /// @notice One retirement (注销): serials [firstSerial, lastSerial] of an issuance, retired by
    ///         `holder` of `enterpriseOrg` against its purchased electricity of (year, month).
    struct Retirement {
        uint256 issuanceId;
        bytes32 enterpriseOrg;
        bytes32 beneficiary;
        address holder;
        uint64 firstSerial;
        uint64 lastSerial;
        uint16 year;
        uint8 month;
    }

    /// @notice The anchor whose batches back issuance.
    MeterDataAnchor public immutable anchor;
    /// @notice The device registry (the plant's meter: owner and quantity).
    DeviceRegistry public immutable devices;
    /// @notice The emissions registry whose Confirmed purchased electricity caps retirements (read only).
    EmissionsRegistry public immutable emissions;
    /// @notice The ledger of claimed generation device-months (GEC or CCER, never both): every
    ///         issued month is claimed there as GEC (this contract is its GEC writer).
    GenerationClaims public immutable generationClaims;

    uint64 private _nextSerial = 1;
    Issuance[] private _issuances;
    Retirement[] private _retirements;
    mapping(bytes32 device => Plant) private _plants;
    mapping(uint256 issuanceId => mapping(address account => uint256)) private _balances;
    /// @dev Wh covered by retirements: enterprise org → year → month → Wh (quantity × WH_PER_CERTIFICATE).
    mapping(bytes32 org => mapping(uint16 year => mapping(uint8 month => uint256 wh))) private _coveredWh;

    /// @notice The device is not a registered generation meter (quantity code 16).
    error NotGenerationMeter(bytes32 device, uint16 quantityCode);
    /// @notice Month must be 1..12 and year >= 1970.
    error InvalidPeriod(uint16 year, uint8 month);
    /// @notice Technology code 0 is not a technology.
    error InvalidTechnology(uint8 technology);
    /// @notice The plant was registered with another technology at its first issuance.
    error TechnologyMismatch(bytes32 device, uint8 technology, uint8 registered);
    /// @notice This plant's month was issued already (each month is issued once).
    error MonthAlreadyIssued(bytes32 device, uint16 year, uint8 month);
    /// @notice A plant's months are issued in order; a later month was issued already.
    error MonthBeforeLastIssued(bytes32 device, uint16 year, uint8 month, uint16 lastYear, uint8 lastMonth);
    /// @notice More certificates requested than the anchored Wh (plus the carried Wh) cover.
    error ExceedsAnchoredEnergy(bytes32 device, uint64 certificates, uint256 availableWh);
    /// @notice The recipient is not an Active account of the plant's organisation.
    error RecipientNotPlantAccount(address to, bytes32 plantOrg);
    /// @notice Quantity 0.
    error InvalidQuantity();
    /// @notice No issuance with this id.
    error UnknownIssuance(uint256 issuanceId);
    /// @notice No retirement with this id.
    error UnknownRetirement(uint256 retirementId);
    /// @notice The holder has fewer certificates of the issuance than requested.
    error InsufficientCertificates(uint256 issuanceId, address holder, uint256 balance, uint256 needed);
    /// @notice A retirement needs the beneficiary (hash of its name or its organisation id).
    error MissingBeneficiary();
    /// @notice The enterprise's covered Wh of the period would become `coveredWh` (including this
    ///         retirement), above its Confirmed purchased electricity `confirmedWh` (Wh) of that period.
    error ExceedsConfirmedPurchase(bytes32 org, uint16 year, uint8 month, uint256 coveredWh, uint256 confirmedWh);

    /// @notice Certificates [firstSerial, lastSerial] of a plant's vintage month were issued to `to`.
    event CertificatesIssued(
        uint256 indexed issuanceId,
        bytes32 indexed device,
        bytes32 indexed plantOrg,
        uint8 technology,
        uint16 year,
        uint8 month,
        uint64 firstSerial,
        uint64 lastSerial,
        address to
    );
    /// @notice A plant's month was closed for issuance: `anchoredWh` of the month plus the Wh
    ///         carried in backed `certificates`; `carriedWh` go on to the plant's next month.
    event MonthIssued(
        bytes32 indexed device, uint16 year, uint8 month, uint256 anchoredWh, uint64 certificates, uint64 carriedWh
    );
    /// @notice Certificates of an issuance changed holder.
    event CertificatesTransferred(uint256 indexed issuanceId, address indexed from, address indexed to, uint256 quantity);
    /// @notice Certificates were retired (final) against an enterprise's purchased electricity.
    event CertificatesRetired(
        uint256 indexed retirementId,
        uint256 indexed issuanceId,
        bytes32 indexed enterpriseOrg,
        address holder,
        uint16 year,
        uint8 month,
        uint64 firstSerial,
        uint64 lastSerial,
        bytes32 beneficiary
    );

    /// @notice An enterprise's purchased electricity of (year, month) covered by retired
    ///         certificates changed: `coveredWh` now (Wh), out of `confirmedWh` Confirmed (Wh).
    event PurchaseCovered(bytes32 indexed enterpriseOrg, uint16 year, uint8 month, uint256 coveredWh, uint256 confirmedWh);

    /// @param participantRegistry The deployment's ParticipantRegistry.
    /// @param meterDataAnchor The deployment's MeterDataAnchor (its DeviceRegistry is used too).
    /// @param emissionsRegistry The deployment's EmissionsRegistry (Confirmed purchased electricity, read only).
    /// @param claims The deployment's GenerationClaims (this contract must be its GEC writer).
    constructor(
        ParticipantRegistry participantRegistry,
        MeterDataAnchor meterDataAnchor,
        EmissionsRegistry emissionsRegistry,
        GenerationClaims claims
    )
        ParticipantGated(participantRegistry)
    {
        anchor = meterDataAnchor;
        devices = meterDataAnchor.devices();
        emissions = emissionsRegistry;
        generationClaims = claims;
    }

    /// @notice Issues a plant's certificates of one vintage month (local month of the plant's
    ///         registered UTC offset) from the generation meter's anchored Wh of that month plus
    ///         the Wh carried from the plant's previous issued month.
    /// @param device Generation meter (quantity code 16) of the plant.
    /// @param year Vintage year (>= 1970).
    /// @param month Vintage month 1..12; strictly after the plant's last issued month.
    /// @param technology Plant technology (1 wind, 2 solar, 3 hydro, 4 other renewables); fixed at
    ///        the plant's first issuance.
    /// @param firstIndex First of the meter's anchored periods inside the month (MeterDataAnchor.sumWh).
    /// @param lastIndex Last of them (inclusive); the anchor checks they are all of the month's periods.
    /// @param certificates Certificates to issue (1 = 1 MWh); at most ⌊(anchored Wh + carried Wh) / 10^6⌋,
    ///        the rest (Wh) is carried into the next month. 0 carries the whole month.
    /// @param to Active account of the plant's organisation receiving the certificates.
    /// @return issuanceId Id of the issuance (0 when no certificate was issued).
    /// @dev Registry only (REGISTRY_ROLE, 注册登记机构: routine act; admitting a registry is
    ///      constitutional). Reverts with MeterDataAnchor's InvalidBatchRange / BatchOutsideWindow /
    ///      IncompleteBatchRange when the month has no anchored data or the indices do not cover it,
    ///      and with GenerationClaims' GenerationAlreadyClaimed when the plant's month backs CCER
    ///      (GEC or CCER, never both: docs/gec.md, rule UNCONFIRMED); the month is claimed as GEC
    ///      (record = issuanceId, 0 when the whole month was carried).
    function issue(
        bytes32 device,
        uint16 year,
        uint8 month,
        uint8 technology,
        uint32 firstIndex,
        uint32 lastIndex,
        uint64 certificates,
        address to
    ) external onlyActive(Roles.REGISTRY) returns (uint256 issuanceId) {
        bytes32 plantOrg = _checkIssue(device, year, month, technology, to);
        uint256 anchoredWh = _monthWh(device, plantOrg, year, month, firstIndex, lastIndex);
        uint64 first = _nextSerial;
        issuanceId = _issue(
            Issuance({
                device: device,
                plantOrg: plantOrg,
                firstSerial: first,
                lastSerial: first + certificates - 1,
                retired: 0,
                year: year,
                month: month,
                technology: technology
            }),
            certificates,
            to,
            anchoredWh
        );
        GenerationClaims.DeviceMonth[] memory claimed = new GenerationClaims.DeviceMonth[](1);
        claimed[0] = GenerationClaims.DeviceMonth(device, year, month);
        generationClaims.claim(claimed, uint64(issuanceId));
    }

    /// @notice Transfers certificates of one issuance from the caller to another admitted account.
    /// @param issuanceId Issuance id.
    /// @param to Account of an Active organisation (any role).
    /// @param quantity Certificates (MWh), > 0, at most the caller's balance.
    /// @dev DESIGN.md §4 (transfer only between admitted accounts); consent = the holder sends.
    function transfer(uint256 issuanceId, address to, uint256 quantity) external {
        if (!participants.isAdmitted(msg.sender)) revert NotAdmitted(msg.sender);
        if (!participants.isAdmitted(to)) revert NotAdmitted(to);
        _existing(issuanceId);
        _debit(issuanceId, msg.sender, quantity);
        _balances[issuanceId][to] += quantity;
        emit CertificatesTransferred(issuanceId, msg.sender, to, quantity);
    }

    /// @notice Retires (注销, final) the caller's certificates of one issuance against its
    ///         enterprise's purchased electricity of (year, month), for a beneficiary; the serials
    ///         retired are the issuance's next unretired ones.
    /// @param issuanceId Issuance id.
    /// @param quantity Certificates (MWh), > 0, at most the caller's balance.
    /// @param year Year of the purchased electricity (>= 1970).
    /// @param month Month 1..12 of the purchased electricity.
    /// @param beneficiary Hash of the beneficiary's name, or its organisation id (nonzero).
    /// @return retirementId Id of the retirement (from 1).
    /// @dev Caller: an Active enterprise account (重点排放单位 retiring for its own consumption).
    ///      Cap: the enterprise's covered Wh of (year, month) after this retirement, quantity × 10^6
    ///      added to coveredWh, must not exceed confirmedPurchaseWh (ExceedsConfirmedPurchase; a month
    ///      with no Confirmed purchased electricity is refused). Errors: NotActiveParticipant,
    ///      InvalidPeriod, MissingBeneficiary, UnknownIssuance, InvalidQuantity,
    ///      InsufficientCertificates, ExceedsConfirmedPurchase. Emits CertificatesRetired, PurchaseCovered.
    function retire(uint256 issuanceId, uint256 quantity, uint16 year, uint8 month, bytes32 beneficiary)
        external
        onlyActive(Roles.ENTERPRISE)
        returns (uint256 retirementId)
    {
        if (month == 0 || month > 12 || year < 1970) revert InvalidPeriod(year, month);
        if (beneficiary == bytes32(0)) revert MissingBeneficiary();
        Issuance storage iss = _existing(issuanceId);
        _debit(issuanceId, msg.sender, quantity);
        uint64 first = iss.firstSerial + iss.retired;
        uint64 last = first + uint64(quantity) - 1;
        iss.retired += uint64(quantity);
        bytes32 org = participants.orgOf(msg.sender);
        _cover(org, year, month, quantity);
        _retirements.push(Retirement({
            issuanceId: issuanceId,
            enterpriseOrg: org,
            beneficiary: beneficiary,
            holder: msg.sender,
            firstSerial: first,
            lastSerial: last,
            year: year,
            month: month
        }));
        retirementId = _retirements.length;
        emit CertificatesRetired(retirementId, issuanceId, org, msg.sender, year, month, first, last, beneficiary);
    }

    // ------------------------------------------------------------------ views

    /// @notice One issuance (ids from 1).
    function issuance(uint256 issuanceId) external view returns (Issuance memory) {
        return _existing(issuanceId);
    }

    /// @notice Number of issuances.
    function issuanceCount() external view returns (uint256) {
        return _issuances.length;
    }

    /// @notice One retirement (ids from 1).
    function retirement(uint256 retirementId) external view returns (Retirement memory) {
        if (retirementId == 0 || retirementId > _retirements.length) revert UnknownRetirement(retirementId);
        return _retirements[retirementId - 1];
    }

    /// @notice Number of retirements.
    function retirementCount() external view returns (uint256) {
        return _retirements.length;
    }

    /// @notice A plant's technology, last issued month and carried Wh.
    function plant(bytes32 device) external view returns (Plant memory) {
        return _plants[device];
    }

    /// @notice Certificates (MWh) of an issuance held by `account`.
    function balanceOf(uint256 issuanceId, address account) external view returns (uint256) {
        return _balances[issuanceId][account];
    }

    /// @notice Wh of `org`'s purchased electricity of (year, month) covered by its retirements
    ///         (Σ quantity × WH_PER_CERTIFICATE); never above confirmedPurchaseWh.
    function coveredWh(bytes32 org, uint16 year, uint8 month) external view returns (uint256) {
        return _coveredWh[org][year][month];
    }

    /// @notice `org`'s Confirmed purchased electricity of (year, month), Wh: Σ activityAmount of the
    ///         records `purchaseRecords` lists.
    /// @dev Only enrolled sources count (EmissionsRegistry.enrolledSources: the regulator's list of
    ///      the enterprise-year's meters, issue 12): a Confirmed record of a meter not enrolled does
    ///      not raise the cap until the meter is enrolled (a lower cap, never a higher one).
    function confirmedPurchaseWh(bytes32 org, uint16 year, uint8 month) public view returns (uint256 wh) {
        uint256[] memory ids = purchaseRecords(org, year, month);
        for (uint256 i = 0; i < ids.length; ++i) {
            wh += emissions.record(ids[i]).activityAmount;
        }
    }

    /// @notice The Confirmed EmissionsRegistry records of `org`'s purchased electricity of (year,
    ///         month) that the retire cap and the market-based line count: for each enrolled
    ///         PurchasedElectricity source (meter) of the enterprise-year whose month is confirmed,
    ///         the month's current record, if Confirmed. Empty for month 0 or > 12.
    /// @dev The month's current record of a confirmed month is the Confirmed one (EmissionsRegistry
    ///      never amends a Confirmed record); its status is checked again here.
    function purchaseRecords(bytes32 org, uint16 year, uint8 month) public view returns (uint256[] memory ids) {
        if (month == 0 || month > 12) return ids;
        EmissionsRegistry.EnrolledSource[] memory src = emissions.enrolledSources(org, year);
        uint256[] memory found = new uint256[](src.length);
        uint256 n;
        for (uint256 i = 0; i < src.length; ++i) {
            if (src[i].activityType != EmissionsRegistry.ActivityType.PurchasedElectricity) continue;
            if (src[i].confirmedMonths & (uint16(1) << month) == 0) continue;
            uint256 id = emissions.currentRecord(org, EmissionsRegistry.ActivityType.PurchasedElectricity, src[i].subject, year, month);
            if (id != 0 && emissions.record(id).status == EmissionsRegistry.Status.Confirmed) found[n++] = id;
        }
        ids = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) ids[i] = found[i];
    }

    /// @notice Market-based scope 2 of `org`'s purchased electricity of (year, month), kgCO2: the Wh
    ///         covered by its retired certificates at 0, the rest of its Confirmed purchased
    ///         electricity at the residual-mix factor RESIDUAL_EF of the enterprise-year's assigned
    ///         factor set.
    /// @return published Whether that set holds RESIDUAL_EF (false: no market-based figure exists;
    ///         no official Chinese residual-mix factor is in china_rules.md — UNCONFIRMED, docs/gec.md).
    /// @return kg ⌊(confirmedPurchaseWh − coveredWh) × RESIDUAL_EF / 10^7 + ½⌋ kgCO2
    ///         (EmissionsRegistry.emissionsKg, DESIGN.md §5); 0 when not published.
    /// @dev GHG Protocol Scope 2 Guidance (2015), market-based method; issue 13 "the market-based line
    ///      feeds the carbon account and claims" (NeutralityClaims reads it). coveredWh ≤
    ///      confirmedPurchaseWh holds: the retire cap, and Confirmed records are final.
    ///      Python: ledger/records/scope2.py `scope2_lines` (market_kg).
    function marketBasedKg(bytes32 org, uint16 year, uint8 month) external view returns (bool published, uint256 kg) {
        uint256 setId = emissions.assignedFactorSet(org, year);
        EmissionFactorRegistry factors = emissions.factors();
        if (setId == 0 || !factors.hasFactor(setId, FactorCodes.RESIDUAL_EF)) return (false, 0);
        (uint256 residual,) = factors.factor(setId, FactorCodes.RESIDUAL_EF);
        uint256 uncovered = confirmedPurchaseWh(org, year, month) - _coveredWh[org][year][month];
        return (true, emissions.emissionsKg(uncovered, residual));
    }

    /// @notice The serial the next issued certificate gets.
    function nextSerial() external view returns (uint64) {
        return _nextSerial;
    }

    // ------------------------------------------------------------------ internals

    /// @dev Period, meter, technology, order and recipient checks of `issue`; the plant's organisation.
    function _checkIssue(bytes32 device, uint16 year, uint8 month, uint8 technology, address to)
        private
        view
        returns (bytes32 plantOrg)
    {
        if (month == 0 || month > 12 || year < 1970) revert InvalidPeriod(year, month);
        uint16 quantityCode;
        (plantOrg,, quantityCode,,) = devices.device(device);
        if (quantityCode != GENERATION_QUANTITY_CODE) revert NotGenerationMeter(device, quantityCode);
        Plant storage p = _plants[device];
        _checkTechnology(device, p, technology);
        _checkOrder(device, p, year, month);
        if (participants.orgOf(to) != plantOrg || !participants.isActive(to, Roles.ENTERPRISE)) {
            revert RecipientNotPlantAccount(to, plantOrg);
        }
    }

    /// @dev Anchored Wh of the plant's local month (the owner's registered UTC offset, DESIGN.md §5).
    function _monthWh(bytes32 device, bytes32 plantOrg, uint16 year, uint8 month, uint32 firstIndex, uint32 lastIndex)
        private
        view
        returns (uint256 anchoredWh)
    {
        (,, int32 utcOffsetSeconds,) = participants.organisation(plantOrg);
        (uint64 start, uint64 end) = CalendarMonth.window(year, month, utcOffsetSeconds);
        (anchoredWh,,) = anchor.sumWh(device, firstIndex, lastIndex, start, end);
    }

    /// @dev Carry, record and credit one month's issuance (`iss` holds the serial range to use).
    function _issue(Issuance memory iss, uint64 certificates, address to, uint256 anchoredWh)
        private
        returns (uint256 issuanceId)
    {
        Plant storage p = _plants[iss.device];
        uint256 available = anchoredWh + p.carriedWh;
        uint256 usedWh = uint256(certificates) * WH_PER_CERTIFICATE;
        if (usedWh > available) revert ExceedsAnchoredEnergy(iss.device, certificates, available);
        uint64 carried = uint64(available - usedWh);
        p.carriedWh = carried;
        p.lastYear = iss.year;
        p.lastMonth = iss.month;
        p.technology = iss.technology;
        emit MonthIssued(iss.device, iss.year, iss.month, anchoredWh, certificates, carried);
        if (certificates != 0) {
            _issuances.push(iss);
            issuanceId = _issuances.length;
            _nextSerial = iss.firstSerial + certificates;
            _balances[issuanceId][to] = certificates;
            _emitIssued(issuanceId, iss, to);
        }
    }

    function _emitIssued(uint256 issuanceId, Issuance memory iss, address to) private {
        emit CertificatesIssued(
            issuanceId, iss.device, iss.plantOrg, iss.technology, iss.year, iss.month, iss.firstSerial, iss.lastSerial, to
        );
    }

    function _checkTechnology(bytes32 device, Plant storage p, uint8 technology) private view {
        if (technology == 0) revert InvalidTechnology(technology);
        if (p.technology != 0 && p.technology != technology) revert TechnologyMismatch(device, technology, p.technology);
    }

    function _checkOrder(bytes32 device, Plant storage p, uint16 year, uint8 month) private view {
        uint256 key = uint256(year) * 12 + month;
        uint256 last = uint256(p.lastYear) * 12 + p.lastMonth;
        if (p.lastMonth == 0) return;
        if (key == last) revert MonthAlreadyIssued(device, year, month);
        if (key < last) revert MonthBeforeLastIssued(device, year, month, p.lastYear, p.lastMonth);
    }

    /// @dev Adds quantity × 1 MWh to org's covered Wh of (year, month), capped by its Confirmed purchase.
    function _cover(bytes32 org, uint16 year, uint8 month, uint256 quantity) private {
        uint256 covered = _coveredWh[org][year][month] + quantity * WH_PER_CERTIFICATE;
        uint256 confirmed = confirmedPurchaseWh(org, year, month);
        if (covered > confirmed) revert ExceedsConfirmedPurchase(org, year, month, covered, confirmed);
        _coveredWh[org][year][month] = covered;
        emit PurchaseCovered(org, year, month, covered, confirmed);
    }

    function _debit(uint256 issuanceId, address holder, uint256 quantity) private {
        if (quantity == 0) revert InvalidQuantity();
        uint256 bal = _balances[issuanceId][holder];
        if (bal < quantity) revert InsufficientCertificates(issuanceId, holder, bal, quantity);
        _balances[issuanceId][holder] = bal - quantity;
    }

    function _existing(uint256 issuanceId) private view returns (Issuance storage) {
        if (issuanceId == 0 || issuanceId > _issuances.length) revert UnknownIssuance(issuanceId);
        return _issuances[issuanceId - 1];
    }
}
