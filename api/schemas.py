"""Pydantic request/response schemas of the API (apart from the ORM and contract models)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Hex32 = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
Hex65 = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


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
    raw_transaction: str | None = Field(None, pattern=r"^0x[0-9a-fA-F]+$")
    verdict: Literal["attest", "reject"] | None = None
    report_hash: str | None = Field(None, pattern=r"^0x[0-9a-fA-F]{64}$")
    findings_hash: str | None = Field(None, pattern=r"^0x[0-9a-fA-F]{64}$")
