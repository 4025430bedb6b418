"""Early warning from the oracle nodes (issue 13): a node reads the regulator's active meter-stream
rules and posts each alert its stream rules raise over the readings it accepted
(:mod:`oracles.alert_feed`). Authenticated as ORACLE_ROLE; the checks are
:func:`ledger.alerts.intake.accept_node_alert`; storing is idempotent by the alert's hash, and a
stored alert reaches the regulator's list, stream and pages like any other."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, require_role
from api.deps import AppContext, context
from api.problems import Problem
from ledger.alerts.intake import AlertRefused, accept_node_alert, node_rules
from ledger.alerts.rules import RuleKind, Severity

router = APIRouter(prefix="/v1/oracle", tags=["oracle: early warning"])
oracle = require_role("ORACLE_ROLE")


class NodeAlertIn(BaseModel):
    """An alert as :meth:`ledger.alerts.checks.Alert.as_dict` gives it (the hash included)."""

    model_config = ConfigDict(extra="forbid")

    rule_id: str = Field(pattern=r"^[A-Za-z0-9_.:/-]{1,80}$")
    kind: RuleKind
    severity: Severity
    subject: str = Field(min_length=1, max_length=80)
    period_start: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
    period_end: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
    measure: dict[str, Any]
    message: str = Field(min_length=1, max_length=2_000)
    evidence: dict[str, Any]
    alert_hash: str = Field(pattern=r"^0x[0-9a-f]{64}$")


@router.get("/alert-rules", summary="The regulator's active meter-stream rules a node runs")
async def rules(p: Principal = Depends(oracle), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Active ``stream_*`` rules scoped to one enterprise, each with the enterprise's ``org_id``
    (:func:`ledger.alerts.intake.node_rules`)."""
    return {"items": await run_in_threadpool(node_rules, ctx.api_store)}


@router.post("/alerts", summary="Post an alert a node's stream rules raised (idempotent by hash)",
             status_code=201, responses={200: {"description": "already stored (same hash)"}})
async def post_alert(body: NodeAlertIn, p: Principal = Depends(oracle), ctx: AppContext = Depends(context)) -> JSONResponse:
    """201 with ``{"id", "alert_hash", "new": true}``; the same alert again → 200, ``new`` false.
    A hash that does not match, a rule that is not active or not a stream rule, another kind,
    severity or subject than the rule's → 422 naming the field."""
    d = body.model_dump(mode="json")
    try:
        alert_id, new = await run_in_threadpool(accept_node_alert, ctx.api_store, d, p.account)
    except AlertRefused as exc:
        raise Problem("validation-error", str(exc), errors=[{"field": f"body.{exc.field}", "message": str(exc)}]) from None
    return JSONResponse({"id": alert_id, "alert_hash": d["alert_hash"], "new": new}, status_code=201 if new else 200)
