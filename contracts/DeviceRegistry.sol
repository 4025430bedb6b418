// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ParticipantRegistry} from "./ParticipantRegistry.sol";
import {ParticipantGated} from "./access/ParticipantGated.sol";
import {Roles} from "./lib/Roles.sol";

/// @title DeviceRegistry
/// @notice Meters (计量器具) and CEMS analysers: owner enterprise, the address of the device's own
///         signing key, the measured quantity and the history of its calibrations.
/// @dev DESIGN.md §4 DeviceRegistry: only the owner's enterprise or the regulator registers;
///      revoked or out-of-calibration devices are refused. 《碳排放权交易管理暂行条例》 Art. 11:
///      key emitters measure with calibrated instruments and keep the records. Calibrations are
///      recorded by an accredited calibration body (计量检定机构, CALIBRATION_BODY_ROLE;
///      《中华人民共和国计量法》 Art. 9: compulsory verification by a legal metrology body), never by
///      the enterprise whose meter it is (issue 12). Data is checked against the calibration valid
///      when it was measured, not the latest one.
contract DeviceRegistry is ParticipantGated {
    /// @notice Device lifecycle; `Revoked` is final.
    enum Status {
        None,
        Active,
        Revoked
    }

    /// @dev Packed: ownerOrg in one slot; signer, quantityCode, status, calibration count and the
    ///      owner's UTC offset (fixed at admission, copied at registration) in another.
    struct Device {
        bytes32 ownerOrg;
        address signer;
        uint16 quantityCode;
        Status status;
        uint32 calibrationCount;
        int32 ownerUtcOffsetSeconds;
    }

    /// @notice One recorded calibration: the device may be relied on for data measured in
    ///         [validFrom, validUntil] (UTC seconds, both inclusive). One slot.
    struct Calibration {
        uint64 validFrom;
        uint64 validUntil;
    }

    /// @notice `DeviceNotUsable` reason 1: no device with this id.
    uint8 public constant REASON_UNKNOWN_DEVICE = 1;
    /// @notice `DeviceNotUsable` reason 2: the device was revoked.
    uint8 public constant REASON_REVOKED = 2;
    /// @notice `DeviceNotUsable` reason 3: the owner organisation is suspended or revoked.
    uint8 public constant REASON_OWNER_NOT_ACTIVE = 3;
    /// @notice `DeviceNotUsable` reason 4: no recorded calibration covers the time (never
    ///         calibrated, lapsed, or measured before the first calibration).
    uint8 public constant REASON_NOT_CALIBRATED = 4;

    mapping(bytes32 deviceId => Device) private _devices;
    mapping(address signer => bytes32 deviceId) private _deviceOfSigner;
    /// @dev Meter serial hash → device: one meter, one registration across all owners (issue 13).
    mapping(bytes32 serialHash => bytes32 deviceId) private _deviceOfSerial;
    /// @dev Calibrations in order of validFrom (strictly increasing).
    mapping(bytes32 deviceId => Calibration[]) private _calibrations;

    /// @notice The caller is neither an active enterprise account of `ownerOrg` nor an active regulator.
    error NotDeviceAdministrator(address caller, bytes32 ownerOrg);
    /// @notice The caller is not an account of an Active accredited calibration body (CALIBRATION_BODY_ROLE).
    error NotCalibrationBody(address caller);
    /// @notice A calibration must start after the previous one started (validFrom strictly increasing).
    error CalibrationOutOfOrder(bytes32 deviceId, uint64 validFrom, uint64 previousValidFrom);
    /// @notice `ownerOrg` is not an Active enterprise organisation.
    error OwnerNotActiveEnterprise(bytes32 ownerOrg);
    /// @notice A device with this id exists already.
    error DeviceExists(bytes32 deviceId);
    /// @notice Device id 0 is reserved.
    error InvalidDeviceId();
    /// @notice No device with this id.
    error UnknownDevice(bytes32 deviceId);
    /// @notice The device was revoked (final).
    error DeviceAlreadyRevoked(bytes32 deviceId);
    /// @notice The signer address is zero.
    error InvalidSigner();
    /// @notice The signer address belongs to another device (signer keys are never reused).
    error SignerInUse(address signer, bytes32 deviceId);
    /// @notice The meter serial is registered already (by this or another enterprise): a meter is
    ///         registered once across the ledger (issue 13, no double claim of the same meter).
    error SerialInUse(bytes32 serialHash, bytes32 deviceId);
    /// @notice The meter serial hash is zero.
    error InvalidSerialHash();
    /// @notice Quantity code 0 is not a quantity.
    error InvalidQuantityCode(uint16 quantityCode);
    /// @notice A calibration validity needs validFrom <= validUntil.
    error InvalidCalibration(uint64 validFrom, uint64 validUntil);
    /// @notice Calibration records need the certificate's hash.
    error MissingCertificateHash();
    /// @notice The device cannot be relied on at the given time; see the REASON_* constants.
    error DeviceNotUsable(bytes32 deviceId, uint8 reasonCode);

    /// @notice A device was registered (it is usable once a calibration body records a calibration).
    event DeviceRegistered(bytes32 indexed deviceId, bytes32 indexed ownerOrg, address signer, uint16 quantityCode);
    /// @notice A calibration certificate was recorded by a calibration body.
    event CalibrationRecorded(
        bytes32 indexed deviceId,
        bytes32 indexed ownerOrg,
        uint64 validFrom,
        uint64 validUntil,
        bytes32 certificateHash,
        address indexed by
    );
    /// @notice A device was revoked (final).
    event DeviceRevoked(
        bytes32 indexed deviceId, bytes32 indexed ownerOrg, bytes32 reasonHash, address indexed by
    );

    /// @param participantRegistry The deployed ParticipantRegistry.
    constructor(ParticipantRegistry participantRegistry) ParticipantGated(participantRegistry) {
    }

    /// @notice Registers a meter with the address of its signing key. Its data is usable once an
    ///         accredited calibration body records a calibration covering the measurement time.
    /// @param deviceId New device id (nonzero).
    /// @param ownerOrg Owning enterprise organisation (Active, ENTERPRISE_ROLE).
    /// @param signer Address of the device's secp256k1 signing key (unique across all devices ever).
    /// @param quantityCode Measured quantity (1 = average active power in W, COMMON.md).
    /// @param serialHash keccak256 of the meter's manufacturer serial number (ledger/identifiers.py
    ///        meter_serial_hash); unique across all owners, reverts SerialInUse otherwise.
    /// @dev DESIGN.md §4: only the owner's enterprise or the regulator registers. Issue 13: two
    ///      enterprises cannot register the same meter.
    function registerDevice(bytes32 deviceId, bytes32 ownerOrg, address signer, uint16 quantityCode, bytes32 serialHash)
        external
    {
        _requireAdministrator(ownerOrg);
        (bytes32 role,, int32 utcOffsetSeconds, ParticipantRegistry.Status orgStatus) = participants.organisation(ownerOrg);
        if (role != Roles.ENTERPRISE || orgStatus != ParticipantRegistry.Status.Active) {
            revert OwnerNotActiveEnterprise(ownerOrg);
        }
        if (deviceId == bytes32(0)) revert InvalidDeviceId();
        if (_devices[deviceId].status != Status.None) revert DeviceExists(deviceId);
        if (signer == address(0)) revert InvalidSigner();
        bytes32 other = _deviceOfSigner[signer];
        if (other != bytes32(0)) revert SignerInUse(signer, other);
        if (quantityCode == 0) revert InvalidQuantityCode(quantityCode);
        if (serialHash == bytes32(0)) revert InvalidSerialHash();
        bytes32 holder = _deviceOfSerial[serialHash];
        if (holder != bytes32(0)) revert SerialInUse(serialHash, holder);
        _deviceOfSerial[serialHash] = deviceId;

        _devices[deviceId] =
            Device({
            ownerOrg: ownerOrg,
            signer: signer,
            quantityCode: quantityCode,
            status: Status.Active,
            calibrationCount: 0,
            ownerUtcOffsetSeconds: utcOffsetSeconds
        });
        _deviceOfSigner[signer] = deviceId;
        emit DeviceRegistered(deviceId, ownerOrg, signer, quantityCode);
    }

    /// @notice Records a calibration (检定/校准) certificate: data measured in [validFrom, validUntil]
    ///         may be relied on. A later certificate governs from its own validFrom: the previous
    ///         validity is cut at validFrom − 1 if it ran longer (e.g. a check found the meter out
    ///         of tolerance and it was re-adjusted).
    /// @param deviceId Active device.
    /// @param validFrom Start of validity, UTC seconds inclusive (the calibration date); strictly
    ///        after the previous calibration's validFrom.
    /// @param validUntil End of validity, UTC seconds inclusive (>= validFrom).
    /// @param certificateHash Hash of the certificate (nonzero).
    /// @dev Accredited calibration body only (CALIBRATION_BODY_ROLE), never the owner enterprise:
    ///      《中华人民共和国计量法》 Art. 9 (compulsory verification by legal metrology bodies), issue 12.
    function recordCalibration(bytes32 deviceId, uint64 validFrom, uint64 validUntil, bytes32 certificateHash)
        external
    {
        if (!participants.isActive(msg.sender, Roles.CALIBRATION_BODY)) revert NotCalibrationBody(msg.sender);
        Device storage d = _activeDevice(deviceId);
        if (validFrom > validUntil) revert InvalidCalibration(validFrom, validUntil);
        if (certificateHash == bytes32(0)) revert MissingCertificateHash();
        Calibration[] storage cals = _calibrations[deviceId];
        uint256 n = cals.length;
        if (n != 0) {
            Calibration storage prev = cals[n - 1];
            if (validFrom <= prev.validFrom) revert CalibrationOutOfOrder(deviceId, validFrom, prev.validFrom);
            if (prev.validUntil >= validFrom) prev.validUntil = validFrom - 1;
        }
        cals.push(Calibration({validFrom: validFrom, validUntil: validUntil}));
        d.calibrationCount = uint32(n + 1);
        emit CalibrationRecorded(deviceId, d.ownerOrg, validFrom, validUntil, certificateHash, msg.sender);
    }

    /// @notice Revokes a device for good (decommissioned, faulty, or its key compromised).
    /// @param deviceId Active device.
    /// @param reasonHash Hash of the reason document.
    /// @dev Owner's enterprise or regulator. Its signer address stays reserved.
    function revokeDevice(bytes32 deviceId, bytes32 reasonHash) external {
        Device storage d = _activeDevice(deviceId);
        _requireAdministrator(d.ownerOrg);
        d.status = Status.Revoked;
        emit DeviceRevoked(deviceId, d.ownerOrg, reasonHash, msg.sender);
    }

    /// @notice A device's owner, signer, quantity code, the end of its latest calibration's
    ///         validity (UTC seconds inclusive, 0 if never calibrated; the history is `calibrations`)
    ///         and status.
    /// @param deviceId Device id; unknown ids return zeros and Status.None.
    function device(bytes32 deviceId)
        external
        view
        returns (bytes32 ownerOrg, address signer, uint16 quantityCode, uint64 calibratedUntil, Status status)
    {
        Device storage d = _devices[deviceId];
        Calibration[] storage cals = _calibrations[deviceId];
        if (cals.length != 0) calibratedUntil = cals[cals.length - 1].validUntil;
        return (d.ownerOrg, d.signer, d.quantityCode, calibratedUntil, d.status);
    }

    /// @notice Every calibration recorded for a device, in order (validities never overlap).
    /// @param deviceId Device id.
    function calibrations(bytes32 deviceId) external view returns (Calibration[] memory) {
        return _calibrations[deviceId];
    }

    /// @notice The device whose signing key has this address (0 if none).
    /// @param signer Signing address.
    function deviceOfSigner(address signer) external view returns (bytes32) {
        return _deviceOfSigner[signer];
    }

    /// @notice The device registered with this meter serial hash (0 if none).
    /// @param serialHash keccak256 of the meter's serial number.
    function deviceOfSerial(bytes32 serialHash) external view returns (bytes32) {
        return _deviceOfSerial[serialHash];
    }

    /// @notice Whether data measured at UTC second `at` by this device can be relied on:
    ///         device Active, owner organisation Active, a recorded calibration covers `at`.
    /// @param deviceId Device id.
    /// @param at UTC seconds.
    function isUsable(bytes32 deviceId, uint64 at) external view returns (bool) {
        return _unusableReason(deviceId, at) == 0;
    }

    /// @notice Reverts `DeviceNotUsable(deviceId, reasonCode)` unless `isUsable(deviceId, at)`.
    /// @param deviceId Device id.
    /// @param at UTC seconds.
    function requireUsable(bytes32 deviceId, uint64 at) external view {
        uint8 reason = _unusableReason(deviceId, at);
        if (reason != 0) revert DeviceNotUsable(deviceId, reason);
    }

    /// @notice The anchoring check (MeterDataAnchor): reverts `DeviceNotUsable(deviceId, reasonCode)`
    ///         unless the device is registered, not revoked, and one recorded calibration covers
    ///         the whole span [from, until] (UTC seconds, inclusive); returns the owner's UTC offset
    ///         (for month cuts).
    /// @param deviceId Device id.
    /// @param from First measured second.
    /// @param until Last measured second (>= from).
    /// @return utcOffsetSeconds The owner's clock offset east of UTC, seconds (DESIGN.md §5 "Time").
    /// @dev The owner organisation's status is not asked here (gas; an anchored batch is evidence
    ///      of what the meter measured): it is checked where the data is used — EmissionsRegistry
    ///      records only for an Active enterprise — and by `isUsable` for the oracle nodes.
    function requireUsableOver(bytes32 deviceId, uint64 from, uint64 until)
        external
        view
        returns (int32 utcOffsetSeconds)
    {
        Device storage d = _devices[deviceId];
        uint8 reason = _deviceReason(d, deviceId, from, until);
        if (reason != 0) revert DeviceNotUsable(deviceId, reason);
        return d.ownerUtcOffsetSeconds;
    }

    function _unusableReason(bytes32 deviceId, uint64 at) private view returns (uint8) {
        Device storage d = _devices[deviceId];
        uint8 reason = _deviceReason(d, deviceId, at, at);
        if (reason == REASON_UNKNOWN_DEVICE || reason == REASON_REVOKED) return reason;
        (,,, ParticipantRegistry.Status orgStatus) = participants.organisation(d.ownerOrg);
        if (orgStatus != ParticipantRegistry.Status.Active) return REASON_OWNER_NOT_ACTIVE;
        return reason;
    }

    /// @dev Status and calibration: the latest calibration that started at or before `from` must
    ///      last through `until` (latest first: data is nearly always covered by the current one).
    function _deviceReason(Device storage d, bytes32 deviceId, uint64 from, uint64 until)
        private
        view
        returns (uint8)
    {
        if (d.status == Status.None) return REASON_UNKNOWN_DEVICE;
        if (d.status == Status.Revoked) return REASON_REVOKED;
        Calibration[] storage cals = _calibrations[deviceId];
        for (uint256 i = d.calibrationCount; i > 0; --i) {
            Calibration storage c = cals[i - 1];
            if (c.validFrom <= from) return until <= c.validUntil ? 0 : REASON_NOT_CALIBRATED;
        }
        return REASON_NOT_CALIBRATED;
    }

    function _activeDevice(bytes32 deviceId) private view returns (Device storage d) {
        d = _devices[deviceId];
        if (d.status == Status.None) revert UnknownDevice(deviceId);
        if (d.status == Status.Revoked) revert DeviceAlreadyRevoked(deviceId);
    }

    function _requireAdministrator(bytes32 ownerOrg) private view {
        if (participants.isActive(msg.sender, Roles.REGULATOR)) return;
        if (
            ownerOrg != bytes32(0) && participants.isActive(msg.sender, Roles.ENTERPRISE)
                && participants.orgOf(msg.sender) == ownerOrg
        ) return;
        revert NotDeviceAdministrator(msg.sender, ownerOrg);
    }
}
