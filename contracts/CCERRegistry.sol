// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {ParticipantRegistry} from "./ParticipantRegistry.sol";
import {ParticipantGated} from "./access/ParticipantGated.sol";
import {ICarbonAssets} from "./interfaces/ICarbonAssets.sol";
import {ICCERRegistry} from "./interfaces/ICCERRegistry.sol";
import {AssetIds} from "./lib/AssetIds.sol";
import {Roles} from "./lib/Roles.sol";
import {SerialRanges} from "./lib/SerialRanges.sol";
import {GenerationClaims} from "./GenerationClaims.sol";

/// @title CCERRegistry
/// @notice The CCER registry (注册登记): projects, issuance batches with registry serial ranges,
///         retirements (注销) with certificates naming the exact serials retired, and cancellations
///         (moved to another registry). Units are CarbonAssets tokens of id
///         `AssetIds.ccer(vintage, project)`, 1 token = 1 tCO2e.
/// @dev DESIGN.md §4 (CarbonAssets: "issuance only by regulator / registry; retirement records
///      beneficiary and purpose and is final"). The registry institution (interim: 国家应对气候变化
///      战略研究和国际合作中心, MEE 通告 Oct 2023, china_rules.md §4) acts through accounts holding
///      Roles.REGISTRY; this contract holds CarbonAssets.CCER_ISSUER_ROLE. The CCER serial-number
///      format is UNCONFIRMED (china_rules.md §4), so serials follow the ACR / CAR convention
///      "<prefix><start> to <end>": the prefix string names a serial block (stored as its
///      keccak256, emitted in full) and serials are integers >= 1. Within one prefix no serial is
///      issued twice and no serial is retired twice; range look-ups use `SerialRanges`, whose cost
///      does not grow with the number of retirements.
///      Serials are assigned to units when they are retired, cancelled or surrendered, not while
///      they circulate (tokens of one id are fungible across the batches of that id); a batch
///      issued without serials is retired, cancelled and surrendered without serials (an explicit
///      range is refused: no invented prefix and range).
///      Serial status (issue 12: serials stay consistent with tokens): every serial of an issued
///      block is Active until it leaves circulation as Retired (注销, `retire`), Cancelled
///      (`cancel`, moved to another registry) or Surrendered (清缴, Compliance's CCER surrender,
///      `recordSurrender`); each is final, and a serial that left circulation can be claimed
///      by no later retirement, cancellation or surrender (`serialState` reads it). Surrender
///      takes, for the token id (project, vintage) surrendered, the oldest batch of that project
///      and vintage with units left (lowest batch id first) and in it the lowest Active serials,
///      as a retirement without a named range does; a batch without serials is counted without
///      serials. The batches of a project are chained (`Project.lastBatch`, `Batch.prevBatch`,
///      words written at issuance anyway), so a surrender reads the project's batches and
///      issuance stores no per-asset list.
///      Consent (issue 12): units leave a holding only on the holder's instruction — sent by the
///      holder itself, or relayed by a registry account with the holder's EIP-712 signature
///      (nonce, deadline) — or by a clawback cancellation with a reason hash, which is
///      constitutional (k of n regulators after the governance delay).
contract CCERRegistry is ParticipantGated, ICCERRegistry, EIP712, Nonces {
    using SerialRanges for SerialRanges.Set;

    /// @notice A registered project (项目登记).
    ///         `lastBatch` is the project's latest batch (0: none yet), the head of its batch chain.
    struct Project {
        address owner;
        uint64 registeredAt;
        uint32 lastBatch;
        uint64 creditingStart;
        bytes32 methodology;
        bytes32 region;
    }

    /// @notice An issuance batch (减排量登记). `serialPrefix` is keccak256 of the prefix string
    ///         (0 with serialStart = serialEnd = 0: batch issued without serials). `cursor` is the
    ///         lowest serial of the batch not yet retired (serialEnd + 1 when all are). `retired` counts
    ///         every unit of the batch out of circulation (retired, cancelled or surrendered).
    ///         `prevBatch` is the project's batch issued before this one (0: none).
    struct Batch {
        uint64 project;
        uint16 vintage;
        uint64 amount;
        uint64 retired;
        uint32 prevBatch;
        uint64 serialStart;
        uint64 serialEnd;
        uint64 cursor;
        uint64 issuedAt;
        bytes32 serialPrefix;
    }

    /// @notice A retirement certificate. Serial fields are 0 when none were recorded (batch
    ///         without serials retired by amount).
    struct Certificate {
        address holder;
        uint64 retiredAt;
        uint64 batchId;
        uint64 amount;
        uint64 serialStart;
        uint64 serialEnd;
        bytes32 serialPrefix;
        string beneficiary;
        string purpose;
        string reason;
    }

    /// @notice What `retire` is asked to do.
    /// @dev `serialPrefix` "" with serialStart = serialEnd = 0: the registry allocates the lowest
    ///      free serials of the batch (or, for a batch without serials, records none); otherwise
    ///      the explicit range "<serialPrefix><serialStart> to <serialEnd>" is retired and `amount`
    ///      must equal its length.
    struct RetirementRequest {
        address holder;
        uint256 batchId;
        uint256 amount;
        string serialPrefix;
        uint64 serialStart;
        uint64 serialEnd;
        string beneficiary;
        string purpose;
        string reason;
    }

    /// @notice EIP-712 type of a holder's signed retirement instruction.
    bytes32 public constant RETIREMENT_TYPEHASH = keccak256(
        "Retirement(address holder,uint256 batchId,uint256 amount,string serialPrefix,uint64 serialStart,uint64 serialEnd,string beneficiary,string purpose,string reason,uint256 nonce,uint256 deadline)"
    );
    /// @notice EIP-712 type of a holder's signed cancellation instruction.
    bytes32 public constant CANCELLATION_TYPEHASH = keccak256(
        "Cancellation(address holder,uint256 batchId,uint256 amount,bytes32 destination,uint256 nonce,uint256 deadline)"
    );

    /// @notice The asset ledger this registry issues into.
    ICarbonAssets public immutable assets;
    /// @notice The ledger of claimed generation device-months (GEC or CCER, never both); this
    ///         contract is its CCER writer. Zero: `issueGenerationBatch` is refused.
    GenerationClaims public immutable generationClaims;

    mapping(uint64 projectNumber => Project) private _projects;
    /// @dev Batches by id (1 … _nextBatch - 1); a mapping, not an array, so that issuance writes
    ///      each of a batch's three words once (see `issueBatch`).
    mapping(uint256 batchId => Batch) private _batches;
    uint256 private _nextBatch;
    Certificate[] private _certificates;
    mapping(bytes32 prefix => SerialRanges.Set) private _issuedSerials;
    /// @dev Ranges out of circulation per prefix, tagged with their SerialStatus (Retired,
    ///      Cancelled, Surrendered); adjacent ranges of one status are merged.
    mapping(bytes32 prefix => SerialRanges.Set) private _retiredSerials;

    /// @notice Status of one serial of a prefix: not issued, in circulation, or out of
    ///         circulation for good (the values 2-4 are the range tags of the out-of-circulation set).
    enum SerialStatus {
        Unissued,
        Active,
        Retired,
        Cancelled,
        Surrendered
    }

    /// @notice CarbonAssets operator role of Compliance (the only caller of `recordSurrender`).
    bytes32 public constant COMPLIANCE_ROLE = keccak256("COMPLIANCE_ROLE");

    /// @notice Caller is neither the holder nor an active registry account.
    error NotHolderOrRegistry(address caller, address holder);
    /// @notice The signature is not `holder`'s over this request (with the holder's next nonce).
    error InvalidHolderSignature(address holder);
    /// @notice The signed request's deadline (UTC seconds) has passed.
    error RequestExpired(uint256 deadline);
    /// @notice A clawback needs a non-zero reason hash.
    error MissingReason();

    /// @notice Project number 0 is reserved (AssetIds: CCER ids have project > 0).
    error InvalidProject();
    /// @notice Project `project` is already registered.
    error ProjectExists(uint64 projectNumber);
    /// @notice Project `project` is not registered.
    error UnknownProject(uint64 projectNumber);
    /// @notice Batch `batchId` does not exist.
    error UnknownBatch(uint256 batchId);
    /// @notice Amount must be positive and fit a uint64 (whole tCO2e).
    error InvalidAmount(uint256 amount);
    /// @notice Serial range malformed: with a prefix 1 <= start <= end < 2^64-1; without one
    ///         start = end = 0.
    error InvalidSerialRange(uint64 start, uint64 end);
    /// @notice The range holds `count` serials but `amount` units were given.
    error SerialCountMismatch(uint256 amount, uint256 count);
    /// @notice [start, end] of `prefix` overlaps issued range [otherStart, otherEnd] of that prefix.
    error SerialsAlreadyIssued(bytes32 prefix, uint64 start, uint64 end, uint64 otherStart, uint64 otherEnd);
    /// @notice [start, end] of `prefix` overlaps retired or cancelled range [otherStart, otherEnd]
    ///         of that prefix.
    error SerialsAlreadyRetired(bytes32 prefix, uint64 start, uint64 end, uint64 otherStart, uint64 otherEnd);
    /// @notice [start, end] of `prefix` overlaps surrendered (清缴) range [otherStart, otherEnd] of
    ///         that prefix.
    error SerialsAlreadySurrendered(bytes32 prefix, uint64 start, uint64 end, uint64 otherStart, uint64 otherEnd);
    /// @notice Caller is not a contract holding CarbonAssets' COMPLIANCE_ROLE.
    error NotComplianceOperator(address caller);
    /// @notice `assetId` is not a well-formed CCER id.
    error NotCcer(uint256 assetId);
    /// @notice The batches of `assetId` have only `available` units in circulation, fewer than the
    ///         `requested` surrender (cannot happen while CarbonAssets' supply invariant holds).
    error UnitsNotInBatches(uint256 assetId, uint256 requested, uint256 available);
    /// @notice More than 2^32-1 batches: the batch chain's ids are uint32.
    error TooManyBatches();
    /// @notice The range is not inside batch `batchId`'s serial block (prefix and [start, end]).
    error SerialsOutsideBatch(uint256 batchId, bytes32 prefix, uint64 start, uint64 end);
    /// @notice Batch `batchId` has only `remaining` units left to retire.
    error BatchExhausted(uint256 batchId, uint256 remaining, uint256 requested);
    /// @notice The lowest free serials of batch `batchId` form the run [runStart, runEnd], shorter
    ///         than requested: retire that run first, or name an explicit range.
    error SerialsFragmented(uint256 batchId, uint64 runStart, uint64 runEnd, uint256 requested);
    /// @notice A required text field (`field`) is empty.
    error MissingText(string field);
    /// @notice Certificate `id` does not exist.
    error UnknownCertificate(uint256 id);
    /// @notice This registry was deployed without a GenerationClaims ledger.
    error NoGenerationClaims();

    /// @notice Project `project` registered (项目登记) for `owner`.
    event ProjectRegistered(
        uint64 indexed project,
        address indexed owner,
        bytes32 methodology,
        bytes32 region,
        uint64 registeredAt,
        uint64 creditingStart,
        string name
    );
    /// @notice Batch `batchId` issued: `amount` tCO2e of `assetId` to the project owner, serials
    ///         "<serialPrefix><serialStart> to <serialEnd>" ("" / 0 / 0 when without serials).
    event BatchIssued(
        uint256 indexed batchId,
        uint64 indexed project,
        uint256 indexed assetId,
        uint256 amount,
        string serialPrefix,
        uint64 serialStart,
        uint64 serialEnd,
        bytes32 ref
    );
    /// @notice Certificate `certificateId`: `cert.amount` tCO2e of `assetId` from batch
    ///         `cert.batchId` retired (注销) by `holder`, serials [cert.serialStart, cert.serialEnd]
    ///         of prefix hash `cert.serialPrefix` (0 when none), for `cert.beneficiary` and
    ///         `cert.purpose`; `by` sent it (the holder or a registry account).
    event RetirementCertified(
        uint256 indexed certificateId, address indexed holder, uint256 indexed assetId, Certificate cert, address by
    );
    /// @notice `amount` tCO2e of `assetId` of batch `batchId` held by `holder` cancelled: moved to
    ///         registry `destination`; serials [serialStart, serialEnd] of prefix hash
    ///         `serialPrefix` marked (0 when the batch has none); `by` sent it; `reasonHash` is the
    ///         regulator's clawback reason (0 on the holder's instruction).
    event CreditsCancelled(
        address indexed holder,
        uint256 indexed assetId,
        uint256 indexed batchId,
        uint256 amount,
        bytes32 destination,
        bytes32 serialPrefix,
        uint64 serialStart,
        uint64 serialEnd,
        bytes32 reasonHash,
        address by
    );

    /// @notice `amount` tCO2e of batch `batchId` (of `assetId`) surrendered (清缴) by `holder` for
    ///         compliance period `ref` (Compliance.periodRef): serials [serialStart, serialEnd] of
    ///         prefix hash `serialPrefix` marked Surrendered (0 / 0 / 0 when the batch has none).
    ///         One event per batch and run of serials taken.
    event SerialsSurrendered(
        address indexed holder,
        uint256 indexed assetId,
        uint256 indexed batchId,
        uint256 amount,
        bytes32 serialPrefix,
        uint64 serialStart,
        uint64 serialEnd,
        bytes32 ref
    );

    /// @param participantRegistry The deployment's ParticipantRegistry.
    /// @param carbonAssets The deployment's CarbonAssets (grant this contract CCER_ISSUER_ROLE).
    /// @param claims The deployment's GenerationClaims (name this contract its CCER writer), or
    ///        zero for a registry that issues no generation-backed batch.
    constructor(ParticipantRegistry participantRegistry, ICarbonAssets carbonAssets, GenerationClaims claims)
        EIP712("CarbonLedger CCERRegistry", "1")
        ParticipantGated(participantRegistry)
    {
        assets = carbonAssets;
        generationClaims = claims;
        // Batch 0 and certificate 0 are never used: 0 means "none".
        _nextBatch = 1;
        _certificates.push();
    }

    // ------------------------------------------------------------ registry

    /// @notice Register CCER project `project` (项目登记) owned by `owner`.
    /// @param projectNumber Registry project number, > 0, not yet registered.
    /// @param owner Project owner's account (项目业主), admitted.
    /// @param methodology Methodology code (e.g. keccak256 or right-padded "CCER-14-001-V01").
    /// @param region Region code (e.g. right-padded administrative division or country code).
    /// @param registeredAt UTC seconds of registration; creditingStart UTC seconds from which the
    ///        project's reductions count (both reported to Compliance by `projectDates`).
    /// @param name Project name, required; emitted only.
    /// @dev Errors: NotRegistry, InvalidProject, ProjectExists, NotAdmitted, MissingText.
    ///      Emits ProjectRegistered. Project registration as step one of two: 《温室气体自愿减排
    ///      交易管理办法（试行）》 (生态环境部、市场监管总局令第31号), china_rules.md §4.
    function registerProject(
        uint64 projectNumber,
        address owner,
        bytes32 methodology,
        bytes32 region,
        uint64 registeredAt,
        uint64 creditingStart,
        string calldata name
    ) external onlyActive(Roles.REGISTRY) {
        if (projectNumber == 0) revert InvalidProject();
        if (_projects[projectNumber].owner != address(0)) revert ProjectExists(projectNumber);
        if (!participants.isAdmitted(owner)) revert NotAdmitted(owner);
        if (bytes(name).length == 0) revert MissingText("name");
        _projects[projectNumber] = Project(owner, registeredAt, 0, creditingStart, methodology, region);
        emit ProjectRegistered(projectNumber, owner, methodology, region, registeredAt, creditingStart, name);
    }

    /// @notice Issue batch of `amount` tCO2e of CCER of `project`, reduction year `vintage`, to the
    ///         project owner (减排量登记), with serials "<serialPrefix><serialStart> to <serialEnd>".
    /// @param amount Whole tCO2e, 1 … 2^64-1.
    /// @param serialPrefix Serial block prefix, e.g. "ACR-US-102-2003-274-" or
    ///        "CAR-1-US-1008-27-845-WA-2015-2010-"; "" with serialStart = serialEnd = 0 for a batch
    ///        issued without serials (as ACR / CAR / VCS issuance files record them).
    /// @param serialStart First serial (>= 1); serialEnd last serial (< 2^64-1); end - start + 1 = amount, and
    ///        the range overlaps no issued range of the same prefix (nor, therefore, any range
    ///        out of circulation: those lie inside issued batches).
    /// @param ref Reference of the registry's issuance decision (emitted only).
    /// @return batchId The new batch id (1, 2, …).
    /// @dev Errors: NotRegistry, UnknownProject, InvalidAmount, InvalidSerialRange,
    ///      SerialCountMismatch, SerialsAlreadyIssued, TooManyBatches, and CarbonAssets'
    ///      MalformedAssetId (vintage 0), NotAdmitted (owner no longer admitted). Emits BatchIssued
    ///      (and CarbonAssets Issued with ref = batchId).
    function issueBatch(
        uint64 projectNumber,
        uint16 vintage,
        uint256 amount,
        string calldata serialPrefix,
        uint64 serialStart,
        uint64 serialEnd,
        bytes32 ref
    ) external onlyActive(Roles.REGISTRY) returns (uint256 batchId) {
        return _issueBatch(projectNumber, vintage, amount, serialPrefix, serialStart, serialEnd, ref);
    }

    /// @notice `issueBatch` for a renewable generation project: the batch's reductions come from
    ///         the generation of `months` (generation meter, year, month), each claimed for CCER
    ///         (record = batchId) in GenerationClaims, so that no GEC is ever issued for them and a
    ///         device-month already backing GEC (or another CCER batch) is refused.
    /// @param months Device-months the batch covers (at least one; DeviceRegistry generation
    ///        meters, quantity code 16; month 1..12, year >= 1970).
    /// @dev Rule "GEC or CCER, never both": UNCONFIRMED (docs/gec.md; lead 发改能源〔2023〕1044号).
    ///      Errors: those of `issueBatch`, NoGenerationClaims, and GenerationClaims'
    ///      NoDeviceMonths, InvalidPeriod, UnknownDevice, NotGenerationMeter,
    ///      GenerationAlreadyClaimed. Emits BatchIssued and GenerationClaims' GenerationClaimed.
    function issueGenerationBatch(
        uint64 projectNumber,
        uint16 vintage,
        uint256 amount,
        string calldata serialPrefix,
        uint64 serialStart,
        uint64 serialEnd,
        bytes32 ref,
        GenerationClaims.DeviceMonth[] calldata months
    ) external onlyActive(Roles.REGISTRY) returns (uint256 batchId) {
        if (address(generationClaims) == address(0)) revert NoGenerationClaims();
        batchId = _issueBatch(projectNumber, vintage, amount, serialPrefix, serialStart, serialEnd, ref);
        generationClaims.claim(months, uint64(batchId));
    }

    function _issueBatch(
        uint64 projectNumber,
        uint16 vintage,
        uint256 amount,
        string calldata serialPrefix,
        uint64 serialStart,
        uint64 serialEnd,
        bytes32 ref
    ) private returns (uint256 batchId) {
        Project storage pr = _projects[projectNumber];
        address owner = pr.owner;
        if (owner == address(0)) revert UnknownProject(projectNumber);
        if (amount == 0 || amount > type(uint64).max) revert InvalidAmount(amount);
        bytes32 prefix = _checkedRange(serialPrefix, serialStart, serialEnd, amount);
        if (prefix != bytes32(0)) {
            // Serials out of circulation are serials of an issued batch (retire, cancel and
            // surrender mark only inside a batch's block), so "not issued" implies "not retired".
            _requireNotIssued(prefix, serialStart, serialEnd);
            _issuedSerials[prefix].insert(serialStart, serialEnd);
        }
        batchId = _nextBatch;
        if (batchId > type(uint32).max) revert TooManyBatches();
        _nextBatch = batchId + 1;
        _storeBatch(_batches[batchId], _word0(projectNumber, vintage, amount, pr.lastBatch), _word1(serialStart, serialEnd), prefix);
        pr.lastBatch = uint32(batchId);
        uint256 id = AssetIds.ccer(vintage, projectNumber);
        assets.issue(owner, id, amount, bytes32(batchId));
        emit BatchIssued(batchId, projectNumber, id, amount, serialPrefix, serialStart, serialEnd, ref);
    }

    /// @notice Retire (注销) CCER of one batch from the caller's holding (`r.holder` must be the
    ///         caller), final, and issue a certificate. Without a serial range the registry
    ///         allocates the lowest free serials of the batch (a partial retirement leaves the
    ///         rest of the run free); with one, exactly that range is retired, inside the batch's
    ///         block. A batch issued without serials is retired by amount only.
    /// @param r holder (the caller, admitted), batchId, amount (tCO2e), serial range (see
    ///        RetirementRequest), beneficiary and purpose (required), reason (free text).
    /// @return certificateId The new certificate id (1, 2, …), also the CarbonAssets `certificate`.
    /// @dev Errors: NotHolderOrRegistry, NotAdmitted, UnknownBatch, InvalidAmount, MissingText,
    ///      InvalidSerialRange, SerialCountMismatch, SerialsOutsideBatch,
    ///      SerialsAlreadyRetired, SerialsAlreadySurrendered, BatchExhausted, SerialsFragmented, and CarbonAssets'
    ///      EnforcedPause, AccountIsFrozen, ERC1155InsufficientBalance. Emits RetirementCertified
    ///      (and CarbonAssets Retired). DESIGN.md §4: retirement records beneficiary and purpose.
    function retire(RetirementRequest calldata r) external returns (uint256 certificateId) {
        if (msg.sender != r.holder) revert NotHolderOrRegistry(msg.sender, r.holder);
        return _retire(r);
    }

    /// @notice A registry account relays holder `r.holder`'s signed retirement instruction (as
    ///         `retire`, for a holder who does not send transactions itself).
    /// @param deadline UTC seconds after which the signature is refused.
    /// @param signature The holder's EIP-712 `Retirement` signature (65 bytes r‖s‖v) over `r`,
    ///        its next nonce (`nonces(holder)`) and `deadline`.
    /// @dev Errors: NotRegistry, RequestExpired, InvalidHolderSignature, and those of `retire`.
    ///      Uses the holder's nonce. Emits RetirementCertified.
    function retireFor(RetirementRequest calldata r, uint256 deadline, bytes calldata signature)
        external
        onlyActive(Roles.REGISTRY)
        returns (uint256 certificateId)
    {
        _requireSigned(r.holder, retirementDigest(r, nonces(r.holder), deadline), deadline, signature);
        return _retire(r);
    }

    /// @notice EIP-712 digest a holder signs for `retireFor` with nonce `nonce` and `deadline`.
    function retirementDigest(RetirementRequest calldata r, uint256 nonce, uint256 deadline)
        public
        view
        returns (bytes32)
    {
        bytes memory head = abi.encode(
            RETIREMENT_TYPEHASH,
            r.holder,
            r.batchId,
            r.amount,
            keccak256(bytes(r.serialPrefix)),
            r.serialStart,
            r.serialEnd
        );
        return _hashTypedDataV4(
            keccak256(
                bytes.concat(
                    head,
                    abi.encode(
                        keccak256(bytes(r.beneficiary)),
                        keccak256(bytes(r.purpose)),
                        keccak256(bytes(r.reason)),
                        nonce,
                        deadline
                    )
                )
            )
        );
    }

    function _retire(RetirementRequest calldata r) private returns (uint256 certificateId) {
        if (!participants.isAdmitted(r.holder)) revert NotAdmitted(r.holder);
        if (r.batchId == 0 || r.batchId >= _nextBatch) revert UnknownBatch(r.batchId);
        if (r.amount == 0 || r.amount > type(uint64).max) revert InvalidAmount(r.amount);
        if (bytes(r.beneficiary).length == 0) revert MissingText("beneficiary");
        if (bytes(r.purpose).length == 0) revert MissingText("purpose");
        Batch storage b = _batches[r.batchId];
        uint64 amount = uint64(r.amount);
        if (uint256(b.retired) + amount > b.amount) revert BatchExhausted(r.batchId, b.amount - b.retired, amount);
        b.retired += amount;

        (bytes32 prefix, uint64 start, uint64 end) = _allocate(b, r);
        Certificate memory cert = Certificate({
            holder: r.holder,
            retiredAt: uint64(block.timestamp),
            batchId: uint64(r.batchId),
            amount: amount,
            serialStart: start,
            serialEnd: end,
            serialPrefix: prefix,
            beneficiary: r.beneficiary,
            purpose: r.purpose,
            reason: r.reason
        });
        certificateId = _certificates.length;
        _certificates.push(cert);
        uint256 id = AssetIds.ccer(b.vintage, b.project);
        assets.retireFrom(r.holder, id, amount, bytes32(certificateId));
        emit RetirementCertified(certificateId, r.holder, id, cert, msg.sender);
    }

    /// @notice Cancel `amount` tCO2e of batch `batchId` from the caller's holding: moved to
    ///         registry `destination` (e.g. keccak256 of the receiving registry's name). The
    ///         batch's lowest free serials are marked cancelled (none for a batch without serials).
    /// @dev Errors: UnknownBatch, InvalidAmount, BatchExhausted, SerialsFragmented, NotAdmitted,
    ///      and CarbonAssets' ZeroAmount, EnforcedPause, AccountIsFrozen,
    ///      ERC1155InsufficientBalance. Emits CreditsCancelled (and CarbonAssets Cancelled).
    function cancel(uint256 batchId, uint256 amount, bytes32 destination) external {
        if (!participants.isAdmitted(msg.sender)) revert NotAdmitted(msg.sender);
        _cancel(msg.sender, batchId, amount, destination, bytes32(0));
    }

    /// @notice A registry account relays `holder`'s signed cancellation instruction (as `cancel`).
    /// @param deadline UTC seconds after which the signature is refused; signature the holder's
    ///        EIP-712 `Cancellation` signature over the request, its next nonce and `deadline`.
    /// @dev Errors: NotRegistry, RequestExpired, InvalidHolderSignature, and those of `cancel`.
    ///      Uses the holder's nonce. Emits CreditsCancelled.
    function cancelFor(
        address holder,
        uint256 batchId,
        uint256 amount,
        bytes32 destination,
        uint256 deadline,
        bytes calldata signature
    ) external onlyActive(Roles.REGISTRY) {
        bytes32 digest = cancellationDigest(holder, batchId, amount, destination, nonces(holder), deadline);
        _requireSigned(holder, digest, deadline, signature);
        _cancel(holder, batchId, amount, destination, bytes32(0));
    }

    /// @notice Regulator's clawback: cancel `amount` of batch `batchId` from `holder` without its
    ///         instruction, for the reason whose hash is `reasonHash` (e.g. of the enforcement
    ///         decision).
    /// @dev Constitutional (k of n regulators after the governance delay): a stolen regulator key
    ///      alone claws nothing back. Errors: NotConstitution, MissingReason, and those of `cancel` (a frozen holder's units
    ///      cannot be clawed back here: unfreeze first). Emits CreditsCancelled with reasonHash.
    function clawbackCancel(address holder, uint256 batchId, uint256 amount, bytes32 destination, bytes32 reasonHash)
        external
        onlyConstitution
    {
        if (reasonHash == bytes32(0)) revert MissingReason();
        _cancel(holder, batchId, amount, destination, reasonHash);
    }

    /// @notice EIP-712 digest a holder signs for `cancelFor`.
    function cancellationDigest(
        address holder,
        uint256 batchId,
        uint256 amount,
        bytes32 destination,
        uint256 nonce,
        uint256 deadline
    ) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(CANCELLATION_TYPEHASH, holder, batchId, amount, destination, nonce, deadline))
        );
    }

    function _cancel(address holder, uint256 batchId, uint256 amount, bytes32 destination, bytes32 reasonHash)
        private
    {
        if (batchId == 0 || batchId >= _nextBatch) revert UnknownBatch(batchId);
        if (amount == 0 || amount > type(uint64).max) revert InvalidAmount(amount);
        Batch storage b = _batches[batchId];
        if (uint256(b.retired) + amount > b.amount) revert BatchExhausted(batchId, b.amount - b.retired, amount);
        b.retired += uint64(amount);
        (bytes32 prefix, uint64 start, uint64 end) = _allocateLowest(b, batchId, amount, SerialStatus.Cancelled);
        uint256 id = AssetIds.ccer(b.vintage, b.project);
        assets.cancelFrom(holder, id, amount, destination);
        emit CreditsCancelled(holder, id, batchId, amount, destination, prefix, start, end, reasonHash, msg.sender);
    }

    // ------------------------------------------------------------ surrender (清缴)

    /// @notice Compliance records a CCER surrender: `amount` tCO2e of `assetId` surrendered by
    ///         `holder` for compliance period `ref` leave the registry's batches, and their serials
    ///         are marked Surrendered, so no retirement, cancellation or later surrender claims them.
    /// @dev Rule (stated in the contract's notes): the batches of `assetId`'s project and vintage,
    ///      oldest (lowest batch id) first, each with its lowest Active serials (as `retire`
    ///      without a range); a batch without serials is counted without serials. Compliance calls
    ///      this after CarbonAssets burnt the units (the holder's balance, and so the batches'
    ///      units in circulation, suffice). Gas: one storage read per batch of the project, and
    ///      per batch taken one mark per run of free serials.
    ///      Errors: NotComplianceOperator (caller lacks CarbonAssets' COMPLIANCE_ROLE), NotCcer,
    ///      InvalidAmount (0 or > 2^64-1), UnitsNotInBatches. Emits SerialsSurrendered per batch
    ///      and run.
    /// @param holder The surrendering account; assetId a CCER id; amount tCO2e; ref
    ///        Compliance.periodRef(year).
    function recordSurrender(address holder, uint256 assetId, uint256 amount, bytes32 ref) external {
        if (!assets.isOperator(COMPLIANCE_ROLE, msg.sender)) revert NotComplianceOperator(msg.sender);
        if (!AssetIds.isWellFormed(assetId) || AssetIds.classOf(assetId) != AssetIds.CCER) revert NotCcer(assetId);
        if (amount == 0 || amount > type(uint64).max) revert InvalidAmount(amount);
        uint16 vintage = AssetIds.vintageOf(assetId);
        uint256[] memory ids = _batchesOf(AssetIds.projectOf(assetId), vintage);
        uint256 left = amount;
        for (uint256 i = ids.length; i > 0 && left > 0;) {
            unchecked {
                --i;
            }
            Batch storage b = _batches[ids[i]];
            uint256 free = b.amount - b.retired;
            if (free == 0) continue;
            uint256 take = free < left ? free : left;
            left -= take;
            b.retired += uint64(take);
            _surrenderSerials(b, ids[i], take, holder, assetId, ref);
        }
        if (left != 0) revert UnitsNotInBatches(assetId, amount, amount - left);
    }

    /// @dev Marks the lowest `take` Active serials of batch `b` (id `batchId`) Surrendered, run by
    ///      run (none for a batch without serials), with one SerialsSurrendered event per run.
    function _surrenderSerials(Batch storage b, uint256 batchId, uint256 take, address holder, uint256 assetId, bytes32 ref)
        private
    {
        bytes32 prefix = b.serialPrefix;
        if (prefix == bytes32(0)) {
            emit SerialsSurrendered(holder, assetId, batchId, take, bytes32(0), 0, 0, ref);
            return;
        }
        while (take > 0) {
            uint64 start = b.cursor;
            uint256 n = uint256(_runEnd(b)) - start + 1;
            if (n > take) n = take;
            uint64 end = start + uint64(n) - 1;
            _mark(b, prefix, start, end, SerialStatus.Surrendered);
            emit SerialsSurrendered(holder, assetId, batchId, n, prefix, start, end, ref);
            take -= n;
        }
    }

    /// @dev Ids of the batches of `projectNumber` and `vintage`, newest first (the chain from
    ///      `Project.lastBatch`).
    function _batchesOf(uint64 projectNumber, uint16 vintage) private view returns (uint256[] memory ids) {
        uint256 n;
        for (uint256 b = _projects[projectNumber].lastBatch; b != 0; b = _batches[b].prevBatch) {
            if (_batches[b].vintage == vintage) ++n;
        }
        ids = new uint256[](n);
        n = 0;
        for (uint256 b = _projects[projectNumber].lastBatch; b != 0; b = _batches[b].prevBatch) {
            if (_batches[b].vintage == vintage) ids[n++] = b;
        }
    }

    /// @dev Reverts unless `signature` is `holder`'s over `digest` and `deadline` has not passed;
    ///      uses the holder's nonce.
    function _requireSigned(address holder, bytes32 digest, uint256 deadline, bytes calldata signature) private {
        if (block.timestamp > deadline) revert RequestExpired(deadline);
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError || signer != holder) revert InvalidHolderSignature(holder);
        _useNonce(holder);
    }

    // ------------------------------------------------------------ views

    /// @notice Registration data of `project` (owner 0 if not registered).
    function project(uint64 projectNumber) external view returns (Project memory) {
        return _projects[projectNumber];
    }

    /// @inheritdoc ICCERRegistry
    function projectDates(uint64 projectNumber)
        external
        view
        returns (bool registered, uint64 registeredAt, uint64 creditingStart, address owner)
    {
        Project storage p = _projects[projectNumber];
        return (p.owner != address(0), p.registeredAt, p.creditingStart, p.owner);
    }

    /// @notice Batch `batchId`.
    /// @dev Errors: UnknownBatch.
    function batch(uint256 batchId) external view returns (Batch memory) {
        if (batchId == 0 || batchId >= _nextBatch) revert UnknownBatch(batchId);
        return _batches[batchId];
    }

    /// @notice Number of batches issued (ids run 1 … batchCount).
    function batchCount() external view returns (uint256) {
        return _nextBatch - 1;
    }

    /// @notice Certificate `id` and the asset id it retired.
    /// @dev Errors: UnknownCertificate.
    function certificate(uint256 id) external view returns (Certificate memory cert, uint256 assetId) {
        if (id == 0 || id >= _certificates.length) revert UnknownCertificate(id);
        cert = _certificates[id];
        Batch storage b = _batches[cert.batchId];
        assetId = AssetIds.ccer(b.vintage, b.project);
    }

    /// @notice Number of certificates (ids run 1 … certificateCount).
    function certificateCount() external view returns (uint256) {
        return _certificates.length - 1;
    }

    /// @notice The lowest free serials of batch `batchId` as the run [runStart, runEnd] (what
    ///         `retire` without a range would allocate from); (0, 0) when the batch has no serials
    ///         or none is left.
    /// @dev Errors: UnknownBatch.
    function nextFreeRun(uint256 batchId) external view returns (uint64 runStart, uint64 runEnd) {
        if (batchId == 0 || batchId >= _nextBatch) revert UnknownBatch(batchId);
        Batch storage b = _batches[batchId];
        if (b.serialPrefix == bytes32(0) || b.cursor > b.serialEnd) return (0, 0);
        return (b.cursor, _runEnd(b));
    }

    /// @notice The range out of circulation (retired, cancelled or surrendered; adjacent ranges
    ///         of one status merged) of `serialPrefix` (keccak256 of the prefix string) that
    ///         overlaps [start, end], if any (the one starting last); `serialState` gives its status.
    function retiredOverlap(bytes32 serialPrefix, uint64 start, uint64 end)
        external
        view
        returns (bool found, uint64 otherStart, uint64 otherEnd)
    {
        return _retiredSerials[serialPrefix].overlapping(start, end);
    }

    /// @notice Status of serial `serial` of `serialPrefix` (keccak256 of the prefix string) and the
    ///         run of serials around it with that status: for an out-of-circulation serial the
    ///         (merged) marked range containing it; for an Active one the free run between the
    ///         neighbouring marked ranges inside its issued range; (Unissued, 0, 0) otherwise.
    function serialState(bytes32 serialPrefix, uint64 serial)
        external
        view
        returns (SerialStatus status, uint64 runStart, uint64 runEnd)
    {
        (bool marked, uint64 ms, uint64 me, uint8 tag) = _retiredSerials[serialPrefix].rangeAt(serial);
        if (marked) return (SerialStatus(tag), ms, me);
        (bool issued, uint64 s, uint64 e,) = _issuedSerials[serialPrefix].rangeAt(serial);
        if (!issued) return (SerialStatus.Unissued, 0, 0);
        (runStart, runEnd) = _activeRun(_retiredSerials[serialPrefix], serial, s, e);
        return (SerialStatus.Active, runStart, runEnd);
    }

    /// @dev The run of unmarked serials around unmarked `serial` inside issued range [s, e].
    function _activeRun(SerialRanges.Set storage out, uint64 serial, uint64 s, uint64 e)
        private
        view
        returns (uint64, uint64)
    {
        (bool below, uint64 p) = out.floor(serial);
        if (below) {
            uint64 pe = out.endOf(p);
            if (pe >= s) s = pe + 1;
        }
        (bool above, uint64 q) = out.ceil(serial);
        if (above && q <= e) e = q - 1;
        return (s, e);
    }

    /// @notice All the batch ids of `projectNumber` of reduction year `vintage`, newest first
    ///         (the batches a surrender of that CCER id takes from, oldest first).
    function batchesOf(uint64 projectNumber, uint16 vintage) external view returns (uint256[] memory) {
        return _batchesOf(projectNumber, vintage);
    }

    /// @notice The issued range of `serialPrefix` (keccak256 of the prefix string) that overlaps
    ///         [start, end], if any (the one starting last).
    function issuedOverlap(bytes32 serialPrefix, uint64 start, uint64 end)
        external
        view
        returns (bool found, uint64 otherStart, uint64 otherEnd)
    {
        return _issuedSerials[serialPrefix].overlapping(start, end);
    }

    // ------------------------------------------------------------ internals

    /// @dev Writes a new Batch's three words, each once (a struct assignment reads and rewrites a
    ///      packed word per member). Solidity's layout of `Batch` (members in order, packed from
    ///      the low-order end): word 0 project | vintage << 64 | amount << 80 | retired << 144 |
    ///      prevBatch << 208; word 1 serialStart | serialEnd << 64 | cursor << 128 | issuedAt << 192;
    ///      word 2 serialPrefix. Tests read every field back through `batch`.
    function _storeBatch(Batch storage nb, uint256 w0, uint256 w1, bytes32 prefix) private {
        assembly ("memory-safe") {
            sstore(nb.slot, w0)
            sstore(add(nb.slot, 1), w1)
            sstore(add(nb.slot, 2), prefix)
        }
    }

    /// @dev Word 0 of a new batch (retired 0); amount < 2^64.
    function _word0(uint64 projectNumber, uint16 vintage, uint256 amount, uint32 prevBatch) private pure returns (uint256) {
        return uint256(projectNumber) | (uint256(vintage) << 64) | (amount << 80) | (uint256(prevBatch) << 208);
    }

    /// @dev Word 1 of a new batch: cursor = serialStart, issuedAt = now (UTC seconds).
    function _word1(uint64 serialStart, uint64 serialEnd) private view returns (uint256) {
        return uint256(serialStart) | (uint256(serialEnd) << 64) | (uint256(serialStart) << 128) | (block.timestamp << 192);
    }

    /// @dev Validates a (prefix, start, end) triple against `amount`; returns the prefix hash
    ///      (0 for "no serials").
    function _checkedRange(string calldata serialPrefix, uint64 start, uint64 end, uint256 amount)
        private
        pure
        returns (bytes32)
    {
        if (bytes(serialPrefix).length == 0) {
            if (start != 0 || end != 0) revert InvalidSerialRange(start, end);
            return bytes32(0);
        }
        if (start == 0 || end < start || end == type(uint64).max) revert InvalidSerialRange(start, end);
        uint256 count = uint256(end) - start + 1;
        if (count != amount) revert SerialCountMismatch(amount, count);
        return keccak256(bytes(serialPrefix));
    }

    function _requireNotIssued(bytes32 prefix, uint64 start, uint64 end) private view {
        (bool found, uint64 os, uint64 oe) = _issuedSerials[prefix].overlapping(start, end);
        if (found) revert SerialsAlreadyIssued(prefix, start, end, os, oe);
    }

    /// @dev Reverts SerialsAlreadySurrendered when [start, end] overlaps a surrendered range (the
    ///      one starting last), SerialsAlreadyRetired when it overlaps a retired or cancelled one.
    function _requireNotRetired(bytes32 prefix, uint64 start, uint64 end) private view {
        SerialRanges.Set storage out = _retiredSerials[prefix];
        (bool found, uint64 os, uint64 oe) = out.overlapping(start, end);
        if (found) {
            if (out.tagOf(os) == uint8(SerialStatus.Surrendered)) {
                revert SerialsAlreadySurrendered(prefix, start, end, os, oe);
            }
            revert SerialsAlreadyRetired(prefix, start, end, os, oe);
        }
    }

    /// @dev Chooses and records the serials of a retirement from batch `b`.
    function _allocate(Batch storage b, RetirementRequest calldata r)
        private
        returns (bytes32 prefix, uint64 start, uint64 end)
    {
        prefix = _checkedRange(r.serialPrefix, r.serialStart, r.serialEnd, r.amount);
        if (prefix == bytes32(0)) {
            return _allocateLowest(b, r.batchId, r.amount, SerialStatus.Retired);
        } else {
            start = r.serialStart;
            end = r.serialEnd;
            // A batch without serials has no block to name a range in: no invented prefix / range.
            if (b.serialPrefix == bytes32(0) || prefix != b.serialPrefix || start < b.serialStart || end > b.serialEnd) {
                revert SerialsOutsideBatch(r.batchId, prefix, start, end);
            }
            _requireNotRetired(prefix, start, end);
        }
        _mark(b, prefix, start, end, SerialStatus.Retired);
    }

    /// @dev The lowest free serials of batch `b` (the run at its cursor) for `amount` units,
    ///      marked out of circulation as `status`; (0, 0, 0) for a batch without serials.
    function _allocateLowest(Batch storage b, uint256 batchId, uint256 amount, SerialStatus status)
        private
        returns (bytes32 prefix, uint64 start, uint64 end)
    {
        if (b.serialPrefix == bytes32(0)) return (bytes32(0), 0, 0); // no serials at all
        start = b.cursor;
        uint64 runEnd = _runEnd(b);
        if (uint256(runEnd) - start + 1 < amount) revert SerialsFragmented(batchId, start, runEnd, amount);
        end = start + uint64(amount) - 1;
        prefix = b.serialPrefix;
        _mark(b, prefix, start, end, status);
    }

    /// @dev Records [start, end] of `prefix` as out of circulation with `status` (Retired,
    ///      Cancelled or Surrendered; merged with an adjacent range of that status) and moves the
    ///      batch cursor past it: one step per range above it, and adjacent ranges of one status
    ///      are one range.
    function _mark(Batch storage b, bytes32 prefix, uint64 start, uint64 end, SerialStatus status) private {
        SerialRanges.Set storage retired = _retiredSerials[prefix];
        uint64 mergedEnd = retired.insertMerged(start, end, uint8(status));
        if (b.serialPrefix != bytes32(0) && start == b.cursor) {
            uint64 c = mergedEnd + 1;
            uint64 last = b.serialEnd;
            for (uint64 e = retired.endOf(c); e != 0 && c <= last; e = retired.endOf(c)) {
                c = e + 1;
            }
            b.cursor = c;
        }
    }

    /// @dev Last serial of the free run starting at `b.cursor` (cursor <= serialEnd).
    function _runEnd(Batch storage b) private view returns (uint64) {
        (bool found, uint64 next) = _retiredSerials[b.serialPrefix].ceil(b.cursor);
        return found && next <= b.serialEnd ? next - 1 : b.serialEnd;
    }
}
