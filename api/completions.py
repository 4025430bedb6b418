"""Completions: for each chain-writing POST route, the answer its handler gives, rebuilt from the
receipts of the transactions it journalled — what a retry answers after taking over the key of a
request that died (:mod:`api.idempotency`). The handler is never run again: ids come from the
receipts' event logs (a new record's ``ActivityRecorded``, a device's ``DeviceRegistered``, an
issuance's ``BatchIssued``, a retirement's ``RetirementCertified``, a benchmark set's
``BenchmarkSetPublished``) or from the path and body; everything else is read from the chain as
the handler reads it after its transaction.

Covered (:data:`COMPLETIONS`): the record work flow (``POST /v1/enterprise/records``, ``…/submit``,
``/v1/enterprise/records/declared``, ``/v1/regulator/records/{id}/verifier``, ``…/confirm``,
``/v1/verifier/records/{id}/verdict``), devices (register, calibration, revoke), holdings
(surrender, retirement), the registry (projects, issuances, retirements), neutrality claims
(declare, verifier, verification, withdraw, invalidate) and the regulator's market
acts (benchmark sets, enrolments, pre- and final allocations, compliance periods, price, close,
freezes). Not covered — a takeover finishes their transactions and answers
``idempotency-unanswerable`` with them: ``POST /v1/exchange/trade-batches`` (its answer includes
the rule check of refused trades and the rows it stores after settling), evidence upload (the
envelope file is staged by the handler) and ``POST /v1/evidence/encryption-key``. Routes that send
no transaction (``/v1/readings``, evidence re-wrap) never leave transactions to finish: a retry
after their lease runs them as a first attempt.

A record created with ``submit`` by a request that died between its two transactions is answered
as the chain holds it (``draft``): the retry does not send the submit the dead request never signed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api import allocation, claims, devices, enterprise, holdings, registry, regulator, reports, verifier
from api.history import asset_token_id
from api.idempotency import Completion, Recovered
from api.market_common import checked_address
from api.schemas import (
    BenchmarkSetIn,
    CloseIn,
    EnrolmentIn,
    FinalAllocationIn,
    FreezeIn,
    IssuanceIn,
    PeriodIn,
    PreAllocationIn,
    PriceIn,
    ProjectIn,
    RetirementIn,
    SurrenderIn,
)
from ledger.accounting import compliance as rules
from ledger.accounting.assets import AssetClass, parse_asset_id
from ledger.chain.client import TxResult
from ledger.offsets.claims import claim_id_of
from ledger.records import queries as records

#: Route endpoint function -> completion (the registry :func:`api.idempotency.install` receives).
COMPLETIONS: dict[Callable[..., Any], Completion] = {}


def completes(*endpoints: Callable[..., Any]) -> Callable[[Completion], Completion]:
    """Register the decorated function as the completion of ``endpoints``."""
    def register(fn: Completion) -> Completion:
        for e in endpoints:
            if e in COMPLETIONS:
                raise ValueError(f"{e.__name__} already has a completion")
            COMPLETIONS[e] = fn
        return fn
    return register


def _event(done: Recovered, contract: str, event: str, result: TxResult | None = None) -> dict[str, Any]:
    """The first ``event`` of ``contract`` in ``result`` (default: the first transaction)."""
    dep = done.ctx.deployment
    found = dep.c[contract].decode_events(result if result is not None else done.results[0], event)
    if not found:
        raise LookupError(f"no {contract}.{event} in transaction {(result or done.results[0]).tx_hash}")
    return found[0].as_dict()


def _record_id(done: Recovered) -> int:
    return int(done.path_params["record_id"])


# ------------------------------------------------------------------ the record work flow
@completes(enterprise.post_record)
def _recorded(done: Recovered) -> dict[str, Any]:
    return records.record(done.ctx.deployment, int(_event(done, "EmissionsRegistry", "ActivityRecorded")["recordId"]))


@completes(reports.post_declared)
def _declared(done: Recovered) -> dict[str, Any]:
    return reports._record_out(done.ctx, int(_event(done, "EmissionsRegistry", "ActivityRecorded")["recordId"]))


@completes(enterprise.post_submit, regulator.post_assign, regulator.post_confirm, verifier.post_verdict)
def _record_step(done: Recovered) -> dict[str, Any]:
    return records.record(done.ctx.deployment, _record_id(done))


# ------------------------------------------------------------------ devices
@completes(devices.post_device)
def _device_registered(done: Recovered) -> dict[str, Any]:
    dev = bytes(_event(done, "DeviceRegistry", "DeviceRegistered")["deviceId"])
    return {**devices._device(done.ctx.deployment, dev), "tx_hash": done.last.tx_hash}


@completes(devices.post_calibration, devices.post_revoke)
def _device_changed(done: Recovered) -> dict[str, Any]:
    dev = bytes.fromhex(done.path_params["device_id"][2:])
    return {**devices._device(done.ctx.deployment, dev), "tx_hash": done.last.tx_hash}


# ------------------------------------------------------------------ holdings and the registry
@completes(holdings.post_surrender)
def _surrendered(done: Recovered) -> dict[str, Any]:
    body, dep = SurrenderIn.model_validate_json(done.body), done.ctx.deployment
    tid = asset_token_id(body.asset)
    row = dep.compliance.status(body.year, bytes.fromhex(done.principal.org_id[2:]))
    return {"year": body.year, "asset": str(parse_asset_id(tid)), "amount": body.amount, "tx_hash": done.last.tx_hash,
            "compliance": row.as_json()}


@completes(holdings.post_retirement, registry.post_retirement)
def _retired(done: Recovered) -> dict[str, Any]:
    body = RetirementIn.model_validate_json(done.body)
    tid = asset_token_id(body.asset)
    if parse_asset_id(tid).asset_class is AssetClass.CCER:
        cert = int(_event(done, "CCERRegistry", "RetirementCertified")["certificateId"])
        return registry.certificate(done.ctx, cert, done.last.tx_hash)
    return {"asset": str(parse_asset_id(tid)), "amount": body.amount, "beneficiary": body.beneficiary,
            "purpose": body.purpose, "reason": body.reason, "tx_hash": done.last.tx_hash}


@completes(registry.post_project)
def _project(done: Recovered) -> dict[str, Any]:
    return {"project": ProjectIn.model_validate_json(done.body).project, "tx_hash": done.last.tx_hash}


@completes(registry.post_issuance)
def _issued(done: Recovered) -> dict[str, Any]:
    body = IssuanceIn.model_validate_json(done.body)
    ev = _event(done, "CCERRegistry", "BatchIssued")
    return {"batch_id": int(ev["batchId"]), "asset_id": str(ev["assetId"]), "asset": str(parse_asset_id(int(ev["assetId"]))),
            "amount": body.amount, "serials": str(registry._serials(body.serials, "body.serials")) if body.serials else None,
            "tx_hash": done.last.tx_hash}


# ------------------------------------------------------------------ the regulator's market acts
@completes(allocation.post_benchmark_set)
def _benchmarks(done: Recovered) -> dict[str, Any]:
    BenchmarkSetIn.model_validate_json(done.body)
    preset = rules.BENCHMARKS_2019_2020
    ev = _event(done, "Allocation", "BenchmarkSetPublished")
    return {"set_id": int(ev["setId"]), "citation": preset.citation, "status": preset.status, "tx_hash": done.last.tx_hash}


@completes(allocation.post_enrolment)
def _enrolled(done: Recovered) -> dict[str, Any]:
    body = EnrolmentIn.model_validate_json(done.body)
    return {"enterprise": body.enterprise, "category": body.category, "tx_hash": done.last.tx_hash}


@completes(allocation.post_pre_allocation)
def _pre_allocated(done: Recovered) -> dict[str, Any]:
    body = PreAllocationIn.model_validate_json(done.body)
    return {"year": body.year, "enterprise": body.enterprise, "entry": allocation._entry(done.ctx, body.year, body.enterprise),
            "tx_hash": done.last.tx_hash}


@completes(allocation.post_final_allocation)
def _final_allocated(done: Recovered) -> dict[str, Any]:
    body = FinalAllocationIn.model_validate_json(done.body)
    return {"year": body.year, "entries": [{"enterprise": e, **allocation._entry(done.ctx, body.year, e)} for e in body.enterprises],
            "tx_hash": done.last.tx_hash}


@completes(allocation.post_period)
def _period(done: Recovered) -> dict[str, Any]:
    body = PeriodIn.model_validate_json(done.body)
    preset = rules.PERIOD_PRESETS[body.year]
    params = dict(preset.params, **({"deadline": body.deadline} if body.deadline is not None else {}))
    return {"year": body.year, "params": params, "citations": preset.citations, "unconfirmed": list(preset.unconfirmed),
            "tx_hash": done.last.tx_hash}


@completes(allocation.post_price)
def _price(done: Recovered) -> dict[str, Any]:
    body = PriceIn.model_validate_json(done.body)
    return {"year": int(done.path_params["year"]), "price_fen": body.price_fen, "tx_hash": done.last.tx_hash}


@completes(allocation.post_close)
def _closed(done: Recovered) -> dict[str, Any]:
    body, year = CloseIn.model_validate_json(done.body), int(done.path_params["year"])
    return {"year": year, "rows": allocation._status_rows(done.ctx, year, body.enterprises), "tx_hash": done.last.tx_hash}


@completes(allocation.post_freeze)
def _frozen(done: Recovered) -> dict[str, Any]:
    body = FreezeIn.model_validate_json(done.body)
    return {"account": checked_address(body.account, "body.account"), "frozen": body.frozen, "reason": body.reason,
            "tx_hash": done.last.tx_hash}


# ------------------------------------------------------------------ neutrality claims (issue 13)
@completes(claims.post_claim)
def _claim_declared(done: Recovered) -> dict[str, Any]:
    return claims.claim_out(done.ctx, claim_id_of(done.ctx.deployment, done.results[0]), done.last.tx_hash)


@completes(claims.post_withdraw, claims.post_invalidate, claims.post_claim_verifier, claims.post_claim_verification)
def _claim_closed(done: Recovered) -> dict[str, Any]:
    return claims.claim_out(done.ctx, int(done.path_params["claim_id"]), done.last.tx_hash)
