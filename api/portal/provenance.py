"""The verifier pages' re-verification of a record (the same checks as the API's verifier flow).

Data: the record and its anchored batches from the chain; the readings (with device signatures)
from the oracle node this API process runs (``AppContext.oracle_node``) — the data holder.
Checks: :func:`ledger.verify.provenance.verify_record`, the one verifier implementation (record fields,
batches anchored, oracle quorum, every device signature, Merkle roots and Wh rebuilt from the
readings, sampled inclusion proofs via ``MeterDataAnchor.verifyReading`` on-chain, the factor and
the emissions formula of :mod:`ledger.accounting.emissions`, evidence hashes served by this API's
store = EvidenceRegistry's), run through the services of :mod:`api.verification`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from api.verification import server_verdict
from ledger.contracts.anchored import AnchoredBatch
from ledger.verify.provenance import Check, Verdict


@dataclass
class PortalReport:
    """What the provenance page shows of a :class:`ledger.verify.provenance.Verdict`, with the record's own
    figures beside the recomputed ones."""

    verdict: Verdict
    factor_set_id: int
    recorded_wh: int
    recorded_kg: int
    no_readings: bool

    @property
    def passed(self) -> bool:
        return self.verdict.passed and not self.no_readings

    @property
    def findings(self) -> list[str]:
        extra = ["this API process runs no oracle node: no reading could be served"] if self.no_readings else []
        return extra + list(self.verdict.findings)

    @property
    def checks(self) -> list[Check]:
        return self.verdict.checks

    @property
    def batches(self) -> list[Any]:
        return self.verdict.batches

    @property
    def recomputed_wh(self) -> int:
        return self.verdict.recomputed_wh

    @property
    def recomputed_kg(self) -> int:
        return self.verdict.recomputed_kg

    @property
    def factor_value(self) -> int:
        return self.verdict.factor_value

    def report_hash(self) -> bytes:
        return self.verdict.report_hash()

    def findings_hash(self) -> bytes:
        return self.verdict.findings_hash()


@dataclass
class PortalVerification:
    """The verdict plus what the page shows besides it: the record's anchored batches."""

    report: PortalReport
    batches: list[AnchoredBatch]
    readings_source: str | None     # oracle node name, None when this process has no readings


def verify_for_portal(ctx: Any, record: dict[str, Any], rng: random.Random | None = None,
                      sample_per_batch: int = 3) -> PortalVerification:
    """Re-verify ``record`` (a :func:`ledger.records.queries.record` dict) for the verifier's page with
    :func:`api.verification.server_verdict` — the one implementation of the provenance check, the
    same code as ``carbonledger verify`` and ``GET /v1/verifier/records/{id}/verification`` — from
    the data this process serves (its oracle node's readings, its evidence listing) checked
    against the chain.

    Without an oracle node no reading can be served: the reading checks fail (findings), which is
    the truth — the verifier cannot attest that.

    Raises:
        Problem: ``validation-error`` (not an anchored-meter-data record), ``chain-unavailable``.
    """
    node = ctx.oracle_node
    verdict, src = server_verdict(ctx, node, record, rng=rng, sample_per_batch=sample_per_batch)
    rep = PortalReport(verdict, int(record["factorSetId"]), int(record["activityAmount"]), int(record["emissionsKg"]), node is None)
    return PortalVerification(rep, list(src.anchored), getattr(node, "name", None))
