// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ParticipantRegistry} from "./ParticipantRegistry.sol";
import {ParticipantGated} from "./access/ParticipantGated.sol";
import {DeviceRegistry} from "./DeviceRegistry.sol";

/// @title GenerationClaims
/// @notice Which instrument claims a generation device's month: a renewable plant's generation of
///         one month (its generation meter, DeviceRegistry id, quantity code 16) backs either green
///         electricity certificates (GEC, 绿证: GreenCertificates) or an offset project's credits
///         (CCER: CCERRegistry), never both, and is claimed once.
/// @dev Issue 13 "No double claim, enforced on-chain"; docs/gec.md "GEC or CCER, never both".
///      Rule status: UNCONFIRMED — china_rules.md has no GEC entry and no GEC/CCER exclusivity
///      rule (its only related entry, "不具唯一性的项目" ineligible for CCER, is PARTIAL, a 2023
///      consultation draft); lead: NDRC/NEA/MEE notices of 2023–2024 on GEC and CCER
///      (发改能源〔2023〕1044号), not retrieved. The only writers are the contracts the constitution
///      names (`setWriter`): GreenCertificates as GEC, CCERRegistry as CCER; each writes its own
///      instrument only. A claim is final (no release).
contract GenerationClaims is ParticipantGated {
    /// @notice Instrument code 1: green electricity certificates (GreenCertificates).
    uint8 public constant GEC = 1;
    /// @notice Instrument code 2: CCER credits (CCERRegistry).
    uint8 public constant CCER = 2;
    /// @notice Quantity code of a generation meter (oracles/quantities.py GENERATION_POWER).
    uint16 public constant GENERATION_QUANTITY_CODE = 16;

    /// @notice One generation device-month: DeviceRegistry id, year (>= 1970), month 1..12 (local
    ///         month of the plant, as GreenCertificates issues it).
    struct DeviceMonth {
        bytes32 device;
        uint16 year;
        uint8 month;
    }

    /// @notice The claim on a device-month: instrument (0 = unclaimed, GEC, CCER) and the record of
    ///         that instrument (GreenCertificates issuance id, 0 when the month was closed without a
    ///         certificate; CCERRegistry batch id).
    struct Claim {
        uint8 instrument;
        uint64 record;
    }

    /// @notice The device registry (generation meters).
    DeviceRegistry public immutable devices;

    /// @notice Instrument each writer contract claims for (0: not a writer).
    mapping(address writer => uint8 instrument) public writerInstrument;
    mapping(bytes32 device => mapping(uint256 monthKey => Claim)) private _claims;

    /// @notice The caller is not a writer (GreenCertificates or CCERRegistry named by the constitution).
    error NotClaimWriter(address caller);
    /// @notice Instrument code not 0 (revoke), GEC or CCER.
    error InvalidInstrument(uint8 instrument);
    /// @notice A claim names no device-month.
    error NoDeviceMonths();
    /// @notice The device is not registered in DeviceRegistry.
    error UnknownDevice(bytes32 device);
    /// @notice The device is registered but is not a generation meter (quantity code 16).
    error NotGenerationMeter(bytes32 device, uint16 quantityCode);
    /// @notice Month must be 1..12 and year >= 1970.
    error InvalidPeriod(uint16 year, uint8 month);
    /// @notice The device's month is claimed already, by `instrument` (GEC 1, CCER 2) record `record`.
    error GenerationAlreadyClaimed(bytes32 device, uint16 year, uint8 month, uint8 instrument, uint64 record);

    /// @notice `writer` now claims for `instrument` (0: no longer a writer).
    event WriterSet(address indexed writer, uint8 instrument);
    /// @notice The device's month is claimed by `instrument` record `record` (written by `writer`).
    event GenerationClaimed(
        bytes32 indexed device, uint16 year, uint8 month, uint8 indexed instrument, uint64 record, address writer
    );

    /// @param participantRegistry The deployment's ParticipantRegistry (constitution).
    /// @param deviceRegistry The deployment's DeviceRegistry.
    constructor(ParticipantRegistry participantRegistry, DeviceRegistry deviceRegistry)
        ParticipantGated(participantRegistry)
    {
        devices = deviceRegistry;
    }

    /// @notice Names `writer` (a contract: GreenCertificates or CCERRegistry) as the writer of
    ///         `instrument` claims; instrument 0 revokes it.
    /// @dev Constitutional act (NotConstitution). Errors: InvalidInstrument. Emits WriterSet.
    function setWriter(address writer, uint8 instrument) external onlyConstitution {
        if (instrument > CCER) revert InvalidInstrument(instrument);
        writerInstrument[writer] = instrument;
        emit WriterSet(writer, instrument);
    }

    /// @notice Claims each device-month of `months` for the caller's instrument, record `record`.
    /// @dev Errors: NotClaimWriter, NoDeviceMonths, InvalidPeriod, UnknownDevice,
    ///      NotGenerationMeter, GenerationAlreadyClaimed (also for a device-month named twice).
    ///      Emits GenerationClaimed per device-month.
    function claim(DeviceMonth[] calldata months, uint64 record) external {
        uint8 instrument = writerInstrument[msg.sender];
        if (instrument == 0) revert NotClaimWriter(msg.sender);
        if (months.length == 0) revert NoDeviceMonths();
        for (uint256 i; i < months.length; ++i) {
            DeviceMonth calldata m = months[i];
            Claim storage c = _slot(m.device, m.year, m.month);
            if (c.instrument != 0) {
                revert GenerationAlreadyClaimed(m.device, m.year, m.month, c.instrument, c.record);
            }
            c.instrument = instrument;
            c.record = record;
            emit GenerationClaimed(m.device, m.year, m.month, instrument, record, msg.sender);
        }
    }

    /// @notice The claim on a device's month (instrument 0 when unclaimed).
    /// @dev Errors: InvalidPeriod, UnknownDevice, NotGenerationMeter.
    function claimOf(bytes32 device, uint16 year, uint8 month) external view returns (Claim memory) {
        return _slot(device, year, month);
    }

    /// @dev The checked storage slot of a device-month.
    function _slot(bytes32 device, uint16 year, uint8 month) private view returns (Claim storage) {
        if (month == 0 || month > 12 || year < 1970) revert InvalidPeriod(year, month);
        (bytes32 ownerOrg,, uint16 quantityCode,,) = devices.device(device);
        if (ownerOrg == bytes32(0)) revert UnknownDevice(device);
        if (quantityCode != GENERATION_QUANTITY_CODE) revert NotGenerationMeter(device, quantityCode);
        return _claims[device][uint256(year) * 12 + month];
    }
}
