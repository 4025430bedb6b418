"""Helpers shared by the participant routers: loading a record within the caller's scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.concurrency import run_in_threadpool

from api.auth import Principal
from api.deps import AppContext, require_custodial
from api.problems import Problem
from ledger.contracts.deployment import Deployment
from ledger.records import queries as records


def scoped_record(dep: Deployment, principal: Principal, record_id: int) -> dict[str, Any]:
    """The record if the caller may see it (regulator: all; enterprise: its own; verifier: the
    ones assigned to it), else a ``not-found`` problem (no existence leak)."""
    try:
        r = records.record(dep, record_id)
    except LookupError:
        raise Problem("not-found", f"no record {record_id}") from None
    ok = (principal.role == "REGULATOR_ROLE"
          or principal.role == "ENTERPRISE_ROLE" and r["enterprise"].lower() == principal.org_id.lower()
          or principal.role == "VERIFIER_ROLE" and str(r["verifier"]).lower() == principal.account.lower())
    if not ok:
        raise Problem("not-found", f"no record {record_id} visible to {principal.account}")
    return r


async def record_step(ctx: AppContext, principal: Principal, record_id: int, step: Callable[..., Any],
                      *args: Any) -> dict[str, Any]:
    """One workflow step on a record the caller may see: ``step(deployment, custodial sender,
    record_id, *args)`` (a :mod:`ledger.records.workflow` function), then the record as it is now.

    Raises:
        Problem: ``not-found`` (not visible, see :func:`scoped_record`) or the caller's account
            is not custodial here; the step's own errors (e.g. ContractRevert) pass through.
    """
    await run_in_threadpool(scoped_record, ctx.deployment, principal, record_id)
    await run_in_threadpool(step, ctx.deployment, require_custodial(ctx, principal.account), record_id, *args)
    return await run_in_threadpool(records.record, ctx.deployment, record_id)
