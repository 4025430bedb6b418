"""Pydantic request/response schemas of the API (apart from the ORM and contract models)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Hex32 = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
Hex65 = Field(pattern=r"^0x[0-9a-fA-F]{130}$")
#: an organisation id (0x + 32 bytes of hex)
OrgId = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]


class SignedReadingIn(BaseModel):
    """A device-signed reading (EIP-712 ``Reading``; value × 10^scale in the quantity's unit, W for code 1)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "device": "0x" + "ab" * 32, "sequence": 1, "start": 1166286240, "end": 1166286300, "quantityCode": 1,
        "value": 4216, "scale": 0, "flags": 0, "signature": "0x" + "00" * 65}]})

    device: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$", description="32-byte device id")
    sequence: int = Field(ge=0, description="strictly increasing per device (uint64)")
    start: int = Field(ge=0, description="interval start, UTC seconds")
    end: int = Field(ge=0, description="interval end (exclusive), UTC seconds")
    quantityCode: int = Field(ge=0, le=65535, description="1 = average active power, W")
    value: int = Field(description="int64; physical value = value × 10^scale")
    scale: int = Field(ge=-128, le=127)
    flags: int = Field(ge=0, le=2**32 - 1, description="bit 0: substituted value")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte r‖s‖v EIP-712 signature of the device key")


class ReadingsIn(BaseModel):
    """A batch of signed readings for this oracle node (stored in one SQL transaction)."""

    model_config = ConfigDict(extra="forbid")
    readings: list[SignedReadingIn] = Field(min_length=1, max_length=20_000)


class ReadingResult(BaseModel):
    """Per-reading acknowledgement."""

    sequence: int
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = None
    detail: str | None = None


class ReadingsOut(BaseModel):
    """Acknowledgements, returned only after the store committed."""

    node: str
    accepted: int
    duplicates: int
    rejected: int
    results: list[ReadingResult]


class ReadingProofOut(BaseModel):
    """A reading, its device signature, its Merkle proof and the anchored batch it belongs to."""

    reading: dict[str, int | str]
    signature: str
    leaf: str
    batch_id: int | None
    root: str
    proof: list[str]
    verified_on_chain: bool | None = Field(description="MeterDataAnchor.verifyReading via eth_call; None if not anchored yet")


class RecordMonthIn(BaseModel):
    """Record (and by default submit) a month of purchased electricity from anchored meter data."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "device": "0x" + "ab" * 32, "year": 2007, "month": 1, "factor_set_id": 1, "submit": True}]})

    device: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$", description="32-byte device id of the meter")
    year: int = Field(ge=1971, le=9999)
    month: int = Field(ge=1, le=12)
    factor_set_id: int = Field(ge=1, description="published factor set holding the grid EF")
    evidence_hash: str = Field("0x" + "00" * 32, pattern=r"^0x[0-9a-fA-F]{64}$", description="SHA-256 of the evidence envelope")
    amends: int = Field(0, ge=0, description="id of the Draft/Rejected record this one amends")
    submit: bool = Field(True, description="submit for verification right away")


class AssignVerifierIn(BaseModel):
    """Assign a verifier to a submitted record."""

    model_config = ConfigDict(extra="forbid")
    verifier: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")


class VerdictIn(BaseModel):
    """A verifier's verdict: by default a transaction the verifier signed itself
    (``raw_transaction`` calling ``attest``/``reject``); in custodial mode the fields instead."""

    model_config = ConfigDict(extra="forbid")
    raw_transaction: str | None = Field(None, pattern=r"^0x([0-9a-fA-F]{2})+$", description="whole bytes of hex")
    verdict: Literal["attest", "reject"] | None = None
    report_hash: str | None = Field(None, pattern=r"^0x[0-9a-fA-F]{64}$")
    findings_hash: str | None = Field(None, pattern=r"^0x[0-9a-fA-F]{64}$")


ASSET_PATTERN = r"^(CEA-\d{4}|CCER-\d+-\d{4}|\d+|0x[0-9a-fA-F]+)$"
ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"


class OrderIn(BaseModel):
    """A member's signed order (EIP-712 ``Order`` of the Settlement contract, domain
    "CarbonLedger Settlement" / "1"); the side is the order's place in the trade."""

    model_config = ConfigDict(extra="forbid")
    account: str = Field(pattern=ADDRESS_PATTERN)
    quantity: int = Field(gt=0, lt=2**128, description="whole tCO2e the order may fill in total")
    limit_price_fen: int = Field(gt=0, lt=2**128, description="fen/t: the most a buyer pays, the least a seller takes")
    max_fee_fen_per_tonne: int = Field(0, ge=0, lt=2**256, description="the most fee (fen) per tonne filled the member accepts")
    expiry: int = Field(gt=0, lt=2**64, description="UTC seconds after which the order cannot fill")
    nonce: int = Field(ge=0, lt=2**256)
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte r‖s‖v signature of the account")


