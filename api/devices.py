"""Enterprise portal: the enterprise's meters and analysers in DeviceRegistry — list, register,
revoke; and the accredited calibration body's route that records a calibration (with the
certificate's evidence hash). The enterprise never records its own meter's calibration (issue 12).

Every write is one DeviceRegistry transaction sent for the caller's custodial account after a
pre-flight (a refusal answers ``contract-refused`` with the contract's custom error before gas is
spent). Devices of other organisations are invisible (``not-found``, no existence leak).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, require_role
from api.deps import AppContext, context
from api.market_common import checked_address, send
from api.pagination import PageParams, page
from api.problems import Problem
from ledger.contracts._generated.device_registry import CalibrationRecorded, DeviceRegistered
from ledger.contracts.deployment import Deployment
from ledger.identifiers import InvalidUscc, device_id, meter_serial_hash

router = APIRouter(prefix="/v1/enterprise", tags=["enterprise"])
calibration_router = APIRouter(prefix="/v1/calibration", tags=["calibration"])
enterprise = require_role("ENTERPRISE_ROLE")
calibration_body = require_role("CALIBRATION_BODY_ROLE")

HEX32 = r"^0x[0-9a-fA-F]{64}$"
DEVICE_STATUS = ("none", "active", "revoked")
_NONZERO = "must not be zero"


class DeviceIn(BaseModel):
    """Register a meter (计量器具) or CEMS analyser of the caller's enterprise."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "serial": "meter-7", "signer": "0x" + "11" * 20, "quantity_code": 1}]})

    serial: str = Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$",
                        description="meter serial number; device id = keccak256('CarbonLedger device' ‖ USCC ‖ '/' ‖ serial)")
    signer: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$", description="address of the device's own secp256k1 signing key")
    quantity_code: int = Field(ge=1, le=65535, description="measured quantity (1 = average active power, W)")


class CalibrationIn(BaseModel):
    """A calibration (检定/校准) certificate of a device and the validity it gives, recorded by an
    accredited calibration body (计量检定机构)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "valid_from": 1_293_840_000, "valid_until": 1_325_376_000, "certificate_hash": "0x" + "cd" * 32}]})

    valid_from: int = Field(ge=0, le=2**64 - 1, description="validity start (calibration date), UTC seconds inclusive; "
                                                            "after the previous calibration's start")
    valid_until: int = Field(ge=0, le=2**64 - 1, description="validity end, UTC seconds inclusive (>= valid_from)")
    certificate_hash: str = Field(pattern=HEX32, description="evidence hash of the certificate (nonzero)")


class RevokeIn(BaseModel):
    """Revoke a device for good (decommissioned, faulty, key compromised)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason_hash": "0x" + "ef" * 32}]})

    reason_hash: str = Field(pattern=HEX32, description="hash of the reason document")


def _b32(h: str, field: str, nonzero: bool = True) -> bytes:
    b = bytes.fromhex(h[2:])
    if nonzero and b == bytes(32):
        raise Problem("validation-error", f"{field}: {_NONZERO}", errors=[{"field": field, "message": _NONZERO}])
    return b


def _device(dep: Deployment, dev: bytes) -> dict[str, Any]:
    d = dep.devices.device(dev)
    start = dep.manifest["deployment_block"]
    cals = dep.devices.get_logs(CalibrationRecorded, start, deviceId=dev)
    # validity as in force on-chain (a later certificate cuts the previous one at its start), the
    # certificate, block and calibration body from each CalibrationRecorded event, in the same order
    state = dep.devices.calibrations(dev)
    history = [{"valid_from": c.validFrom, "valid_until": c.validUntil, "recorded_valid_until": lg.event.validUntil,
                "certificate_hash": "0x" + lg.event.certificateHash.hex(), "block": lg.block_number, "by": lg.event.by}
               for c, lg in zip(state, sorted(cals, key=lambda x: (x.block_number, x.log_index)), strict=True)]
    return {"device_id": "0x" + dev.hex(), "owner_org": "0x" + d.ownerOrg.hex(), "signer": d.signer, "quantity_code": d.quantityCode,
            "calibrated_until": d.calibratedUntil, "status": DEVICE_STATUS[d.status], "calibrations": history}


def _own_device(dep: Deployment, p: Principal, device: str) -> dict[str, Any]:
    dev = bytes.fromhex(device[2:])
    owner = dep.devices.device(dev).ownerOrg
    if owner == bytes(32) or "0x" + owner.hex() != p.org_id.lower():
        raise Problem("not-found", f"no device {device} of organisation {p.org_id}")
    return _device(dep, dev)


