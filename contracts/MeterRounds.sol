// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ParticipantRegistry} from "./ParticipantRegistry.sol";
import {ParticipantGated} from "./access/ParticipantGated.sol";
import {DeviceRegistry} from "./DeviceRegistry.sol";
import {MeterDataAnchor} from "./MeterDataAnchor.sol";
import {CalendarMonth} from "./lib/CalendarMonth.sol";
import {Roles} from "./lib/Roles.sol";

/// @title MeterRounds
/// @notice Anchors one Merkle tree per oracle round across all devices: the tree holds every
///         reading of the round (the leaf of MeterDataAnchor.readingLeaf, device-signature hash
///         included) and one domain-separated totals leaf per (device, month) stating the
///         device's month-to-date figures at the end of the round. One record per round, no
///         per-device storage, so 100 meters × 1,440 readings share one ≈ 143k-gas anchor. A
///         meter-month is proved with ONE Merkle proof of its totals leaf in the current round
///         that contains the month's end (`monthTotals`); a reading with its device signature and
///         a proof against its round (`verifyReading`).
/// @dev docs/meter-rounds.md (issue 12, gas per reading). The oracle set, its f, quorum
///      (⌊(n + f)/2⌋ + 1, OCR2) and config digest are MeterDataAnchor's — one set, one
///      constitutional act to change it; a round report signed for another set is refused
///      (StaleConfigDigest). Rounds tile time: each new round starts where the last one ended
///      (an oracle outage makes the next round longer, never leaves a hole), so every instant
///      after the first round lies in exactly one round and a month's closing round is unique.
///      Corrections supersede a round with a reason and restate its whole tree (same period).
///      Device calibration and the readings' checks are the oracles' (each reading was checked
///      by every signing oracle before it entered the tree); on-chain checks per device would
///      cost one external call per device per round.
contract MeterRounds is ParticipantGated, EIP712 {
    /// @notice A round report as signed by the oracles (EIP-712 type `RoundReport`).
    /// @dev start/end UTC seconds; devices = distinct devices with leaves in the tree; readings =
    ///      reading leaves; root = StandardMerkleTree root over reading and totals leaves;
    ///      supersedes = 0 for a new round, else bytes32(uint256(oldRoundId)).
    struct RoundReport {
        bytes32 configDigest;
        uint64 start;
        uint64 end;
        uint32 devices;
        uint64 readings;
        bytes32 root;
        bytes32 supersedes;
    }

    /// @notice A device's figures for one calendar month (owner's clock), month-to-date at the end
    ///         of the round whose tree holds this leaf.
    /// @dev dayMask bit d-1 set = local day d of the month has at least one reading (up to the
    ///      round's end); readings = readings of the month so far; monthWh = Σ of the month's
    ///      readings in Wh (⌊Σ(W × s)/3600 + ½⌋, DESIGN.md §5); periodWh = the part within this round.
    struct DeviceTotals {
        bytes32 device;
        uint16 year;
        uint8 month;
        uint32 dayMask;
        uint32 readings;
        uint64 monthWh;
        uint64 periodWh;
    }

    /// @notice An anchored round as `round(id)` returns it.
    struct Round {
        bytes32 root;
        uint64 start;
        uint64 end;
        uint32 devices;
        uint64 readings;
        uint32 supersedes;
        uint32 supersededBy;
    }

    /// @dev A round as stored: 2 slots. Bounds: start/end uint40, readings uint48, ids uint32;
    ///      larger values are refused (OpenZeppelin SafeCast errors).
    struct StoredRound {
        bytes32 root;
        uint40 start;
        uint40 end;
        uint32 devices;
        uint48 readings;
        uint32 supersedes;
        uint32 supersededBy;
    }

    /// @notice A meter-month proved by `proveMonth` (one slot): the month's Wh, readings and days
    ///         without a reading (bit d-1 = day d, days before the first round included), and the
    ///         round whose tree held the totals leaf (0 = not proved).
    struct ProvenMonth {
        uint64 totalWh;
        uint32 readings;
        uint32 missingMask;
        uint32 roundId;
    }

    /// @notice keccak256 of the EIP-712 RoundReport type string.
    bytes32 public constant ROUND_REPORT_TYPEHASH = keccak256(
        "RoundReport(bytes32 configDigest,uint64 start,uint64 end,uint32 devices,uint64 readings,bytes32 root,bytes32 supersedes)"
    );
    /// @notice First word of every totals leaf's encoding (domain separation from reading leaves,
    ///         which start with a device id and have nine words).
    bytes32 public constant TOTALS_LEAF_TAG = keccak256("CarbonLedger.MeterRounds.DeviceTotals.v1");

    /// @notice The anchor whose oracle set signs rounds and whose EIP-712 domain devices sign readings in.
    MeterDataAnchor public immutable anchor;
    /// @notice The device registry (device signer, owner).
    DeviceRegistry public immutable devices;

    uint32 private _roundCount;
    uint40 private _lastEnd;
    mapping(uint256 roundId => StoredRound) private _rounds;
    /// @dev keccak256(abi.encode(device, year, month)) → the proved month.
    mapping(bytes32 monthKey => ProvenMonth) private _proven;

    /// @notice The caller is not a member of the anchor's current oracle set.
    error NotOracle(address caller);
    /// @notice The report was signed for another oracle set, chain or deployment.
    error StaleConfigDigest(bytes32 got, bytes32 expected);
    /// @notice The report's `supersedes` field does not match the operation.
    error SupersedesMismatch(bytes32 got, bytes32 expected);
    /// @notice start must be < end.
    error InvalidPeriod(uint64 start, uint64 end);
    /// @notice A round must start where the last one ended (rounds tile time).
    error RoundNotContiguous(uint64 start, uint64 lastEnd);
    /// @notice The round ends after the current block time.
    error PeriodInFuture(uint64 end, uint256 blockTimestamp);
    /// @notice A round must hold at least one reading.
    error EmptyRound();
    /// @notice A signature recovers to an address outside the current oracle set.
    error UnknownSigner(address signer);
    /// @notice Two signatures recover to the same oracle.
    error DuplicateSigner(address signer);
    /// @notice Fewer valid oracle signatures than the quorum ⌊(n + f)/2⌋ + 1.
    error QuorumNotReached(uint256 got, uint256 needed);
    /// @notice No round with this id.
    error UnknownRound(uint256 roundId);
    /// @notice The round was already superseded by `supersededBy`.
    error AlreadySuperseded(uint256 roundId, uint256 supersededBy);
    /// @notice A correcting round must keep the period of the round it supersedes.
    error ReportDoesNotMatchRound(uint256 roundId);
    /// @notice A correction needs a reason (hash of the reason document).
    error MissingReason();
    /// @notice Month must be 1..12.
    error InvalidMonth(uint8 month);
    /// @notice The round does not contain the end of the device's month (monthEnd, UTC seconds):
    ///         only the month's closing round states its final totals.
    error NotClosingRound(uint256 roundId, uint64 monthEnd);
    /// @notice The totals leaf is not in the round's tree.
    error TotalsNotInRound(uint256 roundId, bytes32 leaf);
    /// @notice The caller is not an Active enterprise account of the device's owner.
    error NotDeviceOwner(bytes32 device, address caller);
    /// @notice The month is already proved against `roundId`, which is still current.
    error MonthAlreadyProven(bytes32 device, uint16 year, uint8 month, uint256 roundId);
    /// @notice No proof of the month's totals was stored (`proveMonth`).
    error MonthNotProven(bytes32 device, uint16 year, uint8 month);
    /// @notice The round the month was proved against has been superseded: prove it again
    ///         against `currentRoundId`.
    error MonthProofSuperseded(bytes32 device, uint16 year, uint8 month, uint256 roundId, uint256 currentRoundId);

    /// @notice A round was anchored (also for a correcting round). `signatures` = the 65-byte
    ///         signatures (r ‖ s ‖ v) concatenated, each recovering from `reportDigest` to a
    ///         distinct oracle of the set; emitted, never stored.
    event RoundAnchored(
        uint256 indexed roundId,
        uint64 indexed start,
        uint64 end,
        uint32 devices,
        uint64 readings,
        bytes32 root,
        bytes32 reportDigest,
        bytes signatures
    );
    /// @notice A meter-month's totals were proved against round `roundId` and stored (Wh, readings,
    ///         days without a reading).
    event MonthProven(
        bytes32 indexed device,
        uint16 indexed year,
        uint8 indexed month,
        uint256 roundId,
        uint64 totalWh,
        uint32 readings,
        uint32 missingMask
    );
    /// @notice A round was superseded by a correcting round.
    event RoundSuperseded(uint256 indexed oldRoundId, uint256 indexed newRoundId, bytes32 reasonHash);

    /// @param participantRegistry The deployed ParticipantRegistry.
    /// @param deviceRegistry The deployed DeviceRegistry.
    /// @param meterDataAnchor The deployed MeterDataAnchor (oracle set, reading domain).
    constructor(ParticipantRegistry participantRegistry, DeviceRegistry deviceRegistry, MeterDataAnchor meterDataAnchor)
        EIP712("CarbonLedger MeterRounds", "1")
        ParticipantGated(participantRegistry)
    {
        devices = deviceRegistry;
        anchor = meterDataAnchor;
    }

    // ------------------------------------------------------------------ anchoring

    /// @notice Anchors the next round [start, end): its tree of readings and totals leaves.
    /// @param report The round report (supersedes = 0; start = the last round's end, any start for
    ///        the first round; end <= now; readings >= 1).
    /// @param signatures 65-byte EIP-712 signatures of the report by distinct oracles of the
    ///        anchor's current set (>= its quorum).
    /// @return roundId Sequential id starting at 1.
    /// @dev Caller: a member of the anchor's current oracle set (OCR2 transmitter).
    function anchorRound(RoundReport calldata report, bytes[] calldata signatures) external returns (uint256 roundId) {
        if (report.supersedes != bytes32(0)) revert SupersedesMismatch(report.supersedes, bytes32(0));
        if (report.start >= report.end) revert InvalidPeriod(report.start, report.end);
        if (report.readings == 0) revert EmptyRound();
        if (report.end > block.timestamp) revert PeriodInFuture(report.end, block.timestamp);
        uint32 count = _roundCount;
        if (count != 0 && report.start != _lastEnd) revert RoundNotContiguous(report.start, _lastEnd);
        bytes32 digest = _verifyQuorum(report, signatures);
        roundId = ++count;
        _roundCount = count;
        _lastEnd = SafeCast.toUint40(report.end);
        _store(roundId, report, 0);
        _emitAnchored(roundId, report, digest, signatures);
    }

    /// @notice Corrects a round with a new quorum-signed report of the same period (e.g. late
    ///         readings, a re-stated month-to-date); the old round stays on record, linked.
    /// @param roundId The round to correct (must be the latest of its chain).
    /// @param report The correcting report (same start/end; supersedes = bytes32(roundId)).
    /// @param signatures Oracle signatures of the correcting report (>= quorum).
    /// @param reasonHash Hash of the correction's reason document (nonzero).
    /// @return newRoundId Id of the correcting round.
    /// @dev Caller: a member of the anchor's current oracle set. A correction of an earlier month
    ///      restates the totals of every later round of that month up to its closing round
    ///      (the oracles supersede those too); `monthTotals` reads only the closing round.
    function supersedeRound(uint256 roundId, RoundReport calldata report, bytes[] calldata signatures, bytes32 reasonHash)
        external
        returns (uint256 newRoundId)
    {
        StoredRound storage old = _existingRound(roundId);
        if (old.supersededBy != 0) revert AlreadySuperseded(roundId, old.supersededBy);
        if (report.supersedes != bytes32(roundId)) revert SupersedesMismatch(report.supersedes, bytes32(roundId));
        if (report.start != old.start || report.end != old.end) revert ReportDoesNotMatchRound(roundId);
        if (report.readings == 0) revert EmptyRound();
        if (reasonHash == bytes32(0)) revert MissingReason();
        bytes32 digest = _verifyQuorum(report, signatures);
        newRoundId = ++_roundCount;
        _store(newRoundId, report, roundId);
        old.supersededBy = uint32(newRoundId);
        emit RoundSuperseded(roundId, newRoundId, reasonHash);
        _emitAnchored(newRoundId, report, digest, signatures);
    }

    // ------------------------------------------------------------------ views

    /// @notice An anchored round; reverts UnknownRound if it does not exist.
    /// @param roundId Round id.
    function round(uint256 roundId) external view returns (Round memory) {
        StoredRound storage r = _existingRound(roundId);
        return Round({
            root: r.root,
            start: r.start,
            end: r.end,
            devices: r.devices,
            readings: r.readings,
            supersedes: r.supersedes,
            supersededBy: r.supersededBy
        });
    }

    /// @notice Number of rounds ever anchored (ids 1..roundCount()), corrections included.
    function roundCount() external view returns (uint256) {
        return _roundCount;
    }

    /// @notice End (UTC seconds) of the last original round: where the next round must start (0 before the first).
    function lastRoundEnd() external view returns (uint64) {
        return _lastEnd;
    }

    /// @notice The latest round of the supersede chain starting at `roundId`.
    /// @param roundId Round id; reverts UnknownRound if it does not exist.
    function currentRound(uint256 roundId) external view returns (uint256) {
        _existingRound(roundId);
        return _current(roundId);
    }

    /// @notice EIP-712 digest the oracles sign for `report` (domain "CarbonLedger MeterRounds", "1").
    /// @param report Round report.
    function reportDigest(RoundReport calldata report) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(ROUND_REPORT_TYPEHASH, report)));
    }

    /// @notice StandardMerkleTree leaf of a device's month totals:
    ///         keccak256(bytes.concat(keccak256(abi.encode(TOTALS_LEAF_TAG, device, year, month,
    ///         dayMask, readings, monthWh, periodWh)))).
    /// @param totals The device's month totals.
    function totalsLeaf(DeviceTotals calldata totals) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(TOTALS_LEAF_TAG, totals))));
    }

    /// @notice A device's figures for a calendar month, proved by one Merkle proof of its totals
    ///         leaf in the month's closing round.
    /// @param roundId A round whose current correction contains the month's end (owner's clock):
    ///        start < monthEnd <= end; the latest of its chain is read.
    /// @param totals The device's totals leaf of that month in that round.
    /// @param proof StandardMerkleTree proof of `totalsLeaf(totals)` in the current round's tree.
    /// @return totalWh The month's energy, Wh.
    /// @return readings The month's readings.
    /// @return missingMask Days of the month (bit d-1 = day d) with no reading, or starting before
    ///         the first round (not anchored at all).
    /// @dev Errors: UnknownRound, InvalidMonth, NotClosingRound, TotalsNotInRound. The month window
    ///      is the owner's calendar month (CalendarMonth.window with the organisation's UTC offset).
    function monthTotals(uint256 roundId, DeviceTotals calldata totals, bytes32[] calldata proof)
        external
        view
        returns (uint64 totalWh, uint32 readings, uint32 missingMask)
    {
        (, missingMask) = _verifyTotals(roundId, totals, proof);
        return (totals.monthWh, totals.readings, missingMask);
    }

    /// @notice Proves a meter-month's totals (as `monthTotals`) and stores them once, so that
    ///         EmissionsRegistry.recordPurchasedElectricityFromRounds reads the month by `monthWh`.
    /// @param roundId A round whose current correction closes the month (see monthTotals).
    /// @param totals The device's totals leaf of that month in that round.
    /// @param proof StandardMerkleTree proof of `totalsLeaf(totals)` in the current round's tree.
    /// @return totalWh The month's energy, Wh (as stored).
    /// @dev Caller: an Active ENTERPRISE account of the device's owner (NotDeviceOwner), the party
    ///      whose record needs the month. Stored once per (device, year, month): proving again is
    ///      refused (MonthAlreadyProven) unless the round it was proved against has since been
    ///      superseded, and then the new proof (against the correcting round) replaces it.
    ///      missingMask also sets the days that start before the first round (not anchored at
    ///      all), as EmissionsRegistry's batch path counts days no batch covers
    ///      (docs/meter-rounds.md "Recording a month from rounds"). Errors: NotDeviceOwner,
    ///      MonthAlreadyProven, UnknownRound, InvalidMonth, NotClosingRound, TotalsNotInRound.
    function proveMonth(uint256 roundId, DeviceTotals calldata totals, bytes32[] calldata proof)
        external
        returns (uint64 totalWh)
    {
        (bytes32 ownerOrg,,,,) = devices.device(totals.device);
        if (!participants.isActive(msg.sender, Roles.ENTERPRISE) || participants.orgOf(msg.sender) != ownerOrg) {
            revert NotDeviceOwner(totals.device, msg.sender);
        }
        ProvenMonth storage p = _proven[_monthKey(totals.device, totals.year, totals.month)];
        uint256 old = p.roundId;
        if (old != 0 && _current(old) == old) revert MonthAlreadyProven(totals.device, totals.year, totals.month, old);
        (uint256 id, uint32 missingMask) = _verifyTotals(roundId, totals, proof);
        totalWh = totals.monthWh;
        _proven[_monthKey(totals.device, totals.year, totals.month)] =
            ProvenMonth(totalWh, totals.readings, missingMask, uint32(id));
        emit MonthProven(totals.device, totals.year, totals.month, id, totalWh, totals.readings, missingMask);
    }

    /// @notice The proved figures of a meter-month as stored by `proveMonth` (all zero: not proved;
    ///         the round may since have been superseded, see `monthWh`).
    /// @param device Device id.
    /// @param year Calendar year (owner's clock).
    /// @param month 1..12.
    function provenMonth(bytes32 device, uint16 year, uint8 month) external view returns (ProvenMonth memory) {
        return _proven[_monthKey(device, year, month)];
    }

    /// @notice The month's Wh, readings and days without a reading as proved by `proveMonth`,
    ///         only while the round it was proved against is current.
    /// @param device Device id.
    /// @param year Calendar year (owner's clock).
    /// @param month 1..12.
    /// @return totalWh The month's energy, Wh.
    /// @return readings The month's readings.
    /// @return missingMask Days (bit d-1 = day d) without a reading or before the first round.
    /// @dev Read by EmissionsRegistry (recording and confirm()). Errors: MonthNotProven,
    ///      MonthProofSuperseded (a correction of the closing round restated the month: prove again).
    function monthWh(bytes32 device, uint16 year, uint8 month)
        external
        view
        returns (uint64 totalWh, uint32 readings, uint32 missingMask)
    {
        ProvenMonth storage p = _proven[_monthKey(device, year, month)];
        uint256 id = p.roundId;
        if (id == 0) revert MonthNotProven(device, year, month);
        uint256 current = _current(id);
        if (current != id) revert MonthProofSuperseded(device, year, month, id, current);
        return (p.totalWh, p.readings, p.missingMask);
    }

    /// @notice Whether `reading`, signed by its device, belongs to round `roundId`: the signature
    ///         recovers to the device's registered signing key (MeterDataAnchor's EIP-712 domain),
    ///         [reading.start, reading.end) lies inside the round, and the Merkle proof of
    ///         MeterDataAnchor.readingLeaf(reading, keccak256(signature)) leads to the round's root.
    /// @param roundId Round id; reverts UnknownRound if it does not exist.
    /// @param reading The reading.
    /// @param signature The device's 65-byte EIP-712 signature of the reading.
    /// @param proof StandardMerkleTree proof (sibling hashes, leaf to root).
    function verifyReading(
        uint256 roundId,
        MeterDataAnchor.Reading calldata reading,
        bytes calldata signature,
        bytes32[] calldata proof
    ) external view returns (bool) {
        StoredRound storage r = _existingRound(roundId);
        if (reading.start >= reading.end || reading.start < r.start || reading.end > r.end) return false;
        (, address deviceSigner,,,) = devices.device(reading.device);
        (address got, ECDSA.RecoverError err,) = ECDSA.tryRecover(anchor.readingDigest(reading), signature);
        if (err != ECDSA.RecoverError.NoError || got != deviceSigner) return false;
        return MerkleProof.verifyCalldata(proof, r.root, anchor.readingLeaf(reading, keccak256(signature)));
    }

    // ------------------------------------------------------------------ internals

    /// @dev OCR2 with the anchor's set: the caller must be in the set (transmitter), the report
    ///      must carry the set's config digest, and its signatures must recover to >= quorum
    ///      distinct members (the set was checked Active when configured, see MeterDataAnchor).
    function _verifyQuorum(RoundReport calldata report, bytes[] calldata signatures) private view returns (bytes32 digest) {
        (address[] memory set, uint8 quorum,) = anchor.oracles();
        if (_indexOf(set, msg.sender) == 0) revert NotOracle(msg.sender);
        bytes32 expected = anchor.configDigest();
        if (report.configDigest != expected) revert StaleConfigDigest(report.configDigest, expected);
        uint256 n = signatures.length;
        if (n < quorum) revert QuorumNotReached(n, quorum);
        digest = reportDigest(report);
        uint256 seen;
        for (uint256 i = 0; i < n; ++i) {
            address signer = ECDSA.recover(digest, signatures[i]);
            uint256 index = _indexOf(set, signer);
            if (index == 0) revert UnknownSigner(signer);
            uint256 bit = uint256(1) << (index - 1);
            if (seen & bit != 0) revert DuplicateSigner(signer);
            seen |= bit;
        }
    }

    /// @dev The checks of monthTotals / proveMonth: returns the current round id and the days
    ///      without a reading (all days & ~dayMask) or starting before the first round.
    function _verifyTotals(uint256 roundId, DeviceTotals calldata totals, bytes32[] calldata proof)
        private
        view
        returns (uint256 id, uint32 missingMask)
    {
        _existingRound(roundId);
        id = _current(roundId);
        if (totals.month == 0 || totals.month > 12) revert InvalidMonth(totals.month);
        (bytes32 ownerOrg,,,,) = devices.device(totals.device);
        (,, int32 offset,) = participants.organisation(ownerOrg);
        (uint64 monthStart, uint64 monthEnd) = CalendarMonth.window(totals.year, totals.month, offset);
        StoredRound storage r = _rounds[id];
        if (r.start >= monthEnd || r.end < monthEnd) revert NotClosingRound(id, monthEnd);
        bytes32 leaf = totalsLeaf(totals);
        if (!MerkleProof.verifyCalldata(proof, r.root, leaf)) revert TotalsNotInRound(id, leaf);
        uint256 daysInMonth = (monthEnd - monthStart) / 86_400;
        uint256 unanchored;
        uint256 first = _rounds[1].start;
        if (first > monthStart) unanchored = (first - monthStart + 86_399) / 86_400;
        if (unanchored > daysInMonth) unanchored = daysInMonth;
        missingMask = uint32(((uint256(1) << daysInMonth) - 1) & ~uint256(totals.dayMask))
            | uint32((uint256(1) << unanchored) - 1);
    }

    function _monthKey(bytes32 device, uint16 year, uint8 month) private pure returns (bytes32) {
        return keccak256(abi.encode(device, year, month));
    }

    function _indexOf(address[] memory set, address a) private pure returns (uint256) {
        for (uint256 i = 0; i < set.length; ++i) {
            if (set[i] == a) return i + 1;
        }
        return 0;
    }

    function _store(uint256 roundId, RoundReport calldata report, uint256 supersedes) private {
        _rounds[roundId] = StoredRound({
            root: report.root,
            start: SafeCast.toUint40(report.start),
            end: SafeCast.toUint40(report.end),
            devices: report.devices,
            readings: SafeCast.toUint48(report.readings),
            supersedes: uint32(supersedes),
            supersededBy: 0
        });
    }

    function _emitAnchored(uint256 roundId, RoundReport calldata report, bytes32 digest, bytes[] calldata signatures)
        private
    {
        uint256 n = signatures.length;
        bytes memory packed = new bytes(65 * n);
        for (uint256 i = 0; i < n; ++i) {
            bytes calldata sig = signatures[i]; // 65 bytes each (ECDSA.recover refused other lengths)
            assembly ("memory-safe") {
                calldatacopy(add(add(packed, 32), mul(i, 65)), sig.offset, 65)
            }
        }
        emit RoundAnchored(roundId, report.start, report.end, report.devices, report.readings, report.root, digest, packed);
    }

    function _existingRound(uint256 roundId) private view returns (StoredRound storage r) {
        r = _rounds[roundId];
        if (r.end == 0) revert UnknownRound(roundId);
    }

    function _current(uint256 roundId) private view returns (uint256 id) {
        id = roundId;
        uint256 next = _rounds[id].supersededBy;
        while (next != 0) {
            id = next;
            next = _rounds[id].supersededBy;
        }
    }
}