class TradeIn(BaseModel):
    """One fill of a buyer's and a seller's signed orders: the seller delivers ``quantity`` t of
    ``asset``, the buyer pays ``quantity × price_fen`` fen (+ its fee; the seller's fee comes out
    of the proceeds). The trade id is derived: keccak256(buy order hash, sell order hash,
    fill index, quantity, price)."""

    model_config = ConfigDict(extra="forbid")
    buy: OrderIn
    sell: OrderIn
    fill_index: int = Field(0, ge=0, lt=2**256, description="0, 1, … for the fills of one order pair")
    asset: str = Field(pattern=ASSET_PATTERN, description="CEA-<year>, CCER-<project>-<vintage>, or the token id")
    quantity: int = Field(gt=0, le=10**12, description="whole tCO2e (1 t quantity step)")
    price_fen: int = Field(gt=0, le=10**12, description="fen per tonne (0.01 CNY tick)")
    buyer_fee_fen: int = Field(0, ge=0, le=10**15)
    seller_fee_fen: int = Field(0, ge=0, le=10**15)
    mode: Literal["listed", "block"] | None = Field(None, description="挂牌协议 / 大宗协议; default by size (≥ 100,000 t: block)")


class TradeBatchIn(BaseModel):
    """A batch of matched trades settled in one transaction."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "atomic": False,
        "reference_close_fen": {"CEA-2021": 5422},
        "trades": [{"buy": {"account": "0x" + "22" * 20, "quantity": 1000, "limit_price_fen": 5600, "expiry": 1900000000,
                            "nonce": 1, "signature": "0x" + "00" * 65},
                    "sell": {"account": "0x" + "11" * 20, "quantity": 1000, "limit_price_fen": 5400, "expiry": 1900000000,
                             "nonce": 7, "signature": "0x" + "00" * 65},
                    "asset": "CEA-2021", "quantity": 1000, "price_fen": 5500}]}]})
    atomic: bool = Field(True, description="true: one failing trade fails the batch; false: it is reported and skipped")
    trades: list[TradeIn] = Field(min_length=1, max_length=500)
    reference_close_fen: dict[str, int] | None = Field(
        None, description="previous close per asset (fen/t) for markets this service has no history of")


class ProjectIn(BaseModel):
    """A CCER project (registry number, owner account, methodology, region, dates in UTC s)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "project": 1001, "owner": "0x" + "11" * 20, "methodology": "CCER-14-001-V01", "region": "CN-GD",
        "registered_at": 1700000000, "crediting_start": 1600732800, "name": "Offshore wind farm (example)"}]})
    project: int = Field(gt=0, lt=2**64)
    owner: str = Field(pattern=ADDRESS_PATTERN)
    methodology: str = Field(min_length=1, max_length=32, description="methodology code (≤ 32 bytes)")
    region: str = Field(min_length=1, max_length=32)
    registered_at: int = Field(ge=0, lt=2**64)
    crediting_start: int = Field(ge=0, lt=2**64)
    name: str = Field(min_length=1, max_length=300)


class GenerationMonthIn(BaseModel):
    """One generation device-month a CCER batch's reductions come from (GenerationClaims.DeviceMonth)."""

    model_config = ConfigDict(extra="forbid")
    device: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$", description="32-byte device id of the generation meter")
    year: int = Field(ge=1970, lt=2**16)
    month: int = Field(ge=1, le=12)


class IssuanceIn(BaseModel):
    """A CCER issuance batch; ``serials`` "<prefix><start> to <end>" or absent (issued without serials).
    ``generation`` (optional, renewable generation projects): the generation device-months the batch
    covers, claimed for CCER on-chain so no GEC is issued for them (GEC or CCER, never both,
    docs/gec.md); absent for non-generation projects."""

    model_config = ConfigDict(extra="forbid")
    project: int = Field(gt=0, lt=2**64)
    vintage: int = Field(ge=1990, le=2100)
    amount: int = Field(gt=0, lt=2**64, description="tCO2e")
    serials: str | None = Field(None, max_length=200, examples=["CCER-GD-1001-2023-1 to 5000"])
    ref: str | None = Field(None, pattern=r"^0x[0-9a-fA-F]{64}$", description="registry reference (bytes32)")
    generation: list[GenerationMonthIn] | None = Field(None, min_length=1, max_length=600,
                                                       description="generation device-months backing the batch")


