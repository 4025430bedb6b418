"""Carbon-neutrality claims (碳中和声明, issue 13): an enterprise declares and withdraws its claims,
anyone authenticated reads them, a regulator assigns a verifier who attests one, a regulator
invalidates one with a reason. The rules live in
NeutralityClaims and :mod:`ledger.offsets.claims`; docs/claims.md."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool

from api.auth import Principal, authenticate, require_role
from api.deps import AppContext, context
from api.market_common import checked_address, send
from api.problems import Problem
from api.schemas import ClaimIn, ClaimVerificationIn, ClaimVerifierIn, InvalidationIn
from ledger.offsets import claims

router = APIRouter(prefix="/v1/claims", tags=["claims"])
enterprise = require_role("ENTERPRISE_ROLE")
regulator = require_role("REGULATOR_ROLE")
verifier = require_role("VERIFIER_ROLE")
ORG_PATTERN = r"^0x[0-9a-fA-F]{64}$"


def claim_out(ctx: AppContext, claim_id: int, tx_hash: str | None = None) -> dict[str, Any]:
    """The claim as the chain holds it now (:func:`ledger.offsets.claims.read_claim`), with the
    public page's address; a ``not-found`` problem for an unknown id."""
    try:
        v = claims.read_claim(ctx.deployment, claim_id)
    except claims.UnknownClaim as exc:
        raise Problem("not-found", str(exc)) from None
    return {**v.as_json(), "page": f"/portal/claims/{claim_id}", **({"tx_hash": tx_hash} if tx_hash else {})}


@router.post("", status_code=201, summary="Declare a carbon-neutrality claim")
async def post_claim(body: ClaimIn, p: Principal = Depends(enterprise), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Declares a claim of the caller's organisation under ISO 14068-1 or PAS 2060: emissions (kgCO2)
    at least the Confirmed emissions of ``record_ids`` (all the caller's, Confirmed, inside the
    period), covered by the tCO2e of ``certificate_ids`` (retirements by the caller's organisation's
    accounts, each backing one claim only). Refusals: 422 for malformed input, 409
    ``contract-refused`` naming the rule (e.g. ``InsufficientCoverage``)."""
    try:
        d = claims.make_declaration(body.standard, body.period_start, body.period_end, body.emissions_kg,
                                    bytes.fromhex(body.statement_hash[2:]), body.record_ids, body.certificate_ids,
                                    body.event_name)
    except claims.ClaimInputError as exc:
        raise Problem("validation-error", str(exc), errors=[{"field": f"body.{exc.field}", "message": exc.message}]) from None
    r = await send(ctx, p.account, ctx.deployment.claims.functions.declare(d), "declare neutrality claim")
    cid = await run_in_threadpool(claims.claim_id_of, ctx.deployment, r)
    return await run_in_threadpool(claim_out, ctx, cid, r.tx_hash)


@router.get("", summary="The claims of one organisation")
async def list_claims(org: str = Query(pattern=ORG_PATTERN, description="organisation id (0x + 64 hex)"),
                      p: Principal = Depends(authenticate), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Every claim organisation ``org`` declared, oldest first, as ``GET /v1/claims/{id}`` gives each."""
    rows = await run_in_threadpool(claims.claims_of, ctx.deployment, bytes.fromhex(org[2:]))
    return {"org": org.lower(), "claims": [{**v.as_json(), "page": f"/portal/claims/{v.claim_id}"} for v in rows]}


@router.get("/{claim_id}", summary="A carbon-neutrality claim")
async def get_claim(claim_id: int = Path(ge=1, lt=2**63), p: Principal = Depends(authenticate),
                    ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """The claim, its records and retirements (with serial ranges and beneficiaries), status, and the
    block it was read at."""
    return await run_in_threadpool(claim_out, ctx, claim_id)


@router.post("/{claim_id}/withdraw", summary="Withdraw a claim (its claimant)")
async def post_withdraw(claim_id: int = Path(ge=1, lt=2**63), p: Principal = Depends(enterprise),
                        ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """The claimant withdraws its open (Declared or Verified) claim; its retirements stay bound to it."""
    r = await send(ctx, p.account, ctx.deployment.claims.functions.withdraw(claim_id), f"withdraw claim {claim_id}")
    return await run_in_threadpool(claim_out, ctx, claim_id, r.tx_hash)


@router.post("/{claim_id}/verifier", summary="Assign a claim's verifier (regulator)")
async def post_claim_verifier(body: ClaimVerifierIn, claim_id: int = Path(ge=1, lt=2**63), p: Principal = Depends(regulator),
                              ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """A regulator assigns (or re-assigns) an Active verifier to a Declared claim."""
    fn = ctx.deployment.claims.functions.assignVerifier(claim_id, checked_address(body.verifier, "body.verifier"))
    r = await send(ctx, p.account, fn, f"assign verifier of claim {claim_id}")
    return await run_in_threadpool(claim_out, ctx, claim_id, r.tx_hash)


@router.post("/{claim_id}/verification", summary="Attest a claim (its assigned verifier)")
async def post_claim_verification(body: ClaimVerificationIn, claim_id: int = Path(ge=1, lt=2**63),
                                  p: Principal = Depends(verifier), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """The assigned verifier attests a Declared claim with its report's hash; the claim becomes Verified."""
    h = bytes.fromhex(body.report_hash[2:])
    if h == bytes(32):
        raise Problem("validation-error", "report_hash must not be zero", errors=[{"field": "body.report_hash", "message": "zero"}])
    r = await send(ctx, p.account, ctx.deployment.claims.functions.verify(claim_id, h), f"verify claim {claim_id}")
    return await run_in_threadpool(claim_out, ctx, claim_id, r.tx_hash)


@router.post("/{claim_id}/invalidate", summary="Invalidate a claim (regulator)")
async def post_invalidate(body: InvalidationIn, claim_id: int = Path(ge=1, lt=2**63), p: Principal = Depends(regulator),
                          ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """A regulator invalidates an open (Declared or Verified) claim; ``reason``'s keccak256 is stored and emitted."""
    try:
        h = claims.reason_hash(body.reason)
    except claims.ClaimInputError as exc:
        raise Problem("validation-error", str(exc), errors=[{"field": "body.reason", "message": exc.message}]) from None
    r = await send(ctx, p.account, ctx.deployment.claims.functions.invalidate(claim_id, h), f"invalidate claim {claim_id}")
    return await run_in_threadpool(claim_out, ctx, claim_id, r.tx_hash)