def _own_devices(dep: Deployment, org: str) -> list[dict[str, Any]]:
    logs = dep.devices.get_logs(DeviceRegistered, dep.manifest["deployment_block"], ownerOrg=bytes.fromhex(org[2:]))
    out = []
    for i, lg in enumerate(sorted(logs, key=lambda x: (x.block_number, x.log_index)), start=1):
        out.append({"index": i, **_device(dep, lg.event.deviceId)})
    return out


def _org_uscc(dep: Deployment, org: str) -> str:
    return dep.participants.organisation(bytes.fromhex(org[2:])).uscc.rstrip(b"\0").decode()


@router.get("/devices", summary="The enterprise's devices (paginated, in registration order)")
async def list_devices(params: PageParams = Depends(), p: Principal = Depends(enterprise),
                       ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Each device: id, signer, quantity code, latest calibration validity end (UTC s, 0 if never
    calibrated), status (active/revoked) and its calibration history (each CalibrationRecorded)."""
    rows = await run_in_threadpool(_own_devices, ctx.deployment, p.org_id)
    return page((r for r in rows if r["index"] > params.after), params, lambda r: r["index"])


@router.get("/devices/{device_id}", summary="One of the enterprise's devices")
async def get_device(device_id: str = Path(pattern=HEX32), p: Principal = Depends(enterprise),
                     ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """The device with its calibration history; ``not-found`` for another organisation's device."""
    return await run_in_threadpool(_own_device, ctx.deployment, p, device_id)


@router.post("/devices", status_code=201, summary="Register a device of the enterprise")
async def post_device(body: DeviceIn, p: Principal = Depends(enterprise), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """DeviceRegistry.registerDevice for the caller's organisation (《碳排放权交易管理暂行条例》 Art. 11:
    calibrated instruments — its data is usable once a calibration body records a calibration).
    The device id is derived from the organisation's USCC and ``serial``.
    Contract refusals (e.g. ``DeviceExists``, ``SignerInUse``) answer ``contract-refused``."""
    dep = ctx.deployment
    signer = checked_address(body.signer, "body.signer")
    try:
        dev = device_id(await run_in_threadpool(_org_uscc, dep, p.org_id), body.serial)
    except (InvalidUscc, ValueError) as exc:
        raise Problem("validation-error", str(exc), errors=[{"field": "body.serial", "message": str(exc)}]) from None
    fn = dep.devices.functions.registerDevice(dev, bytes.fromhex(p.org_id[2:]), signer, body.quantity_code,
                                                meter_serial_hash(body.serial))
    r = await send(ctx, p.account, fn, f"registerDevice {body.serial}")
    return {**await run_in_threadpool(_device, dep, dev), "tx_hash": r.tx_hash}


@calibration_router.post("/devices/{device_id}/calibrations", status_code=201,
                         summary="Record a device's calibration certificate (accredited calibration body)")
async def post_calibration(body: CalibrationIn, device_id: str = Path(pattern=HEX32), p: Principal = Depends(calibration_body),
                           ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """DeviceRegistry.recordCalibration by the calibration body (计量法 Art. 9): the validity
    [valid_from, valid_until] and the certificate's evidence hash; a later certificate cuts the
    previous validity at its own start. Unknown or revoked devices, out-of-order or inverted
    validities answer ``contract-refused`` (UnknownDevice, DeviceAlreadyRevoked,
    CalibrationOutOfOrder, InvalidCalibration)."""
    dep = ctx.deployment
    cert = _b32(body.certificate_hash, "body.certificate_hash")
    dev = bytes.fromhex(device_id[2:])
    r = await send(ctx, p.account, dep.devices.functions.recordCalibration(dev, body.valid_from, body.valid_until, cert),
                   "recordCalibration")
    return {**await run_in_threadpool(_device, dep, dev), "tx_hash": r.tx_hash}


@router.post("/devices/{device_id}/revoke", summary="Revoke a device (final)")
async def post_revoke(body: RevokeIn, device_id: str = Path(pattern=HEX32), p: Principal = Depends(enterprise),
                      ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """DeviceRegistry.revokeDevice; its signer address stays reserved. Revoking twice answers
    ``contract-refused`` (DeviceAlreadyRevoked)."""
    dep = ctx.deployment
    reason = _b32(body.reason_hash, "body.reason_hash")
    await run_in_threadpool(_own_device, dep, p, device_id)
    dev = bytes.fromhex(device_id[2:])
    r = await send(ctx, p.account, dep.devices.functions.revokeDevice(dev, reason), "revokeDevice")
    return {**await run_in_threadpool(_device, dep, dev), "tx_hash": r.tx_hash}