class RetirementIn(BaseModel):
    """A retirement (注销): final. CCER needs the issuance batch; serials optional (lowest free ones)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "asset": "CEA-2021", "amount": 10, "beneficiary": "Example Co.", "purpose": "carbon neutrality", "reason": ""}]})
    asset: str = Field(pattern=ASSET_PATTERN)
    amount: int = Field(gt=0, lt=2**64)
    batch_id: int | None = Field(None, ge=0, description="CCER issuance batch (required for CCER)")
    serials: str | None = Field(None, max_length=200)
    beneficiary: str = Field(min_length=1, max_length=300)
    purpose: str = Field(min_length=1, max_length=300)
    reason: str = Field("", max_length=1000)
    holder: str | None = Field(None, pattern=ADDRESS_PATTERN, description="registry only: the instructing holder")
    holder_signature: str | None = Field(None, pattern=r"^0x[0-9a-fA-F]{130}$",
                                         description="registry only: the holder's EIP-712 Retirement signature "
                                                     "(CCERRegistry.retirementDigest with its next nonce and `deadline`)")
    deadline: int | None = Field(None, ge=0, lt=2**256, description="registry only: UTC seconds the holder's signature is valid to")


class SurrenderIn(BaseModel):
    """Surrender (清缴) for a compliance year."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"year": 2021, "asset": "CEA-2021", "amount": 1000}]})
    year: int = Field(ge=2013, le=2100)
    asset: str = Field(pattern=ASSET_PATTERN)
    amount: int = Field(gt=0, lt=2**64)


class BenchmarkSetIn(BaseModel):
    """Publish a benchmark set: a named preset (only ``2019-2020`` exists — china_rules.md §3a)."""

    model_config = ConfigDict(extra="forbid")
    preset: Literal["2019-2020"] = "2019-2020"


class EnrolmentIn(BaseModel):
    """An enterprise's unit category and the account receiving its allowances."""

    model_config = ConfigDict(extra="forbid")
    enterprise: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$", description="organisation id")
    category: Literal["COAL_GT300", "COAL_LE300", "COAL_UNCONVENTIONAL", "GAS"]
    holding_account: str = Field(pattern=ADDRESS_PATTERN)


class PreAllocationIn(BaseModel):
    """Pre-allocation from the basis year's output (Wh supplied, MJ heat) with its evidence hash."""

    model_config = ConfigDict(extra="forbid")
    year: int = Field(ge=2013, le=2100)
    set_id: int = Field(ge=1)
    enterprise: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    basis_wh: int = Field(ge=0)
    basis_heat_mj: int = Field(ge=0)
    evidence_hash: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")


class FinalAllocationIn(BaseModel):
    """Final allocation of a year from the confirmed activity data (issue or claw back the difference)."""

    model_config = ConfigDict(extra="forbid")
    year: int = Field(ge=2013, le=2100)
    enterprises: list[OrgId] = Field(min_length=1, max_length=200)


class PeriodIn(BaseModel):
    """Open a compliance period from the year's preset (parameters and citations, ledger.accounting.compliance)."""

    model_config = ConfigDict(extra="forbid")
    year: int = Field(ge=2019, le=2022, description="years with a preset: 2019–2022")
    deadline: int | None = Field(None, ge=0, description="override of the preset's deadline, UTC s")


class PriceIn(BaseModel):
    """P: average CEA price of the month before the deadline (fen/t) with its source."""

    model_config = ConfigDict(extra="forbid")
    price_fen: int = Field(gt=0)
    citation: str = Field(min_length=1, max_length=500)


class CloseIn(BaseModel):
    """Enterprises whose period to close (after the deadline)."""

    model_config = ConfigDict(extra="forbid")
    enterprises: list[OrgId] = Field(min_length=1, max_length=200)


class FreezeIn(BaseModel):
    """Freeze (冻结) or unfreeze an account, with the reason."""

    model_config = ConfigDict(extra="forbid")
    account: str = Field(pattern=ADDRESS_PATTERN)
    frozen: bool
    reason: str = Field(min_length=1, max_length=500)


