"""Early warning (issue 13) for the regulator: set rules (an authenticated regulator act, every
version stored with the account that set it), list alerts (cursor-paginated), read one, follow
them as server-sent events, and anchor an alert's hash on-chain (EvidenceRegistry.anchorAlert). Rules and alerts live in the ``alerts`` store (ledger/alerts/store.py),
kept in the API's database; :func:`ledger.alerts.store.list_alerts` is the listing query every route
and the regulator's pages use."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from api.auth import Principal, require_role
from api.deps import AppContext, context, require_custodial
from api.pagination import PageParams, page
from api.problems import Problem
from api.sse import poll_events, sse_event
from ledger.alerts import runs, store
from ledger.alerts.anchor import AlertHashMismatch, anchor_alert
from ledger.alerts.rules import RuleConfigError, RuleKind, Severity, make_rule
from ledger.alerts.store import MAX_ID

router = APIRouter(prefix="/v1/regulator", tags=["regulator: early warning"])
regulator = require_role("REGULATOR_ROLE")


class AlertRuleIn(BaseModel):
    """A rule as the regulator sets it (ledger/alerts/rules.py: kinds, parameter names with units,
    scopes ``enterprise:<USCC>`` / ``unit:<ORISPL>/<unit>`` / ``sector:<code>``)."""

    model_config = ConfigDict(extra="forbid")

    rule_id: str = Field(pattern=r"^[A-Za-z0-9_.:/-]{1,80}$")
    kind: RuleKind
    scope: str = Field(max_length=80)
    params: dict[str, int | str]
    severity: Severity = Severity.WARNING
    source: str = Field(min_length=1, max_length=500, description="citation of the values, or 'UNCONFIRMED: …'")


@router.post("/alert-rules", summary="Set an early-warning rule (a new version replaces the active one)")
async def post_rule(body: AlertRuleIn, p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Validated by :func:`ledger.alerts.rules.make_rule` (exact parameter names, positive integers);
    stored with the regulator's account and time; the previous version of the same ``rule_id`` is
    kept, inactive."""
    try:
        rule = make_rule(body.rule_id, body.kind.value, body.scope, body.params, body.severity.value, body.source)
    except RuleConfigError as exc:
        raise Problem("validation-error", str(exc), errors=[{"field": "body", "message": str(exc)}]) from None
    return await run_in_threadpool(store.set_rule, ctx.api_store, rule, p.account)


@router.get("/alert-rules", summary="Active early-warning rules (paginated)")
async def list_rules(params: PageParams = Depends(), all_versions: bool = Query(False, description="include replaced versions"),
                     p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Rule versions in id order."""
    rows = await run_in_threadpool(store.list_rules, ctx.api_store, params.after, params.limit + 1, not all_versions)
    return page(rows, params, lambda r: r["id"])


@router.get("/alert-runs", summary="Rule runs recorded (paginated; filter by data set)")
async def list_runs(params: PageParams = Depends(), dataset: str | None = Query(None, max_length=80),
                    p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Each evaluation run per data set (:mod:`ledger.alerts.runs`): started / finished (UTC s), the
    rules with their version digests, per rule the alerts raised and the subjects not evaluable with
    the reasons, and how many alerts were new."""
    rows = await run_in_threadpool(runs.list_runs, ctx.api_store, params.after, params.limit + 1, dataset)
    return page(rows, params, lambda r: r["id"])


@router.get("/alerts", summary="Alerts (paginated; filter by rule, kind, severity, subject)")
async def list_alerts(params: PageParams = Depends(), rule_id: str | None = Query(None, max_length=80),
                      kind: RuleKind | None = Query(None), severity: Severity | None = Query(None),
                      subject: str | None = Query(None, max_length=80),
                      p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Each alert names its rule, subject, period, measure against the limit, severity, evidence
    (records, batches, readings by sequence, file lines) and ``alert_hash`` (keccak256 of its
    canonical JSON; ``hash_ok`` re-checks the stored fields against it)."""
    rows = await run_in_threadpool(lambda: store.list_alerts(
        ctx.api_store, params.after, params.limit + 1, rule_id=rule_id, kind=kind.value if kind else None,
        severity=severity.value if severity else None, subject=subject))
    return page(rows, params, lambda r: r["id"])


async def alert_events(request: Request, engine: Engine, cursor: int, once: bool,
                       severity: str | None = None) -> AsyncIterator[bytes]:
    """The alert stream's events after alert id ``cursor``: ``id`` = alert id, ``event`` = the rule
    kind, ``data`` = the alert's JSON (:func:`ledger.alerts.store.list_alerts`); a comment every
    :data:`api.sse.KEEPALIVE_S` of silence; ends after what is there when ``once``, else when the client
    disconnects. Also behind the regulator's alerts page (``/portal/regulator/alerts/stream``)."""
    async def poll() -> tuple[list[bytes], bool]:
        nonlocal cursor
        after = cursor
        rows = await run_in_threadpool(lambda: store.list_alerts(engine, after, 500, severity=severity))
        if rows:
            cursor = rows[-1]["id"]
        return [sse_event(r["id"], r["kind"], json.dumps(r, ensure_ascii=False)) for r in rows], bool(rows)

    async for chunk in poll_events(request, poll, once):
        yield chunk


@router.get("/alerts/stream", summary="Server-sent events: every alert stored")
async def stream(request: Request, after: int | None = Query(None, ge=0, le=MAX_ID, description="alert id to resume after"),
                 last_event_id: str | None = Header(None, alias="Last-Event-ID"),
                 once: bool = Query(False, description="send what is there and close (for polling clients)"),
                 severity: Severity | None = Query(None),
                 p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> StreamingResponse:
    """``text/event-stream`` (as ``GET /v1/exchange/settlements/stream``): ``id`` = alert id (resume
    with ``Last-Event-ID`` or ``?after=``), ``event`` = the rule kind, ``data`` = the alert's JSON.
    Stays open only for ``Accept: text/event-stream``; other clients get what is there."""
    once = once or "text/event-stream" not in request.headers.get("accept", "").lower()
    cursor = after if after is not None else min(int(last_event_id), MAX_ID) if (last_event_id or "").isdigit() else 0
    sev = severity.value if severity else None
    return StreamingResponse(alert_events(request, ctx.api_store, cursor, once, sev), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


@router.get("/alerts/{alert_id}", summary="One alert with its evidence")
async def get_alert(alert_id: int = Path(ge=1, le=MAX_ID), p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """The alert (as in the list), or ``not-found``."""
    row = await run_in_threadpool(store.get_alert, ctx.api_store, alert_id)
    if row is None:
        raise Problem("not-found", f"no alert {alert_id}")
    return row


@router.post("/alerts/{alert_id}/anchor", summary="Anchor an alert's hash on-chain (EvidenceRegistry.anchorAlert)")
async def post_anchor(alert_id: int = Path(ge=1, le=MAX_ID), p: Principal = Depends(regulator),
                      ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Sends ``anchorAlert(alert_hash)`` from the regulator's custodial account; the alert comes back
    with ``anchor_tx`` and ``anchored_at`` (block time, UTC s). A hash anchors once: again →
    ``contract-refused`` (``AlertAlreadyAnchored``)."""
    sender = require_custodial(ctx, p.account)
    try:
        return await run_in_threadpool(anchor_alert, ctx.deployment, ctx.api_store, sender, alert_id)
    except LookupError:
        raise Problem("not-found", f"no alert {alert_id}") from None
    except AlertHashMismatch as exc:
        raise Problem("validation-error", str(exc), errors=[{"field": "path.alert_id", "message": str(exc)}]) from None
