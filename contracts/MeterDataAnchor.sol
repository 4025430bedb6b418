// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ParticipantRegistry} from "./ParticipantRegistry.sol";
import {ParticipantGated} from "./access/ParticipantGated.sol";
import {DeviceRegistry} from "./DeviceRegistry.sol";
import {Roles} from "./lib/Roles.sol";
import {CalendarMonth} from "./lib/CalendarMonth.sol";

/// @title MeterDataAnchor
/// @notice Anchors batches of device-signed meter readings: per (device, period) the Merkle root of
///         the readings, their count and the energy total, accepted only with EIP-712 signatures of
///         a quorum of the registered oracles. Anyone can later prove that a reading belongs to an
///         anchored batch, and sum a device's anchored energy over a window.
/// @dev DESIGN.md §4 MeterDataAnchor and §7 (meter data path). Quorum as OCR2 states it
///      (Chainlink OCR2 `OCR2Base.setConfig`/`transmit`): n >= 3f + 1 oracles with f >= 1, and a
///      report needs ⌊(n + f)/2⌋ + 1 distinct signatures, so two quorums share at least f + 1
///      oracles — at least one honest — and two conflicting reports can never both be accepted.
///      The config digest commits to chain id, contract, oracle-set version, a per-deployment salt,
///      the signer set and f. The Merkle leaf carries the hash of the device's signature, so a
///      proof shows the device signed the reading. Periods of one device never overlap, are kept
///      in time order whatever order they arrive in, and never cross a month of the owner's clock;
///      corrections supersede with a reason (and may move the period), never erase; signatures
///      are verified and emitted, never stored (gas). Issue 12.
contract MeterDataAnchor is ParticipantGated, EIP712 {
    /// @notice A batch report as signed by the oracles (EIP-712 type `BatchReport`).
    /// @dev totalWh = ⌊Σ(W × s)/3600 + ½⌋ over the batch's readings (DESIGN.md §5);
    ///      root = OpenZeppelin StandardMerkleTree root of the readings (COMMON.md leaf encoding);
    ///      supersedes = 0 for a new batch, else bytes32(uint256(oldBatchId)).
    struct BatchReport {
        bytes32 configDigest;
        bytes32 device;
        uint64 start;
        uint64 end;
        uint32 count;
        uint64 totalWh;
        bytes32 root;
        bytes32 supersedes;
    }

    /// @notice One device-signed reading (EIP-712 type `Reading`): average active power `value`
    ///         × 10^scale W over [start, end) UTC seconds for quantityCode 1.
    struct Reading {
        bytes32 device;
        uint64 sequence;
        uint64 start;
        uint64 end;
        uint16 quantityCode;
        int64 value;
        int8 scale;
        uint32 flags;
    }

    /// @notice An anchored batch as `batch(id)` returns it; start/end in UTC seconds, totalWh in Wh.
    /// @dev supersedes = 0 for an original batch, else the batch it corrects.
    struct Batch {
        bytes32 device;
        bytes32 root;
        uint64 start;
        uint64 end;
        uint32 count;
        uint64 totalWh;
        uint32 supersedes;
        uint32 supersededBy;
    }

    /// @dev A batch as stored: 2 slots (root; the rest). The device is stored once per device
    ///      (`deviceNo`, numbered from 1 at its first batch). Bounds: start/end uint40 (year 36812),
    ///      count uint24 (16.7 M readings), totalWh uint56 (72 TWh), ids uint32 (sequential from 1);
    ///      a report beyond them is refused (OpenZeppelin SafeCast errors).
    struct StoredBatch {
        bytes32 root;
        uint40 start;
        uint40 end;
        uint24 count;
        uint56 totalWh;
        uint32 supersedes;
        uint32 supersededBy;
        uint32 deviceNo;
    }

    /// @dev Per device, one slot: its number, how many periods it has and where the last one ends
    ///      (the append check of `anchor` reads nothing else).
    struct DeviceState {
        uint32 no;
        uint32 periods;
        uint40 lastEnd;
    }

    /// @dev The oracle configuration and the batch counter, one slot (read once per anchor).
    struct Config {
        uint64 version;
        uint8 n;
        uint8 f;
        uint8 quorum;
        uint32 batchCount;
    }

    /// @notice keccak256 of the EIP-712 Reading type string (COMMON.md).
    bytes32 public constant READING_TYPEHASH = keccak256(
        "Reading(bytes32 device,uint64 sequence,uint64 start,uint64 end,uint16 quantityCode,int64 value,int8 scale,uint32 flags)"
    );
    /// @notice keccak256 of the EIP-712 BatchReport type string (COMMON.md).
    bytes32 public constant BATCH_REPORT_TYPEHASH = keccak256(
        "BatchReport(bytes32 configDigest,bytes32 device,uint64 start,uint64 end,uint32 count,uint64 totalWh,bytes32 root,bytes32 supersedes)"
    );
    /// @notice Largest oracle set (one bit per oracle in a uint256 duplicate-signer bitmap; n is uint8).
    uint256 public constant MAX_ORACLES = 255;

    /// @notice The device registry (device usability, calibration, owner's clock).
    DeviceRegistry public immutable devices;
    /// @notice Random per-deployment salt bound into the config digest.
    bytes32 public immutable salt;

    Config private _config;
    bytes32 private _configDigest;
    address[] private _oracles;
    mapping(uint64 version => mapping(address oracle => uint256 indexPlusOne)) private _oracleIndex;
    /// @dev version => organisation => already has an oracle in that set.
    mapping(uint64 version => mapping(bytes32 orgId => bool)) private _oracleOrgInSet;

    mapping(uint256 batchId => StoredBatch) private _batches;
    mapping(bytes32 device => DeviceState) private _deviceState;
    /// @dev deviceNo => device id.
    mapping(uint256 deviceNo => bytes32 device) private _deviceOfNo;
    uint32 private _deviceCount;
    /// @dev A device's original batch ids in time order of their (current) periods, 8 uint32 per slot.
    mapping(bytes32 device => mapping(uint256 slot => uint256 packedIds)) private _idSlots;

    /// @notice The caller is not a member of the current oracle set (OCR2 transmitter).
    error NotOracle(address caller);
    /// @notice An oracle set must have at most MAX_ORACLES members.
    error InvalidOracleCount(uint256 count);
    /// @notice OCR2 needs f >= 1 and n >= 3f + 1 (1-of-1, 2-of-2 and 2-of-3 sets are refused).
    error InvalidFaultTolerance(uint8 f, uint256 oracles);
    /// @notice A proposed oracle is not an Active ORACLE_ROLE participant.
    error OracleNotActive(address oracle);
    /// @notice An oracle appears twice in the proposed set.
    error DuplicateOracle(address oracle);
    /// @notice Two oracles of one set belong to the same organisation (operators must be independent).
    error OracleOrganisationRepeated(bytes32 orgId, address oracle);
    /// @notice No oracle set has been configured yet.
    error NoOracleSet();
    /// @notice The report was signed for another chain, contract, oracle set or deployment.
    error StaleConfigDigest(bytes32 got, bytes32 expected);
    /// @notice The report's `supersedes` field does not match the operation.
    error SupersedesMismatch(bytes32 got, bytes32 expected);
    /// @notice start must be < end.
    error InvalidPeriod(uint64 start, uint64 end);
    /// @notice A batch must contain at least one reading.
    error EmptyBatch();
    /// @notice The period ends after the current block time (meter data cannot come from the future).
    error PeriodInFuture(uint64 end, uint256 blockTimestamp);
    /// @notice [start, end) overlaps the period of the device's batch `otherBatchId`.
    error PeriodOverlaps(bytes32 device, uint64 start, uint64 end, uint256 otherBatchId);
    /// @notice [start, end) runs past the end of the owner's calendar month that `start` is in
    ///         (monthEnd, UTC seconds): a month's activity data must be the sum of whole batches.
    error PeriodCrossesMonth(bytes32 device, uint64 start, uint64 end, uint64 monthEnd);
    /// @notice A signature recovers to an address outside the current oracle set.
    error UnknownSigner(address signer);
    /// @notice Two signatures recover to the same oracle.
    error DuplicateSigner(address signer);
    /// @notice Fewer valid oracle signatures than the quorum ⌊(n + f)/2⌋ + 1.
    error QuorumNotReached(uint256 got, uint256 needed);
    /// @notice No batch with this id.
    error UnknownBatch(uint256 batchId);
    /// @notice The batch was already superseded by `supersededBy`; supersede the latest instead.
    error AlreadySuperseded(uint256 batchId, uint256 supersededBy);
    /// @notice A correcting report must keep the device of the batch it supersedes.
    error ReportDoesNotMatchBatch(uint256 batchId);
    /// @notice A correction needs a reason (hash of the reason document).
    error MissingReason();
    /// @notice Device batch index out of range.
    error BatchIndexOutOfRange(bytes32 device, uint256 index, uint256 count);
    /// @notice Need firstIndex <= lastIndex < count.
    error InvalidBatchRange(bytes32 device, uint256 firstIndex, uint256 lastIndex, uint256 count);
    /// @notice Need windowStart < windowEnd.
    error InvalidWindow(uint64 windowStart, uint64 windowEnd);
    /// @notice A batch in the range lies (partly) outside the window.
    error BatchOutsideWindow(uint256 batchId);
    /// @notice The range leaves out a batch of the device that lies in the window.
    error IncompleteBatchRange(bytes32 device, uint256 firstIndex, uint256 lastIndex);

    /// @notice A new oracle set (version) was configured: `quorum` = ⌊(n + f)/2⌋ + 1 signatures needed.
    event OracleSetChanged(uint64 indexed version, address[] oracles, uint8 f, uint8 quorum, bytes32 configDigest);
    /// @notice A batch was anchored (also emitted for a correcting batch). Signatures are emitted,
    ///         never stored: `signatures` is the 65-byte signatures (r ‖ s ‖ v) concatenated, each
    ///         recovering from `reportDigest` to a distinct oracle of the set.
    event BatchAnchored(
        uint256 indexed batchId,
        bytes32 indexed device,
        uint64 indexed start,
        uint64 end,
        uint32 count,
        uint64 totalWh,
        bytes32 root,
        bytes32 reportDigest,
        bytes signatures
    );
    /// @notice A batch was superseded by a correcting batch.
    event BatchSuperseded(
        uint256 indexed oldBatchId, uint256 indexed newBatchId, bytes32 indexed device, bytes32 reasonHash
    );

    /// @param participantRegistry The deployed ParticipantRegistry.
    /// @param deviceRegistry The deployed DeviceRegistry.
    /// @param salt_ Random per-deployment bytes32 bound into the config digest (COMMON.md).
    constructor(ParticipantRegistry participantRegistry, DeviceRegistry deviceRegistry, bytes32 salt_)
        EIP712("CarbonLedger MeterDataAnchor", "1")
        ParticipantGated(participantRegistry)
    {
        devices = deviceRegistry;
        salt = salt_;
    }

    // ------------------------------------------------------------------ oracle set

    /// @notice Replaces the oracle set: from now on every report needs ⌊(n + f)/2⌋ + 1 distinct
    ///         signatures of `oracleAccounts`, which tolerate `f` faulty oracles.
    /// @param oracleAccounts Active ORACLE_ROLE accounts of distinct organisations, n of them,
    ///        n >= 3f + 1 and n <= 255 (k-of-n means something only if the signers are independent operators).
    /// @param f Faulty oracles tolerated, >= 1.
    /// @dev OCR2 (Chainlink `OCR2Base.setConfig`: `3 * f < n`, `f > 0`; transmit needs
    ///      `(n + f) / 2 + 1` signatures): two quorums intersect in >= f + 1 oracles, so with at most
    ///      f faulty ones two conflicting reports can never both be accepted. Bumps
    ///      oracleSetVersion and stores the new config digest, so reports signed for the previous
    ///      set are refused.
    function setOracles(address[] calldata oracleAccounts, uint8 f) external {
        _requireConstitution();
        uint256 n = oracleAccounts.length;
        if (n > MAX_ORACLES) revert InvalidOracleCount(n);
        if (f == 0 || n < 3 * uint256(f) + 1) revert InvalidFaultTolerance(f, n);
        Config memory cfg = _config;
        uint64 version = ++cfg.version;
        delete _oracles;
        for (uint256 i = 0; i < n; ++i) {
            address o = oracleAccounts[i];
            if (!participants.isActive(o, Roles.ORACLE)) revert OracleNotActive(o);
            if (_oracleIndex[version][o] != 0) revert DuplicateOracle(o);
            bytes32 org = participants.orgOf(o);
            if (_oracleOrgInSet[version][org]) revert OracleOrganisationRepeated(org, o);
            _oracleOrgInSet[version][org] = true;
            _oracleIndex[version][o] = i + 1;
            _oracles.push(o);
        }
        cfg.n = uint8(n);
        cfg.f = f;
        cfg.quorum = uint8((n + f) / 2 + 1);
        _config = cfg;
        bytes32 digest = keccak256(abi.encode(block.chainid, address(this), version, salt, oracleAccounts, f));
        _configDigest = digest;
        emit OracleSetChanged(version, oracleAccounts, f, cfg.quorum, digest);
    }

    /// @notice The config digest reports must carry now (0 before the first setOracles):
    ///         keccak256(abi.encode(chainId, this, oracleSetVersion, salt, oracles, f)) as computed
    ///         when the set was configured.
    function configDigest() external view returns (bytes32) {
        return _configDigest;
    }

    /// @notice The current oracle set, its quorum (⌊(n + f)/2⌋ + 1) and version.
    function oracles() external view returns (address[] memory oracles_, uint8 quorum, uint64 version) {
        return (_oracles, _config.quorum, _config.version);
    }

    /// @notice Version of the current oracle set; 0 until the first setOracles.
    function oracleSetVersion() external view returns (uint64) {
        return _config.version;
    }

    /// @notice f of the current oracle set: faulty oracles tolerated.
    function faultTolerance() external view returns (uint8) {
        return _config.f;
    }

    /// @notice Signatures a report needs now: ⌊(n + f)/2⌋ + 1.
    function signaturesNeeded() external view returns (uint8) {
        return _config.quorum;
    }

    // ------------------------------------------------------------------ anchoring

    /// @notice Anchors a new batch of one device's readings for [start, end).
    /// @param report The batch report (supersedes = 0); totalWh in Wh, start/end in UTC seconds;
    ///        root over leaves that carry each reading's device-signature hash (`readingLeaf`).
    /// @param signatures 65-byte EIP-712 signatures of the report by distinct current oracles (>= quorum).
    /// @return batchId Sequential id starting at 1.
    /// @dev Caller: a member of the current oracle set (OCR2 transmitter; see `_verifyQuorum`). One recorded calibration must cover
    ///      the whole period (DeviceRegistry.requireUsableOver); the period must not overlap another
    ///      of the device's periods — it may come before periods already anchored (late data) — and
    ///      must end within the owner's calendar month of `start` (DESIGN.md §5: a month's activity
    ///      data is the sum of its batches).
    function anchor(BatchReport calldata report, bytes[] calldata signatures) external returns (uint256 batchId) {
        Config memory cfg = _config;
        _requireTransmitter(cfg);
        _requireCurrentConfig(cfg, report.configDigest);
        if (report.supersedes != bytes32(0)) revert SupersedesMismatch(report.supersedes, bytes32(0));
        if (report.start >= report.end) revert InvalidPeriod(report.start, report.end);
        if (report.count == 0) revert EmptyBatch();
        if (report.end > block.timestamp) revert PeriodInFuture(report.end, block.timestamp);
        int32 offset = devices.requireUsableOver(report.device, report.start, report.end - 1);
        _requireWithinMonth(report, offset);

        bytes32 digest = _verifyQuorum(report, signatures, cfg);
        batchId = ++cfg.batchCount;
        _config.batchCount = cfg.batchCount;
        uint32 deviceNo = _insert(report.device, batchId, report.start, report.end);
        _store(batchId, report, 0, deviceNo);
        _emitAnchored(batchId, report, digest, signatures);
    }

    /// @notice Corrects an anchored batch with a new quorum-signed report for the same device; the
    ///         old batch stays on record, linked to the new one. The period may change (e.g. the
    ///         oracles cut a day wrongly) as long as it stays between the device's neighbouring
    ///         periods and within one month.
    /// @param batchId The batch to correct (must be the latest of its chain).
    /// @param report The correcting report (same device; supersedes = bytes32(batchId)).
    /// @param signatures Oracle signatures of the correcting report (>= quorum).
    /// @param reasonHash Hash of the correction's reason document (nonzero).
    /// @return newBatchId Id of the correcting batch.
    /// @dev DESIGN.md §4: corrections supersede with a reason, never erase. The device's batch list
    ///      keeps the original id; `currentBatch` follows the chain. The device need not be usable
    ///      now: the period was accepted when it was measured.
    function supersede(uint256 batchId, BatchReport calldata report, bytes[] calldata signatures, bytes32 reasonHash)
        external
        returns (uint256 newBatchId)
    {
        Config memory cfg = _config;
        _requireTransmitter(cfg);
        _requireCurrentConfig(cfg, report.configDigest);
        StoredBatch storage old = _existingBatch(batchId);
        if (old.supersededBy != 0) revert AlreadySuperseded(batchId, old.supersededBy);
        if (report.supersedes != bytes32(batchId)) revert SupersedesMismatch(report.supersedes, bytes32(batchId));
        if (report.device != _deviceOfNo[old.deviceNo]) revert ReportDoesNotMatchBatch(batchId);
        if (report.start >= report.end) revert InvalidPeriod(report.start, report.end);
        if (report.count == 0) revert EmptyBatch();
        if (reasonHash == bytes32(0)) revert MissingReason();
        if (report.start != old.start || report.end != old.end) {
            if (report.end > block.timestamp) revert PeriodInFuture(report.end, block.timestamp);
            (bytes32 ownerOrg,,,,) = devices.device(report.device);
            (,, int32 offset,) = participants.organisation(ownerOrg);
            _requireWithinMonth(report, offset);
            _moveWithinNeighbours(report.device, old.start, report.start, report.end);
        }

        bytes32 digest = _verifyQuorum(report, signatures, cfg);
        newBatchId = ++cfg.batchCount;
        _config.batchCount = cfg.batchCount;
        _store(newBatchId, report, batchId, old.deviceNo);
        old.supersededBy = uint32(newBatchId);
        emit BatchSuperseded(batchId, newBatchId, report.device, reasonHash);
        _emitAnchored(newBatchId, report, digest, signatures);
    }

    // ------------------------------------------------------------------ views

    /// @notice An anchored batch.
    /// @param batchId Batch id; reverts UnknownBatch if it does not exist.
    function batch(uint256 batchId) external view returns (Batch memory) {
        StoredBatch storage b = _existingBatch(batchId);
        return Batch({
            device: _deviceOfNo[b.deviceNo],
            root: b.root,
            start: b.start,
            end: b.end,
            count: b.count,
            totalWh: b.totalWh,
            supersedes: b.supersedes,
            supersededBy: b.supersededBy
        });
    }

    /// @notice Number of batches ever anchored (ids 1..batchCount()), corrections included.
    function batchCount() external view returns (uint256) {
        return _config.batchCount;
    }

    /// @notice Number of periods anchored for a device (corrections do not add entries).
    /// @param device Device id.
    function deviceBatchCount(bytes32 device) external view returns (uint256) {
        return _deviceState[device].periods;
    }

    /// @notice The original batch id of a device's index-th period (in time order).
    /// @param device Device id.
    /// @param index 0-based, < deviceBatchCount(device).
    function deviceBatchAt(bytes32 device, uint256 index) external view returns (uint256) {
        uint256 n = _deviceState[device].periods;
        if (index >= n) revert BatchIndexOutOfRange(device, index, n);
        return _idAt(device, index);
    }

    /// @notice The latest batch of the supersede chain starting at `batchId`.
    /// @param batchId Batch id; reverts UnknownBatch if it does not exist.
    function currentBatch(uint256 batchId) external view returns (uint256) {
        _existingBatch(batchId);
        return _current(batchId);
    }

    /// @notice Original batch id of the device's period that currently starts at `start`; 0 if none.
    /// @param device Device id.
    /// @param start Period start, UTC seconds.
    /// @dev A binary search over the device's batch list (no separate index is stored: gas).
    function batchIdByStart(bytes32 device, uint64 start) external view returns (uint256) {
        uint256 n = _deviceState[device].periods;
        uint256 i = _lowerBound(device, n, start);
        if (i < n && _batches[_current(_idAt(device, i))].start == start) return _idAt(device, i);
        return 0;
    }

    /// @notice EIP-712 digest the oracles sign for `report`.
    /// @param report Batch report.
    function reportDigest(BatchReport calldata report) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(BATCH_REPORT_TYPEHASH, report)));
    }

    /// @notice EIP-712 digest a device signs for `reading` (same domain as batch reports).
    /// @param reading Reading.
    function readingDigest(Reading calldata reading) external view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(READING_TYPEHASH, reading)));
    }

    /// @notice StandardMerkleTree leaf of a reading and its device signature:
    ///         keccak256(bytes.concat(keccak256(abi.encode(device, sequence, start, end, quantityCode,
    ///         value, scale, flags, signatureHash)))) with signatureHash = keccak256(signature).
    /// @param reading Reading.
    /// @param signatureHash keccak256 of the device's 65-byte EIP-712 signature of the reading.
    function readingLeaf(Reading calldata reading, bytes32 signatureHash) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(reading, signatureHash))));
    }

    /// @notice Whether `reading`, signed by its device, belongs to batch `batchId`: the signature
    ///         recovers to the device's registered signing key, the Merkle proof of
    ///         readingLeaf(reading, keccak256(signature)) leads to the batch root, same device, and
    ///         [reading.start, reading.end) lies inside the batch period.
    /// @param batchId Batch id; reverts UnknownBatch if it does not exist.
    /// @param reading The reading.
    /// @param signature The device's 65-byte EIP-712 signature of the reading (`readingDigest`).
    /// @param proof StandardMerkleTree proof (sibling hashes, leaf to root).
    /// @dev Issue 12: the leaf carries the signature hash, so a quorum of oracles cannot prove a
    ///      reading the device never signed.
    function verifyReading(uint256 batchId, Reading calldata reading, bytes calldata signature, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        StoredBatch storage b = _existingBatch(batchId);
        if (reading.device != _deviceOfNo[b.deviceNo] || reading.start >= reading.end) return false;
        if (reading.start < b.start || reading.end > b.end) return false;
        (, address deviceSigner,,,) = devices.device(reading.device);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(READING_TYPEHASH, reading)));
        (address got, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError || got != deviceSigner) return false;
        return MerkleProof.verifyCalldata(proof, b.root, readingLeaf(reading, keccak256(signature)));
    }

    /// @notice Sums the energy of a device's anchored periods firstIndex..lastIndex (inclusive),
    ///         using the current (latest corrected) batch of each, and checks that exactly those
    ///         periods make up the device's anchored data in [windowStart, windowEnd).
    /// @param device Device id.
    /// @param firstIndex First index into the device's batch list.
    /// @param lastIndex Last index (inclusive), < deviceBatchCount(device).
    /// @param windowStart Window start, UTC seconds inclusive.
    /// @param windowEnd Window end, UTC seconds exclusive.
    /// @return totalWh Σ totalWh in Wh.
    /// @return batches Number of batches summed.
    /// @return readings Σ reading counts.
    /// @dev DESIGN.md §5: a month's activity data is the sum of its batches' Wh. Completeness: the
    ///      period before firstIndex ends at or before windowStart, the one after lastIndex starts
    ///      at or after windowEnd (periods are kept in time order, late ones inserted, and never overlap).
    function sumWh(bytes32 device, uint32 firstIndex, uint32 lastIndex, uint64 windowStart, uint64 windowEnd)
        external
        view
        returns (uint256 totalWh, uint32 batches, uint64 readings)
    {
        uint256 n = _deviceState[device].periods;
        if (firstIndex > lastIndex || lastIndex >= n) revert InvalidBatchRange(device, firstIndex, lastIndex, n);
        if (windowStart >= windowEnd) revert InvalidWindow(windowStart, windowEnd);
        for (uint256 i = firstIndex; i <= lastIndex; ++i) {
            uint256 id = _current(_idAt(device, i));
            StoredBatch storage b = _batches[id];
            if (b.start < windowStart || b.end > windowEnd) revert BatchOutsideWindow(id);
            totalWh += b.totalWh;
            readings += b.count;
        }
        batches = lastIndex - firstIndex + 1;
        if (firstIndex > 0 && _batches[_current(_idAt(device, firstIndex - 1))].end > windowStart) {
            revert IncompleteBatchRange(device, firstIndex, lastIndex);
        }
        if (lastIndex + 1 < n && _batches[_current(_idAt(device, lastIndex + 1))].start < windowEnd) {
            revert IncompleteBatchRange(device, firstIndex, lastIndex);
        }
    }

    // ------------------------------------------------------------------ internals

    /// @dev OCR2 transmitter: a member of the current oracle set (own storage, no external call).
    ///      The transmitter adds no trust — the report needs a quorum of the set's signatures.
    function _requireTransmitter(Config memory cfg) private view {
        if (_oracleIndex[cfg.version][msg.sender] == 0) revert NotOracle(msg.sender);
    }

    function _requireCurrentConfig(Config memory cfg, bytes32 got) private view {
        if (cfg.version == 0) revert NoOracleSet();
        bytes32 expected = _configDigest;
        if (got != expected) revert StaleConfigDigest(got, expected);
    }

    function _requireWithinMonth(BatchReport calldata report, int32 utcOffsetSeconds) private pure {
        uint64 monthEnd = CalendarMonth.monthEnd(report.start, utcOffsetSeconds);
        if (report.end > monthEnd) revert PeriodCrossesMonth(report.device, report.start, report.end, monthEnd);
    }

    /// @dev Every signature must recover to a distinct member of the current oracle set; their
    ///      number must reach ⌊(n + f)/2⌋ + 1. Signers are not asked of ParticipantRegistry one by
    ///      one (gas): the set was checked Active when configured, the submitter is checked now, and
    ///      a suspended oracle counts only until governance reconfigures the set — with n >= 3f + 1
    ///      up to f such oracles can neither reach nor block a quorum on their own.
    function _verifyQuorum(BatchReport calldata report, bytes[] calldata signatures, Config memory cfg)
        private
        view
        returns (bytes32 digest)
    {
        uint256 n = signatures.length;
        if (n < cfg.quorum) revert QuorumNotReached(n, cfg.quorum);
        digest = reportDigest(report);
        uint64 version = cfg.version;
        uint256 seen;
        for (uint256 i = 0; i < n; ++i) {
            bytes calldata sig = signatures[i];
            if (sig.length != 65) revert ECDSA.ECDSAInvalidSignatureLength(sig.length);
            bytes32 r;
            bytes32 s;
            uint8 v;
            assembly ("memory-safe") {
                r := calldataload(sig.offset)
                s := calldataload(add(sig.offset, 32))
                v := byte(0, calldataload(add(sig.offset, 64)))
            }
            address signer = ECDSA.recover(digest, v, r, s);
            uint256 index = _oracleIndex[version][signer];
            if (index == 0) revert UnknownSigner(signer);
            uint256 bit = uint256(1) << (index - 1);
            if (seen & bit != 0) revert DuplicateSigner(signer);
            seen |= bit;
        }
    }

    function _store(uint256 batchId, BatchReport calldata report, uint256 supersedes, uint32 deviceNo) private {
        _batches[batchId] = StoredBatch({
            root: report.root,
            start: SafeCast.toUint40(report.start),
            end: SafeCast.toUint40(report.end),
            count: SafeCast.toUint24(report.count),
            totalWh: SafeCast.toUint56(report.totalWh),
            supersedes: uint32(supersedes),
            supersededBy: 0,
            deviceNo: deviceNo
        });
    }

    function _idAt(bytes32 device, uint256 index) private view returns (uint256) {
        return uint32(_idSlots[device][index >> 3] >> ((index & 7) * 32));
    }

    function _setIdAt(bytes32 device, uint256 index, uint256 id) private {
        uint256 shift = (index & 7) * 32;
        uint256 word = _idSlots[device][index >> 3];
        _idSlots[device][index >> 3] = (word & ~(uint256(type(uint32).max) << shift)) | (id << shift);
    }

    /// @dev Index of the first of the device's `n` periods whose current start is >= `start`.
    function _lowerBound(bytes32 device, uint256 n, uint64 start) private view returns (uint256 lo) {
        uint256 hi = n;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (_batches[_current(_idAt(device, mid))].start < start) lo = mid + 1;
            else hi = mid;
        }
    }

    /// @dev Adds `batchId` to the device's list in time order and returns the device's number:
    ///      appended when it starts at or after the last period's end (the usual case, O(1));
    ///      else inserted between its neighbours (late data, O(n) shifts) — refused if it overlaps either.
    function _insert(bytes32 device, uint256 batchId, uint64 start, uint64 end) private returns (uint32 no) {
        DeviceState memory st = _deviceState[device];
        if (st.no == 0) {
            st.no = ++_deviceCount;
            _deviceOfNo[st.no] = device;
        }
        no = st.no;
        uint256 n = st.periods;
        if (n == 0 || st.lastEnd <= start) {
            _setIdAt(device, n, batchId);
            st.lastEnd = SafeCast.toUint40(end);
        } else {
            uint256 at = _lowerBound(device, n, start);
            if (at > 0) {
                uint256 prev = _current(_idAt(device, at - 1));
                if (_batches[prev].end > start) revert PeriodOverlaps(device, start, end, prev);
            }
            if (at < n) {
                uint256 next = _current(_idAt(device, at));
                if (_batches[next].start < end) revert PeriodOverlaps(device, start, end, next);
            }
            for (uint256 j = n; j > at; --j) {
                _setIdAt(device, j, _idAt(device, j - 1));
            }
            _setIdAt(device, at, batchId);
        }
        st.periods = uint32(n + 1);
        _deviceState[device] = st;
    }

    /// @dev A corrected period [start, end) of the batch now starting at `oldStart` must not reach
    ///      into its neighbours (so the list stays in time order); keeps `lastEnd` current.
    function _moveWithinNeighbours(bytes32 device, uint64 oldStart, uint64 start, uint64 end) private {
        DeviceState storage st = _deviceState[device];
        uint256 n = st.periods;
        uint256 at = _lowerBound(device, n, oldStart);
        if (at > 0) {
            uint256 prev = _current(_idAt(device, at - 1));
            if (_batches[prev].end > start) revert PeriodOverlaps(device, start, end, prev);
        }
        if (at + 1 < n) {
            uint256 next = _current(_idAt(device, at + 1));
            if (_batches[next].start < end) revert PeriodOverlaps(device, start, end, next);
        } else {
            st.lastEnd = SafeCast.toUint40(end);
        }
    }

    function _emitAnchored(
        uint256 batchId,
        BatchReport calldata report,
        bytes32 digest,
        bytes[] calldata signatures
    ) private {
        uint256 n = signatures.length;
        bytes memory packed = new bytes(65 * n);
        for (uint256 i = 0; i < n; ++i) {
            bytes calldata sig = signatures[i]; // 65 bytes each (checked in _verifyQuorum)
            assembly ("memory-safe") {
                calldatacopy(add(add(packed, 32), mul(i, 65)), sig.offset, 65)
            }
        }
        emit BatchAnchored(
            batchId,
            report.device,
            report.start,
            report.end,
            report.count,
            report.totalWh,
            report.root,
            digest,
            packed
        );
    }

    function _existingBatch(uint256 batchId) private view returns (StoredBatch storage b) {
        b = _batches[batchId];
        if (b.deviceNo == 0) revert UnknownBatch(batchId);
    }

    function _current(uint256 batchId) private view returns (uint256 id) {
        id = batchId;
        uint256 next = _batches[id].supersededBy;
        while (next != 0) {
            id = next;
            next = _batches[id].supersededBy;
        }
    }
}