class GapIn(BaseModel):
    """Declare the days of a meter's month without complete metered data (issue 12): the record of
    that month then adds the regulator's substitute for them (a gap never lowers E)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "device": "0x" + "ab" * 32, "year": 2007, "month": 4, "days": [28, 29, 30], "reason_hash": "0x" + "11" * 32}]})

    device: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$", description="32-byte device id of the meter")
    year: int = Field(ge=1971, le=9999)
    month: int = Field(ge=1, le=12)
    days: list[Annotated[int, Field(ge=1, le=31)]] = Field(max_length=31, description="local days of the month; [] withdraws the gap")
    reason_hash: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$", description="hash of the reason (nonzero)")


class GapAssessIn(BaseModel):
    """The regulator's substitute (核定) for a declared gap, Wh."""

    model_config = ConfigDict(extra="forbid")
    device: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    year: int = Field(ge=1971, le=9999)
    month: int = Field(ge=1, le=12)
    substitute_wh: int = Field(ge=1, lt=2**256, description="Wh added to the month's metered Wh")
    basis_hash: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$", description="hash of the basis of the value (nonzero)")


class SourceIn(BaseModel):
    """One source of an enterprise-year: activity type (1 purchased electricity, 2 electricity
    supplied, 3 heat supplied, 4 fuel combustion, 5 purchased heat) and its subject (meter, fuel code)."""

    model_config = ConfigDict(extra="forbid")
    activity_type: int = Field(ge=1, le=5)
    subject: str = Field("0x" + "00" * 32, pattern=r"^0x[0-9a-fA-F]{64}$")


class CompletenessIn(BaseModel):
    """Regulator: the factor set and/or the sources of an enterprise-year (issue 12)."""

    model_config = ConfigDict(extra="forbid")
    enterprise: OrgId
    year: int = Field(ge=1971, le=9999)
    factor_set_id: int | None = Field(None, ge=1, description="assign this published set (once)")
    sources: list[SourceIn] = Field(default_factory=list, max_length=64, description="enrol these sources (already enrolled ones are skipped)")


class AssessEmissionsIn(BaseModel):
    """Regulator: assessed (核定) emissions of an enterprise-year, kgCO2, with the reason's hash."""

    model_config = ConfigDict(extra="forbid")
    enterprise: OrgId
    year: int = Field(ge=1971, le=9999)
    emissions_kg: int = Field(ge=0, lt=2**256)
    purchased_electricity_kg: int = Field(0, ge=0, lt=2**256)
    reason_hash: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")


class ClaimIn(BaseModel):
    """A carbon-neutrality claim (碳中和声明, issue 13; docs/claims.md): emissions in kgCO2 (the
    ledger's unit), period [start, end) in UTC seconds, Confirmed record ids covered, CCER retirement
    certificate ids backing it (the caller's organisation's own, each backing one claim only)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "standard": "ISO14068-1", "period_start": 1609459200, "period_end": 1640995200, "emissions_kg": 44794,
        "statement_hash": "0x" + "ab" * 32, "record_ids": [1], "certificate_ids": [1, 2]}]})
    standard: Literal["ISO14068-1", "PAS2060"]
    period_start: int = Field(ge=0, lt=2**64, description="UTC seconds, inclusive")
    period_end: int = Field(gt=0, lt=2**64, description="UTC seconds, exclusive")
    emissions_kg: int = Field(gt=0, lt=2**256, description="emissions the claim offsets, kgCO2")
    statement_hash: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$", description="hash of the claim's documentation "
                                "(PAS 2060 qualifying explanatory statement / ISO 14068-1 claim report)")
    record_ids: list[Annotated[int, Field(ge=1, lt=2**256)]] = Field(default_factory=list, max_length=64,
                                                                     description="Confirmed EmissionsRegistry records covered")
    certificate_ids: list[Annotated[int, Field(ge=1, lt=2**256)]] = Field(min_length=1, max_length=64,
                                                                          description="CCERRegistry retirement certificates")
    event_name: str | None = Field(None, min_length=1, max_length=300, description="an event claim: the event's name")


class ClaimVerifierIn(BaseModel):
    """The verifier a regulator assigns to a claim (an Active VERIFIER_ROLE account)."""

    model_config = ConfigDict(extra="forbid")
    verifier: str = Field(pattern=ADDRESS_PATTERN)


class ClaimVerificationIn(BaseModel):
    """The assigned verifier's attestation of a claim: the hash of its verification report."""

    model_config = ConfigDict(extra="forbid")
    report_hash: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")


class InvalidationIn(BaseModel):
    """The regulator's reason for invalidating a claim (its keccak256 is stored on chain)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)
