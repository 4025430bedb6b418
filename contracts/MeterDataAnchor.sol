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

/// @title MeterDataAnchor
/// @notice Anchors batches of device-signed meter readings: per (device, period) the Merkle root of
///         the readings, their count and the energy total, accepted only with EIP-712 signatures of
///         a quorum of the registered oracles. Anyone can later prove that a reading belongs to an
///         anchored batch, and sum a device's anchored energy over a window.
/// @dev DESIGN.md §4 MeterDataAnchor and §7 (meter data path): k-of-n oracle signatures over the
///      same report; an OCR-style config digest binds chain id, contract, oracle-set version and a
///      per-deployment salt; periods of one device never overlap; corrections supersede with a
///      reason and never erase; signatures are verified and emitted, never stored (gas).
///      Type strings and the leaf encoding are fixed in COMMON.md ("Fixed interfaces").
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

    /// @notice An anchored batch. Packed into 4 slots: batch ids fit uint96 by construction
    ///         (sequential from 1).
    struct Batch {
        bytes32 device;
        uint64 start;
        uint64 end;
        uint32 count;
        uint64 totalWh;
        bytes32 root;
        uint64 oracleSetVersion;
        uint96 supersedes;
        uint96 supersededBy;
    }

    /// @notice keccak256 of the EIP-712 Reading type string (COMMON.md).
    bytes32 public constant READING_TYPEHASH = keccak256(
        "Reading(bytes32 device,uint64 sequence,uint64 start,uint64 end,uint16 quantityCode,int64 value,int8 scale,uint32 flags)"
    );
    /// @notice keccak256 of the EIP-712 BatchReport type string (COMMON.md).
    bytes32 public constant BATCH_REPORT_TYPEHASH = keccak256(
        "BatchReport(bytes32 configDigest,bytes32 device,uint64 start,uint64 end,uint32 count,uint64 totalWh,bytes32 root,bytes32 supersedes)"
    );
    /// @notice Largest oracle set (one bit per oracle in a uint256 duplicate-signer bitmap; quorum is uint8).
    uint256 public constant MAX_ORACLES = 255;

    /// @notice The device registry (device usability).
    DeviceRegistry public immutable devices;
    /// @notice Random per-deployment salt bound into the config digest.
    bytes32 public immutable salt;

    /// @notice Version of the current oracle set; 0 until the first setOracles.
    uint64 public oracleSetVersion;
    uint8 private _quorum;
    address[] private _oracles;
    mapping(uint64 version => mapping(address oracle => uint256 indexPlusOne)) private _oracleIndex;
    /// @dev version => organisation => already has an oracle in that set.
    mapping(uint64 version => mapping(bytes32 orgId => bool)) private _oracleOrgInSet;

    uint256 private _batchCount;
    mapping(uint256 batchId => Batch) private _batches;
    mapping(bytes32 device => uint256[] batchIds) private _deviceBatches;
    /// @notice Original batch id anchored for (device, period start); 0 if none. Supersessions
    ///         keep the original id here (follow `currentBatch`).
    mapping(bytes32 device => mapping(uint64 start => uint256 batchId)) public batchIdByStart;
    /// @notice End (UTC seconds, exclusive) of the device's latest anchored period; new periods start at or after it.
    mapping(bytes32 device => uint64 end) public lastEnd;

    /// @notice An oracle set must have 1..255 members.
    error InvalidOracleCount(uint256 count);
    /// @notice Need 1 <= quorum <= n and quorum > n/2 (two conflicting reports can't both reach quorum).
    error InvalidQuorum(uint8 quorum, uint256 oracles);
    /// @notice A proposed oracle is not an Active ORACLE_ROLE participant.
    error OracleNotActive(address oracle);
    /// @notice An oracle appears twice in the proposed set.
    error DuplicateOracle(address oracle);
    /// @notice Two oracles of one set belong to the same organisation (operators must be independent).
    error OracleOrganisationRepeated(bytes32 orgId, address oracle);
    /// @notice No oracle set has been configured yet.
    error NoOracleSet();
    /// @notice The report was signed for another chain, contract, oracle-set version or deployment.
    error StaleConfigDigest(bytes32 got, bytes32 expected);
    /// @notice The report's `supersedes` field does not match the operation.
    error SupersedesMismatch(bytes32 got, bytes32 expected);
    /// @notice start must be < end.
    error InvalidPeriod(uint64 start, uint64 end);
    /// @notice A batch must contain at least one reading.
    error EmptyBatch();
    /// @notice The period ends after the current block time (meter data cannot come from the future).
    error PeriodInFuture(uint64 end, uint256 blockTimestamp);
    /// @notice The period starts before the end of the device's last anchored period.
    error PeriodOverlaps(bytes32 device, uint64 start, uint64 lastEnd);
    /// @notice A signature recovers to an address outside the current oracle set.
    error UnknownSigner(address signer);
    /// @notice Two signatures recover to the same oracle.
    error DuplicateSigner(address signer);
    /// @notice A signing oracle is no longer an Active ORACLE_ROLE participant.
    error SignerNotActive(address signer);
    /// @notice Fewer valid oracle signatures than the quorum.
    error QuorumNotReached(uint256 got, uint256 needed);
    /// @notice No batch with this id.
    error UnknownBatch(uint256 batchId);
    /// @notice The batch was already superseded by `supersededBy`; supersede the latest instead.
    error AlreadySuperseded(uint256 batchId, uint256 supersededBy);
    /// @notice A correcting report must keep the device, start and end of the batch it supersedes.
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

    /// @notice A new oracle set (version) was configured.
    event OracleSetChanged(uint64 indexed version, address[] oracles, uint8 quorum, bytes32 configDigest);
    /// @notice A batch was anchored (also emitted for a correcting batch). Signatures are emitted,
    ///         never stored.
    event BatchAnchored(
        uint256 indexed batchId,
        bytes32 indexed device,
        uint64 indexed start,
        uint64 end,
        uint32 count,
        uint64 totalWh,
        bytes32 root,
        bytes32 reportDigest,
        address[] signers,
        bytes[] signatures
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

    /// @notice Replaces the oracle set: `quorum` of `oracleAccounts` must sign every report from now on.
    /// @param oracleAccounts Active ORACLE_ROLE accounts of distinct organisations, 1..255 of them
    ///        (k-of-n means something only if the n signers are independent operators).
    /// @param quorum Signatures needed: quorum > n/2 and <= n.
    /// @dev DESIGN.md §4: k-of-n quorum; a strict majority means two conflicting reports for the
    ///      same period can never both reach quorum. Bumps oracleSetVersion, so reports signed for
    ///      the previous set (previous config digest) are refused.
    function setOracles(address[] calldata oracleAccounts, uint8 quorum) external {
        _requireConstitution();
        uint256 n = oracleAccounts.length;
        if (n == 0 || n > MAX_ORACLES) revert InvalidOracleCount(n);
        if (quorum == 0 || quorum > n || uint256(quorum) * 2 <= n) revert InvalidQuorum(quorum, n);
        uint64 version = ++oracleSetVersion;
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
        _quorum = quorum;
        emit OracleSetChanged(version, oracleAccounts, quorum, configDigest());
    }

    /// @notice The config digest reports must carry now:
    ///         keccak256(abi.encode(chainId, this, oracleSetVersion, salt)).
    function configDigest() public view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), oracleSetVersion, salt));
    }

    /// @notice The current oracle set, its quorum and version.
    function oracles() external view returns (address[] memory oracles_, uint8 quorum, uint64 version) {
        return (_oracles, _quorum, oracleSetVersion);
    }

    // ------------------------------------------------------------------ anchoring

    /// @notice Anchors a new batch of one device's readings for [start, end).
    /// @param report The batch report (supersedes = 0); totalWh in Wh, start/end in UTC seconds.
    /// @param signatures 65-byte EIP-712 signatures of the report by distinct current oracles (>= quorum).
    /// @return batchId Sequential id starting at 1.
    /// @dev Caller: an Active ORACLE_ROLE account (the submitter). Device must be usable at end − 1
    ///      (DESIGN.md §4 DeviceRegistry: revoked / out-of-calibration devices are refused); periods
    ///      never overlap (report.start >= lastEnd[device]).
    function anchor(BatchReport calldata report, bytes[] calldata signatures) external returns (uint256 batchId) {
        _requireOracleCaller();
        _requireCurrentConfig(report.configDigest);
        if (report.supersedes != bytes32(0)) revert SupersedesMismatch(report.supersedes, bytes32(0));
        if (report.start >= report.end) revert InvalidPeriod(report.start, report.end);
        if (report.count == 0) revert EmptyBatch();
        if (report.end > block.timestamp) revert PeriodInFuture(report.end, block.timestamp);
        devices.requireUsable(report.device, report.end - 1);
        uint64 last = lastEnd[report.device];
        if (report.start < last) revert PeriodOverlaps(report.device, report.start, last);

        (bytes32 digest, address[] memory signers) = _verifyQuorum(report, signatures);
        batchId = _store(report, 0);
        _deviceBatches[report.device].push(batchId);
        batchIdByStart[report.device][report.start] = batchId;
        lastEnd[report.device] = report.end;
        _emitAnchored(batchId, report, digest, signers, signatures);
    }

    /// @notice Corrects an anchored batch with a new quorum-signed report for the same device and
    ///         period; the old batch stays on record, linked to the new one.
    /// @param batchId The batch to correct (must be the latest of its chain).
    /// @param report The correcting report (same device/start/end; supersedes = bytes32(batchId)).
    /// @param signatures Oracle signatures of the correcting report (>= quorum).
    /// @param reasonHash Hash of the correction's reason document (nonzero).
    /// @return newBatchId Id of the correcting batch.
    /// @dev DESIGN.md §4: corrections supersede with a reason, never erase. The device's batch
    ///      list and batchIdByStart keep the original id; `currentBatch` follows the chain. The
    ///      device need not be usable now: the period was accepted when it was measured.
    function supersede(uint256 batchId, BatchReport calldata report, bytes[] calldata signatures, bytes32 reasonHash)
        external
        returns (uint256 newBatchId)
    {
        _requireOracleCaller();
        _requireCurrentConfig(report.configDigest);
        Batch storage old = _existingBatch(batchId);
        if (old.supersededBy != 0) revert AlreadySuperseded(batchId, old.supersededBy);
        if (report.supersedes != bytes32(batchId)) revert SupersedesMismatch(report.supersedes, bytes32(batchId));
        if (report.device != old.device || report.start != old.start || report.end != old.end) {
            revert ReportDoesNotMatchBatch(batchId);
        }
        if (report.count == 0) revert EmptyBatch();
        if (reasonHash == bytes32(0)) revert MissingReason();

        (bytes32 digest, address[] memory signers) = _verifyQuorum(report, signatures);
        newBatchId = _store(report, batchId);
        old.supersededBy = SafeCast.toUint96(newBatchId);
        emit BatchSuperseded(batchId, newBatchId, report.device, reasonHash);
        _emitAnchored(newBatchId, report, digest, signers, signatures);
    }

    // ------------------------------------------------------------------ views

    /// @notice An anchored batch.
    /// @param batchId Batch id; reverts UnknownBatch if it does not exist.
    function batch(uint256 batchId) external view returns (Batch memory) {
        return _existingBatch(batchId);
    }

    /// @notice Number of batches ever anchored (ids 1..batchCount()), corrections included.
    function batchCount() external view returns (uint256) {
        return _batchCount;
    }

    /// @notice Number of periods anchored for a device (corrections do not add entries).
    /// @param device Device id.
    function deviceBatchCount(bytes32 device) external view returns (uint256) {
        return _deviceBatches[device].length;
    }

    /// @notice The original batch id of a device's index-th period (in time order).
    /// @param device Device id.
    /// @param index 0-based, < deviceBatchCount(device).
    function deviceBatchAt(bytes32 device, uint256 index) external view returns (uint256) {
        uint256[] storage ids = _deviceBatches[device];
        if (index >= ids.length) revert BatchIndexOutOfRange(device, index, ids.length);
        return ids[index];
    }

    /// @notice The latest batch of the supersede chain starting at `batchId`.
    /// @param batchId Batch id; reverts UnknownBatch if it does not exist.
    function currentBatch(uint256 batchId) public view returns (uint256) {
        _existingBatch(batchId);
        return _current(batchId);
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

    /// @notice StandardMerkleTree leaf of a reading:
    ///         keccak256(bytes.concat(keccak256(abi.encode(device, sequence, start, end, quantityCode, value, scale, flags)))).
    /// @param reading Reading.
    function readingLeaf(Reading calldata reading) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(reading))));
    }

    /// @notice Whether `reading` belongs to batch `batchId`: Merkle proof against the batch root,
    ///         same device, and [reading.start, reading.end) inside the batch period.
    /// @param batchId Batch id; reverts UnknownBatch if it does not exist.
    /// @param reading The reading.
    /// @param proof StandardMerkleTree proof (sibling hashes, leaf to root).
    function verifyReading(uint256 batchId, Reading calldata reading, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        Batch storage b = _existingBatch(batchId);
        if (reading.device != b.device || reading.start >= reading.end) return false;
        if (reading.start < b.start || reading.end > b.end) return false;
        return MerkleProof.verifyCalldata(proof, b.root, readingLeaf(reading));
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
    ///      at or after windowEnd (periods are in time order and never overlap).
    function sumWh(bytes32 device, uint32 firstIndex, uint32 lastIndex, uint64 windowStart, uint64 windowEnd)
        external
        view
        returns (uint256 totalWh, uint32 batches, uint64 readings)
    {
        uint256[] storage ids = _deviceBatches[device];
        uint256 n = ids.length;
        if (firstIndex > lastIndex || lastIndex >= n) revert InvalidBatchRange(device, firstIndex, lastIndex, n);
        if (windowStart >= windowEnd) revert InvalidWindow(windowStart, windowEnd);
        for (uint256 i = firstIndex; i <= lastIndex; ++i) {
            uint256 id = _current(ids[i]);
            Batch storage b = _batches[id];
            if (b.start < windowStart || b.end > windowEnd) revert BatchOutsideWindow(id);
            totalWh += b.totalWh;
            readings += b.count;
        }
        batches = lastIndex - firstIndex + 1;
        if (firstIndex > 0 && _batches[ids[firstIndex - 1]].end > windowStart) {
            revert IncompleteBatchRange(device, firstIndex, lastIndex);
        }
        if (lastIndex + 1 < n && _batches[ids[lastIndex + 1]].start < windowEnd) {
            revert IncompleteBatchRange(device, firstIndex, lastIndex);
        }
    }

    // ------------------------------------------------------------------ internals

    function _requireOracleCaller() private view {
        _requireActive(msg.sender, Roles.ORACLE);
    }

    function _requireCurrentConfig(bytes32 got) private view {
        if (oracleSetVersion == 0) revert NoOracleSet();
        bytes32 expected = configDigest();
        if (got != expected) revert StaleConfigDigest(got, expected);
    }

    /// @dev Every signature must recover to a distinct member of the current oracle set that is
    ///      still an Active oracle participant; their number must reach the quorum.
    function _verifyQuorum(BatchReport calldata report, bytes[] calldata signatures)
        private
        view
        returns (bytes32 digest, address[] memory signers)
    {
        digest = reportDigest(report);
        uint64 version = oracleSetVersion;
        uint256 n = signatures.length;
        signers = new address[](n);
        uint256 seen;
        for (uint256 i = 0; i < n; ++i) {
            address signer = ECDSA.recover(digest, signatures[i]);
            uint256 index = _oracleIndex[version][signer];
            if (index == 0) revert UnknownSigner(signer);
            uint256 bit = uint256(1) << (index - 1);
            if (seen & bit != 0) revert DuplicateSigner(signer);
            seen |= bit;
            if (!participants.isActive(signer, Roles.ORACLE)) revert SignerNotActive(signer);
            signers[i] = signer;
        }
        if (n < _quorum) revert QuorumNotReached(n, _quorum);
    }

    function _store(BatchReport calldata report, uint256 supersedes) private returns (uint256 batchId) {
        batchId = ++_batchCount;
        _batches[batchId] = Batch({
            device: report.device,
            start: report.start,
            end: report.end,
            count: report.count,
            totalWh: report.totalWh,
            root: report.root,
            oracleSetVersion: oracleSetVersion,
            supersedes: SafeCast.toUint96(supersedes),
            supersededBy: 0
        });
    }

    function _emitAnchored(
        uint256 batchId,
        BatchReport calldata report,
        bytes32 digest,
        address[] memory signers,
        bytes[] calldata signatures
    ) private {
        emit BatchAnchored(
            batchId,
            report.device,
            report.start,
            report.end,
            report.count,
            report.totalWh,
            report.root,
            digest,
            signers,
            signatures
        );
    }

    function _existingBatch(uint256 batchId) private view returns (Batch storage b) {
        b = _batches[batchId];
        if (b.device == bytes32(0)) revert UnknownBatch(batchId);
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
