// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ParticipantRegistry} from "./ParticipantRegistry.sol";
import {ParticipantGated} from "./access/ParticipantGated.sol";
import {EmissionsRegistry} from "./EmissionsRegistry.sol";
import {Roles} from "./lib/Roles.sol";

/// @title EvidenceRegistry
/// @notice Hashes of the encrypted evidence files (invoices, fuel purchase records, NCV and
///         carbon-content lab results, production logs, calibration certificates …) an enterprise
///         attaches to its emission records. The files stay off-chain, encrypted (AES-256-GCM
///         envelope, ledger/evidence.py); the chain holds, per record, an append-only list of
///         SHA-256(ciphertext) — which anyone can check against a downloaded file — and
///         SHA-256(salt ‖ plaintext) with a random 32-byte salt kept inside the envelope — which
///         binds the plaintext without revealing it to dictionary guessing.
/// @dev Issue 6 "Evidence (加密上链)"; issue 13 adds the regulator's anchored alert hashes (evidence of
///      an early-warning alert, no new contract). One concern: it only reads EmissionsRegistry (record owner
///      and status) and ParticipantRegistry (caller's organisation and role). A ciphertext hash can
///      be attached only once in the whole registry, so a hash names one (record, index).
contract EvidenceRegistry is ParticipantGated {
    /// @notice One attached evidence file.
    /// @dev attachedAt is the block timestamp (UTC seconds).
    struct Evidence {
        bytes32 ciphertextSha256;
        bytes32 saltedPlaintextSha256;
        address by;
        uint64 attachedAt;
        string kind;
    }

    /// @notice Longest accepted `kind` label, in bytes (our choice: a short ASCII tag such as
    ///         "invoice", "fuel-purchase", "lab-ncv"; not from a rule).
    uint256 public constant MAX_KIND_BYTES = 32;

    /// @notice Emissions registry: the records evidence is attached to.
    EmissionsRegistry public immutable emissions;

    mapping(uint256 recordId => Evidence[]) private _evidence;
    /// @dev ciphertext hash → (recordId, index + 1); 0 = never attached.
    mapping(bytes32 ciphertextSha256 => uint256 recordId) private _recordOf;
    mapping(bytes32 ciphertextSha256 => uint256 indexPlusOne) private _indexOf;
    /// @notice Block time (UTC seconds) an early-warning alert's hash was anchored; 0 = never.
    mapping(bytes32 alertHash => uint64 anchoredAt) public alertAnchoredAt;

    /// @notice The record does not exist in EmissionsRegistry.
    error UnknownRecord(uint256 recordId);
    /// @notice The caller is not an account of the record's enterprise with an Active ENTERPRISE_ROLE.
    error NotRecordEnterprise(uint256 recordId, address caller);
    /// @notice The record is Confirmed (final): no more evidence can be attached.
    error RecordConfirmed(uint256 recordId);
    /// @notice A hash is zero.
    error ZeroHash();
    /// @notice `kind` is empty or longer than MAX_KIND_BYTES.
    error InvalidKind(uint256 length);
    /// @notice This ciphertext hash is already attached (to `recordId` at `index`).
    error EvidenceExists(bytes32 ciphertextSha256, uint256 recordId, uint256 index);
    /// @notice No evidence at `index` of `recordId` (count is `count`).
    error EvidenceIndexOutOfRange(uint256 recordId, uint256 index, uint256 count);
    /// @notice No evidence with this ciphertext hash.
    error UnknownEvidence(bytes32 ciphertextSha256);
    /// @notice This alert hash was already anchored (at `anchoredAt`, UTC seconds).
    error AlertAlreadyAnchored(bytes32 alertHash, uint64 anchoredAt);

    /// @notice The regulator anchored the hash of an early-warning alert (issue 13).
    event AlertAnchored(bytes32 indexed alertHash, address indexed by, uint64 anchoredAt);

    /// @notice Evidence was attached to a record.
    event EvidenceAttached(
        uint256 indexed recordId,
        uint256 index,
        bytes32 indexed ciphertextSha256,
        bytes32 saltedPlaintextSha256,
        string kind,
        address indexed by
    );

    /// @param participantRegistry ParticipantRegistry of the deployment.
    /// @param emissionsRegistry EmissionsRegistry of the deployment.
    constructor(ParticipantRegistry participantRegistry, EmissionsRegistry emissionsRegistry) ParticipantGated(participantRegistry) {
        emissions = emissionsRegistry;
    }

    /// @notice Anchors the hashes of one encrypted evidence file of a record.
    /// @param recordId EmissionsRegistry record id (any status but Confirmed).
    /// @param ciphertextSha256 SHA-256 of the envelope's ciphertext (GCM tag included); nonzero, new.
    /// @param saltedPlaintextSha256 SHA-256(salt ‖ plaintext), salt = the envelope's 32 random bytes; nonzero.
    /// @param kind Short label of the document (1..MAX_KIND_BYTES bytes).
    /// @return index Position of the evidence in the record's list.
    /// @dev Issue 6: enterprises attach evidence to monthly data and annual reports; only an account
    ///      of the record's enterprise (ParticipantRegistry.orgOf == record.enterprise, Active
    ///      ENTERPRISE_ROLE) may attach, while the record is not Confirmed. Errors: UnknownRecord,
    ///      NotRecordEnterprise, RecordConfirmed, ZeroHash, InvalidKind, EvidenceExists.
    function attach(uint256 recordId, bytes32 ciphertextSha256, bytes32 saltedPlaintextSha256, string calldata kind)
        external
        returns (uint256 index)
    {
        if (recordId == 0 || recordId > emissions.recordCount()) revert UnknownRecord(recordId);
        EmissionsRegistry.Record memory r = emissions.record(recordId);
        if (!participants.isActive(msg.sender, Roles.ENTERPRISE) || participants.orgOf(msg.sender) != r.enterprise) {
            revert NotRecordEnterprise(recordId, msg.sender);
        }
        if (r.status == EmissionsRegistry.Status.Confirmed) revert RecordConfirmed(recordId);
        if (ciphertextSha256 == bytes32(0) || saltedPlaintextSha256 == bytes32(0)) revert ZeroHash();
        uint256 n = bytes(kind).length;
        if (n == 0 || n > MAX_KIND_BYTES) revert InvalidKind(n);
        uint256 existing = _indexOf[ciphertextSha256];
        if (existing != 0) revert EvidenceExists(ciphertextSha256, _recordOf[ciphertextSha256], existing - 1);

        Evidence[] storage list = _evidence[recordId];
        index = list.length;
        list.push(Evidence(ciphertextSha256, saltedPlaintextSha256, msg.sender, uint64(block.timestamp), kind));
        _recordOf[ciphertextSha256] = recordId;
        _indexOf[ciphertextSha256] = index + 1;
        emit EvidenceAttached(recordId, index, ciphertextSha256, saltedPlaintextSha256, kind, msg.sender);
    }

    /// @notice Number of evidence files attached to a record.
    /// @param recordId Record id (unknown ids have 0).
    function evidenceCount(uint256 recordId) external view returns (uint256) {
        return _evidence[recordId].length;
    }

    /// @notice One evidence entry of a record.
    /// @param recordId Record id.
    /// @param i 0-based index (< evidenceCount(recordId)); else EvidenceIndexOutOfRange.
    function evidenceAt(uint256 recordId, uint256 i) external view returns (Evidence memory) {
        Evidence[] storage list = _evidence[recordId];
        if (i >= list.length) revert EvidenceIndexOutOfRange(recordId, i, list.length);
        return list[i];
    }

    /// @notice Where a ciphertext hash is attached — anyone can check a file against the chain.
    /// @param ciphertextSha256 SHA-256 of an envelope's ciphertext.
    /// @return recordId Record it is attached to.
    /// @return index Its position in the record's list.
    /// @dev Errors: UnknownEvidence.
    function locate(bytes32 ciphertextSha256) external view returns (uint256 recordId, uint256 index) {
        uint256 i = _indexOf[ciphertextSha256];
        if (i == 0) revert UnknownEvidence(ciphertextSha256);
        return (_recordOf[ciphertextSha256], i - 1);
    }

    /// @notice Anchors the hash of an early-warning alert: evidence, kept by the regulator, that the
    ///         alert (its rule, subject, period, measure and evidence) existed at this block.
    /// @param alertHash keccak256 of the alert's canonical JSON (ledger/alerts/checks.py alert_hash); nonzero, new.
    /// @dev Issue 13 "an alert's hash can be anchored". Routine regulator act (one Active regulator
    ///      account). Errors: NotRegulator, ZeroHash, AlertAlreadyAnchored.
    function anchorAlert(bytes32 alertHash) external onlyRegulator {
        if (alertHash == bytes32(0)) revert ZeroHash();
        uint64 at = alertAnchoredAt[alertHash];
        if (at != 0) revert AlertAlreadyAnchored(alertHash, at);
        at = uint64(block.timestamp);
        alertAnchoredAt[alertHash] = at;
        emit AlertAnchored(alertHash, msg.sender, at);
    }
}
