// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ParticipantRegistry} from "./ParticipantRegistry.sol";
import {ParticipantGated} from "./access/ParticipantGated.sol";
import {EmissionsRegistry} from "./EmissionsRegistry.sol";
import {CCERRegistry} from "./CCERRegistry.sol";
import {GreenCertificates} from "./GreenCertificates.sol";
import {Roles} from "./lib/Roles.sol";

/// @title NeutralityClaims
/// @notice Carbon-neutrality claims (碳中和声明) of an enterprise, or of an event it organises, for
///         a period under a named standard (ISO 14068-1:2023 or PAS 2060), stating the emissions to
///         be offset and backed by CCER retirements (注销) recorded by CCERRegistry.
/// @dev Issue 13 "Neutrality claims"; docs/claims.md gives the rules and their sources.
///      Units: emissions in integer kgCO2 (DESIGN.md §5, as EmissionsRegistry); CCER units in whole
///      tCO2e (1 token = 1 tCO2e = 1000 kg), so a claim is covered when
///      Σ retired tCO2e × 1000 ≥ claimed kgCO2.
///      Rules enforced here:
///      - the claimed emissions are never lower than the Confirmed emissions of the records the claim
///        covers (the ledger's own figure; records of the claimant, Confirmed, inside the period),
///        with purchased electricity on its market-based line where the regulator published a
///        residual-mix factor (issue 13: "the market-based line feeds the carbon account and
///        claims"; GHG Protocol Scope 2 Guidance 2015): a monthly purchased-electricity record that
///        GreenCertificates counts (`purchaseRecords`) contributes its month's
///        `GreenCertificates.marketBasedKg` once per enterprise-month (certificates retired against
///        that month at 0, the rest at RESIDUAL_EF), and its location-based emissionsKg otherwise
///        (no RESIDUAL_EF in the enterprise-year's factor set, an annual record, a meter not
///        enrolled). The month's market-based figure covers all the month's counted purchases, so
///        a claim listing only some of them takes the whole month (never understated). The claim
///        stores the floor used (`confirmedKg`) and how many enterprise-months were taken
///        market-based (`marketBasedMonths`); the location-based figure is Σ emissionsKg of its
///        records (final once Confirmed), read from them;
///      - a retirement certificate backs it only if its holder is an account of the claimant's
///        organisation, and backs one claim only, ever (a withdrawn or invalidated claim does not
///        release its retirements: offsets are not re-used — ISO 14068-1 / PAS 2060 both require
///        that offsets are not double counted; releasing after withdrawal is UNCONFIRMED either way,
///        so the strict reading is taken). CCERRegistry never retires a serial twice, so one
///        certificate per claim means one serial range per claim;
///      - green electricity certificates (GEC) never back a claim: they lower market-based scope 2,
///        they are not offsets (issue 13; GHG Protocol Scope 2 Guidance) — only CCER retirements are
///        accepted here.
///      States: Declared → (optionally) Verified by the verifier a regulator assigned (with the hash
///      of its verification report) → Withdrawn (by the claimant) or Invalidated (by a regulator, with
///      a reason hash); a Declared claim can be withdrawn or invalidated directly.
contract NeutralityClaims is ParticipantGated {
    /// @notice The standard a claim is made under (the code stored and emitted).
    enum Standard {
        None,
        Iso14068_1, // ISO 14068-1:2023 Climate change management — Transition to net zero — Part 1: Carbon neutrality
        Pas2060 // PAS 2060:2014 Specification for the demonstration of carbon neutrality
    }

    /// @notice Lifecycle of a claim.
    enum Status {
        None,
        Declared,
        Verified,
        Withdrawn,
        Invalidated
    }

    /// @notice What a claimant declares.
    /// @dev `subject` 0: the organisation itself; otherwise keccak256 of the event's name (an
    ///      event claim). `periodStart`/`periodEnd` UTC seconds [start, end). `emissionsKg` the
    ///      emissions the claim offsets, kgCO2. `statementHash` SHA-256/keccak of the claim's
    ///      documentation (PAS 2060 qualifying explanatory statement / ISO 14068-1 claim report).
    ///      `recordIds` Confirmed EmissionsRegistry records covered (at least one for an
    ///      organisation claim). `certificateIds` CCERRegistry retirement certificates backing it.
    struct Declaration {
        bytes32 subject;
        uint8 standard;
        uint64 periodStart;
        uint64 periodEnd;
        uint256 emissionsKg;
        bytes32 statementHash;
        uint256[] recordIds;
        uint256[] certificateIds;
    }

    /// @notice A stored claim. `confirmedKg` is the Confirmed emissions of its records at declaration
    ///         with purchased electricity market-based where published (the floor of emissionsKg);
    ///         `marketBasedMonths` how many enterprise-months of purchased electricity entered
    ///         confirmedKg market-based;
    ///         `retiredTonnes` Σ tCO2e of its certificates. `declaredBlock` is the block of the
    ///         declaration; `closedAt` UTC seconds of withdrawal/invalidation (0 while open).
    ///         `verifier` the assigned verifier (0: none), `verificationHash` its report's hash
    ///         (0 until Verified).
    struct Claim {
        bytes32 claimant;
        bytes32 subject;
        Standard standard;
        Status status;
        uint16 marketBasedMonths; // packed with the enums and the first three times (one slot)
        uint64 periodStart;
        uint64 periodEnd;
        uint64 declaredAt;
        uint64 declaredBlock;
        uint64 closedAt;
        address declaredBy;
        uint256 emissionsKg;
        uint256 confirmedKg;
        uint256 retiredTonnes;
        bytes32 statementHash;
        bytes32 reasonHash;
        address verifier;
        bytes32 verificationHash;
    }

    /// @notice Most records, and most certificates, one claim may list (bounds the gas of a claim).
    uint256 public constant MAX_ITEMS = 64;

    /// @notice The emissions registry the covered records are read from.
    EmissionsRegistry public immutable emissions;
    /// @notice The CCER registry the retirement certificates are read from.
    CCERRegistry public immutable ccer;
    /// @notice The green-certificate contract the market-based scope 2 of purchased electricity is
    ///         read from (GEC never back a claim; they lower its market-based emissions).
    GreenCertificates public immutable certificates;

    /// @dev EmissionsRegistry.ActivityType.PurchasedElectricity.
    EmissionsRegistry.ActivityType private constant PURCHASED = EmissionsRegistry.ActivityType.PurchasedElectricity;

    Claim[] private _claims;
    mapping(uint256 claimId => uint256[]) private _records;
    mapping(uint256 claimId => uint256[]) private _certificates;
    mapping(uint256 certificateId => uint256 claimId) private _claimOfCertificate;

    /// @notice `code` is not a known Standard (1 ISO 14068-1, 2 PAS 2060).
    error UnknownStandard(uint8 code);
    /// @notice The period is empty or reversed.
    error InvalidPeriod(uint64 start, uint64 end);
    /// @notice A claim must state emissions > 0 kgCO2.
    error ZeroEmissions();
    /// @notice A claim must reference its documentation.
    error MissingStatement();
    /// @notice An organisation claim must cover at least one Confirmed record.
    error NoRecords();
    /// @notice A claim must be backed by at least one retirement.
    error NoRetirements();
    /// @notice More than MAX_ITEMS records or certificates.
    error TooManyItems(uint256 count, uint256 max);
    /// @notice Record `recordId` is listed twice.
    error DuplicateRecord(uint256 recordId);
    /// @notice Record `recordId` belongs to organisation `enterprise`, not to the claimant.
    error RecordNotClaimants(uint256 recordId, bytes32 enterprise, bytes32 claimant);
    /// @notice Record `recordId` is not Confirmed.
    error RecordNotConfirmed(uint256 recordId, EmissionsRegistry.Status status);
    /// @notice Record `recordId`'s period [start, end) is not inside the claim's period.
    error RecordOutsidePeriod(uint256 recordId, uint64 start, uint64 end);
    /// @notice The claim states fewer kgCO2 than the Confirmed records it covers.
    error EmissionsBelowConfirmed(uint256 claimedKg, uint256 confirmedKg);
    /// @notice Certificate `certificateId`'s holder `holder` is not an account of the claimant.
    error RetirementNotClaimants(uint256 certificateId, address holder, bytes32 claimant);
    /// @notice Certificate `certificateId` already backs claim `claimId`.
    error RetirementAlreadyClaimed(uint256 certificateId, uint256 claimId);
    /// @notice The retirements cover `coveredKg` kgCO2e, less than the claimed `claimedKg`.
    error InsufficientCoverage(uint256 claimedKg, uint256 coveredKg);
    /// @notice No claim `claimId`.
    error UnknownClaim(uint256 claimId);
    /// @notice `caller` is not an account of claim `claimId`'s claimant.
    error NotClaimant(address caller, uint256 claimId);
    /// @notice Claim `claimId` is `status`, not Declared.
    error ClaimNotDeclared(uint256 claimId, Status status);
    /// @notice Claim `claimId` is already `status` (Withdrawn or Invalidated).
    error ClaimClosed(uint256 claimId, Status status);
    /// @notice `caller` is not the verifier assigned to claim `claimId` (or is no longer Active).
    error NotAssignedVerifier(address caller, uint256 claimId);
    /// @notice A verification needs the hash of the verification report.
    error MissingReport();
    /// @notice An invalidation needs a reason hash.
    error MissingReason();

    /// @notice Claim `claimId` of organisation `claimant` (subject `subject`) declared: `claim` as
    ///         stored, covering records `recordIds` and backed by certificates `certificateIds`.
    event ClaimDeclared(
        uint256 indexed claimId,
        bytes32 indexed claimant,
        bytes32 indexed subject,
        Claim claim,
        uint256[] recordIds,
        uint256[] certificateIds
    );
    /// @notice A regulator account `by` assigned verifier `verifier` to claim `claimId`.
    event ClaimVerifierAssigned(uint256 indexed claimId, address indexed verifier, address by);
    /// @notice Claim `claimId` verified by its assigned verifier, report hash `reportHash`.
    event ClaimVerified(uint256 indexed claimId, address indexed verifier, bytes32 reportHash);
    /// @notice Claim `claimId` withdrawn by its claimant's account `by`.
    event ClaimWithdrawn(uint256 indexed claimId, bytes32 indexed claimant, address by);
    /// @notice Claim `claimId` invalidated by regulator account `by` for reason `reasonHash`.
    event ClaimInvalidated(uint256 indexed claimId, bytes32 indexed claimant, bytes32 reasonHash, address by);

    /// @param participantRegistry The deployment's ParticipantRegistry.
    /// @param emissionsRegistry The deployment's EmissionsRegistry (records covered).
    /// @param ccerRegistry The deployment's CCERRegistry (retirement certificates).
    /// @param greenCertificates The deployment's GreenCertificates (market-based scope 2).
    constructor(
        ParticipantRegistry participantRegistry,
        EmissionsRegistry emissionsRegistry,
        CCERRegistry ccerRegistry,
        GreenCertificates greenCertificates
    ) ParticipantGated(participantRegistry) {
        emissions = emissionsRegistry;
        ccer = ccerRegistry;
        certificates = greenCertificates;
        _claims.push(); // id 0 is "none"
    }

    /// @notice Declare a neutrality claim of the caller's organisation (an Active enterprise).
    /// @param d The declaration (see `Declaration`: emissions kgCO2, period UTC seconds).
    /// @return claimId The new claim's id (1, 2, …).
    /// @dev Errors: NotActiveParticipant, UnknownStandard, InvalidPeriod, ZeroEmissions,
    ///      MissingStatement, NoRecords, NoRetirements, TooManyItems, DuplicateRecord,
    ///      RecordNotClaimants, RecordNotConfirmed, RecordOutsidePeriod, EmissionsBelowConfirmed,
    ///      RetirementNotClaimants, RetirementAlreadyClaimed, InsufficientCoverage, and the
    ///      registries' UnknownRecord / UnknownCertificate. Emits ClaimDeclared.
    ///      ISO 14068-1:2023 and PAS 2060 both require the claimed footprint to be quantified for a
    ///      stated period and offset by retired credits; the floor at the Confirmed records is
    ///      this ledger's rule (a claim never understates what MRV confirmed).
    function declare(Declaration calldata d) external onlyActive(Roles.ENTERPRISE) returns (uint256 claimId) {
        if (d.standard == 0 || d.standard > uint8(Standard.Pas2060)) revert UnknownStandard(d.standard);
        if (d.periodStart >= d.periodEnd) revert InvalidPeriod(d.periodStart, d.periodEnd);
        if (d.emissionsKg == 0) revert ZeroEmissions();
        if (d.statementHash == bytes32(0)) revert MissingStatement();
        if (d.subject == bytes32(0) && d.recordIds.length == 0) revert NoRecords();
        if (d.certificateIds.length == 0) revert NoRetirements();
        if (d.recordIds.length > MAX_ITEMS) revert TooManyItems(d.recordIds.length, MAX_ITEMS);
        if (d.certificateIds.length > MAX_ITEMS) revert TooManyItems(d.certificateIds.length, MAX_ITEMS);
        bytes32 claimant = participants.orgOf(msg.sender);
        claimId = _claims.length;

        (uint256 confirmedKg, uint16 marketMonths) = _confirmedKg(d, claimant);
        if (d.emissionsKg < confirmedKg) revert EmissionsBelowConfirmed(d.emissionsKg, confirmedKg);
        uint256 tonnes = _bindRetirements(d.certificateIds, claimant, claimId);
        if (tonnes * 1000 < d.emissionsKg) revert InsufficientCoverage(d.emissionsKg, tonnes * 1000);

        Claim memory c = Claim({
            claimant: claimant,
            subject: d.subject,
            standard: Standard(d.standard),
            status: Status.Declared,
            marketBasedMonths: marketMonths,
            periodStart: d.periodStart,
            periodEnd: d.periodEnd,
            declaredAt: uint64(block.timestamp),
            declaredBlock: uint64(block.number),
            closedAt: 0,
            declaredBy: msg.sender,
            emissionsKg: d.emissionsKg,
            confirmedKg: confirmedKg,
            retiredTonnes: tonnes,
            statementHash: d.statementHash,
            reasonHash: bytes32(0),
            verifier: address(0),
            verificationHash: bytes32(0)
        });
        _claims.push(c);
        _records[claimId] = d.recordIds;
        _certificates[claimId] = d.certificateIds;
        emit ClaimDeclared(claimId, claimant, d.subject, c, d.recordIds, d.certificateIds);
    }

    /// @notice A regulator assigns (or re-assigns) Active verifier `verifier` to Declared claim
    ///         `claimId` (routine act, single signer, as EmissionsRegistry.assignVerifier).
    /// @dev Errors: NotRegulator, UnknownClaim, ClaimNotDeclared, NotActiveParticipant (verifier).
    ///      Emits ClaimVerifierAssigned.
    function assignVerifier(uint256 claimId, address verifier) external onlyRegulator {
        Claim storage c = _declared(claimId);
        _requireActive(verifier, Roles.VERIFIER);
        c.verifier = verifier;
        emit ClaimVerifierAssigned(claimId, verifier, msg.sender);
    }

    /// @notice The assigned verifier attests Declared claim `claimId` with the hash of its
    ///         verification report (ISO 14068-1 / PAS 2060 allow independent third-party
    ///         validation of a claim).
    /// @dev Errors: UnknownClaim, ClaimNotDeclared, NotAssignedVerifier, MissingReport. Emits ClaimVerified.
    function verify(uint256 claimId, bytes32 reportHash) external {
        Claim storage c = _declared(claimId);
        if (msg.sender != c.verifier || !_isActive(msg.sender, Roles.VERIFIER)) revert NotAssignedVerifier(msg.sender, claimId);
        if (reportHash == bytes32(0)) revert MissingReport();
        c.status = Status.Verified;
        c.verificationHash = reportHash;
        emit ClaimVerified(claimId, msg.sender, reportHash);
    }

    /// @notice Withdraw open (Declared or Verified) claim `claimId` (an account of its claimant). Its
    ///         retirements stay bound to it (they back no other claim).
    /// @dev Errors: UnknownClaim, NotClaimant, ClaimClosed. Emits ClaimWithdrawn.
    function withdraw(uint256 claimId) external {
        Claim storage c = _open(claimId);
        if (participants.orgOf(msg.sender) != c.claimant || !participants.isAdmitted(msg.sender)) {
            revert NotClaimant(msg.sender, claimId);
        }
        c.status = Status.Withdrawn;
        c.closedAt = uint64(block.timestamp);
        emit ClaimWithdrawn(claimId, c.claimant, msg.sender);
    }

    /// @notice A regulator invalidates open (Declared or Verified) claim `claimId` for the reason
    ///         whose hash is `reasonHash` (routine act, single signer: DESIGN.md "Governance").
    /// @dev Errors: NotRegulator, UnknownClaim, ClaimClosed, MissingReason. Emits ClaimInvalidated.
    function invalidate(uint256 claimId, bytes32 reasonHash) external onlyRegulator {
        Claim storage c = _open(claimId);
        if (reasonHash == bytes32(0)) revert MissingReason();
        c.status = Status.Invalidated;
        c.closedAt = uint64(block.timestamp);
        c.reasonHash = reasonHash;
        emit ClaimInvalidated(claimId, c.claimant, reasonHash, msg.sender);
    }

    /// @notice Claim `claimId`.
    /// @dev Errors: UnknownClaim.
    function claim(uint256 claimId) external view returns (Claim memory) {
        return _existing(claimId);
    }

    /// @notice The EmissionsRegistry record ids claim `claimId` covers.
    /// @dev Errors: UnknownClaim.
    function recordsOf(uint256 claimId) external view returns (uint256[] memory) {
        _existing(claimId);
        return _records[claimId];
    }

    /// @notice The CCERRegistry certificate ids backing claim `claimId`.
    /// @dev Errors: UnknownClaim.
    function retirementsOf(uint256 claimId) external view returns (uint256[] memory) {
        _existing(claimId);
        return _certificates[claimId];
    }

    /// @notice The claim certificate `certificateId` backs (0: none).
    function claimOfRetirement(uint256 certificateId) external view returns (uint256) {
        return _claimOfCertificate[certificateId];
    }

    /// @notice Number of claims (ids run 1 … claimCount).
    function claimCount() external view returns (uint256) {
        return _claims.length - 1;
    }

    /// @dev (floor kgCO2 with market-based purchased electricity where published, enterprise-months
    ///      taken market-based); see the contract's rules.
    function _confirmedKg(Declaration calldata d, bytes32 claimant)
        private
        view
        returns (uint256 total, uint16 marketMonths)
    {
        uint256 n = d.recordIds.length;
        uint256[] memory months = new uint256[](n); // year × 16 + month of the months taken market-based
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = d.recordIds[i];
            for (uint256 j = 0; j < i; ++j) {
                if (d.recordIds[j] == id) revert DuplicateRecord(id);
            }
            EmissionsRegistry.Record memory r = emissions.record(id);
            if (r.enterprise != claimant) revert RecordNotClaimants(id, r.enterprise, claimant);
            if (r.status != EmissionsRegistry.Status.Confirmed) revert RecordNotConfirmed(id, r.status);
            if (r.periodStart < d.periodStart || r.periodEnd > d.periodEnd) {
                revert RecordOutsidePeriod(id, r.periodStart, r.periodEnd);
            }
            (bool market, uint256 kg) = r.activityType == PURCHASED ? _marketBased(id, r, claimant) : (false, 0);
            if (!market) {
                total += r.emissionsKg;
                continue;
            }
            uint256 key = uint256(r.year) * 16 + r.month;
            bool seen;
            for (uint256 j = 0; j < marketMonths; ++j) {
                if (months[j] == key) seen = true;
            }
            if (!seen) {
                months[marketMonths++] = key;
                total += kg;
            }
        }
    }

    /// @dev Whether record `id` (purchased electricity of `claimant`) is counted by GreenCertificates
    ///      for its month and the month's market-based figure is published; that figure, kgCO2.
    function _marketBased(uint256 id, EmissionsRegistry.Record memory r, bytes32 claimant)
        private
        view
        returns (bool, uint256)
    {
        uint256[] memory counted = certificates.purchaseRecords(claimant, r.year, r.month);
        for (uint256 k = 0; k < counted.length; ++k) {
            if (counted[k] == id) return certificates.marketBasedKg(claimant, r.year, r.month);
        }
        return (false, 0);
    }

    function _bindRetirements(uint256[] calldata ids, bytes32 claimant, uint256 claimId)
        private
        returns (uint256 tonnes)
    {
        uint256 n = ids.length;
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = ids[i];
            uint256 other = _claimOfCertificate[id];
            if (other != 0) revert RetirementAlreadyClaimed(id, other);
            (CCERRegistry.Certificate memory cert,) = ccer.certificate(id);
            if (participants.orgOf(cert.holder) != claimant) revert RetirementNotClaimants(id, cert.holder, claimant);
            _claimOfCertificate[id] = claimId;
            tonnes += cert.amount;
        }
    }

    function _existing(uint256 claimId) private view returns (Claim storage c) {
        if (claimId == 0 || claimId >= _claims.length) revert UnknownClaim(claimId);
        return _claims[claimId];
    }

    function _open(uint256 claimId) private view returns (Claim storage c) {
        c = _existing(claimId);
        if (c.status == Status.Withdrawn || c.status == Status.Invalidated) revert ClaimClosed(claimId, c.status);
    }

    function _declared(uint256 claimId) private view returns (Claim storage c) {
        c = _existing(claimId);
        if (c.status != Status.Declared) revert ClaimNotDeclared(claimId, c.status);
    }
}
