"""Helpers shared by the participant routers: loading a record within the caller's scope."""

from __future__ import annotations

from typing import Any

from api.auth import Principal
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
