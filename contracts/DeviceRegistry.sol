// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ParticipantRegistry} from "./ParticipantRegistry.sol";
import {ParticipantGated} from "./access/ParticipantGated.sol";
import {Roles} from "./lib/Roles.sol";

/// @title DeviceRegistry
/// @notice Meters (计量器具) and CEMS analysers: owner enterprise, the address of the device's own
///         signing key, the measured quantity and the calibration validity.
/// @dev DESIGN.md §4 DeviceRegistry: only the owner's enterprise or the regulator registers;
///      revoked or out-of-calibration devices are refused. 《碳排放权交易管理暂行条例》 Art. 11:
///      key emitters measure with calibrated instruments and keep the records.
contract DeviceRegistry is ParticipantGated {
    /// @notice Device lifecycle; `Revoked` is final.
    enum Status {
        None,
        Active,
        Revoked
    }

    /// @dev Packed: ownerOrg in one slot; signer, quantityCode, calibratedUntil, status in another.
    struct Device {
        bytes32 ownerOrg;
        address signer;
        uint16 quantityCode;
        uint64 calibratedUntil;
        Status status;
    }

    /// @notice `DeviceNotUsable` reason 1: no device with this id.
    uint8 public constant REASON_UNKNOWN_DEVICE = 1;
    /// @notice `DeviceNotUsable` reason 2: the device was revoked.
    uint8 public constant REASON_REVOKED = 2;
    /// @notice `DeviceNotUsable` reason 3: the owner organisation is suspended or revoked.
    uint8 public constant REASON_OWNER_NOT_ACTIVE = 3;
    /// @notice `DeviceNotUsable` reason 4: the time is after the calibration validity.
    uint8 public constant REASON_CALIBRATION_EXPIRED = 4;

    mapping(bytes32 deviceId => Device) private _devices;
    mapping(address signer => bytes32 deviceId) private _deviceOfSigner;

    /// @notice The caller is neither an active enterprise account of `ownerOrg` nor an active regulator.
    error NotDeviceAdministrator(address caller, bytes32 ownerOrg);
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
    /// @notice Quantity code 0 is not a quantity.
    error InvalidQuantityCode(uint16 quantityCode);
    /// @notice A calibration validity must be a nonzero UTC timestamp.
    error InvalidCalibration(uint64 calibratedUntil);
    /// @notice Calibration records need the certificate's hash.
    error MissingCertificateHash();
    /// @notice The device cannot be relied on at the given time; see the REASON_* constants.
    error DeviceNotUsable(bytes32 deviceId, uint8 reasonCode);

    /// @notice A device was registered.
    event DeviceRegistered(
        bytes32 indexed deviceId,
        bytes32 indexed ownerOrg,
        address signer,
        uint16 quantityCode,
        uint64 calibratedUntil,
        bytes32 calibrationCertificateHash
    );
    /// @notice A new calibration certificate was recorded.
    event CalibrationRecorded(
        bytes32 indexed deviceId,
        bytes32 indexed ownerOrg,
        uint64 calibratedUntil,
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

    /// @notice Registers a meter with the address of its signing key and its calibration validity.
    /// @param deviceId New device id (nonzero).
    /// @param ownerOrg Owning enterprise organisation (Active, ENTERPRISE_ROLE).
    /// @param signer Address of the device's secp256k1 signing key (unique across all devices ever).
    /// @param quantityCode Measured quantity (1 = average active power in W, COMMON.md).
    /// @param calibratedUntil Calibration valid through this UTC second (inclusive).
    /// @param calibrationCertificateHash Hash of the calibration (检定/校准) certificate.
    /// @dev DESIGN.md §4: only the owner's enterprise or the regulator registers.
    function registerDevice(
        bytes32 deviceId,
        bytes32 ownerOrg,
        address signer,
        uint16 quantityCode,
        uint64 calibratedUntil,
        bytes32 calibrationCertificateHash
    ) external {
        _requireAdministrator(ownerOrg);
        (bytes32 role,,, ParticipantRegistry.Status orgStatus) = participants.organisation(ownerOrg);
        if (role != Roles.ENTERPRISE || orgStatus != ParticipantRegistry.Status.Active) {
            revert OwnerNotActiveEnterprise(ownerOrg);
        }
        if (deviceId == bytes32(0)) revert InvalidDeviceId();
        if (_devices[deviceId].status != Status.None) revert DeviceExists(deviceId);
        if (signer == address(0)) revert InvalidSigner();
        bytes32 other = _deviceOfSigner[signer];
        if (other != bytes32(0)) revert SignerInUse(signer, other);
        if (quantityCode == 0) revert InvalidQuantityCode(quantityCode);
        if (calibratedUntil == 0) revert InvalidCalibration(calibratedUntil);
        if (calibrationCertificateHash == bytes32(0)) revert MissingCertificateHash();

        _devices[deviceId] = Device({
            ownerOrg: ownerOrg,
            signer: signer,
            quantityCode: quantityCode,
            calibratedUntil: calibratedUntil,
            status: Status.Active
        });
        _deviceOfSigner[signer] = deviceId;
        emit DeviceRegistered(deviceId, ownerOrg, signer, quantityCode, calibratedUntil, calibrationCertificateHash);
    }

    /// @notice Records a new calibration certificate and the validity it gives.
    /// @param deviceId Active device.
    /// @param calibratedUntil New validity end, UTC seconds inclusive (may be earlier than before,
    ///        e.g. when a check found the meter out of tolerance).
    /// @param certificateHash Hash of the certificate (nonzero).
    /// @dev Owner's enterprise or regulator (DESIGN.md §4).
    function recordCalibration(bytes32 deviceId, uint64 calibratedUntil, bytes32 certificateHash) external {
        Device storage d = _activeDevice(deviceId);
        _requireAdministrator(d.ownerOrg);
        if (calibratedUntil == 0) revert InvalidCalibration(calibratedUntil);
        if (certificateHash == bytes32(0)) revert MissingCertificateHash();
        d.calibratedUntil = calibratedUntil;
        emit CalibrationRecorded(deviceId, d.ownerOrg, calibratedUntil, certificateHash, msg.sender);
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

    /// @notice A device's owner, signer, quantity code, calibration validity and status.
    /// @param deviceId Device id; unknown ids return zeros and Status.None.
    function device(bytes32 deviceId)
        external
        view
        returns (bytes32 ownerOrg, address signer, uint16 quantityCode, uint64 calibratedUntil, Status status)
    {
        Device storage d = _devices[deviceId];
        return (d.ownerOrg, d.signer, d.quantityCode, d.calibratedUntil, d.status);
    }

    /// @notice The device whose signing key has this address (0 if none).
    /// @param signer Signing address.
    function deviceOfSigner(address signer) external view returns (bytes32) {
        return _deviceOfSigner[signer];
    }

    /// @notice Whether data measured at UTC second `at` by this device can be relied on:
    ///         device Active, owner organisation Active, `at` <= calibratedUntil.
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

    function _unusableReason(bytes32 deviceId, uint64 at) private view returns (uint8) {
        Device storage d = _devices[deviceId];
        if (d.status == Status.None) return REASON_UNKNOWN_DEVICE;
        if (d.status == Status.Revoked) return REASON_REVOKED;
        (,,, ParticipantRegistry.Status orgStatus) = participants.organisation(d.ownerOrg);
        if (orgStatus != ParticipantRegistry.Status.Active) return REASON_OWNER_NOT_ACTIVE;
        if (at > d.calibratedUntil) return REASON_CALIBRATION_EXPIRED;
        return 0;
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
